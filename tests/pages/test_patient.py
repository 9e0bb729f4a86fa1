"""Patient review page through AppTest (app.py navigation) on the demo cohort.

The numbers on the page are compared with the store's rows summed by hand and with the
prrt_core functions called directly (toxicity, response, projection).
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from prrt_core import projection
from prrt_core.clinical import response, toxicity
from prrt_core.store import Store
from tests import support
from tests.support import editor


def open_patient_page(link_patient: str | None = None) -> AppTest:
    return support.open_page("pages/patient.py", query={"patient": link_patient} if link_patient else None)


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_link_opens_the_patient_and_header_numbers_match_the_store(demo_db, demo_tables, app_env):
    app_env(demo_db)
    at = open_patient_page("NET-007")
    assert at.selectbox(key="board_patient_picker").value == "NET-007"
    shown = metrics(at)
    cycles = demo_tables.cycles[demo_tables.cycles["patient_id"] == "NET-007"]
    kidney = demo_tables.dosimetry.query("organ == 'kidneys'").merge(cycles, on="cycle_id")
    assert shown["Cycles so far"] == str(len(cycles))
    assert shown["Cumulative activity (GBq)"] == f"{cycles['activity_gbq'].sum():.1f}"
    assert shown["Cumulative kidney dose (Gy)"] == f"{kidney['dose_gy'].sum():.1f}"
    # BED so far = the projection's bed_now_gy over the whole history (same T_eff rule).
    history, patients = projection.inputs_from_tables(demo_tables)
    row = projection.project(history, 1, 7.4, patients=patients, patient_ids=["NET-007"]).iloc[0]
    assert shown["Cumulative kidney BED (Gy)"] == f"{row['bed_now_gy']:.1f}"
    # NET-007 has hypertension: BED limit 28 Gy (Bodei 2008).
    bed = next(m for m in at.metric if m.label == "Cumulative kidney BED (Gy)")
    assert "of 28 Gy" in bed.delta
    text = " ".join(m.value for m in at.markdown)
    assert "hypertension" in text
    assert len(at.get("vega_lite_chart")) == 12  # timeline, 2 dose, 7 labs, MAG3, RECIST
    assert at.download_button[0].label == "Download tumour-board summary (HTML)"
    assert any("default scenario: 2 x 7.4 GBq" in c.value for c in at.caption)


def test_choosing_a_patient_updates_page_url_and_planner(demo_db, demo_tables, app_env):
    app_env(demo_db)
    at = open_patient_page()
    at.selectbox(key="board_patient_picker").set_value("NET-001").run()
    assert not at.exception
    assert at.query_params["patient"] == "NET-001"  # a copied link opens the same patient
    # NET-001 holds the demo's one grade-3 value (platelets 42 x 10^9/L after salvage start).
    graded = toxicity.grade_labs(demo_tables.labs, demo_tables.patients, demo_tables.cycles)
    worst = toxicity.worst_grades(graded[graded["patient_id"] == "NET-001"]).set_index(["test", "phase"])
    table = at.dataframe[-2].value.set_index("Test")
    assert table.loc["Platelets (10⁹/L)", "After salvage start"] == "3" == str(
        int(worst.loc[("platelets", "after_salvage"), "worst_grade"]))
    own = demo_tables.for_patient("NET-001")
    best = response.response_by_patient(own.assessments, own.cycles, "salvage")["best_overall_response"].iat[0]
    assert metrics(at)["Best response, salvage"] == best
    at.switch_page("pages/planner.py").run()
    assert not at.exception
    assert at.selectbox(key="board_patient_picker").value == "NET-001"  # kept across pages


def test_summary_uses_the_planners_current_scenario(demo_db, app_env):
    app_env(demo_db)
    at = open_patient_page("NET-004")
    at.switch_page("pages/planner.py").run()
    at.slider(key="pl_cycles").set_value(3).run()
    at.number_input(key="pl_activity").set_value(5.5).run()
    at.switch_page("pages/patient.py").run()
    assert not at.exception
    caption = next(c.value for c in at.caption if c.value.startswith("The summary includes"))
    assert caption == ("The summary includes the planner's current scenario: 3 x 5.5 GBq, evaluated on "
                       "2025-05-23.")


@pytest.mark.parametrize("patient_id", ["NET-013", "NET-035"])
def test_other_patients_render_without_exception(demo_db, app_env, patient_id):
    app_env(demo_db)
    at = open_patient_page(patient_id)
    assert metrics(at)["Cycles so far"].isdigit()


def test_patient_without_records_and_empty_store(fresh_demo_db, tmp_path, app_env):
    with Store(fresh_demo_db) as store:
        store.insert({"patients": [{"patient_id": "NEW-1", "sex": "F", "primary_site": "lung",
                                    "hypertension": 0, "diabetes": 0}]}, actor=editor("tester"))
    app_env(fresh_demo_db)
    at = open_patient_page("NEW-1")
    shown = metrics(at)
    assert shown["Cycles so far"] == "0" and shown["Cumulative kidney dose (Gy)"] == "—"
    assert any("no treatment" in m.value for m in at.markdown)
    at.switch_page("pages/planner.py").run()
    assert not at.exception
    assert any("has no dated record yet" in i.value for i in at.info)
    empty = tmp_path / "clinic.sqlite"
    Store(empty).close()
    app_env(empty)
    at = open_patient_page()
    assert any("No patients in the database yet" in i.value for i in at.info)
