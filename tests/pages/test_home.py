"""Home page through streamlit's AppTest: the cohort at a glance on the demo cohort."""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from prrt_core.store import Store
from tests.support import APP, REPO, editor


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


# ---- issue 13 section 5: an empty database offers the demo cohort; the clinic's config ---------
AUTH = {"auth": {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "test-secret",
                 "client_id": "id", "client_secret": "secret",
                 "server_metadata_url": "https://idp.example/.well-known/openid-configuration"},
        "prrt": {"roles": {"editors": ["e@clinic.example"], "viewers": ["v@clinic.example"]}}}


def test_an_empty_database_offers_the_demo_cohort_written_by_the_editor(tmp_path, app_env):
    db = tmp_path / "clinic.sqlite"
    Store(db).close()  # e.g. left by `python -m prrt_core init`: the first start does not fill it
    app_env(db)
    at = run_app()
    assert at.info[0].value.startswith("**The database is empty.** Import the clinic's records on the Data "
                                       "page, or load the synthetic demo cohort (35 patients")
    at.button(key="load_demo").click().run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    # Rudisile 2019 (BMC Cancer 19:788): the published cohort the demo reproduces, 35 patients.
    assert metrics["Patients"] == "35" and metrics["Mean cumulative kidney dose (Gy)"] == "23.8"
    assert any("Demo data" in w.value for w in at.warning) and not [b for b in at.button if b.key == "load_demo"]
    with Store(db) as store:
        assert store.is_demo
        audit = store.read("audit")
        counts = {name: len(frame) for name, frame in store.read_all().as_dict().items()}
    # The demo's audit: a row per table with its row count, each naming this session's actor.
    demo_rows = audit[audit["action"] == "demo"]
    assert set(demo_rows["user"]) == {"local user"}
    assert dict(zip(demo_rows["table_name"], demo_rows["row_key"])) == {t: f"{n} rows" for t, n in counts.items()}


def test_the_demo_is_not_written_once_the_database_holds_patients(tmp_path, app_env):
    db = tmp_path / "clinic.sqlite"
    Store(db).close()
    app_env(db)
    at = run_app()
    assert at.button(key="load_demo")
    with Store(db) as store:  # meanwhile another session imports the clinic's first patient
        store.insert({"patients": [{"patient_id": "P1", "sex": "F", "primary_site": "lung",
                                    "hypertension": 0, "diabetes": 0}]}, actor=editor("other session"))
    at.button(key="load_demo").click().run()
    assert not at.exception and not [b for b in at.button if b.key == "load_demo"]
    with Store(db) as store:
        assert store.read("patients")["patient_id"].tolist() == ["P1"] and not store.is_demo


def test_a_viewer_sees_the_empty_database_without_the_button(tmp_path, app_env):
    db = tmp_path / "clinic.sqlite"
    Store(db).close()
    app_env(db)
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets = AUTH
    at.user = {"is_logged_in": True, "email": "v@clinic.example", "email_verified": True, "name": "Dr V",
               "iat": int(time.time())}
    at.run()
    assert not at.exception
    assert at.info[0].value.endswith("an editor can also load the synthetic demo cohort.")
    assert not [b for b in at.button if b.key == "load_demo"]
    with Store(db) as store:
        assert store.is_empty()


def test_the_clinic_config_hides_the_ask_google_and_chatgpt_links(monkeypatch):
    # Streamlit reads .streamlit/config.toml from the working directory (streamlit 1.67 config.py,
    # get_config_files) and sends client.showErrorLinks to the browser with every new session
    # (runtime/app_session.py, _populate_config_msg); "auto", the default, shows the links on
    # localhost and 127.0.0.1.
    from streamlit import config
    from streamlit.proto.NewSession_pb2 import Config
    from streamlit.runtime import app_session

    monkeypatch.chdir(REPO)
    config.get_config_options(force_reparse=True)
    assert config.get_where_defined("client.showErrorLinks") == str(REPO / ".streamlit" / "config.toml")
    assert app_session._get_show_error_links() == Config.ShowErrorLinks.SHOW_ERROR_LINKS_FALSE
    message = Config()
    app_session._populate_config_msg(message)
    assert message.show_error_links == Config.ShowErrorLinks.SHOW_ERROR_LINKS_FALSE
