"""Data page through AppTest: import with the error table, edits, confirmed deletes, roles, audit."""

from __future__ import annotations

import re
import time

import pandas as pd
from streamlit.testing.v1 import AppTest

from prrt_core.store import Store, backup
from tests import support
from tests.support import APP, editor
from ui.text import md

PAGE = "pages/data.py"
AUTH = {"auth": {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "test-secret",
                 "client_id": "id", "client_secret": "secret",
                 "server_metadata_url": "https://idp.example/.well-known/openid-configuration"},
        "prrt": {"roles": {"editors": ["e@clinic.example"], "viewers": ["v@clinic.example"]}}}
BAD = b"patient_id,sex,primary_site,hypertension,diabetes\nNEW-1,X,lung,0,0\n"
GOOD = b"patient_id,sex,primary_site,hypertension,diabetes\nNEW-1,F,lung,0,0\n"


def open_page(user: dict | None = None) -> AppTest:
    return support.open_page(PAGE, secrets=AUTH if user is not None else None, user=user)


def problem_table(at: AppTest):
    tables = [d.value for d in at.dataframe if "Reason" in d.value.columns]
    assert len(tables) == 1
    return tables[0]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_import_shows_every_problem_then_imports_the_fixed_file(fresh_demo_db, app_env):
    app_env(fresh_demo_db)
    at = open_page()
    assert "Single-user mode" in at.sidebar.caption[-1].value
    at.file_uploader(key="import_files").upload("patients.csv", BAD, "text/csv")
    at.run()
    assert at.error[0].value.startswith("1 problem(s) found; nothing was written")
    problems = problem_table(at)
    assert problems[["File", "Row", "Column", "Value", "Reason"]].values.tolist() == [
        ["patients.csv", 2, "sex", "X", "one of: M, F"]]
    assert not [b for b in at.button if b.key == "import"]
    at.file_uploader(key="import_files").set_value(("patients.csv", GOOD, "text/csv"))
    at.run()
    assert at.button(key="import").label == "Import 1 row(s)"
    at.button(key="import").click().run()
    assert not at.exception
    assert at.success[0].value == "Imported."
    assert at.success[1].value == "Nothing to import: every row is already in the database."
    with Store(fresh_demo_db) as store:
        audit = store.read("audit").iloc[-1]
        assert (audit["user"], audit["action"], audit["row_key"]) == ("local user", "import", "patient_id=NEW-1")
    at.switch_page("pages/home.py").run()
    assert metrics(at)["Patients"] == "36"  # Home reflects the import (35 demo patients + 1)


def editor_key(table: str, who: str, version: int = 0) -> str:
    return f"editor_{table}_{who}_{version}"


def choose(at: AppTest, table: str, who: str) -> AppTest:
    at.selectbox(key="edit_table").set_value(table)
    at.selectbox(key="edit_patient").set_value(who)
    return at.run()


def test_edit_is_validated_saved_and_audited(fresh_demo_db, app_env):
    app_env(fresh_demo_db)
    at = choose(open_page(), "labs", "NET-001")
    shown = at.data_editor(key=editor_key("labs", "NET-001")).value
    with Store(fresh_demo_db) as store:
        labs = store.read("labs", patient_id="NET-001")
    assert len(shown) == len(labs)
    first_hb = float(labs.sort_values("lab_date")["hb_g_dl"].iloc[0])
    edit = {"edited_rows": {0: {"hb_g_dl": 125.0}}, "added_rows": [], "deleted_rows": []}
    at.session_state[editor_key("labs", "NET-001")] = edit
    at.run()
    at.button(key="save_edits").click().run()
    assert at.error[0].value.startswith("1 problem(s) found")
    assert problem_table(at)["Reason"].tolist() == ["outside [2, 25] g/dL"]  # g/L typed as g/dL
    at.session_state[editor_key("labs", "NET-001")] = edit | {"edited_rows": {0: {"hb_g_dl": 12.5}}}
    at.run()
    at.button(key="save_edits").click().run()
    assert not at.exception and at.success[0].value == "Saved."
    with Store(fresh_demo_db) as store:
        assert store.read("labs", patient_id="NET-001").sort_values("lab_date")["hb_g_dl"].iloc[0] == 12.5
        audit = store.read("audit").iloc[-1]
    assert (audit["user"], audit["action"], audit["table_name"]) == ("local user", "update", "labs")
    assert f'"hb_g_dl": {first_hb}' in audit["before_json"] and '"hb_g_dl": 12.5' in audit["after_json"]
    # The audit log on the page, filtered by action.
    at.multiselect(key="audit_actions").set_value(["update"]).run()
    log = at.dataframe[-1].value  # the audit log is the last table on the page
    assert log[["User", "Action", "Table"]].values.tolist() == [["local user", "update", "labs"]]


def test_delete_opens_a_confirmation_and_cancel_keeps_the_rows(fresh_demo_db, app_env):
    app_env(fresh_demo_db)
    at = choose(open_page(), "patients", "NET-035")
    with Store(fresh_demo_db) as store:
        n_cycles = len(store.read("cycles", patient_id="NET-035"))
    at.session_state[editor_key("patients", "NET-035")] = {"edited_rows": {}, "added_rows": [],
                                                           "deleted_rows": [0]}
    at.run()
    at.button(key="save_edits").click().run()
    text = at.warning[-1].value
    # Keys are escaped markdown (ui.text.md); the table name is the only markup.
    assert text.startswith(md("Delete 1 row(s) from ") + "**patients**" + md(": NET-035. This also deletes "))
    assert md(f"{n_cycles} cycles row(s)") in text  # the cascade is spelled out
    at.button(key="cancel_delete").click().run()
    with Store(fresh_demo_db) as store:
        assert "NET-035" in set(store.read("patients")["patient_id"])
    at.button(key="save_edits").click().run()
    at.button(key="confirm_delete").click().run()
    assert not at.exception and at.success[0].value == "Saved."
    with Store(fresh_demo_db) as store:
        assert "NET-035" not in set(store.read("patients")["patient_id"])
        assert store.read("cycles", patient_id="NET-035").empty
        audit = store.read("audit").iloc[-1]
    assert (audit["action"], audit["row_key"], audit["after_json"]) == ("delete", "patient_id=NET-035", None)


def test_viewer_sees_data_but_no_write_controls(fresh_demo_db, app_env):
    app_env(fresh_demo_db)
    at = open_page({"is_logged_in": True, "email": "v@clinic.example", "email_verified": True, "name": "Dr V"})
    assert at.sidebar.caption[-1].value == f"Signed in as {md('Dr V <v@clinic.example>')} (viewer)."
    assert at.info[0].value == "Viewers cannot import."
    keys = {w.key for w in at.button} | {w.key for w in at.file_uploader}
    assert not keys & {"import_files", "save_edits", "restore_file", "reload_edits"}
    assert len(at.data_editor) == 0 and len(at.dataframe) >= 2  # the table and the audit log


def test_editor_signed_in_is_named_in_the_audit(fresh_demo_db, app_env):
    app_env(fresh_demo_db)
    at = open_page({"is_logged_in": True, "email": "E@clinic.example", "email_verified": True, "name": "Dr E"})
    at.file_uploader(key="import_files").upload("patients.csv", GOOD, "text/csv")
    at.run()
    at.button(key="import").click().run()
    with Store(fresh_demo_db) as store:
        assert store.read("audit").iloc[-1]["user"] == "Dr E <E@clinic.example>"


def test_not_signed_in_or_without_a_role_sees_nothing(fresh_demo_db, app_env):
    app_env(fresh_demo_db)
    at = open_page({"is_logged_in": False})
    assert at.info[0].value == "Sign in to see and change the clinical record."
    assert at.button(key="sign_in") and len(at.tabs) == 0 and len(at.dataframe) == 0
    at = open_page({"is_logged_in": True, "email": "stranger@mail.example", "email_verified": True, "name": "S"})
    assert at.error[0].value.startswith(md("stranger@mail.example") + " has no role here")
    assert len(at.tabs) == 0


def test_restore_refuses_a_bad_file_and_restores_a_backup(fresh_demo_db, app_env, tmp_path):
    app_env(fresh_demo_db)
    other = tmp_path / "other.sqlite"
    with Store(other) as store:
        store.insert({"patients": [{"patient_id": "R1", "sex": "M", "primary_site": "CUP",
                                    "hypertension": 0, "diabetes": 0}]}, actor=editor("x"))
    data = backup.backup_bytes(other)
    at = open_page()
    at.file_uploader(key="restore_file").upload("notes.csv", b"a,b\n", "text/csv")
    at.run()
    assert at.error[0].value == "Cannot restore " + md("notes.csv: not an SQLite database (a backup starts "
                                                       "with 'SQLite format 3')")
    at.file_uploader(key="restore_file").set_value(("b.sqlite", data, "application/octet-stream"))
    at.run()
    at.button(key="restore").click().run()
    at.button(key="confirm_restore").click().run()
    assert not at.exception and at.success[0].value.startswith("Restored from " + md("b.sqlite"))
    at.switch_page("pages/home.py").run()
    assert metrics(at)["Patients"] == "1"


def test_sign_out_returns_to_the_sign_in_prompt(fresh_demo_db, app_env):
    app_env(fresh_demo_db)
    at = open_page({"is_logged_in": True, "email": "e@clinic.example", "email_verified": True, "name": "Dr E"})
    at.sidebar.button(key="sign_out").click().run()
    assert not at.exception
    assert at.info[0].value == "Sign in to see and change the clinical record."


def test_every_page_requires_a_role_when_sign_in_is_configured(fresh_demo_db, app_env):
    # The gate sits in app.py, before any page runs: Home shows no cohort figures either.
    app_env(fresh_demo_db)
    for page in ("pages/home.py", "pages/patient.py", "pages/cohort.py"):
        at = AppTest.from_file(APP, default_timeout=60)
        at.secrets = AUTH
        at.user = {"is_logged_in": False}
        at.run()
        at.switch_page(page).run()
        assert not at.exception
        assert at.info[0].value == "Sign in to see and change the clinical record."
        assert len(at.metric) == 0 and len(at.dataframe) == 0, page
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets = AUTH
    at.user = {"is_logged_in": True, "email": "v@clinic.example", "email_verified": True, "name": "Dr V",
               "iat": int(time.time())}
    at.run()
    assert metrics(at)["Patients"] == "35"  # a viewer reads
    assert any(f"Signed in as {md('Dr V <v@clinic.example>')} (viewer)" in c.value for c in at.sidebar.caption)


# ---- hardening: uploads released, the database path for editors only, external text escaped ----
HOSTILE_CSV = "[click](https://evil.example).csv"  # a browser cannot send '/' in a name: a direct PUT can
HOSTILE_BACKUP = "[click](https:evil.example).sqlite"


def uploader(at: AppTest, label: str):
    return next(u for u in at.file_uploader if u.label == label)


def bodies(at: AppTest) -> list[str]:
    """The markdown of every message, caption and text element on the page."""
    return [e.value for kind in ("error", "warning", "info", "success", "caption", "markdown")
            for e in getattr(at, kind)]


def unescaped_link(markdown: str) -> bool:
    return bool(re.search(r"(?<!\\)\]\(|(?<!\\)<https?|https?://", markdown))


def test_imported_files_are_released_and_the_uploader_comes_back_empty(fresh_demo_db, app_env):
    app_env(fresh_demo_db)
    at = open_page()
    at.file_uploader(key="import_files").upload("patients.csv", GOOD, "text/csv")
    at.run()
    at.button(key="import").click().run()
    assert at.success[0].value == "Imported."
    assert at.success[1].value == "Nothing to import: every row is already in the database."  # checked once more
    files = uploader(at, "Files to import")
    assert files.key != "import_files" and files.value == []  # a new, empty uploader: the file is released
    assert "import_files" not in at.session_state
    at.run()  # the check after the import is shown once; nothing of the file is kept
    assert uploader(at, "Files to import").value == [] and not at.success


def test_a_restored_backup_file_is_released(fresh_demo_db, app_env, tmp_path):
    app_env(fresh_demo_db)
    other = tmp_path / "other.sqlite"
    with Store(other) as store:
        store.insert({"patients": [{"patient_id": "R1", "sex": "M", "primary_site": "CUP",
                                    "hypertension": 0, "diabetes": 0}]}, actor=editor("x"))
    at = open_page()
    at.file_uploader(key="restore_file").upload("b.sqlite", backup.backup_bytes(other), "application/octet-stream")
    at.run()
    at.button(key="restore").click().run()
    at.button(key="confirm_restore").click().run()
    assert at.success[0].value.startswith("Restored from " + md("b.sqlite"))
    restore = uploader(at, "Restore from a backup")
    assert restore.key != "restore_file" and restore.value is None


def sidebar_text(at: AppTest) -> str:
    return " ".join(c.value for c in at.sidebar.caption)


def open_app(user: dict | None = None) -> AppTest:
    """app.py as a first visit runs it (Home, with app.py's sidebar)."""
    return support.open_page(secrets=AUTH if user is not None else None, user=user)


def test_the_database_path_is_shown_to_editors_only(fresh_demo_db, app_env):
    app_env(fresh_demo_db)
    shown = f"Database: {md(fresh_demo_db)}"
    assert shown in sidebar_text(open_app())  # single-user mode: the local editor
    editor_claims = {"is_logged_in": True, "email": "e@clinic.example", "email_verified": True, "name": "Dr E"}
    assert shown in sidebar_text(open_app(editor_claims))
    for user in ({"is_logged_in": False},  # signed out
                 {"is_logged_in": True, "email": "v@clinic.example", "email_verified": True, "name": "Dr V"},
                 {"is_logged_in": True, "email": "nobody@mail.example", "email_verified": True, "name": "N"}):
        at = open_app(user)
        text = " ".join(bodies(at))
        assert "Database:" not in text and fresh_demo_db.name not in text and md(fresh_demo_db.name) not in text


def test_hostile_file_names_show_as_text(fresh_demo_db, app_env):
    app_env(fresh_demo_db)
    at = open_page()
    at.file_uploader(key="import_files").upload(HOSTILE_CSV, GOOD, "text/csv")
    at.run()
    assert at.error[0].value.startswith("1 problem(s) found; nothing was written")
    assert problem_table(at)["File"].tolist() == [HOSTILE_CSV]  # a table cell is text, not markdown
    assert not [b for b in bodies(at) if unescaped_link(b)]
    at.file_uploader(key="restore_file").upload(HOSTILE_BACKUP, b"a,b\n", "text/csv")
    at.run()
    refused = [e.value for e in at.error if e.value.startswith("Cannot restore")]
    assert refused == ["Cannot restore " + md(f"{HOSTILE_BACKUP}: not an SQLite database (a backup starts "
                                              "with 'SQLite format 3')")]
    assert not [b for b in bodies(at) if unescaped_link(b)]


# ---- issue 13 section 5: a date typed wrongly is named, never crashes the page ----------------
def test_bad_dates_typed_into_the_cycles_editor_are_named_and_nothing_is_written(fresh_demo_db, app_env):
    # In a datetime column, 0001-01-01 and 0021-01-01 ("21-01-01" in an ISO-ordered date picker)
    # stopped st.data_editor itself: pandas cannot hold the year in nanoseconds (1677-2262) and
    # raised AssertionError while Streamlit applied the edit. Dates are now ISO text, judged by the
    # import's cell rule (importer/cells.py: YYYY-MM-DD, a real calendar date in that range).
    app_env(fresh_demo_db)
    at = choose(open_page(), "cycles", "NET-001")
    with Store(fresh_demo_db) as store:
        before, n_audit = store.read("cycles"), len(store.read("audit"))
    first = before[before["patient_id"] == "NET-001"].sort_values("cycle_number")
    typed = {0: {"cycle_date": "21-01-01"}, 1: {"cycle_date": "0001-01-01"}, 2: {"cycle_date": "99999-01-01"}}
    at.session_state[editor_key("cycles", "NET-001")] = {"edited_rows": typed, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    warning = at.warning[-1].value
    assert warning.startswith("3 cell(s) would be refused; nothing is saved until they are corrected")
    for row, value, reason in ((1, "21-01-01", "not a date: write YYYY-MM-DD"),
                               (2, "0001-01-01", "year out of range: dates from 1678 to 2261"),
                               (3, "99999-01-01", "not a date: write YYYY-MM-DD")):
        assert f"- cycles, row {row}, {md('cycle_date')}: {md(repr(value))} — {md(reason)}" in warning
    at.button(key="save_edits").click().run()
    assert not at.exception
    assert at.error[0].value.startswith("3 problem(s) found; nothing was written")
    assert problem_table(at)[["File", "Row", "Column", "Value"]].values.tolist() == [
        ["cycles (editor)", 1, "cycle_date", "21-01-01"], ["cycles (editor)", 2, "cycle_date", "0001-01-01"],
        ["cycles (editor)", 3, "cycle_date", "99999-01-01"]]
    with Store(fresh_demo_db) as store:
        assert store.read("cycles").equals(before) and len(store.read("audit")) == n_audit
    # The page survives: correcting the first cell and undoing the others saves that one date.
    fixed = (first["cycle_date"].iloc[0] + pd.Timedelta(days=1)).strftime("%Y-%m-%d")  # before cycle 2
    at.session_state[editor_key("cycles", "NET-001")] = {"edited_rows": {0: {"cycle_date": fixed}},
                                                          "added_rows": [], "deleted_rows": []}
    at.run()
    assert not [w for w in at.warning if "would be refused" in w.value]
    at.button(key="save_edits").click().run()
    assert not at.exception and at.success[0].value == "Saved."
    with Store(fresh_demo_db) as store:
        after = store.read("cycles", patient_id="NET-001").sort_values("cycle_number")["cycle_date"]
    assert after.iloc[0] == pd.Timestamp(fixed) and after.iloc[1:].equals(first["cycle_date"].iloc[1:])


def test_a_typed_value_in_the_cell_message_shows_as_text(fresh_demo_db, app_env):
    app_env(fresh_demo_db)
    at = choose(open_page(), "cycles", "NET-001")
    at.session_state[editor_key("cycles", "NET-001")] = {
        "edited_rows": {0: {"cycle_date": "[click](https://evil.example)"}}, "added_rows": [], "deleted_rows": []}
    at.run()
    warning = at.warning[-1].value
    assert warning.startswith("1 cell(s) would be refused") and md("[click](https://evil.example)") in warning
    assert not unescaped_link(warning)
