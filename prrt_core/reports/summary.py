"""Tumour-board summary of one patient: one self-contained HTML file that prints on at most two A4 pages.

What the board needs to decide, and no more (the Patient review page has the whole history):
- page 1: the patient (demographics, tumour, renal risk factors, prior therapies, latest
  performance status, cycles, cumulative kidney dose and BED against their limits, vital
  status, best response, MAG3 trend); the board's decision in force, or "no decision
  recorded" (``decision_box``: free text within a fixed number of lines, a longer text as a
  marked excerpt); the verdict with the limit policy and the reasons that fit ``REASON_LINES``;
  the projection of the planner's scenario (without one: the planner's default scenario, with
  the kidney limits of the checklist file); every setting that differs from the defaults and
  whether the checklist file in force is as shipped (``settings_diff``); the fan charts of
  cumulative kidney dose and BED;
- page 2: the eligibility checklist (value, threshold, source); every cycle (activity,
  kidney and tumour dose, BED, running totals; estimated doses marked); per lab test the
  latest value and CTCAE v5.0 grade with the worst grade before and from salvage start;
  the last ``IMAGING_ROWS`` imaging assessments; PFS and OS.
Left out on purpose: the lab, RECIST and timeline charts and the older imaging rows.

Same numbers as the planner: the review (header, cycles) is computed with the scenario's
``KidneyModelSettings``, and ``SummaryContent`` refuses a review computed with other settings.
Every value is escaped; charts are inline SVG (vl-convert: no browser, no network); nothing
refers to an external URL, so the file opens offline and prints as it looks. No streamlit here.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from prrt_core import decisions, dosimetry
from prrt_core.charts import planner as fan_charts
from prrt_core.clinical import eligibility
from prrt_core.decisions import DecisionRecord
from prrt_core.errors import InputError
from prrt_core.projection import KidneyModelSettings
from prrt_core.reports import layout as lo
from prrt_core.reports.decision_box import decision_section
from prrt_core.reports.settings_diff import ConfigOrigin, SettingChange, config_changes, config_origin, settings_changes
from prrt_core.tables import Tables
from prrt_core.views import board, patient, planner
from prrt_core.views import format as fm
from prrt_core.views import labs as lab_view
from prrt_core.views.outcome import EndpointStatus
from prrt_core.views.patient import PatientReview
from prrt_core.views.planner import PlannerResult, Scenario

logger = logging.getLogger(__name__)

IMAGING_ROWS = 4  # the latest assessments: the current response and what it is measured against
REASON_LINES = 3  # lines of verdict reasons above the checklist (at least one reason; the checklist has every item)
# Projection facts printed in the heading and lines above the table, so not again in it.
SHOWN_ABOVE = ("scenario", "policy", "options")
FAN_HEIGHT_PX = 90  # plot height of the two fan charts (printed at 96 px per inch: 24 mm)


@dataclass(frozen=True)
class SummaryRequest:
    """What to summarise: the patient, the evaluation date (None: no record yet), the planner's
    scenario (its settings are used for every number; None: the planner's default scenario, with
    the kidney limits of ``config``), the checklist, when, the demo notice, and the checklist file
    the app reads (``config_path``: whether it is as shipped is printed)."""

    patient_id: str
    as_of: dt.date | None
    scenario: Scenario | None
    config: eligibility.Config
    generated_at: dt.datetime
    demo: bool
    config_path: Path = eligibility.DEFAULT_CONFIG_PATH

    def __post_init__(self) -> None:
        if self.scenario is None:
            object.__setattr__(self, "scenario", planner.default_scenario(self.config))


def _same_settings(review: PatientReview, settings: KidneyModelSettings) -> bool:
    """Whether ``review``'s limits and per-cycle BED are those of ``settings``."""
    head, cycles = review.header, review.cycles
    if head.kidney_dose.limit_gy != settings.dose_limit_gy or \
            head.kidney_bed.limit_gy != settings.bed_limit_gy(head.renal_risk):
        return False
    if not {"kidney_dose_gy", "bed_t_eff_h", "kidney_bed_gy"} <= set(cycles.columns) or cycles.empty:
        return True
    measured = cycles["kidney_dose_gy"].notna() & cycles["bed_t_eff_h"].notna()
    expected = dosimetry.bed(cycles.loc[measured, "kidney_dose_gy"].to_numpy(float),
                             cycles.loc[measured, "bed_t_eff_h"].to_numpy(float),
                             settings.alpha_beta_gy, settings.t_rep_h)
    return bool(np.allclose(expected, cycles.loc[measured, "kidney_bed_gy"].to_numpy(float), rtol=1e-9))


@dataclass(frozen=True)
class SummaryContent:
    """Everything the summary shows; built by :func:`content` (or by hand in a test)."""

    request: SummaryRequest
    review: PatientReview
    plan: PlannerResult | None
    decision: DecisionRecord | None
    changes: tuple[SettingChange, ...]  # kidney model settings that differ from the defaults, then checklist
    # settings that differ from the file in force
    config_origin: ConfigOrigin  # the file in force: as shipped or edited by the clinic

    def __post_init__(self) -> None:
        settings = self.request.scenario.settings
        if self.plan is not None and self.plan.scenario.settings != settings:
            raise InputError("summary: the projection was computed with other kidney-model settings than requested")
        if not _same_settings(self.review, settings):
            raise InputError("summary: the patient review was computed with other kidney-model settings than "
                             "the projection (alpha/beta, T_rep or limits); build it with content()")


def content(tables: Tables, request: SummaryRequest) -> SummaryContent:
    """The summary's content: review and projection with the scenario's settings, the decision in force,
    the kidney model settings that differ from ``DEFAULT_SETTINGS``, whether the checklist file in force
    is as shipped, and the checklist settings of ``request.config`` that differ from that file."""
    settings = request.scenario.settings
    review = patient.review(tables, request.patient_id, settings=settings)
    plan = None if request.as_of is None else planner.plan(tables, request.patient_id, request.as_of,
                                                           request.scenario, config=request.config)
    origin = config_origin(request.config_path)
    changes = settings_changes(settings) + config_changes(request.config, eligibility.load_config(request.config_path))
    decision = decisions.current(tables.board_decisions, request.patient_id)
    return SummaryContent(request, review, plan, decision, changes, origin)


# --------------------------------------------------------------------------
# sections
# --------------------------------------------------------------------------

def _patient_section(c: SummaryContent) -> str:
    head, state = c.review.header, c.review.status
    facts = fm.header_facts(head)
    rows = [(label, text) for label, text in facts.rows() if label != facts.label("patient")]
    classes = {facts.label("cumulative_kidney_dose_gy"): lo.status_class(head.kidney_dose.status),
               facts.label("cumulative_kidney_bed_gy"): lo.status_class(head.kidney_bed.status)}
    rows += board.more_facts(c.review)  # weight / height, performance status, prior therapies
    rows.append(("Vital status", "alive" if state.alive else f"died {state.death_date.isoformat()}"))
    rows.append(("Best response, initial / salvage (RECIST 1.1)",
                 " / ".join(str(state.best_response.get(p) or "no cycles") for p in ("initial", "salvage"))))
    trend = c.review.mag3_trend
    rows.append(("MAG3 TER trend (mL/min/1.73 m² per year)",
                 f"{fm.fmt(trend.slope_per_year, 1)} ({trend.n_values} values, {fm.fmt(trend.first_value, 0)} → "
                 f"{fm.fmt(trend.last_value, 0)})" if trend.n_values else "no values"))
    return "<h2>Patient</h2>" + lo.facts(rows, classes, label_pct=42)


def _verdict_line(checklist: eligibility.Checklist) -> str:
    """The verdict (its tone; none for a patient who had died) and the kidney limit policy in force."""
    verdict = checklist.verdict
    css = lo.status_class(verdict.value) if verdict is not None else "unknown"
    return (f'<span class="verdict {css}">Verdict: {lo.esc(checklist.verdict_text)}</span> '
            f"{lo.esc(checklist.policy.text)}.")


def _reasons_shown(reasons: tuple[str, ...]) -> tuple[str, ...]:
    """The first reasons that fit in ``REASON_LINES`` lines (at least one)."""
    used = 0
    for n, reason in enumerate(reasons):
        used += lo.lines_of(reason, lo.LIST_LINE_EM)
        if used > REASON_LINES and n > 0:
            return reasons[:n]
    return reasons


def _projection_section(c: SummaryContent) -> str:
    plan, state = c.plan, c.review.status
    if plan is None:
        return "<h2>Salvage projection</h2><p class=\"note\">No projection: the patient has no record yet.</p>"
    parts = [f"<h2>Salvage projection: {lo.esc(plan.scenario.label)}</h2>"]
    died = state.death_date is not None and state.death_date <= plan.as_of
    checklist = plan.checklist
    parts.append(f"<p>{_verdict_line(checklist)} Evaluated on {lo.esc(plan.as_of.isoformat())} with what was "
                 f"recorded by then; tolerance {lo.esc(f'{100 * plan.scenario.settings.tolerance:g}')} %"
                 + (f" (retrospective: died {lo.esc(state.death_date.isoformat())})" if died else "") + ".</p>")
    reasons = _reasons_shown(checklist.reasons)
    if reasons:
        more = len(checklist.reasons) - len(reasons)
        parts.append("<ul>" + "".join(f"<li>{lo.esc(r)}</li>" for r in reasons)
                     + (f"<li>and {more} more (see the checklist)</li>" if more > 0 else "") + "</ul>")
    if plan.projection is None:
        if plan.deceased_on is None:  # a death is among the reasons above
            parts.append(f'<p class="note">{lo.esc(plan.no_projection_reason)}</p>')
    else:
        options = plan.options
        if options is not None:
            parts.append(f"<p><b>Options within the excluding limits ({lo.esc(options.within)}):</b> "
                         f"{lo.esc(options.text)}.</p>")
        facts = fm.projection_facts(plan)
        shown_above = {label for name, label in facts.labels().items() if name in SHOWN_ABOVE}
        parts.append(lo.facts([(k, v) for k, v in facts.rows() if k not in shown_above], label_pct=64))
        figures = "".join(lo.figure(fan_charts.fan_chart(plan.fan, q, width=lo.HALF_CHART_WIDTH_PX,
                                                      height=FAN_HEIGHT_PX))
                          for q in fan_charts.FAN_TITLES)
        parts.append(f'<div class="pair">{figures}</div><p class="note">{lo.esc(fan_charts.FAN_NOTE)}</p>')
    return "".join(parts)


def _settings_section(changes: tuple[SettingChange, ...], origin: ConfigOrigin) -> str:
    """Kidney model settings against their defaults; whether the checklist file in force is as shipped
    (its SHA-256 when edited); checklist settings of the request that differ from that file."""
    file_line = f"<b>Checklist configuration</b> (data/eligibility.toml): {lo.esc(origin.text)}."
    if not changes:
        kidney = "the kidney model (α/β, T_rep, limits, tolerance, samples, seed) is as shipped."
        head = f"none; {kidney}" if origin.shipped else f"the checklist file (below); {kidney}"
        return f'<p class="note"><b>Settings that differ from the defaults:</b> {head} {file_line}</p>'
    frame = pd.DataFrame({"Setting": [c.label for c in changes], "Value used": [c.value for c in changes],
                          "Default": [c.default for c in changes]})
    against = "" if origin.shipped or not any(c.label.startswith("[") for c in changes) else (
        " Rows named [section] key: the default is the value in the clinic's edited file.")
    return ("<h3>Settings that differ from the defaults</h3>" + lo.table(frame, (50, 25, 25), css="small")
            + f'<p class="note">{file_line}{against}</p>')


def _checklist_section(plan: PlannerResult | None) -> str:
    """The checklist; its sources numbered below it, each once (a column of long sources would
    make every row several lines high)."""
    if plan is None or plan.checklist.items.empty:  # no record yet, or died by the evaluation date
        return ""
    items = plan.checklist.items
    shown = fm.checklist_display(items)
    sources = list(dict.fromkeys(shown["Source"].astype(str))) if "Source" in shown else []
    if sources:
        number = {source: i for i, source in enumerate(sources, start=1)}
        shown["Source"] = [f"[{number[s]}]" for s in shown["Source"].astype(str)]
    widths = {"Criterion": 14, "Status": 7, "Value": 35, "Threshold": 31.5, "If failed": 7, "Source": 5.5}
    notes = "; ".join(f"[{i}] {lo.esc(source)}" for i, source in enumerate(sources, start=1))
    return ("<h2>Eligibility checklist</h2>"
            + lo.table(shown, widths, css="small", status_column="Status")
            + (f'<p class="sources">Sources: {notes}</p>' if notes else ""))


# Relative widths of the cycle table's columns (a column added to the view gets the mean width).
CYCLE_WIDTHS = {"Cycle": 5.5, "Date": 10, "Phase": 7, "Activity (GBq)": 7, "Kidney dose (Gy)": 7,
                "Kidney dose source": 9, "Kidney dose, 90 % interval (Gy)": 9, "Kidney (Gy/GBq)": 7,
                "Kidney T_eff (h)": 7, "Tumour dose (Gy)": 7, "Kidney BED (Gy)": 7, "Cumulative dose (Gy)": 8,
                "Cumulative BED (Gy)": 8}


def _cycles_section(cycles: pd.DataFrame) -> str:
    """Every cycle; a column with no value in any cycle (e.g. the interval of estimated doses when
    every dose is measured) is left out."""
    shown = fm.cycle_display(cycles)
    empty = [c for c in shown.columns if shown[c].map(lambda v: v is None or v == "" or v is pd.NA
                                                      or (isinstance(v, float) and np.isnan(v))).all()]
    return "<h2>Cycles</h2>" + lo.table(shown.drop(columns=empty), CYCLE_WIDTHS, css="small")


def _worst(grades: pd.Series) -> str:
    return "—" if grades.dropna().empty else str(int(grades.max()))


def _liver_rows(review: PatientReview) -> list[dict]:
    """Bilirubin and albumin as the other tests: latest value and grade, worst grade after the first
    initial cycle and before salvage start, and from salvage start (``toxicity.ToxicityPhase``)."""
    starts = review.cycles.groupby("phase")["cycle_date"].min()
    first, salvage = starts.get("initial", pd.NaT), starts.get("salvage", pd.NaT)
    rows = []
    for test, values in review.liver.sort_values("lab_date", kind="stable").groupby("test", sort=False):
        when, last = values["lab_date"], values.iloc[-1]
        none = pd.Series(False, index=when.index)
        treated = when > first if pd.notna(first) else none
        salvage_on = when >= salvage if pd.notna(salvage) else none
        rows.append({"Test (unit)": lab_view.lab_title(test), "Latest value": f"{float(last['value']):.4g}",
                     "Date": last["lab_date"].date().isoformat(), "Grade": str(last["grade_label"]),
                     "Worst grade before salvage": _worst(values.loc[treated & ~salvage_on, "grade"]),
                     "Worst grade from salvage start": _worst(values.loc[salvage_on, "grade"])})
    return rows


LAB_WIDTHS = (27, 11, 16, 10.5, 17.75, 17.75)  # relative widths of the lab table's columns (half the text width)


def _labs_section(review: PatientReview) -> str:
    labs, worst = review.labs, review.status.worst_grades
    latest = labs.sort_values("lab_date", kind="stable").groupby("test").tail(1).set_index("test")
    rows = []
    for test, title, before, after in zip(worst["test"], worst["title"], worst.iloc[:, 2], worst.iloc[:, 3]):
        if test not in latest.index and pd.isna(before) and pd.isna(after):
            continue
        last = latest.loc[test] if test in latest.index else None
        rows.append({"Test (unit)": title,
                     "Latest value": "—" if last is None else f"{float(last['value']):.4g}",
                     "Date": "—" if last is None else last["lab_date"].date().isoformat(),
                     "Grade": "—" if last is None else str(last["grade_label"]),
                     "Worst grade before salvage": "—" if pd.isna(before) else str(int(before)),
                     "Worst grade from salvage start": "—" if pd.isna(after) else str(int(after))})
    rows += _liver_rows(review)
    if not rows:
        return "<h2>Laboratory values</h2><p>No laboratory values recorded.</p>"
    half = -(-len(rows) // 2)  # two tables side by side, the first one row longer when the count is odd
    tables = [lo.table(pd.DataFrame(part), LAB_WIDTHS, css="small") for part in (rows[:half], rows[half:]) if part]
    return ("<h2>Laboratory values (CTCAE v5.0 grades)</h2>" + lo.halves(tables)
            + '<p class="note">Grade: of the latest value. Worst grade before salvage: after the first initial '
            "cycle and before salvage start.</p>")


def _endpoint_text(e: EndpointStatus) -> str:
    if e.start_date is None:
        return "not applicable"
    what = "event" if e.event else "censored"
    return f"{fm.fmt(e.months, 1)} months, {what} on {e.end_date.isoformat()} (from {e.start_date.isoformat()})"


def _outcome_section(review: PatientReview) -> str:
    scans = review.imaging.tail(IMAGING_ROWS)
    parts = ["<h2>Imaging and survival</h2>"]
    if scans.empty:
        parts.append("<p>No imaging recorded.</p>")
    else:
        shown = pd.DataFrame({
            "Date": scans["assessment_date"].dt.date, "Phase": scans["phase"], "Scan": scans["role"],
            "Modality": scans["modality"], "Target sum (mm)": scans["target_sum_mm"].astype(float),
            "Change from baseline (%)": scans["change_from_baseline_pct"].astype(float),
            "RECIST 1.1": scans["response"]})
        if len(review.imaging) > len(scans):
            parts.append(f'<p class="note">The latest {len(scans)} of {len(review.imaging)} assessments.</p>')
        parts.append(lo.table(shown, (11, 9, 10, 30, 12, 15, 13), digits=1, css="small"))
    parts.append(lo.facts([(e.name + " (months)", _endpoint_text(e)) for e in review.status.endpoints],
                          label_pct=36, css="small"))
    return "".join(parts)


def summary_html(c: SummaryContent) -> str:
    """The tumour-board summary as one HTML document (str), printable on A4 (see the module docstring)."""
    r = c.request
    pid = c.review.header.patient_id
    parts = [f"<h1>Tumour board summary: {lo.esc(pid)}</h1>",
             f'<p class="note">Generated {lo.esc(r.generated_at.strftime("%Y-%m-%d %H:%M"))} by Salvage PRRT Board. '
             "Decision support, not a medical device.</p>"]
    if r.demo:
        parts.append('<p class="demo"><b>Demo data.</b> Synthetic cohort resembling a published study '
                     "(BMC Cancer 2019;19:788); no real patients; not for clinical decisions.</p>")
    parts += [_patient_section(c), decision_section(c.decision), _projection_section(c),
              _settings_section(c.changes, c.config_origin), _checklist_section(c.plan), _cycles_section(c.review.cycles),
              _labs_section(c.review), _outcome_section(c.review)]
    logger.info("tumour-board summary built (%d charts)", sum(p.count("<svg") for p in parts))
    return lo.document(f"Tumour board summary {pid}", "".join(parts))


def render_html(tables: Tables, request: SummaryRequest) -> str:
    """The summary of ``request`` from ``tables`` as one HTML document: what a page offers for download."""
    return summary_html(content(tables, request))

