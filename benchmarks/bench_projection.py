"""Benchmarks of prrt_core.projection on a synthetic 10,000-patient history.

(a) one patient, 10,000 samples x 4 cycles (the planner's call; includes validating the whole
    history and fitting the cohort model), target <= 20 ms;
(b) the whole cohort, 10,000 patients x 1,000 samples x 4 cycles, target <= 1.5 s, peak
    traced memory <= 1 GB, and <= 3x the time numpy needs to draw 10,000 x 1,000 x 4
    standard normals (the count a per-patient-stream design would draw);
(c) the same cohort through a plain per-patient Python loop (own generator per patient),
    timed on a subset and scaled linearly to 10,000 patients.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.timing import median_time, peak_mb
from prrt_core import dosimetry, projection

N_PATIENTS = 10_000
N_CYCLES = 4
ACTIVITY_GBQ = 7.4


def synthetic_history(n_patients: int = N_PATIENTS, seed: int = 20240601) -> pd.DataFrame:
    """~6 past cycles per patient (4-8), kidney Gy/GBq log-normal around 0.5 (tau 0.25, sigma 0.12),
    10 % of cycles without dosimetry, 30 % without a measured T_eff (T_eff ~ 50 h)."""
    rng = np.random.default_rng(seed)
    n_cycles = rng.integers(4, 9, n_patients)
    patient = np.repeat(np.arange(n_patients), n_cycles)
    n = patient.size
    activity = np.clip(rng.normal(7.4, 0.3, n), 3.7, 8.0)
    gy_per_gbq = 0.5 * np.exp(rng.normal(0.0, 0.25, n_patients)[patient] + rng.normal(0.0, 0.12, n))
    dose = np.where(rng.random(n) < 0.10, np.nan, gy_per_gbq * activity)
    t_eff = np.where(rng.random(n) < 0.30, np.nan, np.clip(50.0 * np.exp(rng.normal(0.0, 0.15, n)), 20.0, 150.0))
    ids = np.char.add("P", np.char.zfill(patient.astype(str), 5))
    return pd.DataFrame({"patient_id": ids, "activity_gbq": activity, "kidney_dose_gy": dose,
                         "kidney_t_eff_h": t_eff})




def _loop_inputs(history: pd.DataFrame, ids) -> list[tuple]:
    """Per-patient numpy inputs for the loop reference (vectorised setup, not timed)."""
    post = projection.patient_posterior(history, patient_ids=ids).set_index("patient_id")
    median_t_eff = post.attrs["model"]["median_t_eff_h"]
    sub = history[history.patient_id.isin(ids)]
    t_future = sub.groupby("patient_id").kidney_t_eff_h.mean().fillna(median_t_eff)
    t_row = sub.kidney_t_eff_h.fillna(sub.patient_id.map(t_future))
    sub = sub.assign(t_row=t_row, measured=sub.kidney_dose_gy.notna())
    groups = dict(tuple(sub.groupby("patient_id")))
    inputs = []
    for pid in ids:
        g = groups[pid]
        m = g.measured.to_numpy()
        inputs.append((post.at[pid, "eta_mean_log"], post.at[pid, "eta_sd_log"], g.kidney_dose_gy.to_numpy()[m],
                       g.t_row.to_numpy()[m], g.activity_gbq.to_numpy()[~m], g.t_row.to_numpy()[~m],
                       t_future[pid]))
    return inputs


def _loop_reference(inputs: list[tuple], sigma_log: float, n_samples: int, seed: int = 0) -> np.ndarray:
    """Plain per-patient loop, own generator per patient: project()'s outputs except max_safe_cycles."""
    ab, t_rep = dosimetry.KIDNEY_ALPHA_BETA_GY, dosimetry.KIDNEY_T_REP_H
    dose_limit, bed_limit = dosimetry.DOSE_LIMIT_GY, dosimetry.BED_LIMIT_GY_RISK
    out = np.empty((len(inputs), 9))
    for i, (eta_mean, eta_sd, dose_meas, t_meas, act_un, t_un, t_f) in enumerate(inputs):
        rng = np.random.default_rng([seed, i])
        z = rng.standard_normal((n_samples, 1 + act_un.size + N_CYCLES))
        eta = eta_mean + eta_sd * z[:, 0]
        d_un = act_un * np.exp(eta[:, None] + sigma_log * z[:, 1:1 + act_un.size])
        dose_now = dose_meas.sum() + d_un.sum(axis=1)
        bed_now = dosimetry.bed(dose_meas, t_meas, ab, t_rep).sum() + dosimetry.bed(d_un, t_un, ab, t_rep).sum(axis=1)
        gpg = np.exp(eta[:, None] + sigma_log * z[:, 1 + act_un.size:])
        dose = dose_now + ACTIVITY_GBQ * gpg.sum(axis=1)
        bed = bed_now + dosimetry.bed(ACTIVITY_GBQ * gpg, t_f, ab, t_rep).sum(axis=1)
        b, a2, c = gpg.sum(axis=1), t_rep / (t_rep + t_f) / ab * (gpg**2).sum(axis=1), bed_limit - bed_now
        r_bed = 2 * c / (b + np.sqrt(np.maximum(b * b + 4 * a2 * c, 0.0)))
        a_max = max(0.0, min(np.quantile((dose_limit - dose_now) / b, 0.05), np.quantile(r_bed, 0.05)))
        out[i] = (*np.quantile(dose, [0.05, 0.5, 0.95]), *np.quantile(bed, [0.05, 0.5, 0.95]),
                  np.mean(dose > dose_limit), np.mean(bed > bed_limit), a_max)
    return out


def run(quick: bool) -> list[dict]:
    history = synthetic_history()
    one = str(history.patient_id.iloc[0])
    rows = []

    def single():
        return projection.project(history, N_CYCLES, ACTIVITY_GBQ, patient_ids=[one], n_samples=10_000)

    t = median_time(single, 10 if quick else 40)
    rows.append({"name": "(a) project 1 patient, 10k samples x 4 cycles", "median_s": t,
                 "peak_mb": peak_mb(single), "target": "<= 20 ms", "ratio": None, "met": t <= 0.020,
                 "note": f"history of {N_PATIENTS:,} patients / {len(history):,} cycles validated and fitted"})

    def cohort():
        return projection.project(history, N_CYCLES, ACTIVITY_GBQ, n_samples=1_000)

    n_normals = N_PATIENTS * 1_000 * N_CYCLES
    t_cohort = median_time(cohort, 3 if quick else 7)
    t_normals = median_time(lambda: np.random.default_rng(0).standard_normal(n_normals), 3 if quick else 7)
    peak = peak_mb(cohort)
    ratio = t_cohort / t_normals
    rows.append({"name": "(b) project cohort, 10k patients x 1k samples x 4 cycles", "median_s": t_cohort,
                 "peak_mb": peak, "target": "<= 1.5 s, <= 1024 MB, ratio <= 3", "ratio": ratio,
                 "met": t_cohort <= 1.5 and peak <= 1024 and ratio <= 3,
                 "note": "ratio = time / numpy normals below; also finds max_safe_cycles (cap 10)"})
    rows.append({"name": f"    numpy standard_normal({n_normals:,}) float64", "median_s": t_normals,
                 "peak_mb": n_normals * 8 / 2**20, "target": None, "ratio": None, "met": None,
                 "note": "baseline; projection itself draws only ~1k x (1 + 10 + past) common normals"})

    subset = 100 if quick else 500
    ids = list(pd.unique(history.patient_id))[:subset]
    inputs = _loop_inputs(history, ids)
    sigma_log = float(np.sqrt(projection.fit_cohort_model(history).sigma2_log))
    t_loop = median_time(lambda: _loop_reference(inputs, sigma_log, 1_000), 1 if quick else 3) * N_PATIENTS / subset
    rows.append({"name": "(c) plain per-patient Python loop, same cohort", "median_s": t_loop, "peak_mb": None,
                 "target": None, "ratio": t_loop / t_cohort, "met": None,
                 "note": f"timed on {subset} patients, scaled x{N_PATIENTS // subset}; ratio = loop / (b); "
                         "numpy per patient, setup untimed, no max_safe_cycles search"})
    return rows
