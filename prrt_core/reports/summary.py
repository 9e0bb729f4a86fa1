"""Tumour-board summary of one patient: one self-contained, printable (A4) HTML file.

Every value is escaped with ``html.escape``; charts are embedded as inline SVG made by
``charts.export`` (vl-convert: no browser, no network); nothing refers to an external URL,
so the file opens offline and prints as it looks. No streamlit here.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
from collections.abc import Iterable, Mapping

import altair as alt
import pandas as pd

from prrt_core.charts import export
from prrt_core.charts import patient as charts
from prrt_core.views import format as fm
from prrt_core.views.patient import PatientReview
from prrt_core.views.planner import PlannerResult

logger = logging.getLogger(__name__)

CHART_WIDTH_PX = 600  # fits the 180 mm text width of A4 with 15 mm margins at 96 dpi, legend included

_CSS = """
@page { size: A4; margin: 15mm; }
body { font-family: "Helvetica Neue", Arial, sans-serif; font-size: 10.5pt; color: #212121; margin: 0 auto;
       max-width: 190mm; }
h1 { font-size: 17pt; margin: 0 0 2mm 0; }
h2 { font-size: 13pt; margin: 6mm 0 2mm 0; border-bottom: 1px solid #b0bec5; }
table { border-collapse: collapse; width: 100%; margin: 1mm 0 3mm 0; page-break-inside: avoid; }
th, td { border: 1px solid #cfd8dc; padding: 1mm 1.5mm; text-align: left; vertical-align: top; }
th { background: #eceff1; }
td.num { text-align: right; }
td.date { white-space: nowrap; }
.facts th { width: 38%; }
.note { color: #546e7a; font-size: 9pt; }
.demo { border: 2px solid #ef6c00; padding: 2mm; background: #fff3e0; }
.ok { color: #1b5e20; font-weight: bold; }
.warn { color: #e65100; font-weight: bold; }
.bad { color: #b71c1c; font-weight: bold; }
.verdict { font-size: 13pt; padding: 2mm; border: 2px solid currentColor; display: inline-block; }
figure { margin: 2mm 0 4mm 0; page-break-inside: avoid; }
figure svg { max-width: 100%; height: auto; }
@media print { h2 { page-break-after: avoid; } }
"""

TONE_CLASS = {fm.Tone.OK: "ok", fm.Tone.WARN: "warn", fm.Tone.BAD: "bad"}  # CSS classes above


def _status_class(status: str) -> str:
    """The CSS class of a status (kidney limit, checklist item, verdict)."""
    return TONE_CLASS[fm.TONE[status]]


def _e(value: object) -> str:
    """Escaped text of any value ('—' for missing)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    return html.escape(str(value), quote=True)


def inline_svg(chart: alt.TopLevelMixin) -> str:
    """SVG of an Altair chart for inline HTML: no XML declaration, no namespace URLs (implied in HTML5)."""
    svg = export.svg_bytes(chart).decode("utf-8")
    svg = re.sub(r'<\?xml[^>]*>\s*', "", svg)
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
    return svg.replace("xlink:href=", "href=")


def _td(value: str, css: str = "") -> str:
    """A cell of already escaped text, with a class when one is given."""
    return f'<td class="{css}">{value}</td>' if css else f"<td>{value}</td>"


def _facts(facts: Iterable[tuple[str, str]], css_class: Mapping[str, str] | None = None) -> str:
    """A two-column table of (label, text) rows; ``css_class``: label -> class of its text."""
    css_class = css_class or {}
    rows = "".join(f"<tr><th>{_e(k)}</th>{_td(_e(v), css_class.get(k, ''))}</tr>" for k, v in facts)
    return f'<table class="facts">{rows}</table>'


def _table(frame: pd.DataFrame, *, digits: int = 2, class_column: str | None = None) -> str:
    """An HTML table of a DataFrame; numbers right-aligned with ``digits`` decimals."""
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns if c != class_column)
    body = []
    for _, row in frame.iterrows():
        cells = []
        for column, value in row.items():
            if column == class_column:
                continue
            if isinstance(value, float):
                cells.append(_td(_e(fm.fmt(value, digits)), "num"))
            elif isinstance(value, (pd.Timestamp, dt.date)):
                cells.append(_td(_e(value.isoformat()[:10]), "date"))
            else:
                css = _status_class(row[class_column]) if class_column and column == "Status" else ""
                cells.append(_td(_e(value), css))
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figure(chart: alt.TopLevelMixin) -> str:
    return f"<figure>{inline_svg(chart)}</figure>"


def summary_html(review: PatientReview, plan: PlannerResult | None, *, generated_at: dt.datetime,
                 demo: bool) -> str:
    """The tumour-board summary of one patient as one HTML document (str).

    ``plan``: the projection shown (the planner's current or default scenario), None when
    the patient has no projection. ``generated_at`` is printed; ``demo`` adds the
    synthetic-data notice.
    """
    head = review.header
    facts = fm.header_facts(head)
    classes = {facts.label("cumulative_kidney_dose_gy"): _status_class(head.kidney_dose.status),
               facts.label("cumulative_kidney_bed_gy"): _status_class(head.kidney_bed.status)}
    parts = [f"<h1>Tumour board summary: {_e(head.patient_id)}</h1>",
             f'<p class="note">Generated {_e(generated_at.strftime("%Y-%m-%d %H:%M"))} by Salvage PRRT Board. '
             "Decision support, not a medical device.</p>"]
    if demo:
        parts.append('<p class="demo"><b>Demo data.</b> Synthetic cohort resembling a published study '
                     "(BMC Cancer 2019;19:788); no real patients; not for clinical decisions.</p>")
    parts += ["<h2>Patient</h2>", _facts(facts.rows(), classes),
              "<h2>Cycles</h2>", _table(fm.cycle_display(review.cycles))]
    state = review.status
    best = {f"Best response, {phase} (RECIST 1.1)": value or "no cycles"
            for phase, value in state.best_response.items()}
    best["Vital status"] = "alive" if state.alive else f"died {state.death_date.isoformat()}"
    trend = review.mag3_trend
    best["MAG3 TER trend (mL/min/1.73 m² per year)"] = (
        f"{fm.fmt(trend.slope_per_year, 1)} ({trend.n_values} values, {fm.fmt(trend.first_value, 0)} → "
        f"{fm.fmt(trend.last_value, 0)})" if trend.n_values else "no values")
    parts += ["<h2>Status</h2>", _facts(best.items()), _table(fm.endpoint_table(state)),
              "<h3>Worst CTCAE v5.0 grade</h3>", _table(fm.worst_grade_table(state))]
    parts.append("<h2>Salvage projection</h2>")
    if plan is None:
        parts.append('<p class="note">No projection: the patient has no record yet.</p>')
    elif plan.projection is None:
        why = plan.checklist.items.set_index("criterion").loc["Projected kidney dose", "reason"]
        parts.append(f'<p class="note">Evaluated on {_e(plan.as_of.isoformat())}. {_e(why)}</p>')
    else:
        verdict = plan.checklist.verdict.value
        died = state.death_date is not None and state.death_date <= plan.as_of
        parts += [f'<p>Evaluated on {_e(plan.as_of.isoformat())} with what was recorded by then; tolerance '
                  f'{_e(f"{100 * plan.scenario.settings.tolerance:g}")} %'
                  + (f" (retrospective: died {_e(state.death_date.isoformat())})" if died else "") + ".</p>",
                  f'<p class="verdict {_status_class(verdict)}">Verdict: {_e(verdict)}</p>',
                  "<ul>" + "".join(f"<li>{_e(r)}</li>" for r in plan.checklist.reasons) + "</ul>",
                  _facts(fm.projection_facts(plan).rows())]
        checklist = fm.checklist_display(plan.checklist.items)
        parts += ["<h3>Eligibility checklist</h3>", _table(checklist.assign(_s=checklist["Status"]),
                                                            class_column="_s")]
        parts += [_figure(charts.fan_chart(plan.fan, q, width=CHART_WIDTH_PX)) for q in charts.FAN_TITLES]
        parts.append(f'<p class="note">{_e(charts.FAN_NOTE)}</p>')
    parts.append("<h2>Charts</h2>")
    parts += [_figure(chart) for chart in charts.patient_charts(review, width=CHART_WIDTH_PX).values()]
    parts += ["<h2>Timeline</h2>", _table(review.timeline.rename(columns=fm.TIMELINE_COLUMNS))]
    logger.info("tumour-board summary built (%d charts)", sum(p.startswith("<figure>") for p in parts))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Tumour board summary {_e(head.patient_id)}</title><style>{_CSS}</style></head>"
            f"<body>{''.join(parts)}</body></html>\n")
