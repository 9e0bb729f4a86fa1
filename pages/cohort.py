"""Cohort statistics: Table 1, toxicity, response, Kaplan–Meier survival, dose, published study.

Per-patient figures are computed once per store revision (cached) and restricted to
the filtered patients; each tab computes only when it is open.
"""

import functools

import pandas as pd
import streamlit as st

from prrt_core import cohort
from prrt_core.charts import cohort as charts
from prrt_core.charts import export as chart_export
from prrt_core.clinical import response, survival
from prrt_core.cohort import published, table1
from prrt_core.datasets import demo
from prrt_core.errors import InputError
from ui import database, navigation, text

navigation.ensure_navigation()

EXPORT_HELP = "Rendered on the server from the chart's Vega-Lite spec with vl-convert-python."
SECTIONS = ["Table 1", "Toxicity", "Response", "Survival", "Dose", "Published vs this cohort"]
CHART_FORMATS = (("png", "image/png", chart_export.png_bytes), ("svg", "image/svg+xml", chart_export.svg_bytes))


# The store's tables, unpickled from common's cache at most once per script run.
_tables = functools.cache(database.tables)


@st.cache_data(show_spinner="Computing per-patient figures ...", max_entries=2)
def _attributes(path: str, revision: int) -> pd.DataFrame:
    return cohort.patient_attributes(_tables())


@st.cache_data(show_spinner="Grading laboratory values (CTCAE v5.0) ...", max_entries=2)
def _toxicity(path: str, revision: int) -> cohort.ToxicityPerPatient:
    return cohort.toxicity_per_patient(_tables())


@st.cache_data(show_spinner="Evaluating RECIST 1.1 responses ...", max_entries=4)
def _responses(path: str, revision: int, phase: str) -> pd.DataFrame:
    return response.response_by_patient(_tables().assessments, _tables().cycles, phase)


@st.cache_data(show_spinner="Deriving PFS and OS ...", max_entries=2)
def _endpoints(path: str, revision: int) -> pd.DataFrame:
    return survival.endpoints(_tables().cycles, _tables().events, _tables().assessments)


@st.cache_data(show_spinner=False, max_entries=64)
def _km(path: str, revision: int, cohort_filter: cohort.CohortFilter, endpoint: cohort.Endpoint,
        stratum: cohort.Stratum) -> cohort.KaplanMeier:
    return cohort.filtered_kaplan_meier(_endpoints(path, revision), _attributes(path, revision), cohort_filter,
                                        endpoint, stratum)


@st.cache_data(show_spinner="Comparing with the published study ...", max_entries=2)
def _published(path: str, revision: int) -> pd.DataFrame:
    return published.cohort_comparison(demo.published(), _attributes(path, revision),
                                       cohort.high_grade_events(_tables()), _responses(path, revision, "initial"),
                                       _responses(path, revision, "salvage"), _endpoints(path, revision))


def _downloads(name: str, table: pd.DataFrame | None = None, chart=None) -> None:
    """CSV of a table and PNG/SVG of a chart, generated only when clicked."""
    with st.container(horizontal=True, key=f"export_{name}"):
        if table is not None:
            st.download_button("CSV", functools.partial(lambda t: t.to_csv(index=False).encode(), table),
                               file_name=f"{name}.csv", mime="text/csv", key=f"csv_{name}",
                               on_click="ignore", icon=":material/download:")
        for fmt, mime, render in CHART_FORMATS if chart is not None else ():
            st.download_button(fmt.upper(), functools.partial(render, chart), file_name=f"{name}.{fmt}", mime=mime,
                               key=f"{fmt}_{name}", on_click="ignore", icon=":material/image:", help=EXPORT_HELP)


key = database.store_revision()
attributes = _attributes(*key)
options = cohort.filter_options(attributes)

st.title("Cohort statistics")
database.demo_notice()
if attributes.empty:
    st.info("No patients in the database yet: import data on the data page or load the demo cohort.")
    st.stop()

with st.sidebar:
    st.header("Cohort filter")
    ages, span = options.age_range_years, options.first_cycle_range
    cohort_filter = cohort.filter_from_choices(
        options,
        primary_sites=st.multiselect("Primary site", options.primary_sites, placeholder="All sites",
                                     key="cohort_sites"),
        sex=st.radio("Sex", list(cohort.SexChoice), horizontal=True, key="cohort_sex"),
        age_years=(st.slider("Age at first PRRT (years)", ages[0], ages[1], ages, key="cohort_age")
                   if ages and ages[0] < ages[1] else None),
        salvage_cycles=st.multiselect("Salvage cycles per patient", options.salvage_cycles,
                                      placeholder="Any number", key="cohort_salvage"),
        renal_risk=st.radio("Renal risk factors", list(cohort.RenalRiskChoice), horizontal=True,
                            key="cohort_risk", help="Hypertension, diabetes or another recorded renal risk factor"),
        first_cycle_dates=(st.date_input("First PRRT cycle between", span, min_value=span[0],
                                         max_value=span[1], key="cohort_dates") if span else ()))
ids = cohort.select_patients(attributes, cohort_filter)
selected = cohort.restrict_frame(attributes, ids)
st.sidebar.metric("Patients selected", len(ids), help=f"of {len(attributes)} in the database")
st.caption(f"**n = {len(ids)}** of {len(attributes)} patients · filter: {text.md(cohort_filter.describe())}")

tabs = dict(zip(SECTIONS, st.tabs(SECTIONS, key="cohort_section", on_change="rerun", bind="query-params")))

if tabs["Table 1"].open:
    with tabs["Table 1"]:
        t1 = table1.table1(selected)
        st.table(table1.display(t1), hide_index=True)
        for note in t1.footnotes:
            st.caption(note)
        _downloads("cohort_table1", t1.rows)

if tabs["Toxicity"].open:
    with tabs["Toxicity"]:
        tox = _toxicity(*key)
        grades = cohort.toxicity_table(cohort.restrict_frame(tox.worst_grades, ids))
        st.subheader("Worst CTCAE v5.0 grade per patient")
        st.table(grades, hide_index=True)
        st.caption("Patients treated in each phase; before salvage = after the first initial cycle "
                   "until salvage start; unknown = no gradable value in the phase.")
        _downloads("cohort_toxicity_grades", grades)
        st.subheader("Values of CTCAE grade ≥ 3, by patient")
        high = cohort.high_grade_table(cohort.restrict_frame(tox.high_grade, ids))
        if high.empty:
            st.info("No laboratory value of grade 3 or 4 on treatment in the selected patients.")
        else:
            st.dataframe(high, hide_index=True)
            _downloads("cohort_toxicity_grade3", high)

if tabs["Response"].open:
    with tabs["Response"]:
        responses = cohort.restrict_frame(_responses(*key, "salvage"), ids)
        evaluable = int(responses["has_follow_up_imaging"].sum())
        st.subheader("Best overall response after salvage start (RECIST 1.1)")
        table = cohort.response_table(responses)
        st.table(table.style.format({"% of evaluable": "{:.1f}"}, na_rep="—"), hide_index=True)
        st.caption(f"Evaluable: {evaluable} of {len(responses)} patients with salvage cycles "
                   "(those with follow-up imaging after salvage start); SD needs ≥ 6 weeks.")
        _downloads("cohort_best_response", table)

if tabs["Survival"].open:
    with tabs["Survival"]:
        stratum = st.selectbox("Stratify by", list(cohort.Stratum), key="cohort_stratum")  # label: the value
        try:
            results = [_km(*key, cohort_filter, endpoint, stratum) for endpoint in cohort.Endpoint]
        except InputError as exc:  # contradictory records: name them, draw nothing
            st.error(f"Survival cannot be computed: {text.md(exc)}")
            results = []
        for km in results:
            if km.n_patients == 0:
                st.info(f"{km.endpoint.title}: no selected patient has this endpoint.")
                continue
            left, right = st.columns([3, 2])
            chart = charts.km_chart(km)
            left.altair_chart(chart, width="content")
            with right.container(key=f"km_summary_{km.endpoint.column}"):
                st.table(km.summary.set_index("Group").astype(str).T)
                if km.stratum is not cohort.Stratum.NONE:
                    st.markdown(f"Log-rank p = {cohort.format_p(km.logrank_p)}")
                st.caption("Median 95 % CI: Brookmeyer–Crowley-type (log-log bands); restricted "
                           "mean to the group's largest observed time, normal-approximation CI; "
                           "at risk = patients with time ≥ t.")
                _downloads(f"cohort_km_{km.endpoint.column}", km.summary, chart)

if tabs["Dose"].open:
    with tabs["Dose"]:
        histogram = charts.dose_histogram(selected)
        st.altair_chart(histogram, width="stretch")
        _downloads("cohort_kidney_dose_histogram", charts.dose_histogram_data(
            selected["cumulative_kidney_dose_gy"]), histogram)
        measure = st.radio("Show the eGFR change as", list(charts.EgfrMeasure), horizontal=True,
                           format_func=lambda m: m.title, key="cohort_egfr_measure")
        scatter = charts.egfr_scatter(selected, measure)
        st.altair_chart(scatter, width="stretch")
        st.caption("eGFR change = last minus first recorded eGFR of each patient; % per year = that "
                   "change relative to the first value, divided by the years between them.")
        _downloads("cohort_kidney_dose_egfr", selected[["patient_id", "cumulative_kidney_dose_gy",
                                                        measure.column]], scatter)

if tabs["Published vs this cohort"].open:
    with tabs["Published vs this cohort"]:
        st.markdown("Published aggregates of Rudisile et al., BMC Cancer 2019;19:788, beside the same "
                    "figures computed on **the whole loaded cohort** (filters not applied).")
        try:
            comparison = _published(*key)
        except InputError as exc:  # contradictory records: name them
            st.error(f"The comparison cannot be computed: {text.md(exc)}")
            st.stop()
        st.metric("Figures agreeing within tolerance", "{} of {}".format(*published.agreement(comparison)))
        st.table(comparison, hide_index=True)
        st.caption("Tolerances as in tests/unit/test_demo.py (exact for counts). 'Mean' survival is the "
                   "restricted mean to the largest observed time (SPSS); follow-up is the median "
                   "observed OS time.")
        _downloads("cohort_published_comparison", comparison)
