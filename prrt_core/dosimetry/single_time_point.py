"""Single-time-point (STP) dosimetry: the absorbed dose from one quantitative SPECT and an
effective half-life T_eff taken from elsewhere (the patient's earlier cycles or the cohort).

Two named methods, each with its source. Both assume mono-exponential clearance after the
scan at t; they differ in what they start from and in the dose factor:
- Hänscheid et al., J Nucl Med 2018;59:75-81: the kidney dose from the activity
  concentration C(t) in MBq/mL with one fixed kidney constant, D = 0.125 C(t) 2^(t/T_eff) T_eff.
  The mono-exponential form is D = Ḋ(t) 2^(t/T_eff) T_eff / ln 2, which the paper approximates
  for a scan at t ≈ T_eff..2 T_eff as D ≈ Ḋ(t) 2t/ln 2 (free of T_eff; here T_eff is given,
  so the exact mono-exponential factor is used). A kidney formula: mass-independent,
  tissue density 1 g/mL implied by the constant.
- Madsen, Menda, O'Dorisio, O'Dorisio, Med Phys 2018;45:2318-2324 ("Technical Note: Single
  time point dose estimate for exponential clearance"): the time-integrated activity from the VOI activity A(t) and a population
  effective decay constant, TIA = A(t) exp(lambda_eff t) / lambda_eff, then the MIRD dose
  with the VOI mass (kidneys: the mass-scaled kidney S-value; other VOIs: local deposition),
  so it applies to every VOI.
For a kidney with the same T_eff and a density of 1 g/mL both give the same dose within the
0.05 % by which 0.125 rounds S x m / ln 2 (see HANSCHEID_2018_KIDNEY_GY_ML_PER_MBQ_H).
Units in every name: MBq, MBq/mL, h, g, Gy.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from prrt_core.dosimetry.absorbed_dose import dose_local_deposition_gy, kidney_dose_s_value_gy
from prrt_core.dosimetry.physics import LU177_HALF_LIFE_H
from prrt_core.errors import InputError

# Hänscheid's kidney constant 0.125 Gy mL/(MBq h) (J Nucl Med 2018;59:75-81) is S x m / ln 2 of
# the kidney, not Delta / ln 2: with the kidney S-value of absorbed_dose (7.76e-5 mGy/(MBq s)
# at 310 g), S x m = 7.76e-5 x 310 = 0.024056 mGy g/(MBq s) = 0.024056 x 3600 / 1000
# = 0.086602 Gy g/(MBq h); / ln 2 = 0.12494 Gy mL/(MBq h) for 1 g/mL, which 0.125 rounds
# (+0.05 %). Delta / ln 2 = 0.08534 / ln 2 = 0.1231 would leave out the kidney's self-absorbed
# photon share (S x m is 1.5 % above Delta).
HANSCHEID_2018_KIDNEY_GY_ML_PER_MBQ_H = 0.125
# A kidney T_eff cannot exceed the Lu-177 physical half-life (the schema's range, 0 < T_eff <= 159.528 h).
MAX_T_EFF_H = LU177_HALF_LIFE_H


def _t_eff(t_eff_h) -> np.ndarray:
    t_eff = np.asarray(t_eff_h, dtype=float)
    if not np.isfinite(t_eff).all() or (t_eff <= 0).any() or (t_eff > MAX_T_EFF_H).any():
        raise InputError(f"t_eff_h must be finite, > 0 and <= {MAX_T_EFF_H:.3f} h (Lu-177 physical "
                         f"half-life), got {t_eff_h!r}")
    return t_eff


def _non_negative(name: str, x) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if not np.isfinite(x).all() or (x < 0).any():
        raise InputError(f"{name} must be finite and >= 0, got {x!r}")
    return x


def hanscheid_2018_dose_gy(concentration_mbq_per_ml, t_h, t_eff_h):
    """Kidney dose from one scan, D = 0.125 x C(t) x 2^(t/T_eff) x T_eff, Gy (Hänscheid et al., JNM 2018;59:75).

    concentration_mbq_per_ml: kidney activity concentration at t_h hours after injection;
    t_eff_h: kidney effective half-life (0 < T_eff <= 159.528 h). 2^(t/T_eff) T_eff / ln 2 is
    the mono-exponential integral from one point; the paper's T_eff-free approximation replaces
    it by 2t / ln 2 (exact at t = T_eff and t = 2 T_eff; -12 %..+6 % off for 0.75 <= t/T_eff <= 2.5).
    A kidney formula: the constant is the kidney's S x m / ln 2 at 1 g/mL (see the module).
    """
    t_eff = _t_eff(t_eff_h)
    return (HANSCHEID_2018_KIDNEY_GY_ML_PER_MBQ_H * _non_negative("concentration_mbq_per_ml", concentration_mbq_per_ml)
            * np.exp2(_non_negative("t_h", t_h) / t_eff) * t_eff)


def madsen_2018_tia_mbq_h(activity_mbq, t_h, t_eff_h):
    """TIA from one point, A(t) exp(lambda_eff t) / lambda_eff, lambda_eff = ln 2 / T_eff, MBq h.

    Madsen et al., Med Phys 2018;45:2318-2324: mono-exponential clearance through the one
    measured activity with a population (or the patient's earlier) effective decay constant;
    integrated from injection (t = 0, instant uptake) to infinity.
    """
    lam = np.log(2.0) / _t_eff(t_eff_h)
    return _non_negative("activity_mbq", activity_mbq) * np.exp(lam * _non_negative("t_h", t_h)) / lam


def madsen_2018_dose_gy(activity_mbq, t_h, t_eff_h, mass_g, *, kidney):
    """Dose of a VOI from one scan: Madsen's TIA (madsen_2018_tia_mbq_h) times the dose per TIA, Gy.

    kidney (bool, or a bool array per VOI): the mass-scaled kidney S-value
    (absorbed_dose.kidney_dose_s_value_gy) as study_dose's organ-level dose; otherwise local
    deposition of the electron energy with the VOI mass (absorbed_dose.dose_local_deposition_gy).
    Unlike hanscheid_2018_dose_gy it uses the VOI's activity and mass, so it applies to any VOI.
    """
    tia = madsen_2018_tia_mbq_h(activity_mbq, t_h, t_eff_h)
    return np.where(np.asarray(kidney, dtype=bool), kidney_dose_s_value_gy(tia, mass_g),
                    dose_local_deposition_gy(tia, mass_g))


# --- where T_eff comes from ----------------------------------------------------------------------
class TEffSource(StrEnum):
    """Where a single-time-point T_eff was taken from."""

    PATIENT = "patient"  # median of the patient's earlier cycles' kidney T_eff
    COHORT = "cohort"    # median of the cohort's kidney T_eff
    ENTERED = "entered"  # typed by the physicist

    @property
    def label(self) -> str:
        return {"patient": "the patient's earlier cycles", "cohort": "the cohort median",
                "entered": "entered by the physicist"}[self.value]


@dataclass(frozen=True)
class TEffEstimate:
    """A T_eff for single-time-point dosimetry with its source and the number of values behind it."""

    t_eff_h: float
    source: TEffSource
    n: int

    def describe(self) -> str:
        """e.g. 'T_eff from the patient's earlier cycles (n = 3): 52.1 h'."""
        if self.source is TEffSource.ENTERED:
            return f"T_eff {self.source.label}: {self.t_eff_h:.1f} h"
        return f"T_eff from {self.source.label} (n = {self.n}): {self.t_eff_h:.1f} h"


def _valid_t_eff(values) -> np.ndarray:
    """The values that are finite and in 0 < T_eff <= 159.528 h (None and NaN are missing, not errors)."""
    v = np.asarray([np.nan if x is None else x for x in np.ravel(np.asarray(values, dtype=object))], dtype=float)
    return v[np.isfinite(v) & (v > 0) & (v <= MAX_T_EFF_H)]


def _median_estimate(values, source: TEffSource) -> TEffEstimate | None:
    v = _valid_t_eff(values)
    return TEffEstimate(float(np.median(v)), source, int(v.size)) if v.size else None


def patient_t_eff(t_eff_h_values) -> TEffEstimate | None:
    """Median of the patient's earlier kidney T_eff values (valid ones only), or None if there are none."""
    return _median_estimate(t_eff_h_values, TEffSource.PATIENT)


def cohort_t_eff(t_eff_h_values) -> TEffEstimate | None:
    """Median of the cohort's kidney T_eff values (valid ones only), or None if there are none."""
    return _median_estimate(t_eff_h_values, TEffSource.COHORT)


def t_eff_from_history_h(t_eff_h_values) -> float | None:
    """Median of the patient's earlier kidney T_eff (finite, 0 < T_eff <= 159.528 h), h; None if none."""
    estimate = patient_t_eff(t_eff_h_values)
    return None if estimate is None else estimate.t_eff_h


def choose_t_eff(patient_t_eff_h_values, cohort_t_eff_h_values) -> TEffEstimate | None:
    """The patient's earlier cycles first, else the cohort median; None when neither has a value."""
    return patient_t_eff(patient_t_eff_h_values) or cohort_t_eff(cohort_t_eff_h_values)
