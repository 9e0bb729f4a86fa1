"""How long a sign-in lasts: idle time and maximum age, from the ``[prrt.session]`` table.

Streamlit keeps a sign-in in a signed cookie for 30 days. A clinical workstation is shared and
left unlocked, so a sign-in here ends earlier: after ``idle_minutes`` without any interaction,
and ``max_hours`` after the identity provider issued the ID token (its ``iat`` claim), whichever
comes first; then the user signs in again::

    [prrt.session]
    idle_minutes = 30   # default 30
    max_hours = 12      # default 12: one clinical shift

A sign-in is known by its issuer, subject and issue time (:func:`sign_in_key`, a hash): signing
in again gives a new key, so an expired key stays expired in every tab that holds it. Idle time is
kept per server process (:class:`IdleClock`); behind several replicas the reverse proxy keeps a
browser on one of them (sticky sessions, docs/deploy.md), and a restarted process starts counting
again from the first interaction. The defaults follow the automatic log-off of the HIPAA Security
Rule (45 CFR 164.312(a)(2)(iii)), which sets no number; 30 minutes and 12 hours are this product's
choice, to be set by each hospital's policy.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from prrt_core.errors import ConfigError

IDLE_MINUTES_DEFAULT = 30.0
MAX_HOURS_DEFAULT = 12.0
# Bounds of the settings: a sign-in shorter than this cannot be used; longer than a week is no limit.
IDLE_MINUTES_RANGE = (0.01, 24 * 60.0)
MAX_HOURS_RANGE = (0.01, 7 * 24.0)
# Remembered sign-ins per process: the oldest are dropped beyond this (each is a few dozen bytes).
MAX_TRACKED = 100_000


class Expiry(StrEnum):
    """Why a sign-in has ended; the value is the sentence the sign-in screen shows."""

    IDLE = "Signed out after {idle} without activity"
    MAX_AGE = "Signed out {age} after signing in (the longest a sign-in lasts here)"
    NO_ISSUE_TIME = "Signed out: the identity provider's token carries no issue time (`iat`)"
    SIGNED_OUT = "Signed out (in this or another tab of this sign-in)"


@dataclass(frozen=True)
class SessionLimits:
    """Idle time (min) and maximum age (h) of a sign-in."""

    idle_minutes: float = IDLE_MINUTES_DEFAULT
    max_hours: float = MAX_HOURS_DEFAULT

    def message(self, expiry: Expiry) -> str:
        """The sentence for ``expiry`` with these limits, e.g. "Signed out after 30 min without activity"."""
        return expiry.value.format(idle=_duration(self.idle_minutes * 60), age=_duration(self.max_hours * 3600))


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:g} h"


def _number(table: Mapping[str, Any], key: str, default: float, bounds: tuple[float, float]) -> float:
    value = table.get(key, default)
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ConfigError(f"[prrt.session] {key} = {value!r}: give a number from {low:g} to {high:g}")
    return float(value)


def session_limits(table: Mapping[str, Any] | None) -> SessionLimits:
    """The checked ``[prrt.session]`` table; :class:`ConfigError` names the key and value if invalid."""
    table = table or {}
    unknown = sorted(set(table) - {"idle_minutes", "max_hours"})
    if unknown:
        raise ConfigError(f"[prrt.session]: unknown key {unknown[0]!r} (use idle_minutes, max_hours)")
    return SessionLimits(_number(table, "idle_minutes", IDLE_MINUTES_DEFAULT, IDLE_MINUTES_RANGE),
                         _number(table, "max_hours", MAX_HOURS_DEFAULT, MAX_HOURS_RANGE))


def issued_at_s(claims: Mapping[str, Any]) -> float | None:
    """The ``iat`` claim (seconds since 1970, UTC) if it is a finite number, else None."""
    value = claims.get("iat")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def sign_in_key(claims: Mapping[str, Any]) -> str:
    """A key for one sign-in: SHA-256 of its ``iss``, ``sub`` and ``iat`` claims (no claim kept in clear)."""
    parts = [str(claims.get(name, "")) for name in ("iss", "sub", "iat")]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "replace")).hexdigest()


class IdleClock:
    """Last activity of each sign-in in this process, and the sign-ins that have ended (thread-safe).

    An ended sign-in is remembered until it would have ended by its maximum age anyway; beyond
    ``max_tracked`` sign-ins the least recently active are forgotten first (a forgotten idle
    sign-in starts counting again at its next interaction), never an ended one that is still
    within its maximum age.
    """

    def __init__(self, max_tracked: int = MAX_TRACKED) -> None:
        self._lock = threading.Lock()
        self._last_s: dict[str, float] = {}
        self._ended: dict[str, tuple[Expiry, float]] = {}  # key -> (why, when the token would expire anyway)
        self._max_tracked = max_tracked

    def check(self, claims: Mapping[str, Any], limits: SessionLimits, now_s: float) -> Expiry | None:
        """Why the sign-in of ``claims`` has ended at ``now_s`` (seconds since 1970), or None; no activity noted."""
        return self._evaluate(claims, limits, now_s, touch=False)

    def touch(self, claims: Mapping[str, Any], limits: SessionLimits, now_s: float) -> Expiry | None:
        """As :meth:`check`, and if the sign-in is still valid note an interaction at ``now_s``."""
        return self._evaluate(claims, limits, now_s, touch=True)

    def end(self, claims: Mapping[str, Any], limits: SessionLimits, now_s: float) -> None:
        """End the sign-in of ``claims`` (signed out): every session holding it is refused from now on."""
        with self._lock:
            self._finish(sign_in_key(claims), Expiry.SIGNED_OUT, claims, limits, now_s)

    def _finish(self, key: str, why: Expiry, claims: Mapping[str, Any], limits: SessionLimits, now_s: float) -> None:
        issued = issued_at_s(claims)
        self._ended[key] = (why, (issued if issued is not None else now_s) + limits.max_hours * 3600)
        self._last_s.pop(key, None)
        self._prune(now_s)

    def _evaluate(self, claims: Mapping[str, Any], limits: SessionLimits, now_s: float, touch: bool) -> Expiry | None:
        key = sign_in_key(claims)
        issued = issued_at_s(claims)
        with self._lock:
            if key in self._ended:
                return self._ended[key][0]
            last = self._last_s.get(key)
            ended = None
            if issued is None:
                ended = Expiry.NO_ISSUE_TIME
            elif now_s - issued > limits.max_hours * 3600:
                ended = Expiry.MAX_AGE
            elif last is not None and now_s - last > limits.idle_minutes * 60:
                ended = Expiry.IDLE
            if ended is not None:
                self._finish(key, ended, claims, limits, now_s)
            elif touch:
                self._last_s.pop(key, None)  # re-inserted last: the dict stays in order of activity
                self._last_s[key] = now_s
                self._prune(now_s)
            return ended

    def _prune(self, now_s: float) -> None:
        if len(self._ended) > self._max_tracked:  # those past their maximum age are refused by it anyway
            self._ended = {k: v for k, v in self._ended.items() if v[1] > now_s}
        while len(self._last_s) > self._max_tracked:
            del self._last_s[next(iter(self._last_s))]


def signed_in_claims(cookie_value: bytes | None) -> dict:
    """The claims in a sign-in cookie's verified value (JSON with ``is_logged_in`` true); {} otherwise."""
    if cookie_value is None:
        return {}
    try:
        claims = json.loads(cookie_value)
    except ValueError:  # not JSON, or not UTF-8
        return {}
    return claims if isinstance(claims, dict) and claims.get("is_logged_in") is True else {}
