"""Cohort statistics page through streamlit's AppTest on the demo cohort."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from prrt_core import cohort
from prrt_core.charts import cohort as cohort_charts
from prrt_core.clinical import survival
from prrt_core.store import Store
from tests import support

PAGE = "pages/cohort.py"


def open_page(section: str | None = None) -> AppTest:
    return support.open_page(PAGE, session={"cohort_section": section} if section else None)


def table_by_first_column(at: AppTest, header: str):
    return next(t.value for t in at.table if t.value.columns[0] == header or t.value.index.name == header)


def table1_values(at: AppTest) -> dict[str, str]:
    frame = table_by_first_column(at, "Characteristic")
    return dict(zip(frame["Characteristic"], frame["Value"]))


def selected_n(at: AppTest) -> str:
    return {m.label: m.value for m in at.metric}["Patients selected"]


@pytest.fixture
def demo_page(demo_db, app_env):
    app_env(demo_db)


def test_table1_on_the_demo_cohort(demo_page):
    at = open_page()
    assert selected_n(at) == "35"
    values = table1_values(at)
    # Rudisile 2019 (BMC Cancer 19:788): 35 patients, 25 men, mean age 63 +- 9, 23 small-intestine
    # primaries, median 6 cycles, mean cumulative activity 44 GBq (33.5-47.0), kidney dose 23.8 Gy.
    assert values["Patients, n"] == "35"
    assert values["Sex, male, n (%)"] == "25 (71.4 %)"
    assert values["Age at first PRRT (years), mean ± SD"] == "63.0 ± 9.0"
    assert values["Primary site, small intestine, n (%)"] == "23 (65.7 %)"
    assert values["PRRT cycles per patient, median (range)"].startswith("6 (")
    assert values["Cumulative activity (GBq), mean (range)"] == "44.0 (33.5–47.0)"
    assert values["Cumulative kidney absorbed dose (Gy), mean ± SD"].startswith("23.8 ± ")
    assert any("Demo data" in w.value for w in at.warning)
    assert any("cohort median T_eff" in c.value for c in at.caption)


def test_filters_change_n_and_every_table(demo_page, demo_tables):
    patients = demo_tables.patients
    at = open_page()
    at.radio(key="cohort_sex").set_value("Female").run()
    assert not at.exception
    assert selected_n(at) == "10"
    values = table1_values(at)
    assert values["Patients, n"] == "10" and values["Sex, female, n (%)"] == "10 (100.0 %)"

    at.multiselect(key="cohort_sites").set_value(["small intestine"]).run()
    expected = int(((patients["sex"] == "F") & (patients["primary_site"] == "small intestine")).sum())
    assert 0 < expected < 10
    assert selected_n(at) == str(expected)
    assert table1_values(at)["Patients, n"] == str(expected)

    at.session_state["cohort_section"] = "Toxicity"
    at.run()
    grades = table_by_first_column(at, "Lab test (CTCAE v5.0 term, unit)")
    assert set(grades["Patients (n)"]) == {expected}

    at.session_state["cohort_section"] = "Response"
    at.run()
    responses = table_by_first_column(at, "Best overall response")
    assert 0 < responses["Patients (n)"].sum() <= expected


def test_published_table_present_and_agreeing_whatever_the_filter(demo_page):
    at = open_page("Published vs this cohort")
    comparison = table_by_first_column(at, "Figure")
    compared = comparison[comparison["Agrees"] != "not compared"]
    assert len(compared) == 33 and (compared["Agrees"] == "yes").all()
    assert {m.label: m.value for m in at.metric}["Figures agreeing within tolerance"] == "33 of 33"
    at.radio(key="cohort_sex").set_value("Male").run()  # filters do not apply to this comparison
    comparison = table_by_first_column(at, "Figure").set_index("Figure")
    assert comparison.loc["Patients (n)", "This cohort"] == "35"


def test_survival_medians_and_logrank_by_sex(demo_page, demo_tables):
    at = open_page("Survival")
    summaries = [t.value for t in at.table]
    assert len(summaries) == 4  # PFS and OS, after initial PRRT and after salvage start
    ends = survival.endpoints(demo_tables.cycles, demo_tables.events, demo_tables.assessments)
    pfs2 = survival.km_summary(ends["pfs_salvage_months"], ends["pfs_salvage_event"])
    assert summaries[1].loc["Median (months)", "All patients"] == f"{pfs2['median']:.1f}"
    assert summaries[2].loc["Median (months)", "All patients"] == "not reached"  # OS, as published

    at.selectbox(key="cohort_stratum").set_value(cohort.Stratum.SEX).run()
    assert not at.exception
    assert list(at.table[0].value.columns) == ["Female", "Male"]
    assert sum("Log-rank p = " in m.value for m in at.markdown) == 4


def test_dose_tab_draws_both_charts(demo_page):
    at = open_page("Dose")
    charts = at.get("vega_lite_chart")
    assert len(charts) == 2
    assert "Cumulative kidney absorbed dose (Gy)" in charts[0].proto.spec
    assert "eGFR change (mL/min/1.73 m" in charts[1].proto.spec
    at.radio(key="cohort_egfr_measure").set_value(cohort_charts.EgfrMeasure.PCT_PER_YEAR).run()
    assert not at.exception
    assert "eGFR change (%/year)" in at.get("vega_lite_chart")[1].proto.spec


def test_empty_database_shows_a_message_not_an_error(tmp_path, app_env):
    db = tmp_path / "empty.sqlite"
    Store(db).close()
    app_env(db)
    at = open_page()
    assert any("No patients" in i.value for i in at.info)
