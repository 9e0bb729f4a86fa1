"""One patient for the tumour board: dates, cycles (measured or estimated kidney dose), header and the review.

Pure functions of the store's tables (``Store.read_all()``); no streamlit. The patient
review page, the salvage planner and the HTML summary (``reports.summary``) show what these return.

Conventions (sources next to the constants):
- per-cycle kidney BED by ``dosimetry.bed`` with the cycle's measured T_eff, else the
  patient's mean measured T_eff, else the cohort median, else
  ``dosimetry.DEFAULT_KIDNEY_T_EFF_H`` -- the same rule as ``projection``, so the
  cumulative BED here equals the projection's ``bed_now_gy`` for a fully measured patient;
- a cycle without kidney dosimetry has the cohort model's estimate
  (``projection.estimates``: median and 90 % interval), labelled ``DoseSource.ESTIMATED``;
  it is never counted as 0 Gy, and cumulative totals that include one are medians with a
  90 % interval of the same Monte Carlo the projection runs;
- radiobiology and limits from one ``projection.KidneyModelSettings``;
- CTCAE v5.0 grades from ``views.labs``, RECIST 1.1 from ``response``; worst grades, best
  response, PFS and OS from ``views.outcome``; imaging, timeline and performance status
  from ``views.record``.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from prrt_core import dosimetry, projection
from prrt_core.clinical import toxicity
from prrt_core.errors import InputError
from prrt_core.projection import DEFAULT_SETTINGS, KidneyModelSettings
from prrt_core.projection.estimates import DoseSource, cycle_estimates, unmeasured_draws
from prrt_core.tables import DATE_COLUMN, Tables
from prrt_core.views import labs as lab_view
from prrt_core.views import outcome, record
from prrt_core.views.record import imaging, timeline

__all__ = ["COURSE_GAP_WEEKS", "CoursePhase", "DecisionDates", "DoseSource", "LimitLevel", "LimitStatus",
           "PatientHeader", "PatientReview", "current_phase", "cycle_table", "decision_dates", "header",
           "imaging", "last_record_date", "limit_status", "renal_risk_factors", "review", "timeline"]

# A course is over when no further cycle followed within 16 weeks: Lutathera dose
# modification discontinues treatment when a dose is delayed >= 16 weeks (Lutathera US
# prescribing information; AJR 2022, PMC10133840, Table 1).
COURSE_GAP_WEEKS = 16.0


class CoursePhase(StrEnum):
    """Where the patient stands in treatment (see :func:`current_phase`)."""

    INITIAL = "initial"
    SALVAGE = "salvage"
    FOLLOW_UP = "follow-up"
    NO_TREATMENT = "no treatment"


class LimitLevel(StrEnum):
    """A cumulative kidney quantity against its limit (see :class:`LimitStatus`)."""

    BELOW = "below"
    NEAR = "near"
    OVER = "over"
    UNKNOWN = "unknown"


# --------------------------------------------------------------------------
# dates
# --------------------------------------------------------------------------

# Not a clinical record: a board decision judges the record, it does not add to it.
_NOT_CLINICAL = ("board_decisions",)


def last_record_date(tables: Tables, patient_id: str) -> dt.date | None:
    """The date of the patient's most recent dated clinical record (cycle, lab, imaging, event,
    status and any other dated clinical table; board decisions do not count)."""
    t = tables.for_patient(patient_id)
    dates = [getattr(t, name)[column] for name, column in DATE_COLUMN.items() if name not in _NOT_CLINICAL]
    latest = pd.concat(dates).max() if dates else pd.NaT
    return None if pd.isna(latest) else latest.date()


@dataclass(frozen=True)
class DecisionDates:
    """Dates the planner offers; None when there is no such date."""

    latest: dt.date | None  # the most recent record
    before_salvage: dt.date | None  # the day before the first salvage cycle
    death: dt.date | None


def decision_dates(tables: Tables, patient_id: str) -> DecisionDates:
    """The patient's most recent record, the day before its first salvage cycle and its death."""
    t = tables.for_patient(patient_id)
    salvage = t.cycles.loc[t.cycles["phase"] == "salvage", "cycle_date"]
    death = t.events.loc[t.events["event_type"] == "death", "event_date"]
    return DecisionDates(latest=last_record_date(tables, patient_id),
                         before_salvage=None if salvage.empty else (salvage.min() - pd.Timedelta(days=1)).date(),
                         death=None if death.empty else death.min().date())


# --------------------------------------------------------------------------
# cycles and header
# --------------------------------------------------------------------------

def _cohort_median_t_eff_h(tables: Tables) -> float:
    kidney = tables.dosimetry
    t_eff = kidney.loc[kidney["organ"] == "kidneys", "t_eff_h"].to_numpy(dtype=float)
    t_eff = t_eff[np.isfinite(t_eff)]
    return float(np.median(t_eff)) if t_eff.size else dosimetry.DEFAULT_KIDNEY_T_EFF_H


def _estimates(tables: Tables, patient_id: str, out: pd.DataFrame, settings: KidneyModelSettings):
    """The cohort model's estimates for the cycles of ``out`` (None draws when every cycle is
    measured, or when the cohort in ``tables`` cannot be fitted)."""
    draws = None
    if out["kidney_dose_gy"].isna().any():
        history, _ = projection.inputs_from_tables(tables)
        try:
            draws = unmeasured_draws(history, patient_id, settings=settings)
        except InputError:  # e.g. fewer than 2 patients with a measured kidney dose
            draws = None
    return cycle_estimates(out["cycle_id"].to_numpy(), out["kidney_dose_gy"].to_numpy(),
                           out["kidney_bed_gy"].to_numpy(), draws)


def cycle_table(tables: Tables, patient_id: str, *, settings: KidneyModelSettings = DEFAULT_SETTINGS) -> pd.DataFrame:
    """One row per cycle in date order: activity, kidney dose (measured or estimated), tumour dose,
    BED and running totals.

    ``tables``: the cohort (the estimate of a cycle without kidney dosimetry is the cohort
    model's; with only this patient's rows there is none). Columns: cycle_id, cycle_number,
    cycle_date, phase, activity_gbq; kidney_dose_gy and kidney_bed_gy (measured only, NaN
    otherwise), kidney_gy_per_gbq, kidney_t_eff_h (measured); kidney_dose_source
    (``DoseSource``); kidney_dose_p50_gy and kidney_bed_p50_gy (the measured value, or the
    estimate's median) with kidney_dose/bed_p05_gy and _p95_gy (the estimate's 90 %
    interval; NaN for a measured cycle); bed_t_eff_h and bed_t_eff_source (the T_eff used
    for BED: 'measured' | 'patient mean' | 'cohort median'); tumour_dose_gy (highest tumour
    dose of the cycle); cumulative_activity_gbq; cumulative_kidney_dose_gy and
    cumulative_kidney_bed_gy (the exact sum while every cycle so far is measured, else the
    median of the cumulative total) with their _p05_gy and _p95_gy (equal to the sum while
    exact); NaN from the first cycle with neither a measurement nor an estimate. Doses in
    Gy, activity in GBq, T_eff in h; BED with ``settings``' alpha/beta and T_rep.
    """
    t = tables.for_patient(patient_id)
    cycles = t.cycles.sort_values(["cycle_date", "cycle_number"], kind="stable")
    dosim = t.dosimetry
    tumour = dosim.loc[dosim["organ"] == "tumour"].groupby("cycle_id")["dose_gy"].max()
    out = projection.kidney_per_cycle(
        cycles[["cycle_id", "cycle_number", "cycle_date", "phase", "activity_gbq"]].reset_index(drop=True), dosim)
    out["activity_gbq"] = out["activity_gbq"].astype(float)
    out.insert(out.columns.get_loc("kidney_t_eff_h"), "kidney_gy_per_gbq",
               out["kidney_dose_gy"] / out["activity_gbq"])
    measured_t = out["kidney_t_eff_h"]
    own = measured_t[out["kidney_dose_gy"].notna()].mean()
    fallback, source = ((own, "patient mean") if np.isfinite(own)
                        else (_cohort_median_t_eff_h(tables), "cohort median"))
    out["bed_t_eff_h"] = measured_t.fillna(fallback)
    out["bed_t_eff_source"] = np.where(measured_t.notna(), "measured", source)
    out["tumour_dose_gy"] = out["cycle_id"].map(tumour).astype(float)
    out["kidney_bed_gy"] = dosimetry.bed(out["kidney_dose_gy"].to_numpy(), out["bed_t_eff_h"].to_numpy(),
                                         settings.alpha_beta_gy, settings.t_rep_h)
    est = _estimates(tables, patient_id, out, settings)
    out["kidney_dose_source"] = pd.Series(est.source, dtype=object)
    estimated = est.source == DoseSource.ESTIMATED
    for name, q in (("kidney_dose", est.dose_q_gy), ("kidney_bed", est.bed_q_gy)):
        out[f"{name}_p05_gy"] = np.where(estimated, q[0], np.nan)
        out[f"{name}_p50_gy"] = q[1]
        out[f"{name}_p95_gy"] = np.where(estimated, q[2], np.nan)
    out["cumulative_activity_gbq"] = out["activity_gbq"].cumsum()
    for name, q in (("cumulative_kidney_dose", est.cumulative_dose_q_gy),
                    ("cumulative_kidney_bed", est.cumulative_bed_q_gy)):
        out[f"{name}_gy"], out[f"{name}_p05_gy"], out[f"{name}_p95_gy"] = q[1], q[0], q[2]
    return out


@dataclass(frozen=True)
class LimitStatus:
    """A cumulative kidney quantity against its limit (Gy).

    value_gy: the exact sum when every cycle is measured (``complete``), else the median of
    the cumulative total with the cohort model's estimates (p05_gy-p95_gy: its 90 %
    interval; equal to value_gy when complete); when some cycle has neither a measurement
    nor an estimate (``n_missing``), the sum of the others, a lower bound.
    status: OVER (value >= limit; for a lower bound: already over), NEAR (the headroom is
    less than the patient's mean per-cycle value, i.e. one more such cycle would cross, or
    the 95th percentile reaches the limit), BELOW, or UNKNOWN (no cycle, or a cycle with
    neither a measurement nor an estimate and the rest below the limit).
    """

    value_gy: float
    limit_gy: float
    status: LimitLevel
    complete: bool
    p05_gy: float = math.nan
    p95_gy: float = math.nan
    n_estimated: int = 0
    n_missing: int = 0

    @property
    def fraction_of_limit(self) -> float:
        return self.value_gy / self.limit_gy

    @property
    def estimated(self) -> bool:
        """True when the value includes estimated cycles (a median with an interval)."""
        return self.n_estimated > 0


def limit_status(per_cycle_gy: pd.Series, limit_gy: float, *,
                 total_q_gy: tuple[float, float, float] | None = None, n_estimated: int = 0) -> LimitStatus:
    """The cumulative total against ``limit_gy``.

    ``per_cycle_gy``: each cycle's value, measured or the estimate's median (NaN: neither);
    ``total_q_gy``: the (5th, 50th, 95th) percentiles of the cumulative total when
    ``n_estimated`` cycles are estimated (default: the exact sum).
    """
    values = pd.to_numeric(pd.Series(per_cycle_gy), errors="coerce").to_numpy(dtype=float)
    known = values[np.isfinite(values)]
    n_missing = int(values.size - known.size)
    if known.size == 0:
        return LimitStatus(math.nan, limit_gy, LimitLevel.UNKNOWN, False, n_estimated=n_estimated,
                           n_missing=n_missing)
    if n_missing:
        lower = float(known.sum())
        level = LimitLevel.OVER if lower >= limit_gy else LimitLevel.UNKNOWN
        return LimitStatus(lower, limit_gy, level, False, n_estimated=n_estimated, n_missing=n_missing)
    total = float(known.sum())
    p05, p50, p95 = (total, total, total) if total_q_gy is None or not n_estimated else map(float, total_q_gy)
    if p50 >= limit_gy:
        level = LimitLevel.OVER
    elif limit_gy - p50 < float(known.mean()) or p95 >= limit_gy:
        level = LimitLevel.NEAR
    else:
        level = LimitLevel.BELOW
    return LimitStatus(p50, limit_gy, level, n_estimated == 0, p05, p95, n_estimated, 0)


def _cumulative_status(cycles: pd.DataFrame, name: str, limit_gy: float) -> LimitStatus:
    """limit_status of a cycle_table's kidney dose ('kidney_dose') or BED ('kidney_bed')."""
    n_est = int((cycles["kidney_dose_source"] == DoseSource.ESTIMATED).sum())
    last = cycles.iloc[-1] if len(cycles) else None
    total = None if last is None else tuple(last[f"cumulative_{name}{q}_gy"] for q in ("_p05", "", "_p95"))
    return limit_status(cycles[f"{name}_p50_gy"], limit_gy, total_q_gy=total, n_estimated=n_est)


@dataclass(frozen=True)
class PatientHeader:
    """The facts at the top of the review page (units in the names; NaN / () when not recorded)."""

    patient_id: str
    sex: str
    age_at_first_prrt_years: float
    primary_site: str
    tumour_grade: str | None
    ki67_pct: float
    renal_risk_factors: tuple[str, ...]
    phase: CoursePhase
    n_cycles: int
    n_initial_cycles: int
    n_salvage_cycles: int
    cumulative_activity_gbq: float
    kidney_dose: LimitStatus
    kidney_bed: LimitStatus
    last_cycle_date: dt.date | None
    last_record_date: dt.date | None
    weight_kg: float = math.nan
    height_cm: float = math.nan
    prior_therapies: tuple[str, ...] = ()

    @property
    def renal_risk(self) -> bool:
        return bool(self.renal_risk_factors)


def renal_risk_factors(patient: pd.Series) -> tuple[str, ...]:
    """Recorded renal risk factors: hypertension, diabetes and any other recorded one."""
    found = [name for name in ("hypertension", "diabetes") if bool(patient.get(name))]
    other = patient.get("other_renal_risk")
    if isinstance(other, str) and other.strip():
        found.append(other.strip())
    return tuple(found)


def current_phase(cycles: pd.DataFrame, as_of: dt.date | None) -> CoursePhase:
    """The last cycle's phase while it is less than COURSE_GAP_WEEKS before ``as_of``;
    FOLLOW_UP after; NO_TREATMENT without cycles."""
    if cycles.empty:
        return CoursePhase.NO_TREATMENT
    last = cycles.sort_values("cycle_date", kind="stable").iloc[-1]
    when = pd.Timestamp(as_of) if as_of is not None else last["cycle_date"]
    weeks = (when - last["cycle_date"]).days / 7.0
    return CoursePhase(last["phase"]) if weeks < COURSE_GAP_WEEKS else CoursePhase.FOLLOW_UP


def _number(patient: pd.Series, column: str) -> float:
    value = patient.get(column)
    return math.nan if value is None or pd.isna(value) else float(value)


def header(tables: Tables, patient_id: str, *, settings: KidneyModelSettings = DEFAULT_SETTINGS,
           as_of: dt.date | None = None, cycles: pd.DataFrame | None = None) -> PatientHeader:
    """Header facts; ``as_of`` (default: the patient's most recent record) sets the phase.

    Limits from ``settings``: the BED limit is ``bed_limit_risk_gy`` (28 Gy) with a recorded
    renal risk factor, else ``bed_limit_no_risk_gy`` (40 Gy) (Bodei, EJNMMI 2008;35:1847).
    ``cycles``: the patient's :func:`cycle_table` when already computed (same settings).
    """
    patient = tables.for_patient(patient_id).patients.iloc[0]
    if cycles is None:
        cycles = cycle_table(tables, patient_id, settings=settings)
    risks = renal_risk_factors(patient)
    as_of = as_of if as_of is not None else last_record_date(tables, patient_id)
    grade = patient.get("tumour_grade")
    return PatientHeader(
        patient_id=str(patient["patient_id"]), sex=str(patient["sex"]),
        age_at_first_prrt_years=_number(patient, "age_at_first_prrt_years"),
        primary_site=str(patient["primary_site"]),
        tumour_grade=None if pd.isna(grade) else str(grade),
        ki67_pct=_number(patient, "ki67_pct"),
        renal_risk_factors=risks, phase=current_phase(cycles, as_of),
        n_cycles=len(cycles), n_initial_cycles=int((cycles["phase"] == "initial").sum()),
        n_salvage_cycles=int((cycles["phase"] == "salvage").sum()),
        cumulative_activity_gbq=float(cycles["activity_gbq"].sum()),
        kidney_dose=_cumulative_status(cycles, "kidney_dose", settings.dose_limit_gy),
        kidney_bed=_cumulative_status(cycles, "kidney_bed", settings.bed_limit_gy(bool(risks))),
        last_cycle_date=None if cycles.empty else cycles["cycle_date"].max().date(),
        last_record_date=as_of, weight_kg=_number(patient, "weight_kg"), height_cm=_number(patient, "height_cm"),
        prior_therapies=record.prior_therapies(patient))


# --------------------------------------------------------------------------
# review bundle
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class PatientReview:
    """Everything the review page and the summary show for one patient."""

    header: PatientHeader
    cycles: pd.DataFrame
    timeline: pd.DataFrame
    imaging: pd.DataFrame
    labs: pd.DataFrame
    bands: pd.DataFrame  # labs.grade_bands of every test with values
    mag3: pd.DataFrame
    mag3_trend: lab_view.Trend
    status: outcome.PatientStatus
    treatment_dates: pd.DataFrame  # cycle_date, phase, cycle_number
    liver: pd.DataFrame  # labs.liver_values: bilirubin and albumin with CTCAE v5.0 grades
    liver_bands: pd.DataFrame  # labs.liver_bands of each liver test with values
    performance: pd.DataFrame  # record.performance_history: ECOG and Karnofsky


def review(tables: Tables, patient_id: str, *, settings: KidneyModelSettings = DEFAULT_SETTINGS,
           limits: toxicity.ReferenceLimits = toxicity.DEFAULT_REFERENCE_LIMITS) -> PatientReview:
    """The whole review of one patient over every record in ``tables`` (the cohort: cycles
    without kidney dosimetry are estimated from it)."""
    own = tables.for_patient(patient_id)  # every part below but the cycles reads only this patient's rows
    cycles = cycle_table(tables, patient_id, settings=settings)
    head = header(own, patient_id, settings=settings, cycles=cycles)
    labs = lab_view.lab_values(own, patient_id, limits)
    liver = lab_view.liver_values(own, patient_id)
    mag3 = lab_view.mag3_values(own, patient_id)
    scans = imaging(own, patient_id)
    return PatientReview(
        header=head, cycles=cycles, timeline=timeline(own, patient_id, scans), imaging=scans, labs=labs,
        bands=lab_view.all_grade_bands(labs), mag3=mag3, mag3_trend=lab_view.mag3_trend(mag3),
        status=outcome.status(own, patient_id, limits, labs),
        treatment_dates=cycles[["cycle_date", "phase", "cycle_number"]].copy(),
        liver=liver, liver_bands=lab_view.all_liver_bands(liver),
        performance=record.performance_history(own, patient_id))
