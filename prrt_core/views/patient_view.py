"""One patient for the tumour board: header facts, cycles, timeline, labs, imaging, status, plan.

Pure functions of the store's tables (``Store.read_all()``); no streamlit. The patient
review page, the salvage planner and the HTML summary (``report``) show what these return.

Conventions (sources next to the constants):
- per-cycle kidney BED by ``dosimetry.bed`` with the cycle's measured T_eff, else the
  patient's mean measured T_eff, else the cohort median, else
  ``dosimetry.DEFAULT_KIDNEY_T_EFF_H`` -- the same rule as ``projection``, so the
  cumulative BED here equals the projection's ``bed_now_gy`` for a fully measured patient;
- CTCAE v5.0 grades from ``toxicity.grade_labs`` (LLN/ULN from
  ``toxicity.DEFAULT_REFERENCE_LIMITS`` by sex), RECIST 1.1 from ``response``, PFS/OS
  from ``survival.endpoints``, the eligibility checklist from ``eligibility.assess``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prrt_core.tables import DATE_COLUMN, Tables
from prrt_core import dosimetry
from prrt_core.clinical import eligibility
from prrt_core import projection
from prrt_core.clinical import response
from prrt_core.clinical import survival
from prrt_core.clinical import toxicity
from prrt_core.clinical.dates import DAYS_PER_MONTH
# The low-side CTCAE cut-offs are kept private in toxicity; the grade bands drawn here
# must be exactly the ones ctcae_grade applies (tests/test_patient_view.py checks each edge).
from prrt_core.clinical.toxicity import LOW_CUTOFFS

# A course is over when no further cycle followed within 16 weeks: Lutathera dose
# modification discontinues treatment when a dose is delayed >= 16 weeks (Lutathera US
# prescribing information; AJR 2022, PMC10133840, Table 1).
COURSE_GAP_WEEKS = 16.0

# Standard salvage scenario: 2 further cycles of 7.4 GBq (van der Zwan et al., EJNMMI
# 2019;46:704: 2 x 7.4 GBq per retreatment; 7.4 GBq per cycle, Lutathera US PI).
DEFAULT_SALVAGE_CYCLES = 2
DEFAULT_ACTIVITY_GBQ = 7.4
# Accepted probability of crossing a kidney limit: 5 %, i.e. the projection's 95th
# percentile stays under the limit. A planning choice of issue 5 (the board may change it),
# not a published threshold.
DEFAULT_TOLERANCE = 0.05
# Scenarios compared side by side by default: the same 14.8 GBq as 2 x 7.4, and the
# reduced-activity schedules of Severi (EJNMMI 2015: 4-5 low-activity cycles) with the
# Lutathera PI reduced dose of 3.7 GBq.
DEFAULT_SCENARIOS = ((2, 7.4), (3, 5.5), (4, 3.7))
MAX_SCENARIOS = 3


# --------------------------------------------------------------------------
# selection
# --------------------------------------------------------------------------

def last_record_date(tables: Tables, patient_id: str) -> dt.date | None:
    """The date of the patient's most recent dated record (cycle, lab, imaging, event, status)."""
    t = tables.for_patient(patient_id)
    dates = [getattr(t, name)[column] for name, column in DATE_COLUMN.items()]
    latest = pd.concat(dates).max() if dates else pd.NaT
    return None if pd.isna(latest) else latest.date()


def decision_dates(tables: Tables, patient_id: str) -> dict[str, dt.date | None]:
    """Dates the planner needs: 'latest' (most recent record), 'before_salvage' (the day before
    the first salvage cycle) and 'death'; None when there is no such date."""
    t = tables.for_patient(patient_id)
    salvage = t.cycles.loc[t.cycles["phase"] == "salvage", "cycle_date"]
    death = t.events.loc[t.events["event_type"] == "death", "event_date"]
    return {"latest": last_record_date(tables, patient_id),
            "before_salvage": None if salvage.empty else (salvage.min() - pd.Timedelta(days=1)).date(),
            "death": None if death.empty else death.min().date()}


# --------------------------------------------------------------------------
# cycles and header
# --------------------------------------------------------------------------

def _cohort_median_t_eff_h(tables: Tables) -> float:
    kidney = tables.dosimetry
    t_eff = kidney.loc[kidney["organ"] == "kidneys", "t_eff_h"].to_numpy(dtype=float)
    t_eff = t_eff[np.isfinite(t_eff)]
    return float(np.median(t_eff)) if t_eff.size else dosimetry.DEFAULT_KIDNEY_T_EFF_H


def cycle_table(tables: Tables, patient_id: str, *,
                alpha_beta_gy: float = dosimetry.KIDNEY_ALPHA_BETA_GY,
                t_rep_h: float = dosimetry.KIDNEY_T_REP_H,
                cohort_median_t_eff_h: float | None = None) -> pd.DataFrame:
    """One row per cycle in date order: activity, kidney and tumour dose, BED, running totals.

    Columns: cycle_id, cycle_number, cycle_date, phase, activity_gbq, kidney_dose_gy,
    kidney_gy_per_gbq, kidney_t_eff_h (measured), bed_t_eff_h and bed_t_eff_source (the
    T_eff used for BED: 'measured' | 'patient mean' | 'cohort median'), tumour_dose_gy
    (highest tumour dose of the cycle), kidney_bed_gy, cumulative_activity_gbq,
    cumulative_kidney_dose_gy and cumulative_kidney_bed_gy (sums over the cycles with a
    kidney dose so far). Doses in Gy, activity in GBq, T_eff in h. ``cohort_median_t_eff_h``:
    the cohort's median measured kidney T_eff when ``tables`` hold only this patient.
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
                                         alpha_beta_gy, t_rep_h)
    out["cumulative_activity_gbq"] = out["activity_gbq"].cumsum()
    out["cumulative_kidney_dose_gy"] = out["kidney_dose_gy"].fillna(0.0).cumsum()
    out["cumulative_kidney_bed_gy"] = out["kidney_bed_gy"].fillna(0.0).cumsum()
    return out


# Per-cycle table as shown to users: column -> header with units.
CYCLE_COLUMNS = {
    "cycle_number": "Cycle", "cycle_date": "Date", "phase": "Phase",
    "activity_gbq": "Activity (GBq)", "kidney_dose_gy": "Kidney dose (Gy)",
    "kidney_gy_per_gbq": "Kidney (Gy/GBq)", "kidney_t_eff_h": "Kidney T_eff (h)",
    "tumour_dose_gy": "Tumour dose (Gy)", "kidney_bed_gy": "Kidney BED (Gy)",
    "cumulative_kidney_dose_gy": "Cumulative dose (Gy)", "cumulative_kidney_bed_gy": "Cumulative BED (Gy)",
}


def cycle_display(cycles: pd.DataFrame) -> pd.DataFrame:
    """The per-cycle table with the user-facing headers (units in every header), dates as dates."""
    out = cycles[list(CYCLE_COLUMNS)].rename(columns=CYCLE_COLUMNS)
    out["Date"] = out["Date"].dt.date
    return out


@dataclass(frozen=True)
class LimitStatus:
    """A cumulative kidney quantity against its limit (Gy).

    status: 'over' (>= limit), 'near' (the remaining headroom is less than the patient's
    mean per-cycle value, i.e. one more such cycle would cross), 'below', or 'unknown'
    (no cycle with a kidney dose). ``complete`` is False when some cycles lack a kidney
    dose: the value then understates the total.
    """

    value_gy: float
    limit_gy: float
    status: str
    complete: bool

    @property
    def fraction_of_limit(self) -> float:
        return self.value_gy / self.limit_gy


def _limit_status(per_cycle_gy: pd.Series, limit_gy: float) -> LimitStatus:
    measured = per_cycle_gy.dropna()
    if measured.empty:
        return LimitStatus(math.nan, limit_gy, "unknown", False)
    total = float(measured.sum())
    if total >= limit_gy:
        status = "over"
    elif limit_gy - total < float(measured.mean()):
        status = "near"
    else:
        status = "below"
    return LimitStatus(total, limit_gy, status, bool(per_cycle_gy.notna().all()))


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
    phase: str  # 'initial' | 'salvage' | 'follow-up' | 'no treatment'
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


def current_phase(cycles: pd.DataFrame, as_of: dt.date | None) -> str:
    """'initial' or 'salvage' while the last cycle is less than COURSE_GAP_WEEKS before
    ``as_of``; 'follow-up' after; 'no treatment' without cycles."""
    if cycles.empty:
        return "no treatment"
    last = cycles.sort_values("cycle_date", kind="stable").iloc[-1]
    when = pd.Timestamp(as_of) if as_of is not None else last["cycle_date"]
    weeks = (when - last["cycle_date"]).days / 7.0
    return str(last["phase"]) if weeks < COURSE_GAP_WEEKS else "follow-up"


def header(tables: Tables, patient_id: str, *, as_of: dt.date | None = None,
           alpha_beta_gy: float = dosimetry.KIDNEY_ALPHA_BETA_GY,
           t_rep_h: float = dosimetry.KIDNEY_T_REP_H,
           dose_limit_gy: float = dosimetry.DOSE_LIMIT_GY,
           bed_limit_risk_gy: float = dosimetry.BED_LIMIT_GY_RISK,
           bed_limit_no_risk_gy: float = dosimetry.BED_LIMIT_GY_NO_RISK,
           cycles: pd.DataFrame | None = None) -> PatientHeader:
    """Header facts; ``as_of`` (default: the patient's most recent record) sets the phase.

    BED limit: ``bed_limit_risk_gy`` (28 Gy) with a recorded renal risk factor, else
    ``bed_limit_no_risk_gy`` (40 Gy) (Bodei, EJNMMI 2008;35:1847). ``cycles``: the
    patient's :func:`cycle_table` when already computed (same alpha/beta and T_rep).
    """
    patient = tables.for_patient(patient_id).patients.iloc[0]
    if cycles is None:
        cycles = cycle_table(tables, patient_id, alpha_beta_gy=alpha_beta_gy, t_rep_h=t_rep_h)
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
        kidney_dose=_limit_status(cycles["kidney_dose_gy"], dose_limit_gy),
        kidney_bed=_limit_status(cycles["kidney_bed_gy"], bed_limit_risk_gy if risks else bed_limit_no_risk_gy),
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
# laboratory values, CTCAE grade bands, MAG3
# --------------------------------------------------------------------------

LAB_TESTS = tuple(toxicity.LabTest)
LAB_NAMES = {
    toxicity.LabTest.HEMOGLOBIN: "Haemoglobin", toxicity.LabTest.PLATELETS: "Platelets",
    toxicity.LabTest.WBC: "White blood cells", toxicity.LabTest.NEUTROPHILS: "Neutrophils",
    toxicity.LabTest.LYMPHOCYTES: "Lymphocytes", toxicity.LabTest.CREATININE: "Creatinine",
    toxicity.LabTest.EGFR: "eGFR",
}
UNIT_TEXT = {"10^9/L": "10⁹/L", "mL/min/1.73 m^2": "mL/min/1.73 m²"}


def lab_title(test: str) -> str:
    """'Platelets (10⁹/L)': the test's name with its unit, for axis titles and headers."""
    test = toxicity.LabTest(test)
    unit = toxicity.TEST_UNIT[test]
    return f"{LAB_NAMES[test]} ({UNIT_TEXT.get(unit, unit)})"


def lab_values(tables: Tables, patient_id: str,
               limits: toxicity.ReferenceLimits = toxicity.DEFAULT_REFERENCE_LIMITS) -> pd.DataFrame:
    """The patient's graded lab values, long format (``toxicity.grade_labs``), missing values dropped.

    Columns as grade_labs (lab_date, phase, test, value, unit, lln, uln, baseline_value,
    grade ...) plus grade_label ('0'-'4', 'n/a' when it cannot be derived).
    """
    t = tables.for_patient(patient_id)
    if t.labs.empty:
        return pd.DataFrame(columns=["lab_date", "phase", "test", "value", "unit", "lln", "uln",
                                     "baseline_value", "grade", "grade_label"])
    graded = toxicity.grade_labs(t.labs, t.patients, t.cycles, limits)
    graded = graded[graded["value"].notna()].sort_values(["test", "lab_date"], kind="stable")
    graded["grade_label"] = np.where(graded["grade"].isna(), "n/a",
                                     graded["grade"].fillna(0).astype(int).astype(str))
    return graded.reset_index(drop=True)


def _band_rows(test: toxicity.LabTest, lln: float, uln: float) -> list[tuple[str, float, float]]:
    """(grade, lower, upper) in the test's unit; +-inf for open ends (clipped by the caller)."""
    inf = math.inf
    if test is toxicity.LabTest.CREATININE:
        if not np.isfinite(uln):
            return []
        m2, m3, m4 = (toxicity.CREATININE_G2_ULN_MULTIPLE, toxicity.CREATININE_G3_ULN_MULTIPLE,
                      toxicity.CREATININE_G4_ULN_MULTIPLE)
        return [("0", -inf, uln), ("1", uln, m2 * uln), ("2", m2 * uln, m3 * uln),
                ("3", m3 * uln, m4 * uln), ("4", m4 * uln, inf)]
    cut = LOW_CUTOFFS[test]
    rows = [("0", lln, inf), ("1", cut.below_2, lln)] if np.isfinite(lln) else [("0-1", cut.below_2, inf)]
    rows += [("2", cut.below_3, cut.below_2)]
    if cut.below_4 is None:  # anaemia: grade 4 is clinical only
        rows += [("3", -inf, cut.below_3)]
    else:
        rows += [("3", cut.below_4, cut.below_3), ("4", -inf, cut.below_4)]
    return rows


def grade_bands(test: str, values: Sequence[float] | np.ndarray, *, lln: float, uln: float) -> pd.DataFrame:
    """CTCAE v5.0 grade bands of one test for a chart of ``values`` (test units).

    ``lln``/``uln``: the patient's reference limits in the test's unit (NaN when unknown or
    not used), e.g. ``toxicity.DEFAULT_REFERENCE_LIMITS.limits(test, sex)`` or the lln/uln
    columns of :func:`lab_values`.

    The y range runs from 10 % below the lower of the smallest value and the grade-2
    boundary to 10 % above the higher of the largest value and the normal limit (for
    creatinine: 1.5 x ULN), so grades 0-2 are always visible and a worse value brings
    its band in. Bands are clipped to that range; empty ones are dropped. Creatinine bands
    are the x ULN criteria (the x baseline criterion can raise a point's grade above its
    band). Columns: test, grade, lower, upper, y_min, y_max.
    """
    test = toxicity.LabTest(test)
    lln, uln = float(lln), float(uln)
    rows = _band_rows(test, lln, uln)
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if test is toxicity.LabTest.CREATININE:
        anchors_low = [0.0]
        anchors_high = [toxicity.CREATININE_G2_ULN_MULTIPLE * uln] if np.isfinite(uln) else []
    else:
        cut = LOW_CUTOFFS[test]
        anchors_low = [cut.below_2]
        anchors_high = [lln] if np.isfinite(lln) else [cut.below_2]
    y_min = 0.9 * min([*v.tolist(), *anchors_low])
    y_max = 1.1 * max([*v.tolist(), *anchors_high])
    bands = pd.DataFrame(rows, columns=["grade", "lower", "upper"])
    bands["lower"] = bands["lower"].clip(lower=y_min, upper=y_max)
    bands["upper"] = bands["upper"].clip(lower=y_min, upper=y_max)
    bands = bands[bands["upper"] > bands["lower"]].copy()
    bands.insert(0, "test", test.value)
    bands["y_min"], bands["y_max"] = y_min, y_max
    return bands.reset_index(drop=True)


def mag3_values(tables: Tables, patient_id: str) -> pd.DataFrame:
    """MAG3 tubular extraction rate over time: lab_date, mag3_ter_ml_min_173m2 (measured rows only)."""
    labs = tables.for_patient(patient_id).labs
    if "mag3_ter_ml_min_173m2" not in labs.columns:
        return pd.DataFrame(columns=["lab_date", "mag3_ter_ml_min_173m2"])
    rows = labs.loc[labs["mag3_ter_ml_min_173m2"].notna(), ["lab_date", "mag3_ter_ml_min_173m2"]]
    return rows.sort_values("lab_date", kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class Trend:
    """Least-squares slope of a value over time: per year (value units / year)."""

    n_values: int
    first_date: dt.date | None
    last_date: dt.date | None
    slope_per_year: float
    first_value: float
    last_value: float


def mag3_trend(mag3: pd.DataFrame) -> Trend:
    """Linear trend of MAG3 TER, mL/min/1.73 m² per year (NaN with fewer than 2 dates).

    The annual TER change by linear regression is the measure of Rudisile 2019 (BMC Cancer
    19:788) after Werner 2016 (Oncotarget 7:41233); years of 365.25 days.
    """
    n = len(mag3)
    if n == 0:
        return Trend(0, None, None, math.nan, math.nan, math.nan)
    dates, values = mag3["lab_date"], mag3["mag3_ter_ml_min_173m2"].to_numpy(dtype=float)
    years = ((dates - dates.iloc[0]).dt.days / 365.25).to_numpy(dtype=float)
    slope = float(np.polyfit(years, values, 1)[0]) if np.ptp(years) > 0 else math.nan
    return Trend(n, dates.iloc[0].date(), dates.iloc[-1].date(), slope, float(values[0]), float(values[-1]))


# --------------------------------------------------------------------------
# status: worst grades, best response, PFS / OS
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Endpoint:
    """One survival endpoint of the patient: months from its start, event or censored."""

    name: str
    start_date: dt.date | None
    months: float
    event: bool
    end_date: dt.date | None  # the event date, or the censoring date


@dataclass(frozen=True)
class PatientStatus:
    """Worst CTCAE grade per test and phase, best response per phase, PFS and OS."""

    worst_grades: pd.DataFrame  # test, lab title, worst before salvage, worst after salvage (NaN = none)
    best_response: dict[str, str]  # phase -> 'CR'|'PR'|'SD'|'PD'|'NE'; '' when the phase has no cycle
    endpoints: tuple[Endpoint, ...]
    alive: bool
    death_date: dt.date | None


def status(tables: Tables, patient_id: str,
           limits: toxicity.ReferenceLimits = toxicity.DEFAULT_REFERENCE_LIMITS,
           graded: pd.DataFrame | None = None) -> PatientStatus:
    """Status summary: worst grades before/after salvage start, best response, PFS/OS with dates.

    ``graded``: :func:`lab_values` of the patient when already computed (same ``limits``).
    """
    t = tables.for_patient(patient_id)
    graded = lab_values(tables, patient_id, limits) if graded is None else graded
    phases = (toxicity.ToxicityPhase.BEFORE_SALVAGE.value, toxicity.ToxicityPhase.AFTER_SALVAGE.value)
    if graded.empty:
        worst = pd.DataFrame(index=[t.value for t in LAB_TESTS], columns=list(phases), dtype=float)
    else:
        worst = (graded[graded["phase"].isin(phases)].groupby(["test", "phase"])["grade"].max()
                 .unstack("phase").reindex(index=[t.value for t in LAB_TESTS], columns=list(phases)))
    worst = worst.reset_index().rename(columns={"index": "test"})
    worst.columns.name = None
    worst.insert(1, "title", [lab_title(x) for x in worst["test"]])

    best = {}
    for phase in ("initial", "salvage"):
        if (t.cycles["phase"] == phase).any():
            best[phase] = str(response.response_by_patient(t.assessments, t.cycles, phase)
                              ["best_overall_response"].iat[0])
        else:
            best[phase] = ""
    ends: list[Endpoint] = []
    death = t.events.loc[t.events["event_type"] == "death", "event_date"]
    if not t.cycles.empty:
        row = survival.endpoints(t.cycles, t.events, t.assessments).iloc[0]
        for key, name in (("pfs_initial", "PFS after initial PRRT"), ("os_initial", "OS after initial PRRT"),
                          ("pfs_salvage", "PFS after salvage start"), ("os_salvage", "OS after salvage start")):
            phase = key.split("_")[1]
            start = row[f"{phase}_start_date"]
            months = float(row[f"{key}_months"])
            if pd.isna(start) or not np.isfinite(months):
                ends.append(Endpoint(name, None, math.nan, False, None))
                continue
            end = (start + pd.Timedelta(days=round(months * DAYS_PER_MONTH))).date()
            ends.append(Endpoint(name, start.date(), months, bool(row[f"{key}_event"] == 1), end))
    return PatientStatus(worst, best, tuple(ends), death.empty,
                         None if death.empty else death.min().date())


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
    bands: pd.DataFrame  # grade_bands of every test with values
    mag3: pd.DataFrame
    mag3_trend: Trend
    status: PatientStatus
    treatment_dates: pd.DataFrame  # cycle_date, phase, cycle_number


def review(tables: Tables, patient_id: str, *,
           alpha_beta_gy: float = dosimetry.KIDNEY_ALPHA_BETA_GY, t_rep_h: float = dosimetry.KIDNEY_T_REP_H,
           dose_limit_gy: float = dosimetry.DOSE_LIMIT_GY, bed_limit_risk_gy: float = dosimetry.BED_LIMIT_GY_RISK,
           bed_limit_no_risk_gy: float = dosimetry.BED_LIMIT_GY_NO_RISK,
           limits: toxicity.ReferenceLimits = toxicity.DEFAULT_REFERENCE_LIMITS) -> PatientReview:
    """The whole review of one patient over every record in ``tables``."""
    own = tables.for_patient(patient_id)  # every part below reads only this patient's rows ...
    cycles = cycle_table(own, patient_id, alpha_beta_gy=alpha_beta_gy, t_rep_h=t_rep_h,
                         cohort_median_t_eff_h=_cohort_median_t_eff_h(tables))  # ... and the cohort's T_eff
    head = header(own, patient_id, alpha_beta_gy=alpha_beta_gy, t_rep_h=t_rep_h, dose_limit_gy=dose_limit_gy,
                  bed_limit_risk_gy=bed_limit_risk_gy, bed_limit_no_risk_gy=bed_limit_no_risk_gy, cycles=cycles)
    labs = lab_values(own, patient_id, limits)
    bands = [grade_bands(test, rows["value"], lln=rows["lln"].iat[0], uln=rows["uln"].iat[0])
             for test, rows in labs.groupby("test", sort=False)]
    mag3 = mag3_values(own, patient_id)
    scans = imaging(own, patient_id)
    return PatientReview(
        header=head, cycles=cycles, timeline=timeline(own, patient_id, scans), imaging=scans, labs=labs,
        bands=pd.concat(bands, ignore_index=True) if bands else pd.DataFrame(
            columns=["test", "grade", "lower", "upper", "y_min", "y_max"]),
        mag3=mag3, mag3_trend=mag3_trend(mag3), status=status(own, patient_id, limits, labs),
        treatment_dates=cycles[["cycle_date", "phase", "cycle_number"]].copy())


# --------------------------------------------------------------------------
# salvage planner
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    """A salvage plan to evaluate: further cycles, activity per cycle and the model settings."""

    n_cycles: int = DEFAULT_SALVAGE_CYCLES
    activity_gbq: float = DEFAULT_ACTIVITY_GBQ
    tolerance: float = DEFAULT_TOLERANCE
    alpha_beta_gy: float = dosimetry.KIDNEY_ALPHA_BETA_GY
    t_rep_h: float = dosimetry.KIDNEY_T_REP_H
    dose_limit_gy: float = dosimetry.DOSE_LIMIT_GY
    bed_limit_risk_gy: float = dosimetry.BED_LIMIT_GY_RISK
    bed_limit_no_risk_gy: float = dosimetry.BED_LIMIT_GY_NO_RISK
    n_samples: int = 2000
    seed: int = 0

    @property
    def settings(self) -> projection.KidneyModelSettings:
        """The kidney model settings of this scenario (projection, path and eligibility share them)."""
        return projection.KidneyModelSettings(
            alpha_beta_gy=self.alpha_beta_gy, t_rep_h=self.t_rep_h, dose_limit_gy=self.dose_limit_gy,
            bed_limit_risk_gy=self.bed_limit_risk_gy, bed_limit_no_risk_gy=self.bed_limit_no_risk_gy,
            n_samples=self.n_samples, seed=self.seed, tolerance=self.tolerance)


@dataclass(frozen=True)
class Plan:
    """The planner's result for one patient, evaluation date and scenario."""

    patient_id: str
    as_of: dt.date
    scenario: Scenario
    checklist: eligibility.Checklist
    projection: pd.Series | None  # projection.project row (None: no cycle by as_of or no model)
    path: pd.DataFrame  # projection.project_path rows (empty when no projection)
    history: pd.DataFrame  # cycle_table of the cycles given by as_of
    fan: pd.DataFrame  # fan_table: history and projection on one axis, for the fan chart


def fan_table(history: pd.DataFrame, path: pd.DataFrame) -> pd.DataFrame:
    """History and projection on one axis of total cycle number, for the fan chart.

    Rows: one per past cycle (source 'history': cumulative kidney dose and BED after that
    cycle, no band) and one per future cycle 0..n (source 'projection': median, 5th and
    95th percentiles and point projection of the cumulative totals; cycle = past + k).
    Columns: cycle, source, quantity ('Kidney dose' | 'Kidney BED'), value_gy, p05_gy,
    p50_gy, p95_gy, point_gy, limit_gy.
    """
    rows = []
    n_past = len(history)
    for quantity, hist_col, prefix, limit_col in (("Kidney dose", "cumulative_kidney_dose_gy", "dose", "dose_limit_gy"),
                                                  ("Kidney BED", "cumulative_kidney_bed_gy", "bed", "bed_limit_gy")):
        limit = float(path[limit_col].iat[0]) if not path.empty else math.nan
        rows.append(pd.DataFrame({
            "cycle": np.arange(1, n_past + 1), "source": "history", "quantity": quantity,
            "value_gy": history[hist_col].to_numpy(dtype=float), "p05_gy": np.nan, "p50_gy": np.nan,
            "p95_gy": np.nan, "point_gy": np.nan, "limit_gy": limit}))
        if not path.empty:
            rows.append(pd.DataFrame({
                "cycle": n_past + path["future_cycle"].to_numpy(), "source": "projection", "quantity": quantity,
                "value_gy": path[f"{prefix}_p50_gy"].to_numpy(), "p05_gy": path[f"{prefix}_p05_gy"].to_numpy(),
                "p50_gy": path[f"{prefix}_p50_gy"].to_numpy(), "p95_gy": path[f"{prefix}_p95_gy"].to_numpy(),
                "point_gy": path[f"point_{prefix}_gy"].to_numpy(), "limit_gy": limit}))
    return pd.concat(rows, ignore_index=True)


def plan(tables: Tables, patient_id: str, as_of: dt.date, scenario: Scenario, *,
         config: eligibility.Config) -> Plan:
    """Eligibility checklist, projection and fan-chart path for one scenario at ``as_of``.

    Only what was recorded by ``as_of`` is used (``Tables.as_of``); the
    projection row is the one ``eligibility.assess`` judged, the path comes from
    ``projection.project_path`` with the same model, seed and samples.
    """
    checklist, row = eligibility.assess(tables, patient_id, as_of=as_of, n_cycles=scenario.n_cycles,
                                        activity_gbq=scenario.activity_gbq, config=config,
                                        settings=scenario.settings)
    known = tables.as_of(as_of)
    history = cycle_table(known, patient_id, alpha_beta_gy=scenario.alpha_beta_gy, t_rep_h=scenario.t_rep_h)
    path = pd.DataFrame()
    if row is not None:
        hist, patients = projection.inputs_from_tables(known)
        path = projection.project_path(hist, scenario.n_cycles, scenario.activity_gbq, patients=patients,
                                       patient_ids=[patient_id], settings=scenario.settings)
    return Plan(patient_id, as_of, scenario, checklist, row, path, history, fan_table(history, path))


SCENARIO_COLUMNS = {
    "scenario": "Scenario", "n_cycles": "Further cycles", "activity_gbq": "Activity per cycle (GBq)",
    "total_activity_gbq": "Further activity (GBq)",
    "dose_p50_gy": "Cumulative kidney dose, median (Gy)", "dose_p95_gy": "Cumulative kidney dose, 95th pct (Gy)",
    "p_exceed_dose_pct": "P(dose > limit) (%)", "bed_p50_gy": "Cumulative kidney BED, median (Gy)",
    "bed_p95_gy": "Cumulative kidney BED, 95th pct (Gy)", "p_exceed_bed_pct": "P(BED > limit) (%)",
    "max_safe_activity_gbq": "Largest safe activity per cycle (GBq)", "within_tolerance": "Within tolerance",
}


def compare_scenarios(tables: Tables, patient_id: str, as_of: dt.date,
                      scenarios: Sequence[tuple[int, float]], settings: Scenario) -> pd.DataFrame:
    """Up to MAX_SCENARIOS (further cycles, GBq per cycle) side by side, from what was known on ``as_of``.

    One ``projection.project`` call per scenario with ``settings``' tolerance, limits, model,
    seed and samples. Rows in the given order; ValueError names a scenario out of range or
    a patient without cycles by ``as_of``. Columns: SCENARIO_COLUMNS keys (percentages in %).
    """
    if not 1 <= len(scenarios) <= MAX_SCENARIOS:
        raise ValueError(f"between 1 and {MAX_SCENARIOS} scenarios are compared, got {len(scenarios)}")
    hist, patients = projection.inputs_from_tables(tables.as_of(as_of))
    if not (hist["patient_id"] == patient_id).any():
        raise ValueError(f"{patient_id}: no cycle recorded by {as_of.isoformat()}")
    rows = []
    for i, (n_cycles, activity_gbq) in enumerate(scenarios, start=1):
        row = projection.project(hist, int(n_cycles), float(activity_gbq), patients=patients,
                                 patient_ids=[patient_id], settings=settings.settings).iloc[0]
        ok = row["p_exceed_dose"] <= settings.tolerance and row["p_exceed_bed"] <= settings.tolerance
        rows.append({"scenario": f"{int(n_cycles)} x {float(activity_gbq):.1f} GBq", "n_cycles": int(n_cycles),
                     "activity_gbq": float(activity_gbq), "total_activity_gbq": int(n_cycles) * float(activity_gbq),
                     "dose_p50_gy": row["dose_p50_gy"], "dose_p95_gy": row["dose_p95_gy"],
                     "p_exceed_dose_pct": 100.0 * row["p_exceed_dose"], "bed_p50_gy": row["bed_p50_gy"],
                     "bed_p95_gy": row["bed_p95_gy"], "p_exceed_bed_pct": 100.0 * row["p_exceed_bed"],
                     "max_safe_activity_gbq": row["max_safe_activity_gbq"], "within_tolerance": bool(ok)})
    return pd.DataFrame(rows, columns=list(SCENARIO_COLUMNS))


# --------------------------------------------------------------------------
# formatted facts (the same strings on the pages and in the summary)
# --------------------------------------------------------------------------

def fmt(value: float | None, digits: int = 1, unit: str = "") -> str:
    """A number with ``digits`` decimals and an optional unit; '—' when missing or not finite."""
    if value is None or not np.isfinite(value):
        return "—"
    return f"{value:.{digits}f}" + (f" {unit}" if unit else "")


def limit_text(limit: LimitStatus) -> str:
    """'12.3 of 23 Gy (54 %)', with a note when some cycles lack a kidney dose."""
    if limit.status == "unknown":
        return "no kidney dosimetry"
    text = f"{limit.value_gy:.1f} of {limit.limit_gy:g} Gy ({100 * limit.fraction_of_limit:.0f} %)"
    return text if limit.complete else text + ", some cycles without dosimetry"


def header_facts(head: PatientHeader) -> dict[str, str]:
    """The header as label -> text, labels with units."""
    grade = head.tumour_grade or "grade not recorded"
    ki67 = "Ki-67 not recorded" if not np.isfinite(head.ki67_pct) else f"Ki-67 {head.ki67_pct:g} %"
    return {
        "Patient": head.patient_id,
        "Sex": {"M": "male", "F": "female"}.get(head.sex, head.sex),
        "Age at first PRRT (years)": fmt(head.age_at_first_prrt_years, 0),
        "Primary site": head.primary_site,
        "Grade / Ki-67": f"{grade} / {ki67}",
        "Renal risk factors": ", ".join(head.renal_risk_factors) or "none recorded",
        "Phase": head.phase,
        "Cycles so far": f"{head.n_cycles} ({head.n_initial_cycles} initial, {head.n_salvage_cycles} salvage)",
        "Cumulative activity (GBq)": fmt(head.cumulative_activity_gbq, 1),
        "Cumulative kidney dose (Gy)": limit_text(head.kidney_dose),
        "Cumulative kidney BED (Gy)": limit_text(head.kidney_bed),
    }


def max_safe_cycles_text(row: pd.Series) -> str:
    """Largest safe number of further cycles; '>= cap' when the search reached its cap."""
    cap = max(projection.MAX_SAFE_CYCLES_CAP, int(row["n_cycles"]))
    n = int(row["max_safe_cycles"])
    return f">= {cap}" if n >= cap else str(n)


def projection_facts(result: Plan) -> dict[str, str]:
    """The projection of a plan as label -> text (empty when there is no projection)."""
    row = result.projection
    if row is None:
        return {}
    s = result.scenario
    return {
        "Scenario": f"{s.n_cycles} x {s.activity_gbq:.1f} GBq",
        "Kidney dose so far (Gy)": fmt(row["dose_now_gy"], 1),
        "Kidney BED so far (Gy)": fmt(row["bed_now_gy"], 1),
        "Projected kidney dose, median (Gy)": fmt(row["dose_p50_gy"], 1),
        "Projected kidney dose, 90 % interval (Gy)": f"{row['dose_p05_gy']:.1f}–{row['dose_p95_gy']:.1f}",
        f"P(kidney dose > {row['dose_limit_gy']:g} Gy)": f"{100 * row['p_exceed_dose']:.1f} %",
        "Projected kidney BED, median (Gy)": fmt(row["bed_p50_gy"], 1),
        "Projected kidney BED, 90 % interval (Gy)": f"{row['bed_p05_gy']:.1f}–{row['bed_p95_gy']:.1f}",
        f"P(kidney BED > {row['bed_limit_gy']:g} Gy)": f"{100 * row['p_exceed_bed']:.1f} %",
        f"Largest safe number of cycles at {s.activity_gbq:.1f} GBq": max_safe_cycles_text(row),
        f"Largest safe activity per cycle for {s.n_cycles} cycles (GBq)": fmt(row["max_safe_activity_gbq"], 1),
        "Point projection, kidney dose (Gy)": fmt(row["point_dose_gy"], 1),
        "Point projection, kidney BED (Gy)": fmt(row["point_bed_gy"], 1),
    }


CHECKLIST_COLUMNS = {"criterion": "Criterion", "status": "Status", "value": "Value", "threshold": "Threshold",
                     "severity": "If failed", "source": "Source"}


def endpoint_table(state: PatientStatus) -> pd.DataFrame:
    """PFS and OS rows: Endpoint, Start, Duration (months), Status ('event on <date>',
    'censored on <date>' or 'not applicable')."""
    def outcome(e: Endpoint) -> str:
        if e.start_date is None:
            return "not applicable"
        return f"{'event' if e.event else 'censored'} on {e.end_date.isoformat()}"
    return pd.DataFrame([{"Endpoint": e.name, "Start": e.start_date.isoformat() if e.start_date else "—",
                          "Duration (months)": fmt(e.months, 1), "Status": outcome(e)} for e in state.endpoints],
                        columns=["Endpoint", "Start", "Duration (months)", "Status"])


def worst_grade_table(state: PatientStatus) -> pd.DataFrame:
    """Worst CTCAE v5.0 grade per test before and after salvage start ('—': no graded value)."""
    def text(x: float) -> str:
        return "—" if pd.isna(x) else str(int(x))
    w = state.worst_grades
    return pd.DataFrame({"Test": w["title"], "Before salvage start": [text(x) for x in w["before_salvage"]],
                         "After salvage start": [text(x) for x in w["after_salvage"]]})


def scenario_display(compared: pd.DataFrame) -> pd.DataFrame:
    """compare_scenarios output for reading across: one column per scenario, one row per
    quantity (header with units), values as text."""
    digits = {"n_cycles": 0, "activity_gbq": 1, "total_activity_gbq": 1, "p_exceed_dose_pct": 1,
              "p_exceed_bed_pct": 1}
    rows = {}
    for key, label in SCENARIO_COLUMNS.items():
        if key == "scenario":
            continue
        values = compared[key]
        rows[label] = (["yes" if v else "no" for v in values] if key == "within_tolerance"
                       else [fmt(float(v), digits.get(key, 1)) for v in values])
    return pd.DataFrame(rows, index=list(compared["scenario"])).T.rename_axis("Quantity").reset_index()
