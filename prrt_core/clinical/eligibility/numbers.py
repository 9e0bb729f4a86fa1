"""Numbers beside a limit: never rounded onto or across it ("22.95 of 23 Gy", not "23.0 of 23 Gy").

``views.format.gy_of_limit`` and the checklist's value texts use :func:`beside_limit`: a value
that passes or fails a threshold must read on the same side of it as it is.
"""
from __future__ import annotations

import math

# Extra decimals tried beyond the requested ones before rounding towards the value's own side.
_EXTRA_DIGITS = 3


def _side(a: float, b: float) -> int:
    return int(a > b) - int(a < b)


def beside_limit(value: float, limit: float, digits: int = 1) -> str:
    """``value`` with ``digits`` decimals; more (up to 3 extra) while it lies within one last
    decimal of ``limit`` or would round onto or across it; at the last precision it is rounded
    towards its own side (floor below the limit, ceiling above). A value equal to the limit reads
    as the limit. '—' when not finite.

    beside_limit(22.95, 23) == '22.95'; beside_limit(23.04, 23) == '23.04'; beside_limit(12.34, 23) == '12.3'.
    """
    if value is None or not math.isfinite(value):
        return "—"
    value, limit = float(value), float(limit)
    side = _side(value, limit)
    for d in range(digits, digits + _EXTRA_DIGITS + 1):
        text = f"{value:.{d}f}"
        if _side(float(text), limit) == side and (side == 0 or abs(value - limit) >= 10.0 ** -d):
            return text
    scale = 10 ** (digits + _EXTRA_DIGITS)
    bound = math.floor(value * scale) if side < 0 else math.ceil(value * scale)
    return f"{bound / scale:.{digits + _EXTRA_DIGITS}f}"


def of_limit(value: float, limit: float, unit: str, digits: int = 1) -> str:
    """'22.95 of 23 Gy': the value beside the limit, the limit as given (``:g``)."""
    return f"{beside_limit(value, limit, digits)} of {limit:g} {unit}"
