"""Lu-177 physical data and radioactive decay.

Arrays in, arrays out (numpy broadcasting); units in every name: h, MBq, keV.
"""
from __future__ import annotations

import numpy as np

# --- Lu-177 physical data ----------------------------------------------------
# Half-life 6.647 d (EJNMMI Physics 2020, doi 10.1186/s40658-020-00301-2, Table 1).
LU177_HALF_LIFE_H = 6.647 * 24.0  # 159.528 h
LAMBDA_PHYS_PER_H = float(np.log(2.0) / LU177_HALF_LIFE_H)  # 4.345e-3 /h
# Mean energy per decay of the non-penetrating emissions (same Table 1):
# beta- 133.3 keV + conversion electrons 13.52 keV + Auger electrons 1.13 keV.
LU177_BETA_MEAN_KEV = 133.3
LU177_CE_KEV = 13.52
LU177_AUGER_KEV = 1.13
LU177_ELECTRON_KEV_PER_DECAY = LU177_BETA_MEAN_KEV + LU177_CE_KEV + LU177_AUGER_KEV  # 147.95 keV
_J_PER_KEV = 1.602176634e-16  # exact (SI 2019 definition of the electronvolt)
_DECAYS_PER_MBQ_H = 1.0e6 * 3600.0
# Local-deposition constant Delta = E * decays/(MBq h) / (1 g = 1e-3 kg):
# 147.95 keV -> 0.08534 Gy*g/(MBq*h) (Madsen-type single-time-point method uses 0.0853).
DELTA_LOCAL_GY_G_PER_MBQ_H = LU177_ELECTRON_KEV_PER_DECAY * _J_PER_KEV * _DECAYS_PER_MBQ_H / 1.0e-3


# --- decay -------------------------------------------------------------------
def decay_factor(t_h):
    """Fraction of Lu-177 activity left after t_h hours of physical decay (exp(-lambda t))."""
    return np.exp(-LAMBDA_PHYS_PER_H * np.asarray(t_h, dtype=float))


def decay_correct(activity, dt_h):
    """Activity dt_h hours later (negative dt_h corrects back in time); same unit as activity."""
    return np.asarray(activity, dtype=float) * decay_factor(dt_h)
