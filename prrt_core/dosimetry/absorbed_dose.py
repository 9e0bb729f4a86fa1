"""Absorbed dose from time-integrated activity: kidney S-value (mass-scaled) and local deposition.
Units: MBq*h, g, Gy, GBq. Single-time-point methods (Hänscheid 2018, Madsen 2018): single_time_point.py.
"""
from __future__ import annotations

import numpy as np

from prrt_core.dosimetry.physics import DELTA_LOCAL_GY_G_PER_MBQ_H
from prrt_core.dosimetry.validation import positive as _positive

# --- Kidney S-value ----------------------------------------------------------
# Lu-177 kidneys<-kidneys S-value of the OLINDA-style adult male model, 7.76e-5 mGy/(MBq*s)
# for 310 g kidneys (ICRP 89 reference adult male kidney mass). OpenDose ICRP-110 adult
# phantoms give the same S*mass (~0.0240 mGy*g/(MBq*s)) for left/right, male/female kidneys,
# so the self-dose S-value scales as 1/mass (beta dominated).
KIDNEY_S_REF_MGY_PER_MBQ_S = 7.76e-5
KIDNEY_REF_MASS_G = 310.0
# S x m = 7.76e-5 mGy/(MBq s) x 310 g = 0.024056 mGy g/(MBq s) = 0.024056 x 3600 / 1000
# = 0.086602 Gy g/(MBq h), 1.5 % above Delta = 0.08534 (the kidney's self-absorbed photons).
# S x m / ln 2 = 0.12494 Gy mL/(MBq h) at 1 g/mL is Hänscheid's kidney constant 0.125
# (J Nucl Med 2018;59:75-81): the constant is S x m / ln 2, not Delta / ln 2 (= 0.1231).
# It lives with the single-time-point methods: single_time_point.HANSCHEID_2018_KIDNEY_GY_ML_PER_MBQ_H.


def kidney_s_value_mgy_per_mbq_s(mass_g, *, s_ref_mgy_per_mbq_s: float = KIDNEY_S_REF_MGY_PER_MBQ_S,
                                 ref_mass_g: float = KIDNEY_REF_MASS_G):
    """Lu-177 kidney self-dose S-value scaled to the patient's kidney mass: S_ref * m_ref / m."""
    return s_ref_mgy_per_mbq_s * ref_mass_g / _positive("mass_g", mass_g)


def dose_from_s_value_gy(tia_mbq_h, s_value_mgy_per_mbq_s):
    """MIRD absorbed dose D = TIA * S: MBq*h * 3600 s/h * mGy/(MBq*s) / 1000 mGy/Gy."""
    return np.asarray(tia_mbq_h, dtype=float) * 3600.0 * np.asarray(s_value_mgy_per_mbq_s, dtype=float) / 1000.0


def kidney_dose_s_value_gy(tia_mbq_h, mass_g):
    """Kidney self-dose from the mass-scaled S-value (OLINDA reference, see module constants), Gy."""
    return dose_from_s_value_gy(tia_mbq_h, kidney_s_value_mgy_per_mbq_s(mass_g))


def dose_local_deposition_gy(tia_mbq_h, mass_g):
    """Absorbed dose with all electron energy (147.95 keV/decay) deposited locally: TIA * Delta / m, Gy."""
    return np.asarray(tia_mbq_h, dtype=float) * DELTA_LOCAL_GY_G_PER_MBQ_H / _positive("mass_g", mass_g)


def dose_per_activity_gy_per_gbq(dose_gy, activity_gbq):
    """Absorbed dose per administered activity, Gy/GBq."""
    return np.asarray(dose_gy, dtype=float) / _positive("activity_gbq", activity_gbq)
