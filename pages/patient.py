"""Patient review: one patient's cycles, kidney dose, labs, imaging and outcome for the tumour board."""

from __future__ import annotations

import datetime as dt
import functools

import streamlit as st

from prrt_core.charts import patient as charts
from prrt_core.projection import KidneyModelSettings
from prrt_core.reports import pdf as board_pdf
from prrt_core.reports import summary as board_summary
from prrt_core.tables import Tables
from prrt_core.views import board, labs, patient, planner, record
from prrt_core.views import format as fm
from prrt_core.views.patient import LimitLevel
from ui import checklist_config, database, navigation, patient_picker, planner_state
from ui.text import md

navigation.ensure_navigation()

DELTA_COLOUR = {fm.Tone.OK: "green", fm.Tone.WARN: "orange", fm.Tone.BAD: "red"}
STATUS_TEXT = {LimitLevel.BELOW: "below the limit", LimitLevel.NEAR: "one more cycle would cross",
               LimitLevel.OVER: "at or over the limit", LimitLevel.UNKNOWN: "not known"}
VERDICT_BOX = {fm.Tone.OK: st.success, fm.Tone.WARN: st.warning, fm.Tone.BAD: st.error, fm.Tone.UNKNOWN: st.info}


@st.cache_data(show_spinner="Reading the patient's records ...", max_entries=64)
def _review(revision: tuple[str, int], patient_id: str, settings: KidneyModelSettings) -> patient.PatientReview:
    return patient.review(database.tables(), patient_id, settings=settings)


@st.cache_data(show_spinner=False, max_entries=64)
def _decision_dates(revision: tuple[str, int], patient_id: str) -> patient.DecisionDates:
    return patient.decision_dates(database.tables(), patient_id)


def _summary(tables: Tables, patient_id: str, as_of: dt.date | None, scenario: planner.Scenario, demo: bool,
             as_pdf: bool = False) -> str | bytes:
    """The summary, HTML or PDF; runs on the download click in its own thread, so only pure prrt_core
    calls on the arguments bound when the button was drawn."""
    request = board_summary.SummaryRequest(patient_id, as_of, scenario, checklist_config.config(),
                                           dt.datetime.now(), demo)
    return board_pdf.render_pdf(tables, request) if as_pdf else board_summary.render_html(tables, request)


@st.cache_data(show_spinner=False, max_entries=256)
def _chart_specs(revision: tuple[str, int], patient_id: str, settings: KidneyModelSettings) -> dict[str, dict]:
    """Vega-Lite specs of the patient's charts (serialised once per patient and store revision)."""
    rv = _review(revision, patient_id, settings)
    return {name: charts.spec(chart) for name, chart in {**charts.patient_charts(rv), **charts.liver_charts(rv)}.items()}


@st.cache_data(show_spinner="Judging the default scenario ...", max_entries=64)
def _board(revision: tuple[str, int], patient_id: str) -> board.BoardStatus:
    return board.board_status(database.tables(), patient_id, config=checklist_config.config())


st.title("Patient review")
database.demo_notice()
top = st.columns([2, 3])
with top[0]:
    patient_id = patient_picker.patient_picker()
if patient_id is None:
    st.stop()
revision = database.store_revision()
rv = _review(revision, patient_id, checklist_config.settings())
head, state = rv.header, rv.status
facts = fm.header_facts(head)

# --- tumour-board summary (built only when downloaded) ---
chosen = planner_state.load()
if chosen and chosen.patient_id == patient_id:
    as_of, scenario, origin = chosen.as_of, chosen.scenario, "the planner's current scenario"
else:  # the plan in force when the board decided salvage, else the default scenario
    as_of, scenario = _decision_dates(revision, patient_id).latest, planner.default_scenario(checklist_config.config())
    scenario, origin = board.summary_scenario(database.tables(), patient_id, scenario)
summary = functools.partial(_summary, database.tables(), patient_id, as_of, scenario, database.is_demo())
with top[1]:
    st.download_button("Download tumour-board summary (HTML)", summary, file_name=f"{patient_id}_board_summary.html",
                       mime="text/html", icon=":material/download:", on_click="ignore",
                       help="One self-contained HTML file, printable on at most two A4 pages.")
    st.download_button("Download tumour-board summary (PDF)", functools.partial(summary, as_pdf=True),
                       file_name=f"{patient_id}_board_summary.pdf", mime="application/pdf", on_click="ignore",
                       icon=":material/picture_as_pdf:", disabled=board_pdf.engine_problem() is not None,
                       help=board_pdf.engine_problem() or "The same summary as PDF (A4, at most two pages).")
    st.caption("No record yet: the summary has no projection." if as_of is None else
               f"The summary includes {origin}: {scenario.label}, evaluated on {as_of.isoformat()}.")

# --- the verdict under the default scenario, and the board's current decision ---
bs = _board(revision, patient_id)
left, right = st.columns([3, 2])
with left:
    box = VERDICT_BOX[fm.TONE[bs.verdict]] if bs.verdict is not None else st.info
    box(md(f"Verdict on {bs.as_of or '—'} ({bs.scenario}, default scenario): ") + f"**{md(bs.verdict_text)}**. "
        + md(bs.headline) + "".join(f"\n- {md(reason)}" for reason in bs.reasons if bs.verdict != "eligible"))
    st.caption(md(". ".join(x for x in (bs.options, bs.policy) if x) + "."))
with right, st.container(border=True):
    st.caption("Board decision (current record)")
    st.markdown(md(bs.decision_text))

# --- header ---
with st.container(border=True):
    for col, name in zip(st.columns(6), ("sex", "age_at_first_prrt_years", "primary_site", "grade_ki67",
                                         "renal_risk_factors", "phase")):
        col.caption(facts.label(name))
        col.markdown(f"**{md(getattr(facts, name))}**")
    for col, (label, text) in zip(st.columns([1, 1, 4]), board.more_facts(rv)):
        col.caption(label)
        col.markdown(md(text))
row = st.columns([2, 2, 3, 3])
row[0].metric(facts.label("cycles"), head.n_cycles,
              delta=f"{head.n_initial_cycles} initial, {head.n_salvage_cycles} salvage", delta_color="gray",
              delta_arrow="off")
row[1].metric(facts.label("cumulative_activity_gbq"), facts.cumulative_activity_gbq)
for col, name, limit in ((row[2], "cumulative_kidney_dose_gy", head.kidney_dose),
                         (row[3], "cumulative_kidney_bed_gy", head.kidney_bed)):
    col.metric(facts.label(name), board.dose_so_far(limit),
               delta=f"{board.dose_so_far_note(limit)}: {STATUS_TEXT[limit.status]}", delta_arrow="off",
               delta_color="gray" if limit.status is LimitLevel.UNKNOWN else DELTA_COLOUR[fm.TONE[limit.status]],
               help=f"{fm.limit_text(limit)}. {bs.kidney_help}")
if head.kidney_dose.estimated:
    st.caption(md(f"Kidney dose so far: {fm.limit_text(head.kidney_dose)}. BED: {fm.limit_text(head.kidney_bed)}."))

specs = _chart_specs(revision, patient_id, checklist_config.settings())


def show(name: str) -> None:
    if name in specs:
        st.vega_lite_chart(spec=specs[name], width="stretch")


# --- treatment ---
st.subheader("Treatment")
show("timeline")
with st.expander("Timeline table"):
    st.dataframe(rv.timeline.drop(columns="label").rename(columns=fm.TIMELINE_COLUMNS), hide_index=True, width="stretch",
                 column_config={"Date": st.column_config.DateColumn()})
per_cycle = [c for c in fm.CYCLE_COLUMNS.values() if not c.startswith("Cumulative")]  # totals: chart, header
numeric = [c for c in per_cycle if "(" in c and "interval" not in c]
st.dataframe(fm.cycle_display(rv.cycles), hide_index=True, width="stretch", column_order=per_cycle,
             column_config={c: st.column_config.NumberColumn(format="%.2f") for c in numeric})
if head.kidney_dose.estimated:
    st.caption(board.ESTIMATE_NOTE)
left, right = st.columns(2)
with left:
    show("dose_per_cycle")
with right:
    show("cumulative_kidney")

# --- blood counts and renal function ---
st.subheader("Blood counts and renal function (CTCAE v5.0)")
st.caption("Shaded: CTCAE v5.0 grade bands (LLN/ULN: adult reference limits by sex; creatinine bands by "
           "x ULN, a x baseline rise can grade higher). Vertical lines: cycles (dashed: salvage).")
lab_charts = ([f"lab_{t.value}" for t in labs.LAB_TESTS if f"lab_{t.value}" in specs] + ["mag3"]
              + [f"liver_{t.value}" for t in labs.LIVER_TESTS])
for i in range(0, len(lab_charts), 2):
    cols = st.columns(2)
    for col, name in zip(cols, lab_charts[i:i + 2]):
        with col:
            show(name)
trend = rv.mag3_trend
if trend.n_values:
    st.caption(f"MAG3 TER trend: {fm.fmt(trend.slope_per_year, 1)} mL/min/1.73 m² per year (least squares over "
               f"{trend.n_values} values, {trend.first_date} to {trend.last_date}).")
else:
    st.caption("No MAG3 TER recorded.")
st.caption(labs.LIVER_NOTE)
with st.expander("Performance status history (ECOG, Karnofsky)"):
    st.dataframe(rv.performance.rename(columns=record.PERFORMANCE_COLUMNS), hide_index=True, width="stretch",
                 column_config={"Date": st.column_config.DateColumn()})

# --- imaging ---
st.subheader("Imaging (RECIST 1.1)")
show("recist")
with st.expander("Imaging table"):
    st.dataframe(rv.imaging.rename(columns=record.IMAGING_COLUMNS), hide_index=True, width="stretch",
                 column_config={"Date": st.column_config.DateColumn(),
                                "Change from baseline (%)": st.column_config.NumberColumn(format="%.1f")})

# --- outcome ---
st.subheader("Toxicity, response and survival")
cols = st.columns(4)
cols[0].metric("Best response, initial", state.best_response["initial"] or "—", help="RECIST 1.1")
cols[1].metric("Best response, salvage", state.best_response["salvage"] or "—", help="RECIST 1.1")
cols[2].metric("Vital status", "alive" if state.alive else "deceased",
               delta=None if state.alive else f"died {state.death_date.isoformat()}", delta_color="gray",
               delta_arrow="off")
left, right = st.columns([9, 11])
with left:
    st.caption("Worst CTCAE v5.0 grade per test (after the first initial cycle; '—': no graded value)")
    st.dataframe(fm.worst_grade_table(state), hide_index=True, width="stretch")
with right:
    st.caption("PFS: to progression or death; OS: to death; otherwise censored at the last date known alive.")
    st.dataframe(fm.endpoint_table(state), hide_index=True, width="stretch")
