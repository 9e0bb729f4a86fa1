"""Projected cumulative kidney dose and BED for further 177Lu-DOTATATE cycles, with uncertainty.

Statistical model (one-way random effects on the log scale; README, "Kidney dosimetry and projection"):
    y_ij = ln(kidney Gy/GBq of cycle j of patient i) = mu + b_i + e_ij,
    b_i ~ N(0, tau^2) between patients, e_ij ~ N(0, sigma^2) cycle to cycle.
mu, tau^2, sigma^2 come from every measured cycle in the history (ANOVA / Henderson
method-I moment estimator for unbalanced groups, tau^2 truncated at 0; mu by GLS given
them). A patient's eta_i = mu + b_i is predicted by its BLUP with prediction-error
variance v_i + (1 - B_i)^2 Var(mu_hat), B_i = n_i tau^2/(n_i tau^2 + sigma^2), so the
uncertainty of mu_hat is included. Here tau^2 and sigma^2 are point estimates; the Monte
Carlo draws them from their posterior (``variance``) unless settings say PLUG_IN.
Patients with few or no measured cycles borrow from the cohort (B_i -> 0).

"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from prrt_core.dosimetry.physics import LU177_HALF_LIFE_H
from prrt_core.errors import InputError
from prrt_core.projection.settings import positive_finite

logger = logging.getLogger(__name__)

HISTORY_COLUMNS = ("patient_id", "activity_gbq", "kidney_dose_gy", "kidney_t_eff_h")
PATIENT_COLUMNS = ("patient_id", "renal_risk")


@dataclass(frozen=True)
class CohortModel:
    """Variance-component fit of ln(kidney Gy/GBq) over the whole history."""

    mu_log: float  # GLS mean of ln(Gy/GBq)
    tau2_log: float  # between-patient variance
    sigma2_log: float  # within-patient (cycle-to-cycle) variance
    var_mu_log: float  # variance of mu_hat
    n_measured_cycles: int
    n_measured_patients: int
    sigma2_source: str  # "estimated" | "given"
    mean_gy_per_gbq: float  # arithmetic mean over measured cycles (point projection)
    median_t_eff_h: float  # median of measured kidney T_eff over all cycles, NaN if none


@dataclass(frozen=True)
class History:
    ids: pd.Index  # unique patient ids, order of first appearance
    codes: np.ndarray  # row -> index into ids
    activity_gbq: np.ndarray
    dose_gy: np.ndarray
    t_eff_h: np.ndarray


# --- validation ------------------------------------------------------------------
def _numeric_column(df: pd.DataFrame, column: str) -> np.ndarray:
    try:
        return pd.to_numeric(df[column], errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (ValueError, TypeError) as exc:
        raise InputError(f"history column {column!r} must be numeric: {exc}") from exc


def first_bad(ids, mask) -> str:
    bad = np.asarray(ids)[mask]
    return ", ".join(repr(x) for x in bad[:5]) + (" ..." if bad.size > 5 else "")


def validate_history(history) -> History:
    if not isinstance(history, pd.DataFrame):
        raise InputError(f"history must be a pandas DataFrame, got {type(history).__name__}")
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise InputError(f"history is missing column(s) {missing}; required {list(HISTORY_COLUMNS)}")
    if len(history) == 0:
        raise InputError("history is empty: at least the measured cycles of the cohort are needed")
    pid = history["patient_id"]
    if pid.isna().any():
        raise InputError(f"history column 'patient_id' has {int(pid.isna().sum())} missing value(s)")
    act = _numeric_column(history, "activity_gbq")
    dose = _numeric_column(history, "kidney_dose_gy")
    t_eff = _numeric_column(history, "kidney_t_eff_h")
    bad = ~np.isfinite(act) | (act <= 0)
    if bad.any():
        raise InputError(f"history column 'activity_gbq' must be finite and > 0 GBq; bad value(s) for "
                         f"patient(s) {first_bad(pid, bad)}: {act[bad][:5]}")
    bad = np.isinf(dose) | (dose <= 0)
    if bad.any():
        raise InputError(f"history column 'kidney_dose_gy' must be > 0 Gy or NaN (not measured); bad value(s) "
                         f"for patient(s) {first_bad(pid, bad)}: {dose[bad][:5]}")
    bad = np.isinf(t_eff) | (t_eff <= 0) | (t_eff > LU177_HALF_LIFE_H * (1 + 1e-9))
    if bad.any():
        raise InputError(f"history column 'kidney_t_eff_h' must be in (0, {LU177_HALF_LIFE_H}] h "
                         f"(cannot exceed the Lu-177 physical half-life) or NaN; bad value(s) for patient(s) "
                         f"{first_bad(pid, bad)}: {t_eff[bad][:5]}")
    codes, uniques = pd.factorize(pid, sort=False)
    return History(pd.Index(uniques), codes.astype(np.intp), act, dose, t_eff)


# --- cohort model ----------------------------------------------------------------
@dataclass(frozen=True)
class CohortStats:
    """Sufficient statistics of ln(Gy/GBq): per patient (all of History.ids) n_i and sum, and within-patient SS."""

    n_i: np.ndarray
    sum_y: np.ndarray
    ssw: float


def cohort_stats(h: History) -> CohortStats:
    """n_i, sum of ln(Gy/GBq) per patient and the within-patient sum of squares SSW of every measured cycle."""
    measured = np.isfinite(h.dose_gy)
    y = np.log(h.dose_gy[measured] / h.activity_gbq[measured])
    n_i, sum_y = log_stats(h.codes, h.dose_gy, h.activity_gbq, len(h.ids))
    group_mean = sum_y / np.maximum(n_i, 1.0)
    return CohortStats(n_i, sum_y, float(np.sum((y - group_mean[h.codes[measured]]) ** 2)))


def fit_model(h: History, within_sd_log, stats: CohortStats | None = None) -> CohortModel:
    measured = np.isfinite(h.dose_gy)
    n_obs = int(measured.sum())
    if n_obs == 0:
        raise InputError("history has no measured kidney_dose_gy: the cohort Gy/GBq cannot be estimated")
    gpg = h.dose_gy[measured] / h.activity_gbq[measured]
    y = np.log(gpg)
    stats = stats if stats is not None else cohort_stats(h)
    n_i, sum_y, ssw = stats.n_i, stats.sum_y, stats.ssw
    has = n_i > 0
    k = int(has.sum())
    if k < 2:
        raise InputError(f"measured kidney doses from at least 2 patients are needed to estimate the "
                         f"between-patient spread; history has {k}")
    group_mean = sum_y / np.maximum(n_i, 1.0)
    ybar_i, n_k = group_mean[has], n_i[has]
    if within_sd_log is None:
        if n_obs - k < 1:
            raise InputError("no patient has two measured cycles, so the cycle-to-cycle spread is not "
                             "identifiable; pass within_sd_log (SD of ln Gy/GBq between a patient's cycles)")
        sigma2, source = ssw / (n_obs - k), "estimated"
    else:
        sigma2, source = positive_finite("within_sd_log", within_sd_log) ** 2, "given"
    # Henderson method I (ANOVA) for unbalanced one-way data (Searle, Casella & McCulloch,
    # Variance Components, 1992, ch. 3): tau2 = (MSB - sigma2) / n0, truncated at 0.
    ybar = float(y.mean())
    msb = float(np.sum(n_k * (ybar_i - ybar) ** 2)) / (k - 1)
    n0 = (n_obs - float(np.sum(n_k**2)) / n_obs) / (k - 1)
    tau2 = max(0.0, (msb - sigma2) / n0)
    total = tau2 + sigma2 / n_k
    if np.all(total > 0):
        w = 1.0 / total
        mu, var_mu = float(np.sum(w * ybar_i) / np.sum(w)), float(1.0 / np.sum(w))
    else:  # no spread at all: every measured cycle has the same Gy/GBq
        mu, var_mu = ybar, 0.0
    t_eff = h.t_eff_h[np.isfinite(h.t_eff_h)]
    model = CohortModel(
        mu_log=mu, tau2_log=tau2, sigma2_log=sigma2, var_mu_log=var_mu, n_measured_cycles=n_obs,
        n_measured_patients=k, sigma2_source=source, mean_gy_per_gbq=float(gpg.mean()),
        median_t_eff_h=float(np.median(t_eff)) if t_eff.size else float("nan"),
    )
    logger.info("cohort model: %s", model)
    return model


def fit_cohort_model(history: pd.DataFrame, *, within_sd_log: float | None = None) -> CohortModel:
    """Fit mu, tau^2, sigma^2 of ln(kidney Gy/GBq) from every measured cycle of `history`.

    within_sd_log: known cycle-to-cycle SD of ln(Gy/GBq); required only when no patient
    has two measured cycles (sigma^2 is then not identifiable from the data).
    """
    return fit_model(validate_history(history), within_sd_log)


def log_stats(group: np.ndarray, dose_gy: np.ndarray, activity_gbq: np.ndarray, n_groups: int):
    """Per group: number of measured cycles and sum of ln(Gy/GBq) over them."""
    measured = np.isfinite(dose_gy)
    g = group[measured]
    n_i = np.bincount(g, minlength=n_groups).astype(float)
    sum_y = np.bincount(g, weights=np.log(dose_gy[measured] / activity_gbq[measured]), minlength=n_groups)
    sum_y = sum_y.astype(float)  # bincount of an empty selection is integer
    return n_i, sum_y


def posterior(model: CohortModel, n_i: np.ndarray, sum_y_i: np.ndarray):
    """BLUP mean, prediction-error variance and shrinkage B of eta_i = mu + b_i (arrays per patient)."""
    tau2, sigma2 = model.tau2_log, model.sigma2_log
    denom = n_i * tau2 + sigma2
    safe = np.where(denom > 0, denom, 1.0)
    shrink = np.where(denom > 0, n_i * tau2 / safe, 0.0)
    v = np.where(denom > 0, tau2 * sigma2 / safe, np.where(n_i == 0, tau2, 0.0))
    own = np.divide(sum_y_i, n_i, out=np.full(n_i.shape, model.mu_log), where=n_i > 0)
    eta = model.mu_log + shrink * (own - model.mu_log)
    pev = v + (1.0 - shrink) ** 2 * model.var_mu_log
    return eta, pev, shrink, np.where(n_i > 0, own, np.nan)



def select_patients(h: History, patient_ids) -> np.ndarray:
    if patient_ids is None:
        return np.arange(len(h.ids))
    if isinstance(patient_ids, (str, bytes)) or not np.iterable(patient_ids):
        raise InputError(f"patient_ids must be a list of patient ids, got {patient_ids!r}")
    wanted = pd.Index(pd.unique(pd.Series(list(patient_ids), dtype=object)))
    if len(wanted) == 0:
        raise InputError("patient_ids is empty")
    pos = h.ids.get_indexer(wanted)
    if (pos < 0).any():
        raise InputError(f"patient_ids not in history: {first_bad(wanted, pos < 0)}")
    return pos



def patient_posterior(history: pd.DataFrame, *, patient_ids=None, within_sd_log: float | None = None) -> pd.DataFrame:
    """Per-patient posterior of ln(kidney Gy/GBq): own mean, shrinkage B, BLUP mean and SD, Gy/GBq median and mean."""
    h = validate_history(history)
    model = fit_model(h, within_sd_log)
    sel = select_patients(h, patient_ids)
    n_i, sum_y = log_stats(h.codes, h.dose_gy, h.activity_gbq, len(h.ids))
    n_i, sum_y = n_i[sel], sum_y[sel]
    eta, pev, shrink, own = posterior(model, n_i, sum_y)
    out = pd.DataFrame({
        "patient_id": h.ids[sel], "n_measured_cycles": n_i.astype(int), "own_mean_log": own, "shrinkage": shrink,
        "eta_mean_log": eta, "eta_sd_log": np.sqrt(pev), "gy_per_gbq_median": np.exp(eta),
        "gy_per_gbq_mean": np.exp(eta + (pev + model.sigma2_log) / 2.0),
    })
    out.attrs["model"] = asdict(model)
    return out
