"""The cohort model's kidney dose for past cycles without dosimetry: per cycle and cumulative (Gy).

No second model: the run is ``montecarlo``'s (same fit, settings, seed and draws), and a
cycle without a measured kidney dose is drawn exactly as ``project`` draws it, so the
cumulative total after the last cycle has the samples of ``project``'s dose and BED now
(its quantiles are ``project_path``'s row ``future_cycle == 0``).

Per estimated cycle j of patient i (``model``): ln D_ij = ln A_ij + eta_i + e_ij with
eta_i ~ N(eta_hat_i, pev_i) and e_ij ~ N(0, sigma^2), so with the variance components as
known (PLUG_IN) D_ij is log-normal with median A_ij exp(eta_hat_i) and 90 % interval
A_ij exp(eta_hat_i -+ z_0.95 sqrt(pev_i + sigma^2)); with them drawn (POSTERIOR, the
default) it is a mixture of those over the draws and its quantiles are the samples'.
BED_ij = D_ij (1 + g_ij D_ij) with g_ij = T_rep/(T_rep + T_eff)/(alpha/beta) grows with D_ij,
so its quantiles are the BED of the dose quantiles. Cumulative totals are sums of the
per-cycle samples (measured cycles constant), their quantiles ``QUANTILES``: a measured
dose is never replaced and a missing one never counted as 0 Gy.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist

import numpy as np
import pandas as pd

from prrt_core.errors import InputError
from prrt_core.projection.montecarlo import QUANTILES, eta_draws, prepare_run, sample_quantiles
from prrt_core.projection.settings import DEFAULT_SETTINGS, KidneyModelSettings

# z of the upper end of the central interval QUANTILES[0]..QUANTILES[-1] (90 %: 1.6449).
Z_INTERVAL = NormalDist().inv_cdf(QUANTILES[-1])


class DoseSource(StrEnum):
    """Where a cycle's kidney dose comes from."""

    MEASURED = "measured"  # a 'kidneys' dosimetry row
    ESTIMATED = "estimated"  # the cohort model (label: "estimated (cohort model)")
    NO_ESTIMATE = "no estimate"  # not measured, and the cohort cannot be fitted (e.g. < 2 measured patients)


@dataclass(frozen=True)
class UnmeasuredDraws:
    """The patient's past cycles without a kidney dose: per-cycle quantiles and Monte-Carlo samples.

    Arrays over those cycles (U, in history order) and samples (S); doses and BED in Gy.
    """

    cycle_ids: np.ndarray  # (U,)
    dose_gy: np.ndarray  # (U, S) samples
    bed_gy: np.ndarray  # (U, S) samples
    dose_q_gy: np.ndarray  # (3, U) analytic QUANTILES of the per-cycle dose
    bed_q_gy: np.ndarray  # (3, U) the BED of dose_q_gy


def unmeasured_draws(history: pd.DataFrame, patient_id: str, *,
                     settings: KidneyModelSettings = DEFAULT_SETTINGS) -> UnmeasuredDraws:
    """The estimated kidney dose and BED of ``patient_id``'s past cycles without dosimetry.

    ``history``: ``inputs_from_tables`` history of the cohort the model is fitted on (with
    cycle_id); the patient's unmeasured cycles are taken in its row order, as ``project``
    does. InputError when the cohort model cannot be fitted.
    """
    if "cycle_id" not in history.columns:
        raise InputError("history needs a cycle_id column to name the estimated cycles")
    run = prepare_run(history, 1, 0.0, None, [patient_id], settings)
    p, d = run.patients, run.draws
    own = history.loc[history["patient_id"] == patient_id]
    missing = own["kidney_dose_gy"].isna().to_numpy()
    cycle_ids = own["cycle_id"].to_numpy()[missing]
    u = cycle_ids.size
    act, factor = p.unmeasured_gbq[0, :u], p.unmeasured_factor[0, :u]
    eta, eta_sd = eta_draws(p, d, slice(0, 1))
    e = np.exp(eta[0] + eta_sd[0] * d.z0)  # (S,) patient level, shared by its cycles, as in project
    dose = act[:, None] * e[None, :] * d.g1[:u]
    bed = dose + factor[:, None] * dose * dose
    if d.components is None:  # plug-in: the log-normal quantiles exactly
        sd = np.sqrt(p.eta_sd_log[0] ** 2 + run.model.sigma2_log)
        z = np.array([-Z_INTERVAL, 0.0, Z_INTERVAL])[:, None]
        dose_q = act[None, :] * np.exp(p.eta_log[0] + z * sd)
    else:  # a mixture over the variance-component draws: the samples' quantiles
        dose_q = sample_quantiles(dose) if u else np.zeros((len(QUANTILES), 0))
    return UnmeasuredDraws(cycle_ids, dose, bed, dose_q, dose_q + factor[None, :] * dose_q * dose_q)


@dataclass(frozen=True)
class CycleEstimates:
    """Per cycle (in the given order): where its dose comes from, its dose and BED (measured, or the
    estimate's QUANTILES), and the QUANTILES of the cumulative dose and BED after it (Gy; NaN
    from the first cycle with neither a measurement nor an estimate)."""

    source: np.ndarray  # (C,) DoseSource
    dose_q_gy: np.ndarray  # (3, C); measured: the value in all three
    bed_q_gy: np.ndarray  # (3, C)
    cumulative_dose_q_gy: np.ndarray  # (3, C)
    cumulative_bed_q_gy: np.ndarray  # (3, C)

    @property
    def n_estimated(self) -> int:
        return int(np.sum(self.source == DoseSource.ESTIMATED))


def cycle_estimates(cycle_ids, dose_gy, bed_gy, draws: UnmeasuredDraws | None) -> CycleEstimates:
    """Measured cycles as they are, unmeasured ones from ``draws`` (None: no estimate), summed in order.

    ``cycle_ids``, ``dose_gy``, ``bed_gy``: one value per cycle in display order; dose and BED
    in Gy, NaN where the cycle has no measured kidney dose.
    """
    ids = np.asarray(cycle_ids)
    dose = np.asarray(dose_gy, dtype=float)
    bed = np.asarray(bed_gy, dtype=float)
    measured = np.isfinite(dose)
    pos = (pd.Index(draws.cycle_ids).get_indexer(ids) if draws is not None
           else np.full(ids.size, -1))
    estimated = ~measured & (pos >= 0)
    source = np.full(ids.size, DoseSource.NO_ESTIMATE, dtype=object)
    source[measured] = DoseSource.MEASURED
    source[estimated] = DoseSource.ESTIMATED
    n_q = len(QUANTILES)
    dose_q = np.repeat(np.where(measured, dose, np.nan)[None, :], n_q, axis=0)
    bed_q = np.repeat(np.where(measured, bed, np.nan)[None, :], n_q, axis=0)
    cum_dose = np.full((n_q, ids.size), np.nan)
    cum_bed = np.full((n_q, ids.size), np.nan)
    if estimated.any():
        dose_q[:, estimated] = draws.dose_q_gy[:, pos[estimated]]
        bed_q[:, estimated] = draws.bed_q_gy[:, pos[estimated]]
    known = measured | estimated
    n_known = ids.size if known.all() else int(np.argmin(known))  # cycles before the first unknown
    if n_known:
        n_samples = draws.dose_gy.shape[1] if draws is not None and estimated.any() else 1
        d = np.repeat(dose[:n_known, None], n_samples, axis=1)
        b = np.repeat(bed[:n_known, None], n_samples, axis=1)
        rows = np.flatnonzero(estimated[:n_known])
        if rows.size:
            d[rows] = draws.dose_gy[pos[rows]]
            b[rows] = draws.bed_gy[pos[rows]]
        cum_dose[:, :n_known] = sample_quantiles(np.cumsum(d, axis=0))
        cum_bed[:, :n_known] = sample_quantiles(np.cumsum(b, axis=0))
        exact = np.cumsum(~measured[:n_known]) == 0  # no estimate yet: the sum itself
        cum_dose[:, :n_known][:, exact] = np.cumsum(dose[:n_known])[exact]
        cum_bed[:, :n_known][:, exact] = np.cumsum(bed[:n_known])[exact]
    return CycleEstimates(source, dose_q, bed_q, cum_dose, cum_bed)
