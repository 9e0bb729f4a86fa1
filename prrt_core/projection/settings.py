"""The kidney model's settings: radiobiology, limits, Monte-Carlo size, seed and tolerance, in one object.

Every projection, eligibility assessment and planner scenario takes one
:class:`KidneyModelSettings` instead of a chain of keyword arguments. Defaults carry
their sources in ``prrt_core.dosimetry.radiobiology``.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from prrt_core.dosimetry.radiobiology import (
    BED_LIMIT_GY_NO_RISK,
    BED_LIMIT_GY_RISK,
    DOSE_LIMIT_GY,
    KIDNEY_ALPHA_BETA_GY,
    KIDNEY_T_REP_H,
)
from prrt_core.errors import InputError

# Largest number of further cycles the "largest safe number of cycles" search considers;
# a result equal to the cap means ">= cap".
MAX_SAFE_CYCLES_CAP = 10


class VarianceComponents(StrEnum):
    """How the Monte Carlo treats the cohort's variance components tau^2 and sigma^2."""

    POSTERIOR = "posterior"  # drawn per sample from their posterior (projection.variance); the default
    PLUG_IN = "plug-in"  # the point estimates taken as known (bands too narrow for a small cohort)


def positive_finite(name: str, value) -> float:
    """``value`` as a float; ValueError naming ``name`` unless it is a finite number > 0."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a number, got {value!r}")
    if not np.isfinite(value) or value <= 0:
        raise InputError(f"{name} must be finite and > 0, got {value!r}")
    return float(value)


def count(name: str, value, minimum: int) -> int:
    """``value`` as an int; ValueError naming ``name`` unless it is an integer >= ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class KidneyModelSettings:
    """Settings of the kidney projection; validated on creation (ValueError names the field).

    alpha_beta_gy, t_rep_h: BED radiobiology (Gy, h). dose_limit_gy: cumulative absorbed-dose
    limit; bed_limit_risk_gy / bed_limit_no_risk_gy: cumulative BED limits with / without renal
    risk factors (Gy). n_samples: Monte-Carlo samples; seed: random seed; tolerance: accepted
    probability of crossing a limit, in (0, 1); cycles_cap: see MAX_SAFE_CYCLES_CAP;
    within_sd_log: known cycle-to-cycle SD of ln(Gy/GBq), None = estimated from the cohort.
    variance_components: POSTERIOR (default) carries the uncertainty of tau^2 and sigma^2 into
    the Monte Carlo, PLUG_IN treats them as known. tau_prior_scale_log: scale A of the weak
    half-Cauchy prior on tau (SD of ln Gy/GBq between patients; Gelman 2006), default 1.0.
    """

    alpha_beta_gy: float = KIDNEY_ALPHA_BETA_GY
    t_rep_h: float = KIDNEY_T_REP_H
    dose_limit_gy: float = DOSE_LIMIT_GY
    bed_limit_risk_gy: float = BED_LIMIT_GY_RISK
    bed_limit_no_risk_gy: float = BED_LIMIT_GY_NO_RISK
    n_samples: int = 2000
    seed: int = 0
    tolerance: float = 0.05
    cycles_cap: int = MAX_SAFE_CYCLES_CAP
    within_sd_log: float | None = None
    variance_components: VarianceComponents = VarianceComponents.POSTERIOR
    tau_prior_scale_log: float = 1.0

    def __post_init__(self) -> None:
        for name in ("alpha_beta_gy", "t_rep_h", "dose_limit_gy", "bed_limit_risk_gy", "bed_limit_no_risk_gy"):
            object.__setattr__(self, name, positive_finite(name, getattr(self, name)))
        object.__setattr__(self, "n_samples", count("n_samples", self.n_samples, 1))
        object.__setattr__(self, "seed", count("seed", self.seed, 0))
        object.__setattr__(self, "cycles_cap", count("cycles_cap", self.cycles_cap, 1))
        tolerance = self.tolerance
        if isinstance(tolerance, (bool, np.bool_)) or not isinstance(tolerance, numbers.Real) \
                or not 0 < tolerance < 1:
            raise InputError(f"tolerance must be a probability in (0, 1), got {tolerance!r}")
        object.__setattr__(self, "tolerance", float(tolerance))
        try:
            object.__setattr__(self, "variance_components", VarianceComponents(self.variance_components))
        except ValueError as exc:
            raise InputError(f"variance_components must be one of {[v.value for v in VarianceComponents]}, "
                             f"got {self.variance_components!r}") from exc
        object.__setattr__(self, "tau_prior_scale_log", positive_finite("tau_prior_scale_log",
                                                                        self.tau_prior_scale_log))
        if self.within_sd_log is not None:
            object.__setattr__(self, "within_sd_log", positive_finite("within_sd_log", self.within_sd_log))

    def bed_limit_gy(self, renal_risk: bool) -> float:
        """The cumulative BED limit for a patient with (True) or without (False) renal risk factors, Gy."""
        return self.bed_limit_risk_gy if renal_risk else self.bed_limit_no_risk_gy


DEFAULT_SETTINGS = KidneyModelSettings()
