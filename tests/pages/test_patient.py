"""Patient review page through AppTest (app.py navigation) on the demo cohort.

The numbers on the page are compared with the store's rows summed by hand and with the
prrt_core functions called directly (toxicity, response, projection).
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from prrt_core import projection
from prrt_core.clinical import eligibility, response, toxicity
from prrt_core.store import Store
from prrt_core.views import patient, planner
from tests import support
from tests.support import editor
from ui.text import md


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
    # NET-007 has 22.95 Gy: beside the 23 Gy limit it reads 22.95, never "23.0" (issue 13).
    assert kidney["dose_gy"].sum() == pytest.approx(22.95, abs=0.005)
    assert shown["Cumulative kidney dose (Gy)"] == "22.95"
    # BED so far = the projection's bed_now_gy over the whole history (same T_eff rule).
    history, patients = projection.inputs_from_tables(demo_tables)
    row = projection.project(history, 1, 7.4, patients=patients, patient_ids=["NET-007"]).iloc[0]
    assert shown["Cumulative kidney BED (Gy)"] == f"{row['bed_now_gy']:.1f}"
    # NET-007 has hypertension: BED limit 28 Gy (Bodei 2008).
    bed = next(m for m in at.metric if m.label == "Cumulative kidney BED (Gy)")
    assert "of 28 Gy" in bed.delta
    text = " ".join(m.value for m in at.markdown)
    assert "hypertension" in text
    assert len(at.get("vega_lite_chart")) == 14  # timeline, 2 dose, 7 labs, MAG3, bilirubin, albumin, RECIST
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


def add_patient_without_dosimetry(db) -> None:
    """NEW-2: three initial cycles of 7.4 GBq, no dosimetry at all (no kidney dose to count)."""
    with Store(db) as store:
        store.insert({"patients": [{"patient_id": "NEW-2", "sex": "M", "primary_site": "pancreas",
                                    "hypertension": 0, "diabetes": 0, "weight_kg": 80.0, "height_cm": 180.0}],
                      "cycles": [{"patient_id": "NEW-2", "cycle_number": n, "phase": "initial",
                                  "cycle_date": f"2024-0{2 * n - 1}-10", "activity_gbq": 7.4} for n in (1, 2, 3)]},
                     actor=editor("tester"))


def test_cycles_without_dosimetry_are_estimated_never_zero(fresh_demo_db, app_env):
    add_patient_without_dosimetry(fresh_demo_db)
    app_env(fresh_demo_db)
    at = open_patient_page("NEW-2")
    with Store(fresh_demo_db) as store:
        head = patient.header(store.read_all(), "NEW-2")
    dose = head.kidney_dose
    assert dose.n_estimated == 3 and dose.p05_gy < dose.value_gy < dose.p95_gy
    metric = next(m for m in at.metric if m.label == "Cumulative kidney dose (Gy)")
    # The header: the median with its 90 % interval, and how many cycles are estimated.
    assert metric.value == f"{dose.value_gy:.1f} ({dose.p05_gy:.1f}–{dose.p95_gy:.1f})"
    assert metric.delta.startswith("incl. 3 estimated cycles, limit 23 Gy: ")
    assert metric.help.startswith(f"median {dose.value_gy:.1f} of 23 Gy")  # the whole text: fm.limit_text
    assert any(c.value.replace("\\", "").startswith("Kidney dose so far: median") for c in at.caption)
    table = next(d.value for d in at.dataframe if "Kidney dose source" in d.value.columns)
    assert table["Kidney dose source"].tolist() == ["estimated"] * 3
    assert (table["Kidney dose (Gy)"] > 0).all()  # an estimate per cycle, no 0 Gy
    assert all("–" in x for x in table["Kidney dose, 90 % interval (Gy)"])
    assert any("Kidney dose source 'estimated'" in c.value for c in at.caption)
    text = " ".join(m.value for m in at.markdown)
    assert "80 kg / 180 cm" in text


def test_top_of_review_shows_verdict_and_decision(demo_db, demo_tables, app_env):
    app_env(demo_db)
    at = open_patient_page("NET-005")
    boxes = [e.value.replace("\\", "") for e in [*at.success, *at.warning, *at.error, *at.info]]  # markdown escapes
    verdict = next(v for v in boxes if v.startswith("Verdict on"))
    # The planner's verdict for the default scenario at the last record, computed directly.
    config = eligibility.load_config()
    as_of = patient.last_record_date(demo_tables, "NET-005")
    result = planner.plan(demo_tables, "NET-005", as_of, planner.default_scenario(config), config=config)
    assert verdict.startswith(f"Verdict on {as_of.isoformat()} (2 x 7.4 GBq, default scenario): "
                              f"**{result.checklist.verdict_text}**. After 2 x 7.4 GBq: kidney dose median")
    assert f"P(> {result.projection['bed_limit_gy']:g} Gy)" in verdict
    text = " ".join(m.value for m in at.markdown)
    assert "no decision recorded" in text
    assert "ECOG" in text and "somatostatin analogue" in text  # performance status, prior therapies


def test_a_link_to_an_unknown_patient_opens_no_patient(demo_db, app_env):
    """A mistyped or wrong-case link (ids are case-sensitive) never shows another patient."""
    app_env(demo_db)
    for linked in ("net-010", "NET-999"):
        at = support.open_page("pages/patient.py", query={"patient": linked})
        assert [e.value for e in at.error] == [
            f"The link names patient {md(repr(linked))}, who is not in the database (ids are case-sensitive). "
            "Choose a patient below."]
        assert not at.metric and at.selectbox[0].value is None
