"""What the pages and the printed summary show as text: numbers, facts, display tables and status tones.

The same strings on every page and in the summary (``reports.summary``). Facts are dataclasses of
text whose field names carry the units; ``label(field)`` is the header shown with a field
and ``rows()`` the (label, text) pairs in display order. ``TONE`` is the one mapping from a
status (kidney limit, checklist item, verdict) to a tone; each page and the report map a
tone to their own look.
"""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

import numpy as np
import pandas as pd

from prrt_core.clinical.eligibility import Status, Verdict
from prrt_core.views.outcome import EndpointStatus, PatientStatus
from prrt_core.views.patient import LimitLevel, LimitStatus, PatientHeader
from prrt_core.views.planner import SCENARIO_COLUMNS, PlannerResult


class Tone(StrEnum):
    """How a status reads: fine, needs attention, stop."""

    OK = "ok"
    WARN = "warn"
    BAD = "bad"


# Every status shown with a tone. LimitLevel.UNKNOWN and Status.UNKNOWN are the same key
# ("unknown", StrEnums), both WARN: an unknown is never a pass.
TONE: Mapping[str, Tone] = {
    LimitLevel.BELOW: Tone.OK, LimitLevel.NEAR: Tone.WARN, LimitLevel.OVER: Tone.BAD, LimitLevel.UNKNOWN: Tone.WARN,
    Status.PASS: Tone.OK, Status.FAIL: Tone.BAD, Status.UNKNOWN: Tone.WARN,
    Verdict.ELIGIBLE: Tone.OK, Verdict.CAUTION: Tone.WARN, Verdict.NOT_ELIGIBLE: Tone.BAD,
}


def fmt(value: float | None, digits: int = 1, unit: str = "") -> str:
    """A number with ``digits`` decimals and an optional unit; '—' when missing or not finite."""
    if value is None or not np.isfinite(value):
        return "—"
    return f"{value:.{digits}f}" + (f" {unit}" if unit else "")


def limit_text(limit: LimitStatus) -> str:
    """'12.3 of 23 Gy (54 %)', with a note when some cycles lack a kidney dose."""
    if limit.status is LimitLevel.UNKNOWN:
        return "no kidney dosimetry"
    text = f"{limit.value_gy:.1f} of {limit.limit_gy:g} Gy ({100 * limit.fraction_of_limit:.0f} %)"
    return text if limit.complete else text + ", some cycles without dosimetry"


class Facts(ABC):
    """Base of the facts dataclasses: text fields, each shown under ``label(field)``."""

    @abstractmethod
    def labels(self) -> dict[str, str]:
        """Field name -> display label (units in it), in display order."""

    def label(self, name: str) -> str:
        return self.labels()[name]

    def rows(self) -> list[tuple[str, str]]:
        """(label, text) of every fact, in display order."""
        return [(label, getattr(self, name)) for name, label in self.labels().items()]


@dataclass(frozen=True)
class HeaderFacts(Facts):
    """The review header as text."""

    patient: str
    sex: str
    age_at_first_prrt_years: str
    primary_site: str
    grade_ki67: str
    renal_risk_factors: str
    phase: str
    cycles: str
    cumulative_activity_gbq: str
    cumulative_kidney_dose_gy: str
    cumulative_kidney_bed_gy: str

    LABELS: ClassVar[dict[str, str]] = {
        "patient": "Patient", "sex": "Sex", "age_at_first_prrt_years": "Age at first PRRT (years)",
        "primary_site": "Primary site", "grade_ki67": "Grade / Ki-67", "renal_risk_factors": "Renal risk factors",
        "phase": "Phase", "cycles": "Cycles so far", "cumulative_activity_gbq": "Cumulative activity (GBq)",
        "cumulative_kidney_dose_gy": "Cumulative kidney dose (Gy)",
        "cumulative_kidney_bed_gy": "Cumulative kidney BED (Gy)"}

    def labels(self) -> dict[str, str]:
        return self.LABELS


def header_facts(head: PatientHeader) -> HeaderFacts:
    """The header as text."""
    grade = head.tumour_grade or "grade not recorded"
    ki67 = "Ki-67 not recorded" if not np.isfinite(head.ki67_pct) else f"Ki-67 {head.ki67_pct:g} %"
    return HeaderFacts(
        patient=head.patient_id, sex={"M": "male", "F": "female"}.get(head.sex, head.sex),
        age_at_first_prrt_years=fmt(head.age_at_first_prrt_years, 0), primary_site=head.primary_site,
        grade_ki67=f"{grade} / {ki67}", renal_risk_factors=", ".join(head.renal_risk_factors) or "none recorded",
        phase=str(head.phase),
        cycles=f"{head.n_cycles} ({head.n_initial_cycles} initial, {head.n_salvage_cycles} salvage)",
        cumulative_activity_gbq=fmt(head.cumulative_activity_gbq, 1),
        cumulative_kidney_dose_gy=limit_text(head.kidney_dose), cumulative_kidney_bed_gy=limit_text(head.kidney_bed))


def max_safe_cycles_text(row: pd.Series, cycles_cap: int) -> str:
    """Largest safe number of further cycles; '>= cap' when the search reached its cap
    (``KidneyModelSettings.cycles_cap``, or the scenario's cycles when more)."""
    cap = max(cycles_cap, int(row["n_cycles"]))
    n = int(row["max_safe_cycles"])
    return f">= {cap}" if n >= cap else str(n)


@dataclass(frozen=True)
class ProjectionFacts(Facts):
    """A planner result's projection as text; the labels name the limits, activity and cycles."""

    scenario: str
    dose_so_far_gy: str
    bed_so_far_gy: str
    dose_median_gy: str
    dose_interval_90_gy: str
    p_exceed_dose_pct: str
    bed_median_gy: str
    bed_interval_90_gy: str
    p_exceed_bed_pct: str
    max_safe_cycles: str
    max_safe_activity_gbq: str
    point_dose_gy: str
    point_bed_gy: str
    dose_limit_gy: float = dataclasses.field(repr=False)
    bed_limit_gy: float = dataclasses.field(repr=False)
    n_cycles: int = dataclasses.field(repr=False)
    activity_gbq: float = dataclasses.field(repr=False)

    def labels(self) -> dict[str, str]:
        return {
            "scenario": "Scenario", "dose_so_far_gy": "Kidney dose so far (Gy)",
            "bed_so_far_gy": "Kidney BED so far (Gy)",
            "dose_median_gy": "Projected kidney dose, median (Gy)",
            "dose_interval_90_gy": "Projected kidney dose, 90 % interval (Gy)",
            "p_exceed_dose_pct": f"P(kidney dose > {self.dose_limit_gy:g} Gy)",
            "bed_median_gy": "Projected kidney BED, median (Gy)",
            "bed_interval_90_gy": "Projected kidney BED, 90 % interval (Gy)",
            "p_exceed_bed_pct": f"P(kidney BED > {self.bed_limit_gy:g} Gy)",
            "max_safe_cycles": f"Largest safe number of cycles at {self.activity_gbq:.1f} GBq",
            "max_safe_activity_gbq": f"Largest safe activity per cycle for {self.n_cycles} cycles (GBq)",
            "point_dose_gy": "Point projection, kidney dose (Gy)", "point_bed_gy": "Point projection, kidney BED (Gy)"}


def projection_facts(result: PlannerResult) -> ProjectionFacts | None:
    """The projection of a planner result as text (None when there is no projection)."""
    row = result.projection
    if row is None:
        return None
    s = result.scenario
    return ProjectionFacts(
        scenario=s.label, dose_so_far_gy=fmt(row["dose_now_gy"], 1), bed_so_far_gy=fmt(row["bed_now_gy"], 1),
        dose_median_gy=fmt(row["dose_p50_gy"], 1),
        dose_interval_90_gy=f"{row['dose_p05_gy']:.1f}–{row['dose_p95_gy']:.1f}",
        p_exceed_dose_pct=f"{100 * row['p_exceed_dose']:.1f} %", bed_median_gy=fmt(row["bed_p50_gy"], 1),
        bed_interval_90_gy=f"{row['bed_p05_gy']:.1f}–{row['bed_p95_gy']:.1f}",
        p_exceed_bed_pct=f"{100 * row['p_exceed_bed']:.1f} %", max_safe_cycles=max_safe_cycles_text(row, s.settings.cycles_cap),
        max_safe_activity_gbq=fmt(row["max_safe_activity_gbq"], 1), point_dose_gy=fmt(row["point_dose_gy"], 1),
        point_bed_gy=fmt(row["point_bed_gy"], 1), dose_limit_gy=float(row["dose_limit_gy"]),
        bed_limit_gy=float(row["bed_limit_gy"]), n_cycles=s.n_cycles, activity_gbq=s.activity_gbq)


# --------------------------------------------------------------------------
# display tables (headers with units)
# --------------------------------------------------------------------------

CYCLE_COLUMNS = {
    "cycle_number": "Cycle", "cycle_date": "Date", "phase": "Phase",
    "activity_gbq": "Activity (GBq)", "kidney_dose_gy": "Kidney dose (Gy)",
    "kidney_gy_per_gbq": "Kidney (Gy/GBq)", "kidney_t_eff_h": "Kidney T_eff (h)",
    "tumour_dose_gy": "Tumour dose (Gy)", "kidney_bed_gy": "Kidney BED (Gy)",
    "cumulative_kidney_dose_gy": "Cumulative dose (Gy)", "cumulative_kidney_bed_gy": "Cumulative BED (Gy)",
}
TIMELINE_COLUMNS = {"date": "Date", "kind": "Record", "phase": "Phase", "what": "Details"}
CHECKLIST_COLUMNS = {"criterion": "Criterion", "status": "Status", "value": "Value", "threshold": "Threshold",
                     "severity": "If failed", "source": "Source"}


def cycle_display(cycles: pd.DataFrame) -> pd.DataFrame:
    """The per-cycle table (``patient.cycle_table``) with the user-facing headers, dates as dates."""
    out = cycles[list(CYCLE_COLUMNS)].rename(columns=CYCLE_COLUMNS)
    out["Date"] = out["Date"].dt.date
    return out


def checklist_display(items: pd.DataFrame) -> pd.DataFrame:
    """The eligibility checklist items with the user-facing headers, reason left out."""
    return items.rename(columns=CHECKLIST_COLUMNS)[list(CHECKLIST_COLUMNS.values())]


def endpoint_table(state: PatientStatus) -> pd.DataFrame:
    """PFS and OS rows: Endpoint, Start, Duration (months), Status ('event on <date>',
    'censored on <date>' or 'not applicable')."""
    def outcome(e: EndpointStatus) -> str:
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
    """``planner.compare_scenarios`` output for reading across: one column per scenario, one row
    per quantity (header with units), values as text."""
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
