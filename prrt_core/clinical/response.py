"""RECIST 1.1 time-point response and best overall response.

Source: Eisenhauer EA et al., New response evaluation criteria in solid
tumours: revised RECIST guideline (version 1.1). Eur J Cancer 2009;45:228-247.
- PR: sum of target diameters >= 30 % below the baseline sum.
- PD: sum >= 20 % above the nadir (smallest sum on study, baseline included)
  AND at least 5 mm above it; or an unequivocal new lesion; or unequivocal
  non-target progression.
- CR: target sum 0 mm (all target lesions gone) with non-target CR; with
  non-target non-CR/non-PD or NE it is PR (RECIST 1.1 Table 1).
- NE: target sum not evaluated and no PD.
- Best overall response: the best time-point response from the start of
  treatment until PD; SD counts only if measured >= 6 weeks (protocol-set
  6-8 weeks) after the start, otherwise NE (or PD if PD follows).
  Confirmation of CR/PR (>= 4 weeks later) is optional, as RECIST requires it
  only in non-randomised trials with response as primary endpoint.

Limits of working from sums: a nodal CR where nodes regress to < 10 mm short
axis leaves a non-zero sum and is reported as PR, since per-lesion data are
not stored. A target sum of 0 at baseline (no measurable disease) makes the
target response NE.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from prrt_core.clinical.dates import require_columns, treatment_start_dates
from prrt_core.errors import InputError

logger = logging.getLogger(__name__)


class Response(StrEnum):
    """RECIST 1.1 overall response."""

    CR = "CR"
    PR = "PR"
    SD = "SD"
    PD = "PD"
    NE = "NE"


RESPONSES = tuple(r.value for r in Response)

# Non-target lesion status as stored ('non-CR/non-PD' spelled as in the store).
NON_TARGET_CR = "CR"
NON_TARGET_NON_CR_NON_PD = "non-CR/non-PD"
NON_TARGET_PD = "PD"
NON_TARGET_NE = "NE"
NON_TARGET_STATUSES = (NON_TARGET_CR, NON_TARGET_NON_CR_NON_PD, NON_TARGET_PD, NON_TARGET_NE)

# RECIST 1.1 thresholds (Eisenhauer 2009, section 4.3.1).
PR_DECREASE_FROM_BASELINE = 0.30   # at least a 30 % decrease from the baseline sum
PD_INCREASE_FROM_NADIR = 0.20      # at least a 20 % increase over the nadir ...
PD_MIN_INCREASE_MM = 5.0           # ... and at least 5 mm absolute increase
# RECIST 1.1 section 4.4: SD must be met at least once no less than 6-8 weeks after start.
MIN_SD_WEEKS = 6.0
# RECIST 1.1 section 4.5: CR/PR confirmed by a repeat assessment >= 4 weeks later.
MIN_CONFIRMATION_WEEKS = 4.0

# Measurements are recorded to 0.1 mm; 1e-6 mm absorbs binary rounding so that
# an exact -30 % or +5 mm meets the rule (0.7 * 29 = 20.299999999999997,
# 12.2 - 7.2 = 4.999999999999999).
_TOL_MM = 1e-6

_FROM_SCORE = np.array([Response.NE.value, Response.PD.value, Response.SD.value,
                        Response.PR.value, Response.CR.value], dtype=object)


# --------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------

def _sums(name: str, x: Any) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numeric (mm); got {x!r}") from exc
    if (arr < 0).any():
        raise InputError(f"{name} must be >= 0 mm (NaN = not measured); "
                         f"got {arr[arr < 0].ravel()[:5].tolist()}")
    if np.isinf(arr).any():
        raise InputError(f"{name} must be finite; got inf")
    return arr


def _new_lesions(x: Any, n: int) -> np.ndarray:
    """Float array: 1.0 new lesion, 0.0 none, NaN unknown."""
    try:
        arr = pd.array(np.asarray(x, dtype=object).ravel(), dtype="boolean")
    except (TypeError, ValueError) as exc:
        raise InputError(f"new_lesions must be booleans (None = unknown); got {x!r}") from exc
    if len(arr) != n:
        raise InputError(f"new_lesions has {len(arr)} values for {n} time points")
    return arr.to_numpy(dtype=float, na_value=np.nan)


def _non_target(x: Any, n: int) -> np.ndarray:
    """Normalised object array of NON_TARGET_STATUSES or None (no non-target lesions recorded)."""
    if x is None:
        return np.full(n, None, dtype=object)
    series = pd.Series(np.asarray(x, dtype=object).ravel())
    if len(series) != n:
        raise InputError(f"non_target has {len(series)} values for {n} time points")
    text = series.where(series.isna(), series.astype(str).str.strip())
    text = text.where(text != "", None)
    canonical = {s.lower(): s for s in NON_TARGET_STATUSES}
    mapped = text.map(lambda s: None if pd.isna(s) else canonical.get(s.lower(), "?"))
    bad = mapped == "?"
    if bad.any():
        raise InputError(f"non_target must be one of {NON_TARGET_STATUSES} or None; "
                         f"got {sorted(set(text[bad]))}")
    return mapped.to_numpy(dtype=object)


# --------------------------------------------------------------------------
# time-point response (vectorised core)
# --------------------------------------------------------------------------

def _overall(baseline: np.ndarray, sums: np.ndarray, nadir: np.ndarray,
             new: np.ndarray, non_target: np.ndarray) -> np.ndarray:
    """RECIST 1.1 Table 1 for aligned arrays (baseline and nadir per time point)."""
    measurable = ~np.isnan(baseline) & (baseline > 0)
    measured = measurable & ~np.isnan(sums)
    target_pd = (measured & ~np.isnan(nadir)
                 & (sums >= (1.0 + PD_INCREASE_FROM_NADIR) * nadir - _TOL_MM)
                 & (sums - nadir >= PD_MIN_INCREASE_MM - _TOL_MM))
    target_cr = measured & (sums <= _TOL_MM)
    target_pr = measured & (sums <= (1.0 - PR_DECREASE_FROM_BASELINE) * baseline + _TOL_MM)
    non_target_pd = non_target == NON_TARGET_PD
    non_target_cr_or_absent = (non_target == NON_TARGET_CR) | pd.isna(non_target)
    return np.select(
        [(new == 1.0) | non_target_pd | target_pd,
         np.isnan(new) | ~measured,
         target_cr & non_target_cr_or_absent,
         target_cr | target_pr],
        [Response.PD.value, Response.NE.value, Response.CR.value, Response.PR.value],
        Response.SD.value,
    ).astype(object)


def recist(baseline_sum_mm: float, sums_mm: Any, new_lesions: Any, non_target: Any = None) -> np.ndarray:
    """RECIST 1.1 overall response at each follow-up time point of one patient.

    ``sums_mm``: target-lesion sums (mm) in date order, NaN = not evaluated;
    ``new_lesions``: bool per time point (None = unknown: no CR/PR/SD claimed);
    ``non_target``: per time point one of NON_TARGET_STATUSES, None = no
    non-target lesions recorded (the target response stands). The nadir is the
    smallest sum so far, baseline included. ``baseline_sum_mm`` NaN or 0 = no
    measurable disease (target NE). Returns an object array of 'CR', 'PR',
    'SD', 'PD', 'NE'. Source: Eisenhauer et al., EJC 2009;45:228.
    """
    if np.ndim(baseline_sum_mm) != 0:
        raise InputError(f"baseline_sum_mm must be one number (mm); got {baseline_sum_mm!r}")
    baseline = float(_sums("baseline_sum_mm", baseline_sum_mm))
    sums = _sums("sums_mm", sums_mm).ravel()
    n = sums.size
    new = _new_lesions(new_lesions, n)
    status = _non_target(non_target, n)
    # Nadir before each time point: min of baseline and all earlier sums (NaN ignored).
    running = np.fmin.accumulate(np.concatenate(([baseline], sums)))
    nadir = running[:-1]
    return _overall(np.full(n, baseline), sums, nadir, new, status)


# --------------------------------------------------------------------------
# best overall response (vectorised core)
# --------------------------------------------------------------------------

def _best_overall(frame: pd.DataFrame, *, min_sd_weeks: float, confirm: bool,
                  min_confirm_weeks: float) -> pd.Series:
    """BOR per key from columns key, date, start, response (sorted by key and date)."""
    if frame.empty:
        return pd.Series(dtype=object)
    key = frame["key"]
    resp = frame["response"].to_numpy(dtype=object)
    is_pd = resp == Response.PD.value
    pd_before = (pd.Series(is_pd, index=frame.index).groupby(key).cumsum().to_numpy() - is_pd) > 0
    window = ~pd_before  # time points up to and including the first PD
    resp = np.where(window, resp, Response.NE.value).astype(object)
    date = frame["date"]
    if confirm:
        lag = pd.Timedelta(weeks=min_confirm_weeks)
        in_window = pd.Series(window & ~is_pd, index=frame.index)

        def last_date(mask: np.ndarray) -> pd.Series:
            return date.where(in_window & mask).groupby(key).transform("max")

        last_cr = last_date(resp == Response.CR.value)
        last_cr_pr = last_date(np.isin(resp, (Response.CR.value, Response.PR.value)))
        confirmed_cr = (resp == Response.CR.value) & (last_cr >= date + lag).to_numpy()
        confirmed_pr = (np.isin(resp, (Response.CR.value, Response.PR.value))
                        & (last_cr_pr >= date + lag).to_numpy())
        # An unconfirmed CR/PR counts as SD (RECIST 1.1 section 4.5, Table 3).
        resp = np.select(
            [confirmed_cr, confirmed_pr, np.isin(resp, (Response.CR.value, Response.PR.value))],
            [Response.CR.value, Response.PR.value, Response.SD.value], resp).astype(object)
    sd_ok = (date >= frame["start"] + pd.Timedelta(weeks=min_sd_weeks)).to_numpy()
    score = np.select(
        [resp == Response.CR.value, resp == Response.PR.value,
         (resp == Response.SD.value) & sd_ok, resp == Response.PD.value],
        [4, 3, 2, 1], 0)
    best = pd.Series(score, index=frame.index).groupby(key).max()
    return pd.Series(_FROM_SCORE[best.to_numpy()], index=best.index, dtype=object)


def _check_weeks(name: str, weeks: float) -> float:
    if not (isinstance(weeks, (int, float)) and np.isfinite(weeks) and weeks >= 0):
        raise InputError(f"{name} must be a number of weeks >= 0; got {weeks!r}")
    return float(weeks)


def best_overall_response(dates: Any, responses: Any, start_date: Any, *,
                          min_sd_weeks: float = MIN_SD_WEEKS, confirm: bool = False,
                          min_confirm_weeks: float = MIN_CONFIRMATION_WEEKS) -> str:
    """RECIST 1.1 best overall response of one patient: 'CR'|'PR'|'SD'|'PD'|'NE'.

    Best time-point response from ``start_date`` until the first PD. SD counts
    only if its assessment is >= ``min_sd_weeks`` after the start; otherwise the
    result is NE, or PD when PD follows. With ``confirm=True`` a CR (PR) counts
    only if a CR (CR or PR) is recorded >= ``min_confirm_weeks`` later before PD;
    an unconfirmed CR/PR counts as SD. ``dates`` must be in order and on/after
    the start. Source: Eisenhauer et al., EJC 2009;45:228, sections 4.4-4.5.
    """
    min_sd_weeks = _check_weeks("min_sd_weeks", min_sd_weeks)
    min_confirm_weeks = _check_weeks("min_confirm_weeks", min_confirm_weeks)
    try:
        when = pd.to_datetime(pd.Series(np.asarray(dates, dtype=object).ravel()))
        start = pd.Timestamp(start_date)
    except (TypeError, ValueError) as exc:
        raise InputError(f"dates and start_date must be dates; got {dates!r}, {start_date!r}") from exc
    resp = pd.Series(np.asarray(responses, dtype=object).ravel())
    if len(resp) != len(when):
        raise InputError(f"responses has {len(resp)} values for {len(when)} dates")
    if pd.isna(start):
        raise InputError("start_date is missing")
    if when.isna().any():
        raise InputError(f"dates has missing values at positions {np.flatnonzero(when.isna())[:5].tolist()}")
    bad = ~resp.isin(RESPONSES)
    if bad.any():
        raise InputError(f"responses must be one of {RESPONSES}; got {sorted(map(str, set(resp[bad])))}")
    if (when.diff().dt.days < 0).any():
        raise InputError(f"dates must be in chronological order; got {[d.date().isoformat() for d in when]}")
    if (when < start).any():
        raise InputError(f"dates before start_date {start.date().isoformat()}: "
                         f"{[d.date().isoformat() for d in when[when < start]]}")
    if when.empty:
        return Response.NE.value
    frame = pd.DataFrame({"key": 0, "date": when, "start": start, "response": resp})
    return str(_best_overall(frame, min_sd_weeks=min_sd_weeks, confirm=confirm,
                             min_confirm_weeks=min_confirm_weeks).iloc[0])


# --------------------------------------------------------------------------
# cohort tables
# --------------------------------------------------------------------------

# assessment_id is optional (tables not yet stored have none): then it is <NA>
# and ties on a date keep the input order.
_ASSESSMENT_COLUMNS = ("patient_id", "assessment_date", "phase", "role",
                       "target_sum_mm", "new_lesions", "non_target")


def _phase_inputs(assessments: pd.DataFrame, cycles: pd.DataFrame, phase: str
                  ) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    """(start per patient, chosen baseline per patient, follow-ups after start)."""
    if phase not in ("initial", "salvage"):
        raise InputError(f"phase must be 'initial' or 'salvage'; got {phase!r}")
    require_columns(assessments, "assessments", _ASSESSMENT_COLUMNS)
    start = treatment_start_dates(cycles)[f"{phase}_start_date"].dropna().rename("start_date")
    rows = assessments[assessments["phase"] == phase].copy()
    if "assessment_id" not in rows.columns:
        rows["assessment_id"] = pd.array([pd.NA] * len(rows), dtype="Int64")
    rows["_order"] = np.arange(len(rows))
    rows["start_date"] = rows["patient_id"].map(start)
    rows = rows[rows["start_date"].notna()]
    # Baseline: the latest measured baseline scan on/before the start (else the latest unmeasured one).
    baseline = rows[(rows["role"] == "baseline") & (rows["assessment_date"] <= rows["start_date"])].copy()
    baseline["measured"] = baseline["target_sum_mm"].notna()
    baseline = (baseline.sort_values(["patient_id", "measured", "assessment_date", "_order"],
                                     kind="stable")
                .groupby("patient_id").tail(1).set_index("patient_id"))
    follow = rows[(rows["role"] == "follow-up") & (rows["assessment_date"] > rows["start_date"])]
    follow = follow.sort_values(["patient_id", "assessment_date", "_order"], kind="stable")
    orphans = set(follow["patient_id"]) - set(baseline.index)
    if orphans:
        logger.warning("RECIST %s: %d patient(s) with follow-up imaging but no baseline on/before "
                       "the start; their responses are NE unless PD", phase, len(orphans))
    return start, baseline, follow.reset_index(drop=True)


def timepoint_responses(assessments: pd.DataFrame, cycles: pd.DataFrame, phase: str) -> pd.DataFrame:
    """RECIST 1.1 response at every follow-up after the phase's start, one row per assessment.

    Baseline = the latest measured 'baseline' assessment of that phase on/before
    the phase start (first cycle of the phase); follow-ups = that phase's
    'follow-up' assessments after the start, in date order.

    Columns: patient_id, assessment_id, assessment_date, start_date,
    weeks_since_start, baseline_sum_mm, target_sum_mm, nadir_sum_mm,
    change_from_baseline_pct, change_from_nadir_mm, new_lesions, non_target,
    response.
    """
    _, baseline, follow = _phase_inputs(assessments, cycles, phase)
    return _timepoints(baseline, follow)


def _timepoints(baseline: pd.DataFrame, follow: pd.DataFrame) -> pd.DataFrame:
    """timepoint_responses from the chosen baselines and sorted follow-ups."""
    sums = _sums("assessments.target_sum_mm", follow["target_sum_mm"].to_numpy(dtype=float))
    base_sum = follow["patient_id"].map(baseline["target_sum_mm"]).to_numpy(dtype=float)
    _sums("baseline target_sum_mm", base_sum)
    # Nadir before each time point: min of the baseline and this patient's earlier sums.
    earlier = pd.Series(sums).groupby(follow["patient_id"]).shift()
    prior_min = earlier.groupby(follow["patient_id"]).cummin().groupby(follow["patient_id"]).ffill()
    nadir = np.fmin(base_sum, prior_min.to_numpy(dtype=float))
    new = _new_lesions(follow["new_lesions"].to_numpy(dtype=object), len(follow))
    status = _non_target(follow["non_target"].to_numpy(dtype=object), len(follow))
    out = pd.DataFrame({
        "patient_id": follow["patient_id"],
        "assessment_id": follow["assessment_id"],
        "assessment_date": follow["assessment_date"],
        "start_date": follow["start_date"],
        "weeks_since_start": (follow["assessment_date"] - follow["start_date"]).dt.days / 7.0,
        "baseline_sum_mm": base_sum,
        "target_sum_mm": sums,
        "nadir_sum_mm": nadir,
    })
    with np.errstate(divide="ignore", invalid="ignore"):
        out["change_from_baseline_pct"] = np.where(base_sum > 0, 100.0 * (sums - base_sum) / base_sum, np.nan)
    out["change_from_nadir_mm"] = sums - nadir
    out["new_lesions"] = pd.array(new, dtype="Float64").astype("boolean")
    out["non_target"] = status
    out["response"] = _overall(base_sum, sums, nadir, new, status)
    return out


def _tuples_by_patient(keys: pd.Series, values: np.ndarray, ids: pd.Index) -> pd.Series:
    """Each patient's values as a tuple in row order (() for patients without rows)."""
    order = np.argsort(keys.to_numpy(), kind="stable")  # stable: keeps date order
    sorted_keys = keys.to_numpy()[order]
    present, first = np.unique(sorted_keys, return_index=True)
    chunks = np.split(values[order], first[1:]) if len(order) else []
    by_key = dict(zip(present, map(tuple, chunks)))
    return pd.Series([by_key.get(i, ()) for i in ids], index=ids, dtype=object)


def response_by_patient(assessments: pd.DataFrame, cycles: pd.DataFrame, phase: str, *,
                        min_sd_weeks: float = MIN_SD_WEEKS, confirm: bool = False,
                        min_confirm_weeks: float = MIN_CONFIRMATION_WEEKS) -> pd.DataFrame:
    """RECIST 1.1 responses and best overall response per patient for one phase.

    'initial' uses the initial baseline and the first initial cycle as start;
    'salvage' the salvage baseline and the first salvage cycle. Only follow-ups
    after the start count. Every patient with a start in that phase has a row;
    without follow-up imaging the best response is 'NE' and
    has_follow_up_imaging is False (not evaluable).

    Columns: patient_id, phase, start_date, baseline_assessment_id,
    baseline_date, baseline_sum_mm, n_follow_up, has_follow_up_imaging,
    responses (tuple, date order), response_dates (tuple), first_pd_date,
    best_overall_response.
    """
    min_sd_weeks = _check_weeks("min_sd_weeks", min_sd_weeks)
    min_confirm_weeks = _check_weeks("min_confirm_weeks", min_confirm_weeks)
    start, baseline, follow = _phase_inputs(assessments, cycles, phase)
    tp = _timepoints(baseline, follow)
    ids = start.index
    out = pd.DataFrame(index=ids)
    out["phase"] = phase
    out["start_date"] = start
    out["baseline_assessment_id"] = baseline["assessment_id"].reindex(ids).astype("Int64")
    out["baseline_date"] = baseline["assessment_date"].reindex(ids)
    out["baseline_sum_mm"] = baseline["target_sum_mm"].reindex(ids).astype(float)
    grouped = tp.groupby("patient_id")
    out["n_follow_up"] = grouped.size().reindex(ids, fill_value=0).astype(int)
    out["has_follow_up_imaging"] = out["n_follow_up"] > 0
    out["responses"] = _tuples_by_patient(tp["patient_id"], tp["response"].to_numpy(), ids)
    out["response_dates"] = _tuples_by_patient(tp["patient_id"],
                                               tp["assessment_date"].dt.date.to_numpy(), ids)
    out["first_pd_date"] = (tp.loc[tp["response"] == Response.PD.value]
                            .groupby("patient_id")["assessment_date"].min().reindex(ids))
    frame = pd.DataFrame({"key": tp["patient_id"], "date": tp["assessment_date"],
                          "start": tp["start_date"], "response": tp["response"]})
    bor = _best_overall(frame, min_sd_weeks=min_sd_weeks, confirm=confirm,
                        min_confirm_weeks=min_confirm_weeks)
    out["best_overall_response"] = bor.reindex(ids).fillna(Response.NE.value).astype(object)
    out.index.name = "patient_id"
    return out.reset_index()
