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

from prrt_core.clinical.eligibility import Status, Verdict, beside_limit, of_limit
from prrt_core.projection.estimates import DoseSource
from prrt_core.views.outcome import EndpointStatus, PatientStatus
from prrt_core.views.patient import LimitLevel, LimitStatus, PatientHeader
from prrt_core.views.planner import SCENARIO_COLUMNS, PlannerResult


class Tone(StrEnum):
    """How a status reads: fine, needs attention, stop."""

    OK = "ok"
    WARN = "warn"
    BAD = "bad"
    UNKNOWN = "unknown"  # nothing can be said yet (the verdict "cannot assess")


# Every status shown with a tone. LimitLevel.UNKNOWN and Status.UNKNOWN are the same key
# ("unknown", StrEnums), both WARN: an unknown is never a pass.
TONE: Mapping[str, Tone] = {
    LimitLevel.BELOW: Tone.OK, LimitLevel.NEAR: Tone.WARN, LimitLevel.OVER: Tone.BAD, LimitLevel.UNKNOWN: Tone.WARN,
    Status.PASS: Tone.OK, Status.FAIL: Tone.BAD, Status.UNKNOWN: Tone.WARN,
    Verdict.ELIGIBLE: Tone.OK, Verdict.CAUTION: Tone.WARN, Verdict.NOT_ELIGIBLE: Tone.BAD,
    Verdict.CANNOT_ASSESS: Tone.UNKNOWN,
}


def fmt(value: float | None, digits: int = 1, unit: str = "") -> str:
    """A number with ``digits`` decimals and an optional unit; '—' when missing or not finite."""
    if value is None or not np.isfinite(value):
        return "—"
    return f"{value:.{digits}f}" + (f" {unit}" if unit else "")


def number_beside_limit(value: float, limit: float, digits: int = 1) -> str:
    """A value compared with a limit, never rounded onto or across it: '22.95' beside 23, '12.3'
    beside 23 ('—' when missing). Use it wherever a number is read against a threshold."""
    return beside_limit(value, limit, digits)


def interval_beside_limit(p05: float, p95: float, limit: float) -> str:
    """'21.4–23.04': a 90 % interval whose bounds are read against a limit, each never rounded onto
    or across it (a 95th percentile of 23.04 Gy beside 23 Gy is not '23.0')."""
    return f"{number_beside_limit(p05, limit)}–{number_beside_limit(p95, limit)}"


def gy_of_limit(value_gy: float, limit_gy: float) -> str:
    """'22.95 of 23 Gy': a dose beside its limit, never rounded onto or across it ('—' when missing)."""
    if value_gy is None or not np.isfinite(value_gy):
        return "—"
    return of_limit(value_gy, limit_gy, "Gy")


def _n_cycles(n: int, kind: str = "") -> str:
    """'1 cycle', '2 estimated cycles'."""
    return f"{n} {kind + ' ' if kind else ''}cycle{'' if n == 1 else 's'}"


def limit_text(limit: LimitStatus) -> str:
    """'12.3 of 23 Gy (54 %)'; with estimated cycles the median and its 90 % interval ('median
    14.2 of 23 Gy (62 %), 90 % interval 11.0–17.9 Gy, incl. 2 estimated cycles'); with cycles
    that have neither a dose nor an estimate, the sum of the others as a lower bound."""
    if not np.isfinite(limit.value_gy):
        return "no kidney dosimetry"
    if limit.n_missing:
        return (f"at least {gy_of_limit(limit.value_gy, limit.limit_gy)}, {_n_cycles(limit.n_missing)} "
                "without dosimetry or estimate")
    text = f"{gy_of_limit(limit.value_gy, limit.limit_gy)} ({beside_limit(100 * limit.fraction_of_limit, 100, 0)} %)"
    if limit.n_estimated:
        interval = interval_beside_limit(limit.p05_gy, limit.p95_gy, limit.limit_gy)
        text = f"median {text}, 90 % interval {interval} Gy, incl. {_n_cycles(limit.n_estimated, 'estimated')}"
    return text


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
    """A planner result's projection as text; the labels name the limits (with what crossing each
    means under the policy in force), activity and cycles."""

    scenario: str
    policy: str
    dose_so_far: str  # with its unit (Gy): a sum, or a median with its interval
    bed_so_far: str
    dose_median_gy: str
    dose_interval_90_gy: str
    p_exceed_dose_pct: str
    bed_median_gy: str
    bed_interval_90_gy: str
    p_exceed_bed_pct: str
    max_safe_cycles: str
    options: str
    point_dose_gy: str
    point_bed_gy: str
    dose_limit_gy: float = dataclasses.field(repr=False)
    bed_limit_gy: float = dataclasses.field(repr=False)
    dose_severity: str = dataclasses.field(repr=False)
    bed_severity: str = dataclasses.field(repr=False)
    n_cycles: int = dataclasses.field(repr=False)
    activity_gbq: float = dataclasses.field(repr=False)

    def labels(self) -> dict[str, str]:
        dose, bed = f"{self.dose_limit_gy:g} Gy", f"{self.bed_limit_gy:g} Gy"
        return {
            "scenario": "Scenario", "policy": "Kidney limit policy",
            "dose_so_far": "Kidney dose so far", "bed_so_far": "Kidney BED so far",
            "dose_median_gy": "Projected kidney dose, median (Gy)",
            "dose_interval_90_gy": "Projected kidney dose, 90 % interval (Gy)",
            "p_exceed_dose_pct": f"P(kidney dose > {dose}), {self.dose_severity} limit",
            "bed_median_gy": "Projected kidney BED, median (Gy)",
            "bed_interval_90_gy": "Projected kidney BED, 90 % interval (Gy)",
            "p_exceed_bed_pct": f"P(kidney BED > {bed}), {self.bed_severity} limit",
            "max_safe_cycles": f"Largest number of cycles at {self.activity_gbq:.1f} GBq within every kidney limit",
            "options": "Options: largest activity per cycle within the excluding limits",
            "point_dose_gy": "Point projection, kidney dose (Gy)", "point_bed_gy": "Point projection, kidney BED (Gy)"}


def so_far_text(history: pd.DataFrame, quantity: str, limit_gy: float) -> str:
    """Cumulative kidney ``quantity`` ('dose' | 'bed') after the last cycle of a ``cycle_table``: the
    exact sum beside its limit when every cycle is measured, else the median with its 90 % interval
    and the number of estimated cycles (never a log-normal mean, never 0 for a missing cycle)."""
    if history.empty:
        return "—"
    last = history.iloc[-1]
    median = last[f"cumulative_kidney_{quantity}_gy"]
    estimated = int((history["kidney_dose_source"] != DoseSource.MEASURED).sum())
    if not estimated:
        return f"{number_beside_limit(median, limit_gy)} Gy"
    if pd.isna(median):
        return "not estimable (the cohort model cannot be fitted)"
    interval = interval_beside_limit(last[f"cumulative_kidney_{quantity}_p05_gy"],
                                     last[f"cumulative_kidney_{quantity}_p95_gy"], limit_gy)
    return (f"median {number_beside_limit(median, limit_gy)} Gy (90 % interval {interval} Gy), "
            f"incl. {estimated} estimated cycle{'s' if estimated > 1 else ''}")


def projection_facts(result: PlannerResult) -> ProjectionFacts | None:
    """The projection of a planner result as text (None when there is no projection). Medians and
    probabilities are read beside their limit and tolerance (never rounded onto or across them)."""
    row = result.projection
    if row is None:
        return None
    s, policy = result.scenario, result.checklist.policy
    dose_limit, bed_limit, tol_pct = float(row["dose_limit_gy"]), float(row["bed_limit_gy"]), 100 * s.settings.tolerance
    return ProjectionFacts(
        scenario=s.label, policy=policy.text,
        dose_so_far=so_far_text(result.history, "dose", dose_limit),
        bed_so_far=so_far_text(result.history, "bed", bed_limit),
        dose_median_gy=number_beside_limit(row["dose_p50_gy"], dose_limit),
        dose_interval_90_gy=interval_beside_limit(row["dose_p05_gy"], row["dose_p95_gy"], dose_limit),
        p_exceed_dose_pct=f"{number_beside_limit(100 * row['p_exceed_dose'], tol_pct)} %",
        bed_median_gy=number_beside_limit(row["bed_p50_gy"], bed_limit),
        bed_interval_90_gy=interval_beside_limit(row["bed_p05_gy"], row["bed_p95_gy"], bed_limit),
        p_exceed_bed_pct=f"{number_beside_limit(100 * row['p_exceed_bed'], tol_pct)} %",
        max_safe_cycles=max_safe_cycles_text(row, s.settings.cycles_cap),
        options=result.options.text if result.options is not None else "—",
        point_dose_gy=fmt(row["point_dose_gy"], 1), point_bed_gy=fmt(row["point_bed_gy"], 1),
        dose_limit_gy=dose_limit, bed_limit_gy=bed_limit, dose_severity=policy.dose_severity.value,
        bed_severity=policy.bed_severity.value, n_cycles=s.n_cycles, activity_gbq=s.activity_gbq)


# --------------------------------------------------------------------------
# display tables (headers with units)
# --------------------------------------------------------------------------

CYCLE_COLUMNS = {
    "cycle_number": "Cycle", "cycle_date": "Date", "phase": "Phase",
    "activity_gbq": "Activity (GBq)", "kidney_dose_p50_gy": "Kidney dose (Gy)",
    "kidney_dose_source": "Kidney dose source", "kidney_dose_interval_gy": "Kidney dose, 90 % interval (Gy)",
    "kidney_gy_per_gbq": "Kidney (Gy/GBq)", "kidney_t_eff_h": "Kidney T_eff (h)",
    "tumour_dose_gy": "Tumour dose (Gy)", "kidney_bed_p50_gy": "Kidney BED (Gy)",
    "cumulative_kidney_dose_gy": "Cumulative dose (Gy)", "cumulative_kidney_bed_gy": "Cumulative BED (Gy)",
}
TIMELINE_COLUMNS = {"date": "Date", "kind": "Record", "phase": "Phase", "what": "Details"}
CHECKLIST_COLUMNS = {"criterion": "Criterion", "status": "Status", "value": "Value", "threshold": "Threshold",
                     "severity": "If failed", "source": "Source"}


def cycle_display(cycles: pd.DataFrame) -> pd.DataFrame:
    """The per-cycle table (``patient.cycle_table``) with the user-facing headers, dates as dates;
    an estimated kidney dose (median) is labelled 'estimated' and has its 90 % interval as text."""
    interval = [f"{lo:.1f}–{hi:.1f}" if np.isfinite(lo) else ""
                for lo, hi in zip(cycles["kidney_dose_p05_gy"], cycles["kidney_dose_p95_gy"])]
    out = cycles.assign(kidney_dose_interval_gy=interval)[list(CYCLE_COLUMNS)].rename(columns=CYCLE_COLUMNS)
    out["Kidney dose source"] = out["Kidney dose source"].astype(str)
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
    digits = {"n_cycles": 0, "activity_gbq": 1, "total_activity_gbq": 1}
    # Quantities read against a limit (column of compared): never rounded onto or across it.
    against = {"dose_p50_gy": "dose_limit_gy", "dose_p95_gy": "dose_limit_gy", "bed_p50_gy": "bed_limit_gy",
               "bed_p95_gy": "bed_limit_gy", "p_exceed_dose_pct": "tolerance_pct", "p_exceed_bed_pct": "tolerance_pct"}
    rows = {}
    for key, label in SCENARIO_COLUMNS.items():
        if key == "scenario":
            continue
        if key in against:
            rows[label] = [number_beside_limit(float(v), float(limit))
                           for v, limit in zip(compared[key], compared[against[key]])]
            continue
        rows[label] = [v if isinstance(v, str) else fmt(float(v), digits.get(key, 1)) for v in compared[key]]
    return pd.DataFrame(rows, index=list(compared["scenario"])).T.rename_axis("Quantity").reset_index()
