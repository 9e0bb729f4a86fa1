"""Per-patient inputs of the kidney Monte Carlo: measured dose and BED so far, past cycles
without dosimetry, kidney T_eff (measured, patient mean, cohort median, then a stated default),
the posterior of ln(Gy/GBq), and the BED limit from renal risk (unknown risk: the stricter limit).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prrt_core import dosimetry
from prrt_core.errors import InputError
from prrt_core.projection.model import PATIENT_COLUMNS, CohortModel, History, first_bad, log_stats, posterior

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PatientInputs:
    """Per-patient inputs of the Monte Carlo (arrays over the selected patients, P)."""

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
    point_gy_per_gbq: np.ndarray  # exp(posterior mean of ln Gy/GBq), the shrunk point estimate
    own_log: np.ndarray  # mean ln(Gy/GBq) of the patient's measured cycles, NaN if none
    bed_limit_gy: np.ndarray
    renal_risk: pd.array
    renal_risk_known: np.ndarray


def _renal(patients, ids: pd.Index, risk_gy: float, no_risk_gy: float):
    n = len(ids)
    risk = pd.array([pd.NA] * n, dtype="boolean")
    if patients is not None:
        if not isinstance(patients, pd.DataFrame):
            raise InputError(f"patients must be a pandas DataFrame, got {type(patients).__name__}")
        missing = [c for c in PATIENT_COLUMNS if c not in patients.columns]
        if missing:
            raise InputError(f"patients is missing column(s) {missing}; required {list(PATIENT_COLUMNS)}")
        if patients["patient_id"].duplicated().any():
            dup = patients["patient_id"][patients["patient_id"].duplicated()]
            raise InputError(f"patients has duplicate patient_id(s): {first_bad(dup, np.ones(len(dup), bool))}")
        try:
            values = patients["renal_risk"].astype("boolean")
        except (TypeError, ValueError) as exc:
            raise InputError(f"patients column 'renal_risk' must be boolean (True/False/missing): {exc}") from exc
        pos = pd.Index(patients["patient_id"]).get_indexer(ids)
        found = pos >= 0
        risk[found] = values.to_numpy()[pos[found]]
    known = ~np.asarray(risk.isna())
    at_risk = np.asarray(risk.fillna(True), dtype=bool)
    limit = np.where(known & ~at_risk, no_risk_gy, risk_gy)
    if not known.all():
        logger.info("renal risk unknown for %d patient(s): BED limit %.1f Gy used", int((~known).sum()), risk_gy)
    return risk, known, limit


def prepare_patients(h: History, model: CohortModel, sel: np.ndarray, patients: pd.DataFrame | None,
                     alpha_beta_gy: float, t_rep_h: float, bed_limits: tuple[float, float]) -> PatientInputs:
    """Measured dose and BED, unmeasured past cycles, T_eff, posterior and BED limit of each selected patient."""
    n_sel = len(sel)
    pos = np.full(len(h.ids), -1, dtype=np.intp)
    pos[sel] = np.arange(n_sel)
    rp = pos[h.codes]
    rows = rp >= 0
    rp, act, dose, t_eff = rp[rows], h.activity_gbq[rows], h.dose_gy[rows], h.t_eff_h[rows]
    measured = np.isfinite(dose)
    count = lambda m: np.bincount(rp[m], minlength=n_sel)  # noqa: E731
    total = lambda w, m: np.bincount(rp[m], weights=w[m], minlength=n_sel).astype(float)  # noqa: E731
    n_meas, sum_y = log_stats(rp, dose, act, n_sel)
    eta, pev, _, own_log = posterior(model, n_meas, sum_y)

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

    risk, known, limit = _renal(patients, h.ids[sel], *bed_limits)
    return PatientInputs(
        ids=h.ids[sel], n_past=count(np.ones(rp.size, bool)), n_measured=n_meas.astype(int), eta_log=eta,
        eta_sd_log=np.sqrt(pev), dose_measured_gy=dose_meas,
        bed_measured_gy=bed_meas, unmeasured_gbq=pad_act, unmeasured_factor=pad_fac,
        future_factor=dosimetry.repair_factor(t_future, t_rep_h) / alpha_beta_gy, t_eff_future_h=t_future,
        t_eff_source=source, point_gy_per_gbq=np.exp(eta), own_log=own_log, bed_limit_gy=limit, renal_risk=risk,
        renal_risk_known=known,
    )
