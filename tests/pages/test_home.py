"""Home page through streamlit's AppTest: the cohort at a glance on the demo cohort."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from prrt_core.store import Store
from tests.support import APP, editor


def run_app(timeout: float = 60) -> AppTest:
    return AppTest.from_file(APP, default_timeout=timeout).run()


def test_first_start_creates_demo_database_and_shows_published_figures(tmp_path, app_env):
    db = tmp_path / "first.sqlite"
    app_env(db)
    at = run_app()
    assert not at.exception
    assert db.exists()
    metrics = {m.label: m.value for m in at.metric}
    # Rudisile 2019 (BMC Cancer 19:788): 35 patients, median 6 cycles, mean 44 GBq, 23.8 Gy.
    assert metrics["Patients"] == "35"
    assert metrics["Median cycles per patient"] == "6.0"
    assert metrics["Mean cumulative activity (GBq)"] == "44.0"
    assert metrics["Mean cumulative kidney dose (Gy)"] == "23.8"
    with Store(db) as store:
        assert metrics["Cycles"] == str(len(store.read("cycles")))
    assert any("Demo data" in w.value for w in at.warning)


def test_empty_clinic_database_stays_empty_without_demo_notice(tmp_path, app_env):
    db = tmp_path / "clinic.sqlite"
    Store(db).close()  # an existing, empty database: the app must not fill it
    app_env(db)
    at = run_app()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Patients"] == "0" and metrics["Cycles"] == "0"
    assert metrics["Mean cumulative kidney dose (Gy)"] == "—"
    assert not any("Demo data" in w.value for w in at.warning)
    with Store(db) as store:
        assert store.is_empty()


def test_home_reflects_a_write_without_restart(fresh_demo_db, app_env):
    app_env(fresh_demo_db)
    at = run_app()
    assert {m.label: m.value for m in at.metric}["Patients"] == "35"
    with Store(fresh_demo_db) as store:
        store.insert({"patients": [{"patient_id": "NEW-1", "sex": "F", "primary_site": "lung",
                                    "hypertension": 0, "diabetes": 0}]}, actor=editor("tester"))
    at.run()
    assert {m.label: m.value for m in at.metric}["Patients"] == "36"
