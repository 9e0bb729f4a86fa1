"""One patient for the tumour board: dates, cycles, header, imaging, timeline, status and the whole review.

Pure functions of the store's tables (``Store.read_all()``); no streamlit. The patient
review page, the salvage planner and the HTML summary (``reports.summary``) show what these return.

Conventions (sources next to the constants):
- per-cycle kidney BED by ``dosimetry.bed`` with the cycle's measured T_eff, else the
  patient's mean measured T_eff, else the cohort median, else
  ``dosimetry.DEFAULT_KIDNEY_T_EFF_H`` -- the same rule as ``projection``, so the
  cumulative BED here equals the projection's ``bed_now_gy`` for a fully measured patient;
- radiobiology and limits from one ``projection.KidneyModelSettings``;
- CTCAE v5.0 grades from ``views.labs``, RECIST 1.1 from ``response``; worst grades, best
  response, PFS and OS from ``views.outcome``.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from prrt_core import dosimetry, projection
from prrt_core.clinical import response, toxicity
from prrt_core.projection import DEFAULT_SETTINGS, KidneyModelSettings
from prrt_core.tables import DATE_COLUMN, Tables
from prrt_core.views import labs as lab_view
from prrt_core.views import outcome

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

def last_record_date(tables: Tables, patient_id: str) -> dt.date | None:
    """The date of the patient's most recent dated record (cycle, lab, imaging, event, status)."""
    t = tables.for_patient(patient_id)
    dates = [getattr(t, name)[column] for name, column in DATE_COLUMN.items()]
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


def cycle_table(tables: Tables, patient_id: str, *, settings: KidneyModelSettings = DEFAULT_SETTINGS,
                cohort_median_t_eff_h: float | None = None) -> pd.DataFrame:
    """One row per cycle in date order: activity, kidney and tumour dose, BED, running totals.

    Columns: cycle_id, cycle_number, cycle_date, phase, activity_gbq, kidney_dose_gy,
    kidney_gy_per_gbq, kidney_t_eff_h (measured), bed_t_eff_h and bed_t_eff_source (the
    T_eff used for BED: 'measured' | 'patient mean' | 'cohort median'), tumour_dose_gy
    (highest tumour dose of the cycle), kidney_bed_gy, cumulative_activity_gbq,
    cumulative_kidney_dose_gy and cumulative_kidney_bed_gy (sums over the cycles with a
    kidney dose so far). Doses in Gy, activity in GBq, T_eff in h; BED with ``settings``'
    alpha/beta and T_rep. ``cohort_median_t_eff_h``: the cohort's median measured kidney
    T_eff when ``tables`` hold only this patient.
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
                        else (_cohort_median_t_eff_h(tables) if cohort_median_t_eff_h is None
                              else cohort_median_t_eff_h, "cohort median"))
    out["bed_t_eff_h"] = measured_t.fillna(fallback)
    out["bed_t_eff_source"] = np.where(measured_t.notna(), "measured", source)
    out["tumour_dose_gy"] = out["cycle_id"].map(tumour).astype(float)
    out["kidney_bed_gy"] = dosimetry.bed(out["kidney_dose_gy"].to_numpy(), out["bed_t_eff_h"].to_numpy(),
                                         settings.alpha_beta_gy, settings.t_rep_h)
    out["cumulative_activity_gbq"] = out["activity_gbq"].cumsum()
    out["cumulative_kidney_dose_gy"] = out["kidney_dose_gy"].fillna(0.0).cumsum()
    out["cumulative_kidney_bed_gy"] = out["kidney_bed_gy"].fillna(0.0).cumsum()
    return out


@dataclass(frozen=True)
class LimitStatus:
    """A cumulative kidney quantity against its limit (Gy).

    status: OVER (>= limit), NEAR (the remaining headroom is less than the patient's mean
    per-cycle value, i.e. one more such cycle would cross), BELOW, or UNKNOWN (no cycle
    with a kidney dose). ``complete`` is False when some cycles lack a kidney dose: the
    value then understates the total.
    """

    value_gy: float
    limit_gy: float
    status: LimitLevel
    complete: bool

    @property
    def fraction_of_limit(self) -> float:
        return self.value_gy / self.limit_gy


def limit_status(per_cycle_gy: pd.Series, limit_gy: float) -> LimitStatus:
    """The sum of the per-cycle values (Gy; NaN = not measured) against ``limit_gy``."""
    measured = per_cycle_gy.dropna()
    if measured.empty:
        return LimitStatus(math.nan, limit_gy, LimitLevel.UNKNOWN, False)
    total = float(measured.sum())
    if total >= limit_gy:
        level = LimitLevel.OVER
    elif limit_gy - total < float(measured.mean()):
        level = LimitLevel.NEAR
    else:
        level = LimitLevel.BELOW
    return LimitStatus(total, limit_gy, level, bool(per_cycle_gy.notna().all()))


@dataclass(frozen=True)
class PatientHeader:
    """The facts at the top of the review page (units in the names)."""

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
    age = patient.get("age_at_first_prrt_years")
    ki67 = patient.get("ki67_pct")
    grade = patient.get("tumour_grade")
    return PatientHeader(
        patient_id=str(patient["patient_id"]), sex=str(patient["sex"]),
        age_at_first_prrt_years=math.nan if pd.isna(age) else float(age),
        primary_site=str(patient["primary_site"]),
        tumour_grade=None if pd.isna(grade) else str(grade),
        ki67_pct=math.nan if pd.isna(ki67) else float(ki67),
        renal_risk_factors=risks, phase=current_phase(cycles, as_of),
        n_cycles=len(cycles), n_initial_cycles=int((cycles["phase"] == "initial").sum()),
        n_salvage_cycles=int((cycles["phase"] == "salvage").sum()),
        cumulative_activity_gbq=float(cycles["activity_gbq"].sum()),
        kidney_dose=limit_status(cycles["kidney_dose_gy"], settings.dose_limit_gy),
        kidney_bed=limit_status(cycles["kidney_bed_gy"], settings.bed_limit_gy(bool(risks))),
        last_cycle_date=None if cycles.empty else cycles["cycle_date"].max().date(),
        last_record_date=as_of)


# --------------------------------------------------------------------------
# imaging, timeline
# --------------------------------------------------------------------------

def imaging(tables: Tables, patient_id: str) -> pd.DataFrame:
    """Every imaging assessment with its RECIST 1.1 response (computed, follow-ups only).

    Columns: assessment_date, phase, role, modality, target_sum_mm, new_lesions,
    sstr_krenning_score, change_from_baseline_pct, response ('' for baselines and for
    scans not used for response, e.g. before the phase's first cycle).
    """
    t = tables.for_patient(patient_id)
    scans = t.assessments.sort_values("assessment_date", kind="stable")
    parts = []
    for phase in ("initial", "salvage"):
        if (t.cycles["phase"] == phase).any():
            tp = response.timepoint_responses(t.assessments, t.cycles, phase)
            parts.append(tp[["assessment_id", "response", "change_from_baseline_pct"]])
    computed = (pd.concat(parts, ignore_index=True) if parts
                else pd.DataFrame(columns=["assessment_id", "response", "change_from_baseline_pct"]))
    out = scans.merge(computed, on="assessment_id", how="left")
    out["response"] = out["response"].fillna("").astype(str)
    columns = ["assessment_date", "phase", "role", "modality", "target_sum_mm", "new_lesions",
               "sstr_krenning_score", "change_from_baseline_pct", "response"]
    for column in columns:
        if column not in out.columns:
            out[column] = np.nan
    return out[columns].reset_index(drop=True)


_EVENT_LABEL = {"progression": "Progression", "death": "Death", "last_contact": "Last contact"}


def timeline(tables: Tables, patient_id: str,
             scans: pd.DataFrame | None = None) -> pd.DataFrame:
    """Cycles, imaging and events in date order: date, kind ('cycle' | 'imaging' | 'event'),
    phase ('' when none), what (one line a clinician reads). ``scans``: :func:`imaging`
    of the patient when already computed."""
    t = tables.for_patient(patient_id)
    cyc = t.cycles
    rows = [pd.DataFrame({
        "date": cyc["cycle_date"], "kind": "cycle", "phase": cyc["phase"],
        "what": [f"Cycle {n} ({p}): {a:.2f} GBq" for n, p, a in
                 zip(cyc["cycle_number"], cyc["phase"], cyc["activity_gbq"])]})]
    scans = imaging(tables, patient_id) if scans is None else scans
    if not scans.empty:
        text = [f"{m} {r}: target sum {s:.1f} mm" if pd.notna(s) else f"{m} {r}: not measured"
                for m, r, s in zip(scans["modality"], scans["role"], scans["target_sum_mm"])]
        text = [x + (f", RECIST {resp}" if resp else "")
                + (f", Krenning {int(k)}" if pd.notna(k) else "")
                for x, resp, k in zip(text, scans["response"], scans["sstr_krenning_score"])]
        rows.append(pd.DataFrame({"date": scans["assessment_date"], "kind": "imaging",
                                  "phase": scans["phase"], "what": text}))
    ev = t.events
    if not ev.empty:
        rows.append(pd.DataFrame({
            "date": ev["event_date"], "kind": "event", "phase": ev["phase"].fillna(""),
            "what": [_EVENT_LABEL[k] + (f" ({p})" if isinstance(p, str) and p else "")
                     for k, p in zip(ev["event_type"], ev["phase"])]}))
    out = pd.concat(rows, ignore_index=True)
    order = out["kind"].map({"cycle": 0, "imaging": 1, "event": 2})
    return (out.assign(_o=order).sort_values(["date", "_o"], kind="stable")
            .drop(columns="_o").reset_index(drop=True))


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


def review(tables: Tables, patient_id: str, *, settings: KidneyModelSettings = DEFAULT_SETTINGS,
           limits: toxicity.ReferenceLimits = toxicity.DEFAULT_REFERENCE_LIMITS) -> PatientReview:
    """The whole review of one patient over every record in ``tables``."""
    own = tables.for_patient(patient_id)  # every part below reads only this patient's rows ...
    cycles = cycle_table(own, patient_id, settings=settings,
                         cohort_median_t_eff_h=_cohort_median_t_eff_h(tables))  # ... and the cohort's T_eff
    head = header(own, patient_id, settings=settings, cycles=cycles)
    labs = lab_view.lab_values(own, patient_id, limits)
    mag3 = lab_view.mag3_values(own, patient_id)
    scans = imaging(own, patient_id)
    return PatientReview(
        header=head, cycles=cycles, timeline=timeline(own, patient_id, scans), imaging=scans, labs=labs,
        bands=lab_view.all_grade_bands(labs), mag3=mag3, mag3_trend=lab_view.mag3_trend(mag3),
        status=outcome.status(own, patient_id, limits, labs),
        treatment_dates=cycles[["cycle_date", "phase", "cycle_number"]].copy())
