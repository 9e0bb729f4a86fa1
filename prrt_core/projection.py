"""Projected cumulative kidney dose and BED for further 177Lu-DOTATATE cycles, with uncertainty.

Statistical model (one-way random effects on the log scale, DESIGN.md section 5):
    y_ij = ln(kidney Gy/GBq of cycle j of patient i) = mu + b_i + e_ij,
    b_i ~ N(0, tau^2) between patients, e_ij ~ N(0, sigma^2) cycle to cycle.
mu, tau^2, sigma^2 come from every measured cycle in the history (ANOVA / Henderson
method-I moment estimator for unbalanced groups, tau^2 truncated at 0; mu by GLS given
them). A patient's eta_i = mu + b_i is predicted by its BLUP with prediction-error
variance v_i + (1 - B_i)^2 Var(mu_hat), B_i = n_i tau^2/(n_i tau^2 + sigma^2), so the
uncertainty of mu_hat is included; the uncertainty of tau^2 and sigma^2 is not.
Patients with few or no measured cycles borrow from the cohort (B_i -> 0).

Monte Carlo: each sample draws eta_i once per patient (shared by the patient's future and
unmeasured past cycles) and an independent e per cycle. The standard normals are common
random numbers: sample s uses the same z for every patient. Consequences, by design:
  * a patient's numbers depend only on its own history, the cohort fit, seed and
    n_samples, never on which other patients are projected (patient_ids subset = full run);
  * future cycles factor as A * exp(eta_is) * exp(sigma z_js), so cumulative dose and BED
    of k cycles need only the shared per-sample sums F1_k = sum_j exp(sigma z_j) and
    F2_k = sum_j exp(2 sigma z_j): the cost is n_patients x n_samples, whatever the number
    of cycles, and exceedance is exactly monotone in cycles and activity;
  * Monte-Carlo errors are correlated between patients: each patient's quantiles and
    probabilities are valid estimates, but never pool samples across patients.
Dose and BED are summed per cycle (BED with full repair between cycles, dosimetry.bed).
T_eff for BED: measured per past cycle; otherwise the patient's mean measured T_eff, else
the cohort median of measured T_eff, else dosimetry.DEFAULT_KIDNEY_T_EFF_H. T_eff is
treated as known (its spread changes BED by far less than the dose spread).
"""
from __future__ import annotations

import logging
import numbers
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from . import dosimetry

logger = logging.getLogger(__name__)

HISTORY_COLUMNS = ("patient_id", "activity_gbq", "kidney_dose_gy", "kidney_t_eff_h")
PATIENT_COLUMNS = ("patient_id", "renal_risk")
MAX_SAFE_CYCLES_CAP = 10
QUANTILES = (0.05, 0.50, 0.95)
# Elements (patients x samples [x cycles]) per chunk: ~15 float64 temporaries of 0.5 MB per
# worker thread stay cache-resident (measured 2x faster than 4 MB chunks); chunks run on a
# thread pool (numpy releases the GIL).
_CHUNK_ELEMENTS = 1 << 16


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
class _History:
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
        raise ValueError(f"history column {column!r} must be numeric: {exc}") from exc


def _first_bad(ids, mask) -> str:
    bad = np.asarray(ids)[mask]
    return ", ".join(repr(x) for x in bad[:5]) + (" ..." if bad.size > 5 else "")


def _validate_history(history) -> _History:
    if not isinstance(history, pd.DataFrame):
        raise ValueError(f"history must be a pandas DataFrame, got {type(history).__name__}")
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise ValueError(f"history is missing column(s) {missing}; required {list(HISTORY_COLUMNS)}")
    if len(history) == 0:
        raise ValueError("history is empty: at least the measured cycles of the cohort are needed")
    pid = history["patient_id"]
    if pid.isna().any():
        raise ValueError(f"history column 'patient_id' has {int(pid.isna().sum())} missing value(s)")
    act = _numeric_column(history, "activity_gbq")
    dose = _numeric_column(history, "kidney_dose_gy")
    t_eff = _numeric_column(history, "kidney_t_eff_h")
    bad = ~np.isfinite(act) | (act <= 0)
    if bad.any():
        raise ValueError(f"history column 'activity_gbq' must be finite and > 0 GBq; bad value(s) for "
                         f"patient(s) {_first_bad(pid, bad)}: {act[bad][:5]}")
    bad = np.isinf(dose) | (dose <= 0)
    if bad.any():
        raise ValueError(f"history column 'kidney_dose_gy' must be > 0 Gy or NaN (not measured); bad value(s) "
                         f"for patient(s) {_first_bad(pid, bad)}: {dose[bad][:5]}")
    bad = np.isinf(t_eff) | (t_eff <= 0) | (t_eff > dosimetry.LU177_HALF_LIFE_H * (1 + 1e-9))
    if bad.any():
        raise ValueError(f"history column 'kidney_t_eff_h' must be in (0, {dosimetry.LU177_HALF_LIFE_H}] h "
                         f"(cannot exceed the Lu-177 physical half-life) or NaN; bad value(s) for patient(s) "
                         f"{_first_bad(pid, bad)}: {t_eff[bad][:5]}")
    codes, uniques = pd.factorize(pid, sort=False)
    return _History(pd.Index(uniques), codes.astype(np.intp), act, dose, t_eff)


def _positive_finite(name: str, value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return float(value)


def _count(name: str, value, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# --- cohort model ----------------------------------------------------------------
def _fit(h: _History, within_sd_log) -> CohortModel:
    measured = np.isfinite(h.dose_gy)
    n_obs = int(measured.sum())
    if n_obs == 0:
        raise ValueError("history has no measured kidney_dose_gy: the cohort Gy/GBq cannot be estimated")
    gpg = h.dose_gy[measured] / h.activity_gbq[measured]
    y = np.log(gpg)
    n_i, sum_y = _log_stats(h.codes, h.dose_gy, h.activity_gbq, len(h.ids))
    has = n_i > 0
    k = int(has.sum())
    if k < 2:
        raise ValueError(f"measured kidney doses from at least 2 patients are needed to estimate the "
                         f"between-patient spread; history has {k}")
    group_mean = sum_y / np.maximum(n_i, 1.0)
    ssw = float(np.sum((y - group_mean[h.codes[measured]]) ** 2))
    ybar_i, n_k = group_mean[has], n_i[has]
    if within_sd_log is None:
        if n_obs - k < 1:
            raise ValueError("no patient has two measured cycles, so the cycle-to-cycle spread is not "
                             "identifiable; pass within_sd_log (SD of ln Gy/GBq between a patient's cycles)")
        sigma2, source = ssw / (n_obs - k), "estimated"
    else:
        sigma2, source = _positive_finite("within_sd_log", within_sd_log) ** 2, "given"
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
    return _fit(_validate_history(history), within_sd_log)


def _log_stats(group: np.ndarray, dose_gy: np.ndarray, activity_gbq: np.ndarray, n_groups: int):
    """Per group: number of measured cycles and sum of ln(Gy/GBq) over them."""
    measured = np.isfinite(dose_gy)
    g = group[measured]
    n_i = np.bincount(g, minlength=n_groups).astype(float)
    sum_y = np.bincount(g, weights=np.log(dose_gy[measured] / activity_gbq[measured]), minlength=n_groups)
    sum_y = sum_y.astype(float)  # bincount of an empty selection is integer
    return n_i, sum_y


def _posterior(model: CohortModel, n_i: np.ndarray, sum_y_i: np.ndarray):
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


# --- per-patient preparation -------------------------------------------------------
@dataclass(frozen=True)
class _Patients:
    ids: pd.Index
    n_past: np.ndarray
    n_measured: np.ndarray
    eta_log: np.ndarray
    eta_sd_log: np.ndarray
    dose_measured_gy: np.ndarray
    bed_measured_gy: np.ndarray
    unmeasured_gbq: np.ndarray  # (P, U) activities of past cycles without dose, 0-padded
    unmeasured_factor: np.ndarray  # (P, U) T_rep/(T_rep+T_eff)/(alpha/beta), 1/Gy
    future_factor: np.ndarray  # (P,) same factor for future cycles, 1/Gy
    t_eff_future_h: np.ndarray
    t_eff_source: np.ndarray
    point_gy_per_gbq: np.ndarray
    bed_limit_gy: np.ndarray
    renal_risk: pd.array
    renal_risk_known: np.ndarray


def _select(h: _History, patient_ids) -> np.ndarray:
    if patient_ids is None:
        return np.arange(len(h.ids))
    if isinstance(patient_ids, (str, bytes)) or not np.iterable(patient_ids):
        raise ValueError(f"patient_ids must be a list of patient ids, got {patient_ids!r}")
    wanted = pd.Index(pd.unique(pd.Series(list(patient_ids), dtype=object)))
    if len(wanted) == 0:
        raise ValueError("patient_ids is empty")
    pos = h.ids.get_indexer(wanted)
    if (pos < 0).any():
        raise ValueError(f"patient_ids not in history: {_first_bad(wanted, pos < 0)}")
    return pos


def _renal(patients, ids: pd.Index, risk_gy: float, no_risk_gy: float):
    n = len(ids)
    risk = pd.array([pd.NA] * n, dtype="boolean")
    if patients is not None:
        if not isinstance(patients, pd.DataFrame):
            raise ValueError(f"patients must be a pandas DataFrame, got {type(patients).__name__}")
        missing = [c for c in PATIENT_COLUMNS if c not in patients.columns]
        if missing:
            raise ValueError(f"patients is missing column(s) {missing}; required {list(PATIENT_COLUMNS)}")
        if patients["patient_id"].duplicated().any():
            dup = patients["patient_id"][patients["patient_id"].duplicated()]
            raise ValueError(f"patients has duplicate patient_id(s): {_first_bad(dup, np.ones(len(dup), bool))}")
        try:
            values = patients["renal_risk"].astype("boolean")
        except (TypeError, ValueError) as exc:
            raise ValueError(f"patients column 'renal_risk' must be boolean (True/False/missing): {exc}") from exc
        pos = pd.Index(patients["patient_id"]).get_indexer(ids)
        found = pos >= 0
        risk[found] = values.to_numpy()[pos[found]]
    known = ~np.asarray(risk.isna())
    at_risk = np.asarray(risk.fillna(True), dtype=bool)
    limit = np.where(known & ~at_risk, no_risk_gy, risk_gy)
    if not known.all():
        logger.info("renal risk unknown for %d patient(s): BED limit %.1f Gy used", int((~known).sum()), risk_gy)
    return risk, known, limit


def _prepare(h, model, sel, patients, alpha_beta_gy, t_rep_h, bed_limits) -> _Patients:
    n_sel = len(sel)
    pos = np.full(len(h.ids), -1, dtype=np.intp)
    pos[sel] = np.arange(n_sel)
    rp = pos[h.codes]
    rows = rp >= 0
    rp, act, dose, t_eff = rp[rows], h.activity_gbq[rows], h.dose_gy[rows], h.t_eff_h[rows]
    measured = np.isfinite(dose)
    count = lambda m: np.bincount(rp[m], minlength=n_sel)  # noqa: E731
    total = lambda w, m: np.bincount(rp[m], weights=w[m], minlength=n_sel).astype(float)  # noqa: E731
    n_meas, sum_y = _log_stats(rp, dose, act, n_sel)
    eta, pev, _, _ = _posterior(model, n_meas, sum_y)

    # Kidney T_eff for cycles without one: patient mean -> cohort median -> literature default.
    has_t = np.isfinite(t_eff)
    n_t = count(has_t)
    own_t = np.divide(total(t_eff, has_t), n_t, out=np.full(n_sel, np.nan), where=n_t > 0)
    if np.isfinite(model.median_t_eff_h):
        fallback, fallback_source = model.median_t_eff_h, "cohort median"
    else:
        fallback, fallback_source = dosimetry.DEFAULT_KIDNEY_T_EFF_H, "default"
        logger.warning("no measured kidney T_eff in history: typical %.0f h used (dosimetry.DEFAULT_KIDNEY_T_EFF_H)",
                       fallback)
    t_future = np.where(n_t > 0, own_t, fallback)
    source = np.where(n_t > 0, "patient mean", fallback_source)
    t_row = np.where(has_t, t_eff, t_future[rp])
    factor_row = dosimetry.repair_factor(t_row, t_rep_h) / alpha_beta_gy

    dose_meas = total(np.where(measured, dose, 0.0), measured)
    bed_meas = total(dosimetry.bed(np.where(measured, dose, 0.0), t_row, alpha_beta_gy, t_rep_h), measured)

    # Past cycles without dose: pad per patient in history order.
    um = ~measured
    um_pos, um_act, um_fac = rp[um], act[um], factor_row[um]
    order = np.argsort(um_pos, kind="stable")
    um_pos, um_act, um_fac = um_pos[order], um_act[order], um_fac[order]
    rank = np.arange(um_pos.size) - np.searchsorted(um_pos, um_pos, side="left")
    width = int(rank.max()) + 1 if rank.size else 0
    pad_act = np.zeros((n_sel, width))
    pad_fac = np.zeros((n_sel, width))
    pad_act[um_pos, rank] = um_act
    pad_fac[um_pos, rank] = um_fac

    own_gpg = np.divide(total(np.where(measured, dose / act, 0.0), measured), n_meas,
                        out=np.full(n_sel, model.mean_gy_per_gbq), where=n_meas > 0)
    risk, known, limit = _renal(patients, h.ids[sel], *bed_limits)
    return _Patients(
        ids=h.ids[sel], n_past=count(np.ones(rp.size, bool)), n_measured=n_meas.astype(int), eta_log=eta,
        eta_sd_log=np.sqrt(pev), dose_measured_gy=dose_meas,
        bed_measured_gy=bed_meas, unmeasured_gbq=pad_act, unmeasured_factor=pad_fac,
        future_factor=dosimetry.repair_factor(t_future, t_rep_h) / alpha_beta_gy, t_eff_future_h=t_future,
        t_eff_source=source, point_gy_per_gbq=own_gpg, bed_limit_gy=limit, renal_risk=risk,
        renal_risk_known=known,
    )


# --- Monte Carlo -------------------------------------------------------------------
@dataclass(frozen=True)
class _Draws:
    z0: np.ndarray  # (S,) patient-level standard normals
    f1: np.ndarray  # (K+1, S) sum over the first k future cycles of exp(sigma z)
    f2: np.ndarray  # (K+1, S) sum over the first k future cycles of exp(2 sigma z)
    g1: np.ndarray  # (U, S) exp(sigma z) of unmeasured past cycles
    g2: np.ndarray  # (U, S) its square


def _draw(seed: int, n_samples: int, k_max: int, u_max: int, sigma_log: float) -> _Draws:
    # Three independent streams (patient effect, future cycles, past cycles). Each block is
    # drawn cycle-major, so cycle j's normals do not depend on how many cycles are drawn.
    streams = [np.random.Generator(np.random.PCG64(s)) for s in np.random.SeedSequence(seed).spawn(3)]
    z0 = streams[0].standard_normal(n_samples)
    f = np.exp(sigma_log * streams[1].standard_normal((k_max, n_samples)))
    zeros = np.zeros((1, n_samples))
    g1 = np.exp(sigma_log * streams[2].standard_normal((u_max, n_samples)))
    return _Draws(z0, np.vstack([zeros, np.cumsum(f, axis=0)]), np.vstack([zeros, np.cumsum(f * f, axis=0)]),
                  g1, g1 * g1)


def _state(p: _Patients, d: _Draws, sl: slice):
    """Per-sample patient level E = exp(eta), dose now and BED now, each (P, S)."""
    e = np.exp(p.eta_log[sl, None] + p.eta_sd_log[sl, None] * d.z0)
    dose_now = np.repeat(p.dose_measured_gy[sl, None], d.z0.size, axis=1)
    bed_now = np.repeat(p.bed_measured_gy[sl, None], d.z0.size, axis=1)
    act = p.unmeasured_gbq[sl]
    rows = np.flatnonzero(act.sum(axis=1) > 0)
    if rows.size:
        width = int(np.flatnonzero(act[rows].any(axis=0))[-1]) + 1  # widest row in this chunk
        a = act[rows, :width, None]
        fac = p.unmeasured_factor[sl][rows, :width, None]
        er = e[rows]
        lin = er * np.sum(a * d.g1[None, :width], axis=1)
        quad = er * er * np.sum(fac * a * a * d.g2[None, :width], axis=1)
        dose_now[rows] += lin
        bed_now[rows] += lin + quad
    return e, dose_now, bed_now


def _chunks(n_rows: int, per_row: int) -> list[slice]:
    step = max(1, _CHUNK_ELEMENTS // max(per_row, 1))
    return [slice(i, min(i + step, n_rows)) for i in range(0, n_rows, step)]


def _run_chunks(fn, slices: list[slice]) -> list[dict]:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = min(len(slices), cores)
    if workers <= 1:
        return [fn(sl) for sl in slices]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, slices))


def _exceed(x, limit):
    """Fraction of samples (last axis) above the per-patient limit."""
    return np.count_nonzero(x > limit[:, None], axis=1) / x.shape[1]


def _quantiles(x: np.ndarray) -> np.ndarray:
    """QUANTILES along the last axis, linear interpolation (np.quantile's default method).

    One SIMD sort per row is several times faster than np.quantile's multi-kth partition.
    Returns shape (len(QUANTILES),) + x.shape[:-1].
    """
    s = np.sort(x, axis=-1)
    pos = np.asarray(QUANTILES) * (x.shape[-1] - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, x.shape[-1] - 1)
    frac = pos - lo
    return np.stack([s[..., i] + (s[..., j] - s[..., i]) * f for i, j, f in zip(lo, hi, frac)])


def _project_chunk(p: _Patients, d: _Draws, sl: slice, n: int, a_gbq: float, tol: float, dose_limit: float,
                   cap: int) -> dict:
    e, dose_now, bed_now = _state(p, d, sl)
    bed_lim = p.bed_limit_gy[sl]
    dose_lim = np.full(bed_lim.shape, dose_limit)
    factor = p.future_factor[sl, None]
    ae = a_gbq * e
    ae2g = factor * ae * ae
    lin = ae * d.f1[n]
    dose = dose_now + lin
    lin += bed_now
    bed_n = np.add(lin, ae2g * d.f2[n], out=lin)  # bed_now + A E F1 + g A^2 E^2 F2, as in the search below
    out = {"dose_q": _quantiles(dose), "bed_q": _quantiles(bed_n),
           "p_exceed_dose": _exceed(dose, dose_lim), "p_exceed_bed": _exceed(bed_n, bed_lim)}
    del dose, bed_n, lin
    # Largest per-cycle activity for n cycles: dose is linear in A, BED quadratic (positive
    # root, stable form 2c/(b + sqrt(b^2 + 4ac)); negative when already over the limit).
    m = min(int(np.floor(tol * d.z0.size + 1e-9)), d.z0.size - 1)
    b = e * d.f1[n]
    r_dose = np.divide(dose_lim[:, None] - dose_now, b)
    quad = factor * e * e * d.f2[n]
    c = bed_lim[:, None] - bed_now
    quad *= c
    quad *= 4.0
    disc = np.maximum(np.add(b * b, quad, out=quad), 0.0, out=quad)
    r_bed = np.divide(2.0 * c, np.add(b, np.sqrt(disc, out=disc), out=b), out=c)
    # The m-th order statistic (0-based, m = floor(tol S)): below it at most tol*S samples
    # exceed. Nudged down by 1e-9 so that the boundary sample itself, which sits exactly on
    # the limit, is not counted as exceeding through rounding when projecting at A_max.
    a_max = np.minimum(np.partition(r_dose, m, axis=1)[:, m], np.partition(r_bed, m, axis=1)[:, m])
    out["max_safe_activity_gbq"] = np.maximum(a_max * (1.0 - 1e-9), 0.0)
    del b, r_dose, quad, c, r_bed, disc
    over_now = (_exceed(dose_now, dose_lim) > tol) | (_exceed(bed_now, bed_lim) > tol)
    out["over_limit_now"] = over_now
    # Largest k in 0..max(cap, n) with both exceedance probabilities <= tol, by binary search
    # (valid: every sample's cumulative dose and BED grow with k), started from the answer
    # at k = n; patients already over the limit stop at 0.
    ok_n = (out["p_exceed_dose"] <= tol) & (out["p_exceed_bed"] <= tol)
    lo = np.where(ok_n, n, 0)
    hi = np.where(ok_n, max(cap, n) + 1, np.where(over_now, 1, n))
    while True:
        rows = np.flatnonzero(hi - lo > 1)
        if rows.size == 0:
            break
        mid = (lo[rows] + hi[rows]) // 2
        f1, f2 = d.f1[mid], d.f2[mid]
        lin = ae[rows] * f1
        ok = _exceed(dose_now[rows] + lin, dose_lim[rows]) <= tol
        lin += bed_now[rows]
        lin += ae2g[rows] * f2
        ok &= _exceed(lin, bed_lim[rows]) <= tol
        lo[rows] = np.where(ok, mid, lo[rows])
        hi[rows] = np.where(ok, hi[rows], mid)
    out["max_safe_cycles"] = lo
    return out


def _settings(history, n_cycles, activity_gbq, patients, patient_ids, n_samples, tolerance, seed,
              alpha_beta_gy, t_rep_h, dose_limit_gy, bed_limit_risk_gy, bed_limit_no_risk_gy, cycles_cap,
              within_sd_log):
    n_cycles = _count("n_cycles", n_cycles, 1)
    n_samples = _count("n_samples", n_samples, 1)
    cycles_cap = _count("cycles_cap", cycles_cap, 1)
    seed = _count("seed", seed, 0)
    if isinstance(activity_gbq, (bool, np.bool_)) or not isinstance(activity_gbq, numbers.Real) \
            or not np.isfinite(activity_gbq) or activity_gbq < 0:
        raise ValueError(f"activity_gbq must be a finite number >= 0 GBq, got {activity_gbq!r}")
    if tolerance is not None and (isinstance(tolerance, (bool, np.bool_)) or not isinstance(tolerance, numbers.Real)
                                  or not 0 < tolerance < 1):
        raise ValueError(f"tolerance must be a probability in (0, 1), got {tolerance!r}")
    for name, value in (("alpha_beta_gy", alpha_beta_gy), ("t_rep_h", t_rep_h), ("dose_limit_gy", dose_limit_gy),
                        ("bed_limit_risk_gy", bed_limit_risk_gy), ("bed_limit_no_risk_gy", bed_limit_no_risk_gy)):
        _positive_finite(name, value)
    h = _validate_history(history)
    model = _fit(h, within_sd_log)
    sel = _select(h, patient_ids)
    p = _prepare(h, model, sel, patients, float(alpha_beta_gy), float(t_rep_h),
                 (float(bed_limit_risk_gy), float(bed_limit_no_risk_gy)))
    draws = _draw(seed, n_samples, max(n_cycles, cycles_cap), p.unmeasured_gbq.shape[1], np.sqrt(model.sigma2_log))
    attrs = {"model": asdict(model), "n_samples": n_samples, "seed": seed, "tolerance": tolerance,
             "alpha_beta_gy": float(alpha_beta_gy), "t_rep_h": float(t_rep_h), "cycles_cap": cycles_cap}
    return n_cycles, float(activity_gbq), n_samples, tolerance, cycles_cap, model, p, draws, attrs


def _analytic_now(p: _Patients, model: CohortModel):
    """Expected dose and BED now (measured + expectation over unmeasured past cycles) and predictive mean Gy/GBq."""
    var = p.eta_sd_log**2 + model.sigma2_log
    m1 = np.exp(p.eta_log + var / 2.0)  # E[Gy/GBq of one cycle]
    m2 = np.exp(2.0 * p.eta_log + 2.0 * var)  # E[(Gy/GBq)^2]
    sum_a = p.unmeasured_gbq.sum(axis=1)
    sum_fa2 = (p.unmeasured_factor * p.unmeasured_gbq**2).sum(axis=1)
    dose_now = p.dose_measured_gy + m1 * sum_a
    bed_now = p.bed_measured_gy + m1 * sum_a + m2 * sum_fa2
    return m1, dose_now, bed_now, sum_a, sum_fa2


def _point(p: _Patients, sum_a, sum_fa2, k, a_gbq: float):
    """Deterministic dose and BED after k future cycles with the point Gy/GBq (own mean, else cohort mean)."""
    g = p.point_gy_per_gbq
    base_dose = p.dose_measured_gy + g * sum_a
    base_bed = p.bed_measured_gy + g * sum_a + g**2 * sum_fa2
    per_dose = a_gbq * g
    per_bed = per_dose + p.future_factor * per_dose**2
    if np.ndim(k):
        k = np.asarray(k)[None, :]
        return base_dose[:, None] + k * per_dose[:, None], base_bed[:, None] + k * per_bed[:, None]
    return base_dose + k * per_dose, base_bed + k * per_bed


def project(history: pd.DataFrame, n_cycles: int, activity_gbq: float, *, patients: pd.DataFrame | None = None,
            patient_ids=None, n_samples: int = 2000, tolerance: float = 0.05, seed: int = 0,
            alpha_beta_gy: float = dosimetry.KIDNEY_ALPHA_BETA_GY, t_rep_h: float = dosimetry.KIDNEY_T_REP_H,
            dose_limit_gy: float = dosimetry.DOSE_LIMIT_GY, bed_limit_risk_gy: float = dosimetry.BED_LIMIT_GY_RISK,
            bed_limit_no_risk_gy: float = dosimetry.BED_LIMIT_GY_NO_RISK, cycles_cap: int = MAX_SAFE_CYCLES_CAP,
            within_sd_log: float | None = None) -> pd.DataFrame:
    """Project cumulative kidney dose and BED after `n_cycles` further cycles of `activity_gbq` each.

    history: one row per past cycle: patient_id, activity_gbq, kidney_dose_gy (NaN = no
    dosimetry), kidney_t_eff_h (NaN = not measured). patients: optional patient_id,
    renal_risk (bool); unknown risk uses the BED limit with risk (28 Gy) and sets
    renal_risk_known False. patient_ids limits the output rows (the cohort model is still
    fitted on the whole history). One row per patient; quantiles and exceedance refer to the
    cumulative total after the n_cycles future cycles; max_safe_cycles (at activity_gbq)
    is capped at max(cycles_cap, n_cycles), a value equal to the cap meaning ">= cap", and is
    0 with over_limit_now True when the limits are already exceeded; max_safe_activity_gbq is the
    largest per-cycle activity for n_cycles with both exceedance probabilities <= tolerance
    (0 when already over). gy_per_gbq_mean is the predictive mean Gy/GBq of a next cycle.
    The fitted cohort model and settings are in DataFrame.attrs.
    """
    n, a_gbq, n_samples, tol, cap, model, p, draws, attrs = _settings(
        history, n_cycles, activity_gbq, patients, patient_ids, n_samples, tolerance, seed, alpha_beta_gy, t_rep_h,
        dose_limit_gy, bed_limit_risk_gy, bed_limit_no_risk_gy, cycles_cap, within_sd_log)
    parts = _run_chunks(lambda sl: _project_chunk(p, draws, sl, n, a_gbq, tol, float(dose_limit_gy), cap),
                        _chunks(len(p.ids), n_samples))
    cat = {key: np.concatenate([part[key] for part in parts], axis=-1) for key in parts[0]}
    m1, dose_now, bed_now, sum_a, sum_fa2 = _analytic_now(p, model)
    point_dose, point_bed = _point(p, sum_a, sum_fa2, n, a_gbq)
    out = pd.DataFrame({
        "patient_id": p.ids, "n_past_cycles": p.n_past, "n_measured_cycles": p.n_measured,
        "n_cycles": n, "activity_gbq": a_gbq, "renal_risk": p.renal_risk, "renal_risk_known": p.renal_risk_known,
        "dose_limit_gy": float(dose_limit_gy), "bed_limit_gy": p.bed_limit_gy,
        "t_eff_future_h": p.t_eff_future_h, "t_eff_source": p.t_eff_source,
        "gy_per_gbq_mean": m1, "dose_now_gy": dose_now, "bed_now_gy": bed_now,
        "point_dose_gy": point_dose, "point_bed_gy": point_bed,
        "dose_p05_gy": cat["dose_q"][0], "dose_p50_gy": cat["dose_q"][1], "dose_p95_gy": cat["dose_q"][2],
        "bed_p05_gy": cat["bed_q"][0], "bed_p50_gy": cat["bed_q"][1], "bed_p95_gy": cat["bed_q"][2],
        "p_exceed_dose": cat["p_exceed_dose"], "p_exceed_bed": cat["p_exceed_bed"],
        "over_limit_now": cat["over_limit_now"], "max_safe_cycles": cat["max_safe_cycles"],
        "max_safe_activity_gbq": cat["max_safe_activity_gbq"],
    })
    out.attrs.update(attrs)
    return out


def _path_chunk(p: _Patients, d: _Draws, sl: slice, n: int, a_gbq: float) -> dict:
    e, dose_now, bed_now = _state(p, d, sl)
    ae = (a_gbq * e)[:, None, :]
    dose = dose_now[:, None, :] + ae * d.f1[None, : n + 1]
    bed_k = (bed_now[:, None, :] + ae * d.f1[None, : n + 1]
             + p.future_factor[sl, None, None] * ae * ae * d.f2[None, : n + 1])
    return {"dose_q": _quantiles(dose), "bed_q": _quantiles(bed_k)}


def project_path(history: pd.DataFrame, n_cycles: int, activity_gbq: float, *, patients: pd.DataFrame | None = None,
                 patient_ids=None, n_samples: int = 2000, seed: int = 0,
                 alpha_beta_gy: float = dosimetry.KIDNEY_ALPHA_BETA_GY, t_rep_h: float = dosimetry.KIDNEY_T_REP_H,
                 dose_limit_gy: float = dosimetry.DOSE_LIMIT_GY,
                 bed_limit_risk_gy: float = dosimetry.BED_LIMIT_GY_RISK,
                 bed_limit_no_risk_gy: float = dosimetry.BED_LIMIT_GY_NO_RISK,
                 within_sd_log: float | None = None) -> pd.DataFrame:
    """Per-future-cycle bands for a fan chart: one row per patient and future_cycle 0..n_cycles.

    Columns: patient_id, future_cycle, dose/bed p05/p50/p95 (cumulative, Gy), point_dose_gy,
    point_bed_gy, dose_limit_gy, bed_limit_gy. Same model, draws and seed as project(): the
    row future_cycle == n_cycles equals project()'s quantiles.
    """
    n, a_gbq, n_samples, _, _, model, p, draws, attrs = _settings(
        history, n_cycles, activity_gbq, patients, patient_ids, n_samples, None, seed, alpha_beta_gy, t_rep_h,
        dose_limit_gy, bed_limit_risk_gy, bed_limit_no_risk_gy, MAX_SAFE_CYCLES_CAP, within_sd_log)
    parts = _run_chunks(lambda sl: _path_chunk(p, draws, sl, n, a_gbq), _chunks(len(p.ids), n_samples * (n + 1)))
    dose_q = np.concatenate([part["dose_q"] for part in parts], axis=1)  # (3, P, n+1)
    bed_q = np.concatenate([part["bed_q"] for part in parts], axis=1)
    _, _, _, sum_a, sum_fa2 = _analytic_now(p, model)
    k = np.arange(n + 1)
    point_dose, point_bed = _point(p, sum_a, sum_fa2, k, a_gbq)
    n_p = len(p.ids)
    out = pd.DataFrame({
        "patient_id": np.repeat(p.ids.to_numpy(), n + 1), "future_cycle": np.tile(k, n_p),
        "dose_p05_gy": dose_q[0].ravel(), "dose_p50_gy": dose_q[1].ravel(), "dose_p95_gy": dose_q[2].ravel(),
        "bed_p05_gy": bed_q[0].ravel(), "bed_p50_gy": bed_q[1].ravel(), "bed_p95_gy": bed_q[2].ravel(),
        "point_dose_gy": point_dose.ravel(), "point_bed_gy": point_bed.ravel(),
        "dose_limit_gy": float(dose_limit_gy), "bed_limit_gy": np.repeat(p.bed_limit_gy, n + 1),
    })
    out.attrs.update(attrs)
    return out


def patient_posterior(history: pd.DataFrame, *, patient_ids=None, within_sd_log: float | None = None) -> pd.DataFrame:
    """Per-patient posterior of ln(kidney Gy/GBq): own mean, shrinkage B, BLUP mean and SD, Gy/GBq median and mean."""
    h = _validate_history(history)
    model = _fit(h, within_sd_log)
    sel = _select(h, patient_ids)
    n_i, sum_y = _log_stats(h.codes, h.dose_gy, h.activity_gbq, len(h.ids))
    n_i, sum_y = n_i[sel], sum_y[sel]
    eta, pev, shrink, own = _posterior(model, n_i, sum_y)
    out = pd.DataFrame({
        "patient_id": h.ids[sel], "n_measured_cycles": n_i.astype(int), "own_mean_log": own, "shrinkage": shrink,
        "eta_mean_log": eta, "eta_sd_log": np.sqrt(pev), "gy_per_gbq_median": np.exp(eta),
        "gy_per_gbq_mean": np.exp(eta + (pev + model.sigma2_log) / 2.0),
    })
    out.attrs["model"] = asdict(model)
    return out


def kidney_per_cycle(cycles: pd.DataFrame, dosimetry_rows: pd.DataFrame) -> pd.DataFrame:
    """``cycles`` (row order kept) with kidney_dose_gy (Gy) and kidney_t_eff_h (h) added.

    From the cycle's 'kidneys' dosimetry row (the first, if several labels exist);
    NaN where the cycle has none.
    """
    kidney = (dosimetry_rows.loc[dosimetry_rows["organ"] == "kidneys", ["cycle_id", "dose_gy", "t_eff_h"]]
              .drop_duplicates("cycle_id").set_index("cycle_id"))
    out = cycles.copy()
    out["kidney_dose_gy"] = out["cycle_id"].map(kidney["dose_gy"]).astype(float)
    out["kidney_t_eff_h"] = out["cycle_id"].map(kidney["t_eff_h"]).astype(float)
    return out


def inputs_from_tables(tables: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``history`` and ``patients`` for :func:`project` from the store's tables.

    history: one row per cycle (patient_id, cycle_id, cycle_date, activity_gbq,
    kidney_dose_gy and kidney_t_eff_h from the 'kidneys' dosimetry row, NaN when
    the cycle has none). patients: patient_id and renal_risk (hypertension,
    diabetes or another recorded renal risk factor).
    """
    patients = tables["patients"]
    history = (kidney_per_cycle(tables["cycles"][["patient_id", "cycle_id", "cycle_date", "activity_gbq"]],
                                tables["dosimetry"])
               .sort_values(["patient_id", "cycle_date"], kind="stable").reset_index(drop=True))
    other = patients["other_renal_risk"].fillna("").astype(str).str.strip() != ""
    risk = patients["hypertension"].astype(bool) | patients["diabetes"].astype(bool) | other
    return history, pd.DataFrame({"patient_id": patients["patient_id"], "renal_risk": risk.to_numpy()})
