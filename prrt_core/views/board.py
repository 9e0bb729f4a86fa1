"""The top of the patient review: the current verdict with its projection headline, the board's
current decision, and the header's texts (dose so far, weight, performance status, prior therapies).

The verdict is ``views.planner.plan`` with the default scenario (``planner.default_scenario``:
2 x 7.4 GBq, kidney limits from ``data/eligibility.toml``) at the patient's most recent record;
the decision is ``decisions.current`` (the newest signed record that no other supersedes).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from prrt_core import decisions
from prrt_core.clinical import eligibility
from prrt_core.clinical.eligibility import LimitPolicy, Verdict, beside_limit
from prrt_core.dosimetry.radiobiology import KIDNEY_ALPHA_BETA_GY, KIDNEY_T_REP_H
from prrt_core.errors import InputError
from prrt_core.projection import KidneyModelSettings
from prrt_core.tables import Tables
from prrt_core.views import format as fm
from prrt_core.views import planner, record
from prrt_core.views.patient import LimitStatus, PatientReview, last_record_date

NO_DECISION = "no decision recorded"
# Sources of the published kidney α/β and repair half-time (dosimetry.radiobiology); a setting
# that differs from them is marked as changed.
RADIOBIOLOGY_SOURCE = "Barone et al. JNM 2005;46(suppl 1):99S; Bodei et al. EJNMMI 2008;35:1847"
ESTIMATE_NOTE = ("Kidney dose source 'estimated': the cycle has no kidney dosimetry; its dose is the cohort model's "
                 "median with its 90 % interval (drawn hollow and dashed, with error bars).")


def kidney_help(policy: LimitPolicy, settings: KidneyModelSettings) -> str:
    """The help of the kidney totals, from the limits and radiobiology in force: each limit with what
    crossing it means and its source (``data/eligibility.toml``), α/β and T_rep with theirs."""
    published = (settings.alpha_beta_gy, settings.t_rep_h) == (KIDNEY_ALPHA_BETA_GY, KIDNEY_T_REP_H)
    radiobiology = RADIOBIOLOGY_SOURCE if published else (
        f"changed from the published {KIDNEY_ALPHA_BETA_GY:g} Gy and {KIDNEY_T_REP_H:g} h, {RADIOBIOLOGY_SOURCE}")
    return (f"Limits: absorbed dose {policy.dose_limit_gy:g} Gy, {policy.dose_severity.value} "
            f"({policy.dose_source}); BED {policy.bed_limit_risk_gy:g} Gy with, "
            f"{policy.bed_limit_no_risk_gy:g} Gy without renal risk factors, {policy.bed_severity.value} "
            f"({policy.bed_source}). BED per cycle D(1 + D/(α/β)·T_rep/(T_rep + T_eff)), α/β "
            f"{settings.alpha_beta_gy:g} Gy, T_rep {settings.t_rep_h:g} h ({radiobiology}). A cycle without kidney "
            "dosimetry is estimated by the cohort model (never counted as 0 Gy): the total is then its median "
            "(90 % interval).")


def dose_so_far(limit: LimitStatus) -> str:
    """A cumulative kidney total for a metric: beside its limit ('22.95'); with estimated cycles the
    median and its 90 % interval, each bound beside the limit ('14.2 (11.0–17.9)'); '—' when not known."""
    value = fm.number_beside_limit(limit.value_gy, limit.limit_gy)
    if not limit.estimated:
        return value
    return f"{value} ({fm.interval_beside_limit(limit.p05_gy, limit.p95_gy, limit.limit_gy)})"


def dose_so_far_note(limit: LimitStatus) -> str:
    """The short line under a cumulative total: 'incl. 3 estimated cycles, limit 23 Gy' with estimated
    cycles, else ``format.limit_text`` ('22.95 of 23 Gy (99.8 %)')."""
    if not limit.estimated or limit.n_missing:
        return fm.limit_text(limit)
    n = limit.n_estimated
    return f"incl. {n} estimated cycle{'' if n == 1 else 's'}, limit {limit.limit_gy:g} Gy"


def more_facts(review: PatientReview) -> tuple[tuple[str, str], ...]:
    """(label, text) of the header's second line: weight and height, latest performance status,
    prior therapies ('not recorded' / 'none recorded' when missing)."""
    head = review.header
    weight = f"{fm.fmt(head.weight_kg, 0, 'kg')} / {fm.fmt(head.height_cm, 0, 'cm')}"
    return (("Weight / height", "not recorded" if weight == "— / —" else weight),
            ("Performance status (latest)", record.performance_text(review.performance)),
            ("Prior therapies", "; ".join(head.prior_therapies) or "none recorded"))


@dataclass(frozen=True)
class BoardStatus:
    """What the review shows first: the verdict on ``as_of`` under ``scenario``, the projection
    headline, the limit policy and the current decision, as text (``verdict`` None: no verdict)."""

    as_of: dt.date | None  # the evaluation date: the most recent clinical record (None: no record)
    scenario: str  # '2 x 7.4 GBq'
    verdict: Verdict | None
    verdict_text: str  # 'caution', 'no verdict (died on 2025-05-23)', 'no record yet'
    reasons: tuple[str, ...]
    headline: str  # the projected kidney dose and BED after the scenario, or why there is none
    options: str  # 'Options within the excluding limits: 2 x 7.4 GBq; ...' ('' without projection)
    policy: str  # 'Kidney limits: BED 28/40 Gy exclude; absorbed dose 23 Gy caution' ('' without verdict)
    decision: decisions.DecisionRecord | None
    kidney_help: str  # the kidney totals' help: limits, radiobiology and sources in force (kidney_help)

    @property
    def decision_text(self) -> str:
        """'salvage: 2 x 7.4 GBq (board 2025-03-20; signed by Dr A, 2025-03-20T10:00:00Z)' or NO_DECISION."""
        d = self.decision
        if d is None:
            return NO_DECISION
        signed = f"signed by {d.signed_by}, {d.signed_at_utc}"
        if d.imported:  # the file's word, not a signature made here (the audit log names the importer)
            signed = f"imported; the file says {signed}"
        return f"{d.label} (board {d.board_date.isoformat()}; {signed})"


def headline(result: planner.PlannerResult) -> str:
    """'After 2 x 7.4 GBq: kidney dose median 31.2 Gy (90 % interval 27.0–36.0), P(> 23 Gy) 100.0 %;
    BED median 35.1 Gy (90 % interval 30.2–41.0), P(> 40 Gy) 8.0 % (tolerance 5 %).' (medians and
    probabilities beside their limits and tolerance, never rounded across them), or why there is
    no projection."""
    row = result.projection
    if row is None:
        if result.deceased_on is not None:
            return f"No projection: died on {result.deceased_on.isoformat()}."
        return "No projection: no cycle or no kidney model by the evaluation date."
    tol = 100 * result.scenario.settings.tolerance
    parts = []
    for name, q in (("kidney dose", "dose"), ("BED", "bed")):
        limit = float(row[f"{q}_limit_gy"])
        interval = fm.interval_beside_limit(float(row[f"{q}_p05_gy"]), float(row[f"{q}_p95_gy"]), limit)
        parts.append(f"{name} median {beside_limit(float(row[f'{q}_p50_gy']), limit)} Gy (90 % interval "
                     f"{interval}), P(> {limit:g} Gy) {beside_limit(100 * float(row[f'p_exceed_{q}']), tol)} %")
    return f"After {result.scenario.label}: {'; '.join(parts)} (tolerance {tol:g} %)."


def board_status(tables: Tables, patient_id: str, *, config: eligibility.Config) -> BoardStatus:
    """The verdict under the default scenario at the most recent record, and the current decision."""
    scenario = planner.default_scenario(config)
    decision = decisions.current(tables.board_decisions, patient_id)
    help_ = kidney_help(eligibility.policy(config, scenario.settings), scenario.settings)
    as_of = last_record_date(tables, patient_id)
    if as_of is None:
        return BoardStatus(None, scenario.label, None, "no record yet", (), "No projection: no record yet.", "",
                           "", decision, help_)
    try:
        result = planner.plan(tables, patient_id, as_of, scenario, config=config)
    except InputError as exc:  # e.g. a cohort without enough kidney dosimetry for the model
        return BoardStatus(as_of, scenario.label, None, "no verdict", (), f"No projection: {exc}", "", "", decision,
                           help_)
    checklist = result.checklist
    options = "" if result.options is None else f"Options within {result.options.within}: {result.options.text}"
    return BoardStatus(as_of, scenario.label, checklist.verdict, checklist.verdict_text, checklist.reasons,
                       headline(result), options, checklist.policy.text, decision, help_)


def summary_scenario(tables: Tables, patient_id: str, default: planner.Scenario) -> tuple[planner.Scenario, str]:
    """The scenario the tumour-board summary projects when the planner has none: the current
    decision's plan when the board decided salvage (so the summary shows the plan decided), else
    ``default``; with the words that say which."""
    decided = decisions.current(tables.board_decisions, patient_id)
    if decided is None or decided.decision != decisions.Decision.SALVAGE:
        return default, "the planner's default scenario"
    plan = dataclasses.replace(default, n_cycles=decided.n_cycles, activity_gbq=decided.activity_gbq)
    return plan, f"the plan of decision record {decided.record_number}"
