"""Argument checks shared by the dosimetry functions."""
from __future__ import annotations

import numpy as np

from prrt_core.errors import InputError


def positive(name: str, x):
    x = np.asarray(x, dtype=float)
    if not np.isfinite(x).all() or (x <= 0).any():
        raise InputError(f"{name} must be finite and > 0")
    return x

