"""Monte-Carlo projection of cumulative kidney dose and BED after further cycles.

The model is in projection.model.
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
Variance components (settings.variance_components, default POSTERIOR): each sample s draws
(tau_s^2, sigma_s^2, mu_s, Var mu_s) from their posterior (projection.variance; Gelman et al.,
Bayesian Data Analysis, 3rd ed., ch. 5.4), common to all patients like the z's, and a
patient's eta then has the BLUP mean and SD given those components; the cycles' e use
sigma_s. PLUG_IN keeps the point estimates (the model's PEV, one sigma).
Point projection (point_dose_gy, point_bed_gy): the shrunk estimate exp(E[eta_i | y]),
E over the same draws, i.e. the posterior mean of ln Gy/GBq the Monte Carlo is centred on
(for one future cycle of a fully measured patient, the Monte-Carlo median).
"""
from __future__ import annotations

import logging
import numbers
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from prrt_core.errors import InputError
from prrt_core.projection.model import CohortModel, cohort_stats, fit_model, select_patients, validate_history
from prrt_core.projection.patients import PatientInputs, prepare_patients
from prrt_core.projection.settings import KidneyModelSettings, VarianceComponents, count
from prrt_core.projection.variance import ComponentDraws, draw_components, patient_draws

logger = logging.getLogger(__name__)

QUANTILES = (0.05, 0.50, 0.95)
# Elements (patients x samples [x cycles]) per chunk: ~15 float64 temporaries of 0.5 MB per
# worker thread stay cache-resident (measured 2x faster than 4 MB chunks); chunks run on a
# thread pool (numpy releases the GIL).
_CHUNK_ELEMENTS = 1 << 16


# --- Monte Carlo -------------------------------------------------------------------
@dataclass(frozen=True)
class _Draws:
    z0: np.ndarray  # (S,) patient-level standard normals
    f1: np.ndarray  # (K+1, S) sum over the first k future cycles of exp(sigma z)
    f2: np.ndarray  # (K+1, S) sum over the first k future cycles of exp(2 sigma z)
    g1: np.ndarray  # (U, S) exp(sigma z) of unmeasured past cycles
    g2: np.ndarray  # (U, S) its square
    components: ComponentDraws | None  # per-sample variance components; None: plug-in


def _streams(seed: int) -> list[np.random.Generator]:
    """Four independent streams: patient effect, future cycles, past cycles, variance components."""
    return [np.random.Generator(np.random.PCG64(s)) for s in np.random.SeedSequence(seed).spawn(4)]


def _draw(streams, n_samples: int, k_max: int, u_max: int, sigma_log, components: ComponentDraws | None) -> _Draws:
    # Each block is drawn cycle-major, so cycle j's normals do not depend on how many cycles are
    # drawn. sigma_log: one value, or one per sample (S,) with the variance components.
    z0 = streams[0].standard_normal(n_samples)
    f = np.exp(sigma_log * streams[1].standard_normal((k_max, n_samples)))
    zeros = np.zeros((1, n_samples))
    g1 = np.exp(sigma_log * streams[2].standard_normal((u_max, n_samples)))
    return _Draws(z0, np.vstack([zeros, np.cumsum(f, axis=0)]), np.vstack([zeros, np.cumsum(f * f, axis=0)]),
                  g1, g1 * g1, components)


def eta_draws(p: PatientInputs, d: _Draws, sl: slice):
    """Posterior mean and SD of eta (ln Gy/GBq) per patient of ``sl`` and sample: (P, S), or (P, 1) for plug-in."""
    if d.components is None:
        return p.eta_log[sl, None], p.eta_sd_log[sl, None]
    return patient_draws(d.components, p.n_measured[sl].astype(float), p.own_log[sl])


def _state(p: PatientInputs, d: _Draws, sl: slice):
    """Per-sample patient level E = exp(eta), dose now and BED now, each (P, S)."""
    eta, sd = eta_draws(p, d, sl)
    e = np.exp(eta + sd * d.z0)
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


def sample_quantiles(x: np.ndarray) -> np.ndarray:
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


def _project_chunk(p: PatientInputs, d: _Draws, sl: slice, n: int, a_gbq: float, tol: float, dose_limit: float,
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
    out = {"dose_q": sample_quantiles(dose), "bed_q": sample_quantiles(bed_n),
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
    a_dose = np.maximum(np.partition(r_dose, m, axis=1)[:, m] * (1.0 - 1e-9), 0.0)
    a_bed = np.maximum(np.partition(r_bed, m, axis=1)[:, m] * (1.0 - 1e-9), 0.0)
    out["max_safe_activity_gbq"] = np.minimum(a_dose, a_bed)
    out["max_safe_activity_dose_gbq"], out["max_safe_activity_bed_gbq"] = a_dose, a_bed  # each limit alone
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


@dataclass(frozen=True)
class Run:
    """A checked projection run: the fitted cohort model, the selected patients' inputs and the
    common random draws (shared by ``project``, ``project_path`` and ``estimates``)."""

    n_cycles: int
    activity_gbq: float
    settings: KidneyModelSettings
    model: CohortModel
    patients: PatientInputs
    draws: _Draws
    attrs: dict
    moments: tuple | None = None  # _moments over the variance-component draws; None: plug-in


def _settings_with(settings: KidneyModelSettings | None, **overrides) -> KidneyModelSettings:
    """``settings`` (default: DEFAULT_SETTINGS) with the keyword arguments given explicitly (not None)."""
    base = settings if settings is not None else KidneyModelSettings()
    if not isinstance(base, KidneyModelSettings):
        raise InputError(f"settings must be a KidneyModelSettings, got {type(base).__name__}")
    given = {k: v for k, v in overrides.items() if v is not None}
    return replace(base, **given) if given else base


def prepare_run(history, n_cycles, activity_gbq, patients, patient_ids, settings: KidneyModelSettings) -> Run:
    """Check the arguments, fit the cohort model and draw the samples of one run (InputError names a bad one)."""
    n_cycles = count("n_cycles", n_cycles, 1)
    if isinstance(activity_gbq, (bool, np.bool_)) or not isinstance(activity_gbq, numbers.Real) \
            or not np.isfinite(activity_gbq) or activity_gbq < 0:
        raise InputError(f"activity_gbq must be a finite number >= 0 GBq, got {activity_gbq!r}")
    h = validate_history(history)
    stats = cohort_stats(h)
    model = fit_model(h, settings.within_sd_log, stats)
    sel = select_patients(h, patient_ids)
    p = prepare_patients(h, model, sel, patients, settings.alpha_beta_gy, settings.t_rep_h,
                 (settings.bed_limit_risk_gy, settings.bed_limit_no_risk_gy))
    streams = _streams(settings.seed)
    components = None
    if settings.variance_components == VarianceComponents.POSTERIOR:
        components = draw_components(stats, model, streams[3], settings.n_samples, settings.tau_prior_scale_log)
    sigma_log = np.sqrt(components.sigma2) if components is not None else np.sqrt(model.sigma2_log)
    draws = _draw(streams, settings.n_samples, max(n_cycles, settings.cycles_cap), p.unmeasured_gbq.shape[1],
                  sigma_log, components)
    moments = _moments(p, draws) if components is not None else None
    if moments is not None:
        p = replace(p, point_gy_per_gbq=np.exp(moments[0]))
    attrs = {"model": asdict(model), "settings": asdict(settings), "n_samples": settings.n_samples,
             "seed": settings.seed, "tolerance": settings.tolerance, "alpha_beta_gy": settings.alpha_beta_gy,
             "t_rep_h": settings.t_rep_h, "cycles_cap": settings.cycles_cap}
    return Run(n_cycles, float(activity_gbq), settings, model, p, draws, attrs, moments)


def _moments(p: PatientInputs, d: _Draws):
    """Per patient over the variance-component draws: E[eta], E[Gy/GBq] and E[(Gy/GBq)^2] of one cycle."""
    def chunk(sl):
        eta, sd = eta_draws(p, d, sl)
        var = sd * sd + d.components.sigma2
        m1 = np.exp(eta + var / 2.0)
        return eta.mean(axis=1), m1.mean(axis=1), (m1 * m1 * np.exp(var)).mean(axis=1)

    parts = _run_chunks(chunk, _chunks(len(p.ids), d.z0.size))
    return tuple(np.concatenate([part[i] for part in parts]) for i in range(3))


def _analytic_now(p: PatientInputs, model: CohortModel, moments: tuple | None):
    """Expected dose and BED now (measured + expectation over unmeasured past cycles) and predictive mean Gy/GBq."""
    if moments is None:
        var = p.eta_sd_log**2 + model.sigma2_log
        m1 = np.exp(p.eta_log + var / 2.0)  # E[Gy/GBq of one cycle]
        m2 = np.exp(2.0 * p.eta_log + 2.0 * var)  # E[(Gy/GBq)^2]
    else:  # the same expectations, averaged over the variance-component draws
        _, m1, m2 = moments
    sum_a = p.unmeasured_gbq.sum(axis=1)
    sum_fa2 = (p.unmeasured_factor * p.unmeasured_gbq**2).sum(axis=1)
    dose_now = p.dose_measured_gy + m1 * sum_a
    bed_now = p.bed_measured_gy + m1 * sum_a + m2 * sum_fa2
    return m1, dose_now, bed_now, sum_a, sum_fa2


def _point(p: PatientInputs, sum_a, sum_fa2, k, a_gbq: float):
    """Deterministic dose and BED after k future cycles with the point Gy/GBq (the shrunk posterior estimate)."""
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
            patient_ids=None, n_samples: int | None = None, tolerance: float | None = None, seed: int | None = None,
            settings: KidneyModelSettings | None = None) -> pd.DataFrame:
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
    (0 when already over); max_safe_activity_dose_gbq / _bed_gbq: the same for the absorbed-dose
    or the BED limit alone (for a limit policy where only some limits exclude). gy_per_gbq_mean
    is the predictive mean Gy/GBq of a next cycle.
    settings: the kidney model (radiobiology, limits, samples, seed, tolerance; default
    KidneyModelSettings()); n_samples, tolerance and seed, when given, replace the settings' own.
    The fitted cohort model and settings are in DataFrame.attrs.
    """
    run = prepare_run(history, n_cycles, activity_gbq, patients, patient_ids,
                       _settings_with(settings, n_samples=n_samples, tolerance=tolerance, seed=seed))
    n, a_gbq, model, p, draws, cfg = run.n_cycles, run.activity_gbq, run.model, run.patients, run.draws, run.settings
    parts = _run_chunks(lambda sl: _project_chunk(p, draws, sl, n, a_gbq, cfg.tolerance, cfg.dose_limit_gy,
                                                  cfg.cycles_cap),
                        _chunks(len(p.ids), cfg.n_samples))
    cat = {key: np.concatenate([part[key] for part in parts], axis=-1) for key in parts[0]}
    m1, dose_now, bed_now, sum_a, sum_fa2 = _analytic_now(p, model, run.moments)
    point_dose, point_bed = _point(p, sum_a, sum_fa2, n, a_gbq)
    out = pd.DataFrame({
        "patient_id": p.ids, "n_past_cycles": p.n_past, "n_measured_cycles": p.n_measured,
        "n_cycles": n, "activity_gbq": a_gbq, "renal_risk": p.renal_risk, "renal_risk_known": p.renal_risk_known,
        "dose_limit_gy": cfg.dose_limit_gy, "bed_limit_gy": p.bed_limit_gy,
        "t_eff_future_h": p.t_eff_future_h, "t_eff_source": p.t_eff_source,
        "gy_per_gbq_mean": m1, "dose_now_gy": dose_now, "bed_now_gy": bed_now,
        "point_dose_gy": point_dose, "point_bed_gy": point_bed,
        "dose_p05_gy": cat["dose_q"][0], "dose_p50_gy": cat["dose_q"][1], "dose_p95_gy": cat["dose_q"][2],
        "bed_p05_gy": cat["bed_q"][0], "bed_p50_gy": cat["bed_q"][1], "bed_p95_gy": cat["bed_q"][2],
        "p_exceed_dose": cat["p_exceed_dose"], "p_exceed_bed": cat["p_exceed_bed"],
        "over_limit_now": cat["over_limit_now"], "max_safe_cycles": cat["max_safe_cycles"],
        "max_safe_activity_gbq": cat["max_safe_activity_gbq"],
        "max_safe_activity_dose_gbq": cat["max_safe_activity_dose_gbq"],
        "max_safe_activity_bed_gbq": cat["max_safe_activity_bed_gbq"],
    })
    out.attrs.update(run.attrs)
    return out


def _path_chunk(p: PatientInputs, d: _Draws, sl: slice, n: int, a_gbq: float) -> dict:
    e, dose_now, bed_now = _state(p, d, sl)
    ae = (a_gbq * e)[:, None, :]
    dose = dose_now[:, None, :] + ae * d.f1[None, : n + 1]
    bed_k = (bed_now[:, None, :] + ae * d.f1[None, : n + 1]
             + p.future_factor[sl, None, None] * ae * ae * d.f2[None, : n + 1])
    return {"dose_q": sample_quantiles(dose), "bed_q": sample_quantiles(bed_k)}


def project_path(history: pd.DataFrame, n_cycles: int, activity_gbq: float, *, patients: pd.DataFrame | None = None,
                 patient_ids=None, settings: KidneyModelSettings | None = None) -> pd.DataFrame:
    """Per-future-cycle bands for a fan chart: one row per patient and future_cycle 0..n_cycles.

    Columns: patient_id, future_cycle, dose/bed p05/p50/p95 (cumulative, Gy), point_dose_gy,
    point_bed_gy, dose_limit_gy, bed_limit_gy. Same model, draws and seed as project(): the
    row future_cycle == n_cycles equals project()'s quantiles.
    """
    run = prepare_run(history, n_cycles, activity_gbq, patients, patient_ids, _settings_with(settings))
    n, a_gbq, model, p, draws, cfg = run.n_cycles, run.activity_gbq, run.model, run.patients, run.draws, run.settings
    parts = _run_chunks(lambda sl: _path_chunk(p, draws, sl, n, a_gbq), _chunks(len(p.ids), cfg.n_samples * (n + 1)))
    dose_q = np.concatenate([part["dose_q"] for part in parts], axis=1)  # (3, P, n+1)
    bed_q = np.concatenate([part["bed_q"] for part in parts], axis=1)
    _, _, _, sum_a, sum_fa2 = _analytic_now(p, model, run.moments)
    k = np.arange(n + 1)
    point_dose, point_bed = _point(p, sum_a, sum_fa2, k, a_gbq)
    n_p = len(p.ids)
    out = pd.DataFrame({
        "patient_id": np.repeat(p.ids.to_numpy(), n + 1), "future_cycle": np.tile(k, n_p),
        "dose_p05_gy": dose_q[0].ravel(), "dose_p50_gy": dose_q[1].ravel(), "dose_p95_gy": dose_q[2].ravel(),
        "bed_p05_gy": bed_q[0].ravel(), "bed_p50_gy": bed_q[1].ravel(), "bed_p95_gy": bed_q[2].ravel(),
        "point_dose_gy": point_dose.ravel(), "point_bed_gy": point_bed.ravel(),
        "dose_limit_gy": cfg.dose_limit_gy, "bed_limit_gy": np.repeat(p.bed_limit_gy, n + 1),
    })
    out.attrs.update(run.attrs)
    return out
