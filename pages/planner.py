"""Salvage planner: projected kidney dose and BED of further cycles, eligibility checklist, scenarios."""

from __future__ import annotations

import datetime as dt
from operator import attrgetter

import pandas as pd
import streamlit as st

from prrt_core.charts import patient as charts
from prrt_core.projection import KidneyModelSettings
from prrt_core.views import format as fm
from prrt_core.views import patient, planner
from ui import checklist_config, database, decision_form, navigation, patient_picker, planner_state
from ui.text import md

navigation.ensure_navigation()

# The four verdicts, each its own box and icon: eligible, caution, not eligible, cannot assess.
VERDICT = {fm.Tone.OK: (st.success, ":material/check_circle:"), fm.Tone.WARN: (st.warning, ":material/warning:"),
           fm.Tone.BAD: (st.error, ":material/block:"), fm.Tone.UNKNOWN: (st.info, ":material/help:")}
TONE_STYLE = {tone: f"color: {colour}; font-weight: bold" for tone, colour in
              ((fm.Tone.OK, "#1b5e20"), (fm.Tone.WARN, "#e65100"), (fm.Tone.BAD, "#b71c1c"),
               (fm.Tone.UNKNOWN, "#37474f"))}
# Widget key -> (Scenario field, "settings." for a KidneyModelSettings field; value per widget unit; widget type).
WIDGETS = {"pl_cycles": ("n_cycles", 1, int), "pl_activity": ("activity_gbq", 1, float),
           "pl_tolerance": ("settings.tolerance", 0.01, int), "pl_ab": ("settings.alpha_beta_gy", 1, float),
           "pl_trep": ("settings.t_rep_h", 1, float), "pl_dose_limit": ("settings.dose_limit_gy", 1, float),
           "pl_bed_risk": ("settings.bed_limit_risk_gy", 1, float),
           "pl_bed_no_risk": ("settings.bed_limit_no_risk_gy", 1, float)}


@st.cache_data(show_spinner=False, max_entries=64)
def _dates(revision: tuple[str, int], patient_id: str) -> patient.DecisionDates:
    return patient.decision_dates(database.tables(), patient_id)


@st.cache_data(show_spinner="Projecting ...", max_entries=256)
def _plan(revision: tuple[str, int], patient_id: str, as_of: dt.date,
          scenario: planner.Scenario) -> planner.PlannerResult:
    return planner.plan(database.tables(), patient_id, as_of, scenario, config=checklist_config.config())


@st.cache_data(show_spinner=False, max_entries=256)
def _fan_specs(revision: tuple[str, int], patient_id: str, as_of: dt.date,
               scenario: planner.Scenario) -> list[dict]:
    fan = _plan(revision, patient_id, as_of, scenario).fan
    return [charts.spec(charts.fan_chart(fan, quantity)) for quantity in charts.FAN_TITLES]


@st.cache_data(show_spinner=False, max_entries=256)
def _compare(revision: tuple[str, int], patient_id: str, as_of: dt.date, scenarios: tuple,
             settings: KidneyModelSettings) -> pd.DataFrame:
    return planner.compare_scenarios(database.tables(), patient_id, as_of, scenarios, settings,
                                     config=checklist_config.config())


st.title("Salvage planner")
database.demo_notice()
patient_id = patient_picker.patient_picker()
if patient_id is None:
    st.stop()
revision = database.store_revision()
dates = _dates(revision, patient_id)
if dates.latest is None:
    st.info(f"{md(patient_id)} has no dated record yet: nothing to project.")
    st.stop()

# Seed the controls from the session's scenario (widget state is dropped when leaving the page); the
# first scenario has the kidney limits of data/eligibility.toml.
config = checklist_config.config()
state = planner_state.load()
saved = state.scenario if state else planner.default_scenario(config)
for key, (field, factor, kind) in WIDGETS.items():
    st.session_state.setdefault(key, kind(round(attrgetter(field)(saved) / factor, 6)))

date_key = f"pl_as_of_{patient_id}"
st.session_state.setdefault(date_key, dates.latest)


def _set_date(value: dt.date) -> None:
    st.session_state[date_key] = value


controls = st.columns([3, 2, 2, 2])
with controls[0]:
    as_of = st.date_input("Evaluation date", key=date_key, min_value=dt.date(1990, 1, 1),
                          max_value=dt.date(2100, 12, 31),
                          help="Only what was recorded by this date is used: labs, imaging, cycles, dosimetry.")
    st.button(f"Most recent record: {dates.latest}", on_click=_set_date, args=(dates.latest,),
              width="stretch", icon=":material/event:")
    if dates.before_salvage is not None:
        st.button(f"Day before first salvage cycle: {dates.before_salvage}", on_click=_set_date,
                  args=(dates.before_salvage,), width="stretch", icon=":material/event_upcoming:",
                  help="The salvage decision point: everything recorded then, nothing after.")
controls[1].slider("Further cycles", 1, 4, key="pl_cycles")
controls[2].number_input("Activity per cycle (GBq)", min_value=1.0, max_value=10.0, step=0.1, format="%.1f",
                         key="pl_activity", help="Standard 7.4 GBq (Lutathera PI); reduced 3.7 GBq.")
controls[3].slider("Tolerance (%)", 1, 20, key="pl_tolerance",
                   help="Accepted probability of crossing a kidney limit.")
with st.expander("Advanced: radiobiology and limits"):
    adv = st.columns(5)
    adv[0].number_input("α/β kidney (Gy)", 0.5, 20.0, step=0.1, format="%.1f", key="pl_ab",
                        help="2.6 Gy: Barone 2005 JNM; Bodei 2008 EJNMMI")
    adv[1].number_input("T_rep (h)", 0.1, 24.0, step=0.1, format="%.1f", key="pl_trep",
                        help="Repair half-time 2.8 h: Barone 2005; Bodei 2008")
    adv[2].number_input("Kidney dose limit (Gy)", 5.0, 60.0, step=0.5, format="%.1f", key="pl_dose_limit",
                        help=planner.limit_help(config).dose)
    adv[3].number_input("BED limit, renal risk (Gy)", 5.0, 80.0, step=0.5, format="%.1f", key="pl_bed_risk",
                        help=planner.limit_help(config).bed_risk)
    adv[4].number_input("BED limit, no renal risk (Gy)", 5.0, 80.0, step=0.5, format="%.1f", key="pl_bed_no_risk",
                        help=planner.limit_help(config).bed_no_risk)
values = {field: type(attrgetter(field)(saved))(round(st.session_state[key] * factor, 9))
          for key, (field, factor, _) in WIDGETS.items()}
scenario = planner.Scenario(values.pop("n_cycles"), values.pop("activity_gbq"), KidneyModelSettings(
    **{field.removeprefix("settings."): value for field, value in values.items()}))
planner_state.save(planner_state.PlannerState(patient_id, as_of, scenario))

result = _plan(revision, patient_id, as_of, scenario)
checklist, row = result.checklist, result.projection
if result.deceased_on is not None:  # no projection, no verdict: only the history
    st.info(f"**{md(patient_id)} died on {result.deceased_on}**: no projection and no verdict. "
            f"The history recorded by {as_of}:", icon=":material/history:")
    st.dataframe(fm.cycle_display(result.history), hide_index=True, width="stretch", height="content")
    st.stop()

# --- verdict ---
show, icon = VERDICT[fm.TONE[checklist.verdict]]
show(f"**Verdict on {as_of}: {checklist.verdict.value}** ({scenario.label})\n\n"
     + "\n".join(f"- {md(reason)}" for reason in checklist.reasons)
     + f"\n\n*{md(checklist.policy.text)}*", icon=icon)

# --- projection ---
st.subheader("Projected cumulative kidney dose and BED")
if row is None:
    st.info(md(result.no_projection_reason))
else:
    facts = fm.projection_facts(result)
    tol = scenario.settings.tolerance
    cols = st.columns(4)
    for i, q in ((0, "dose"), (2, "bed")):
        p = row[f"p_exceed_{q}"]
        cols[i].metric(facts.label(f"{q}_median_gy"), getattr(facts, f"{q}_median_gy"),
                       delta=f"90 % interval {getattr(facts, f'{q}_interval_90_gy')} Gy",
                       delta_color="gray", delta_arrow="off")
        cols[i + 1].metric(facts.label(f"p_exceed_{q}_pct"), getattr(facts, f"p_exceed_{q}_pct"), delta_arrow="off",
                           delta=f"{'within' if p <= tol else 'above'} the {100 * tol:g} % tolerance",
                           delta_color="green" if p <= tol else "red")
    short = {"max_safe_cycles": "Cycles at this activity within every limit",
             "point_dose_gy": "Point projection: dose (Gy)", "point_bed_gy": "Point projection: BED (Gy)"}
    for col, (name, title) in zip(st.columns(3), short.items()):
        col.metric(title, getattr(facts, name), help=facts.label(name))
    st.markdown(f"**{md(result.options.title(tol))}**\n" + "\n".join(f"- {md(t)}" for t in result.options.lines))
    left, right = st.columns(2)
    for col, spec in zip((left, right), _fan_specs(revision, patient_id, as_of, scenario)):
        col.vega_lite_chart(spec=spec, width="stretch")
    st.caption(f"{checklist.policy.description} So far: kidney dose {facts.dose_so_far}, BED "
               f"{facts.bed_so_far}. {charts.FAN_NOTE} Per-patient Gy/GBq from its own cycles shrunk towards the cohort "
               f"(random-effects model, {scenario.settings.n_samples} Monte-Carlo samples); future T_eff "
               f"{row['t_eff_future_h']:.0f} h ({row['t_eff_source']}).")

# --- checklist ---
st.subheader("Eligibility checklist")
# A static table: Value, Threshold and Source wrap, never cut; st.table renders cells as markdown.
items = fm.checklist_display(checklist.items).map(md)
st.table(items.style.map(lambda v: TONE_STYLE[fm.TONE[v]], subset=["Status"]), hide_index=True)

# --- scenarios ---
st.subheader("Scenarios side by side")
if row is not None:
    left, right = st.columns([1, 2])
    edited = left.data_editor(
        pd.DataFrame(planner.DEFAULT_SCENARIOS, columns=["Further cycles", "Activity per cycle (GBq)"]),
        key="pl_scenarios", num_rows="fixed", hide_index=True,
        column_config={"Further cycles": st.column_config.NumberColumn(min_value=1, max_value=4, step=1),
                       "Activity per cycle (GBq)": st.column_config.NumberColumn(min_value=1.0, max_value=10.0,
                                                                                 step=0.1, format="%.1f")})
    chosen = tuple((int(n), round(float(a), 2)) for n, a in edited.dropna().itertuples(index=False))
    if chosen:
        compared = _compare(revision, patient_id, as_of, chosen, scenario.settings)
        right.dataframe(fm.scenario_display(compared), hide_index=True, width="stretch", height="content")
        left.caption(f"Each scenario projected from what was recorded by {as_of}, tolerance {100 * tol:g} %. "
                     "Edit the cycles and activities above; clear a row to drop it.")
    else:
        right.caption("Enter at least one scenario (further cycles and activity per cycle).")
else:
    st.caption("Scenarios need a projection (see above).")
decision_form.decision_section(result)
