"""The SQLite store: constraints, all-or-nothing writes, audit, migrations."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from prrt_core.store import Store, StoreError, migrate, schema
from tests.support import editor
from ui.text import md

PATIENT = {"patient_id": "P001", "sex": "F", "age_at_first_prrt_years": 61,
           "primary_site": "small intestine", "tumour_grade": "G2", "ki67_pct": 4.0,
           "hypertension": True, "diabetes": False}
CYCLE = {"cycle_id": 1, "patient_id": "P001", "cycle_number": 1, "phase": "initial",
         "cycle_date": "2021-03-01", "activity_gbq": 7.4}


def counts(store: Store) -> dict[str, int]:
    return {t: len(store.read(t)) for t in schema.CLINICAL_TABLES}


@pytest.fixture
def seeded(store):
    store.insert({"patients": [PATIENT], "cycles": [CYCLE]}, actor=editor("tester"))
    return store


def test_new_store_has_current_schema_and_safe_pragmas(store):
    assert store.schema_version == schema.SCHEMA_VERSION == 4
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000
    assert set(schema.CLINICAL_TABLES) <= set(store.db.table_names())


@pytest.mark.parametrize("table, row, field, value", [
    ("patients", PATIENT | {"sex": "X"}, "sex", "X"),
    ("patients", PATIENT | {"patient_id": "Jane Doe"}, "patient_id", "Jane Doe"),
    ("patients", PATIENT | {"primary_site": "brain"}, "primary_site", "brain"),
    ("patients", PATIENT | {"ki67_pct": 120.0}, "ki67_pct", 120.0),
    ("cycles", CYCLE | {"cycle_id": 2, "cycle_number": 2, "activity_gbq": 0.0}, "activity_gbq", 0.0),
    ("cycles", CYCLE | {"cycle_id": 2, "cycle_number": 2, "activity_gbq": 15.01}, "activity_gbq", 15.01),
    ("cycles", CYCLE | {"cycle_id": 2, "cycle_number": 2, "phase": "maintenance"}, "phase", "maintenance"),
    ("cycles", CYCLE | {"cycle_id": 2, "cycle_number": 2, "cycle_date": "2021-02-30"}, "cycle_date", "2021-02-30"),
    ("cycles", CYCLE | {"cycle_id": 2, "cycle_number": 2, "cycle_date": "01/03/2021"}, "cycle_date", "01/03/2021"),
    ("cycles", CYCLE | {"cycle_id": 2, "cycle_number": 2, "activity_gbq": None}, "activity_gbq", None),
    ("dosimetry", {"cycle_id": 1, "organ": "kidneys", "dose_gy": -0.1, "method": "x"}, "dose_gy", -0.1),
    ("dosimetry", {"cycle_id": 1, "organ": "brain", "dose_gy": 1.0, "method": "x"}, "organ", "brain"),
    # Hb 125 is g/L typed into a g/dL field: outside physiological bounds.
    ("labs", {"patient_id": "P001", "lab_date": "2021-03-01", "hb_g_dl": 125.0}, "hb_g_dl", 125.0),
    ("labs", {"patient_id": "P001", "lab_date": "2021-03-01", "plt_10e9_l": -5.0}, "plt_10e9_l", -5.0),
    ("labs", {"patient_id": "P001", "lab_date": "2021-03-01", "creatinine_mg_dl": 88.0}, "creatinine_mg_dl", 88.0),
    ("events", {"patient_id": "P001", "event_date": "2022-01-01", "event_type": "progression"}, "phase", None),
    ("events", {"patient_id": "P001", "event_date": "2022-01-01", "event_type": "death", "phase": "initial"}, "phase", "initial"),
    ("performance_status", {"patient_id": "P001", "status_date": "2021-02-20", "karnofsky_pct": 75}, "karnofsky_pct", 75),
])
def test_constraint_violation_names_field_and_value_and_writes_nothing(seeded, table, row, field, value):
    before = counts(seeded)
    revision = seeded.revision
    with pytest.raises(StoreError) as info:
        seeded.insert({table: [row]}, actor=editor("tester"))
    err = info.value
    assert (err.table, err.field, err.value, err.row) == (table, field, value, 0)
    assert table in str(err) and field in str(err) and repr(value) in str(err)
    assert counts(seeded) == before
    assert seeded.revision == revision  # not even an audit row


def test_multi_table_write_is_all_or_nothing(store):
    bad_lab = {"patient_id": "P001", "lab_date": "2021-03-01", "plt_10e9_l": 5000.0}
    with pytest.raises(StoreError) as info:
        store.insert({"patients": [PATIENT], "cycles": [CYCLE], "labs": [bad_lab]}, actor=editor("tester"))
    assert (info.value.table, info.value.field) == ("labs", "plt_10e9_l")
    assert counts(store) == {t: 0 for t in schema.CLINICAL_TABLES}
    assert store.read("audit").query("action != 'migrate'").empty


def test_error_names_the_failing_row_in_a_batch(seeded):
    rows = [CYCLE | {"cycle_id": i, "cycle_number": i, "cycle_date": f"2021-0{i}-01"} for i in (2, 3, 4)]
    rows[2]["activity_gbq"] = 20.0
    with pytest.raises(StoreError) as info:
        seeded.insert({"cycles": rows}, actor=editor("tester"))
    assert info.value.row == 2 and info.value.value == 20.0
    assert len(seeded.read("cycles")) == 1


def test_unknown_patient_duplicate_key_and_unknown_column(seeded):
    with pytest.raises(StoreError, match="patient_id = 'P999'.*no such patients row"):
        seeded.insert({"cycles": [CYCLE | {"cycle_id": 9, "patient_id": "P999"}]}, actor=editor("t"))
    with pytest.raises(StoreError, match=r"patient_id, cycle_number = \('P001', 1\).*duplicate"):
        seeded.insert({"cycles": [CYCLE | {"cycle_id": 9}]}, actor=editor("t"))
    with pytest.raises(StoreError, match="field dose_mgy = 1.0 rejected: unknown column"):
        seeded.insert({"dosimetry": [{"cycle_id": 1, "organ": "kidneys", "dose_mgy": 1.0}]}, actor=editor("t"))
    with pytest.raises(StoreError, match="unknown table"):
        seeded.insert({"patient": [PATIENT]}, actor=editor("t"))


def test_reads_are_typed_with_units_in_names(seeded):
    cycles = seeded.read("cycles")
    assert cycles["cycle_date"].dtype == "datetime64[ns]"
    assert cycles["activity_gbq"].tolist() == [7.4]
    patients = seeded.read("patients")
    assert patients["hypertension"].dtype == bool and bool(patients["hypertension"].iat[0])
    assert seeded.read("cycles", patient_id="NOBODY").empty


def test_update_and_delete_are_audited_with_before_and_after(seeded):
    seeded.update("cycles", 1, {"activity_gbq": 6.8}, actor=editor("dr_a"))
    assert seeded.read("cycles")["activity_gbq"].tolist() == [6.8]
    with pytest.raises(StoreError, match="activity_gbq = 68.0"):
        seeded.update("cycles", 1, {"activity_gbq": 68.0}, actor=editor("dr_a"))
    assert seeded.read("cycles")["activity_gbq"].tolist() == [6.8]
    seeded.delete("patients", "P001", actor=editor("dr_b"))
    assert counts(seeded)["cycles"] == 0  # cascades to the patient's cycles
    audit = seeded.read("audit").set_index("audit_id")
    update = audit[audit["action"] == "update"].iloc[0]
    assert update["user"] == "dr_a" and update["row_key"] == "cycle_id=1"
    assert '"activity_gbq": 7.4' in update["before_json"] and '"activity_gbq": 6.8' in update["after_json"]
    delete = audit[audit["action"] == "delete"].iloc[0]
    assert delete["user"] == "dr_b" and '"patient_id": "P001"' in delete["before_json"]


def test_write_without_user_is_refused(store):
    with pytest.raises(StoreError, match="user"):
        store.insert({"patients": [PATIENT]}, actor=editor(""))
    assert counts(store)["patients"] == 0


def test_migration_from_version_1_keeps_data(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    assert migrate(conn, target=1) == 1
    conn.execute("INSERT INTO patients (patient_id, sex, primary_site, hypertension, diabetes) "
                 "VALUES ('OLD1', 'M', 'lung', 0, 0)")
    conn.execute("INSERT INTO labs (patient_id, lab_date, hb_g_dl) VALUES ('OLD1', '2019-05-02', 12.5)")
    assert "bilirubin_mg_dl" not in [r[1] for r in conn.execute("PRAGMA table_info(labs)")]
    conn.close()

    with Store(path) as store:
        assert store.schema_version == 4
        labs = store.read("labs")
        assert labs["hb_g_dl"].tolist() == [12.5] and labs["bilirubin_mg_dl"].isna().all()
        assert store.read("performance_status").empty
        store.insert({"performance_status": [{"patient_id": "OLD1", "status_date": "2019-05-02",
                                              "ecog": 1}]}, actor=editor("t"))
        migrated = store.read("audit").query("action == 'migrate'")["row_key"].tolist()
        assert migrated == ["1", "2", "3", "4"]
        assert "dose_sd_gy" in store.columns("dosimetry")  # version 4 (issue 16): nullable dose uncertainty
        # Version 3 (issue 13): the new columns are empty, the new tables exist and are empty.
        patients = store.read("patients")
        assert patients["weight_kg"].isna().all() and patients["childbearing_potential"].isna().all()
        assert store.read("board_decisions").empty and store.read("ssa_administrations").empty


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.sqlite"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="newer than this program"):
        Store(path)


def test_dataframe_rows_with_nan_and_timestamps_are_stored_as_null_and_iso(store):
    store.insert({"patients": [PATIENT]}, actor=editor("t"))
    labs = pd.DataFrame({"patient_id": ["P001", "P001"],
                         "lab_date": pd.to_datetime(["2021-03-01", "2021-04-01"]),
                         "hb_g_dl": [12.1, float("nan")]})
    store.insert({"labs": labs}, actor=editor("t"))
    raw = store.conn.execute("SELECT lab_date, hb_g_dl FROM labs ORDER BY lab_date").fetchall()
    assert raw == [("2021-03-01", 12.1), ("2021-04-01", None)]


# ---- opening a path that is not a store (the command line and the app share these checks) ----
def not_a_store(tmp_path, kind: str):
    if kind == "directory":
        (path := tmp_path / "folder").mkdir()
    elif kind == "text file":
        (path := tmp_path / "notes.txt").write_text("hello\n")
    elif kind == "truncated":
        with Store(full := tmp_path / "full.sqlite") as store:
            store.insert({"patients": [PATIENT]}, actor=editor("t"))
        data = full.read_bytes()
        (path := tmp_path / "truncated.sqlite").write_bytes(data[: len(data) // 2])
        full.unlink()
    elif kind == "another program's database":
        sqlite3.connect(path := tmp_path / "other.sqlite").execute("CREATE TABLE t (x)").connection.close()
    else:
        path = tmp_path / "/dev/null"
    return path


@pytest.mark.parametrize("kind, reason", [
    ("directory", "is a directory, not a database file"),
    ("text file", "not an SQLite database"),
    ("truncated", "truncated SQLite file"),
    ("/dev/null", "is not a regular file"),
    ("another program's database", "an SQLite database of another program"),
])
def test_a_path_that_is_not_a_store_is_refused_naming_it_and_nothing_is_created(tmp_path, kind, reason):
    path = not_a_store(tmp_path, kind)
    before = sorted(p.name for p in tmp_path.iterdir())
    for create in (True, False):
        with pytest.raises(StoreError, match=reason) as info:
            Store(path, create=create)
        assert (info.value.table, info.value.field, info.value.value) == ("database", "path", str(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_missing_or_empty_file_is_created_only_when_asked(tmp_path):
    with pytest.raises(StoreError, match="no such database file"):
        Store(tmp_path / "sub" / "missing.sqlite", create=False)
    assert list(tmp_path.iterdir()) == []
    (empty := tmp_path / "empty.sqlite").touch()
    with pytest.raises(StoreError, match="empty file, not a database"):
        Store(empty, create=False)
    with Store(empty) as store:  # create: SQLite makes an empty file a new database
        assert store.schema_version == schema.SCHEMA_VERSION


def test_a_read_only_file_opens_read_only_and_refuses_writes(tmp_path):
    path = tmp_path / "ro.sqlite"
    with Store(path) as store:
        store.insert({"patients": [PATIENT]}, actor=editor("t"))
        store.conn.execute("PRAGMA journal_mode = DELETE")
    path.chmod(0o444)  # no write permission for anyone (root included: the mode is the intent)
    data = path.read_bytes()
    with Store(path) as store:
        assert store.read_only and store.read("patients")["patient_id"].tolist() == ["P001"]
        with pytest.raises(StoreError, match="read-only file: nothing can be written"):
            store.insert({"patients": [PATIENT | {"patient_id": "P002"}]}, actor=editor("t"))
    assert path.read_bytes() == data and data[18:20] == b"\x01\x01"  # rollback journal kept: no WAL switch
    assert [p.name for p in tmp_path.iterdir()] == ["ro.sqlite"]
    conn = sqlite3.connect(old := tmp_path / "v1.sqlite")
    migrate(conn, target=1)
    conn.close()
    old.chmod(0o444)
    with pytest.raises(StoreError, match="read-only file at schema version 1: migrating it to version 4 needs write"):
        Store(old)


@pytest.mark.parametrize("kind, reason", [("directory", "is a directory, not a database file"),
                                          ("text file", "not an SQLite database"),
                                          ("/dev/null", "is not a regular file")])
def test_the_app_shows_one_message_for_a_database_that_is_not_one(tmp_path, app_env, kind, reason):
    from tests.support import open_page

    path = not_a_store(tmp_path, kind)
    before = sorted(p.name for p in tmp_path.iterdir())
    app_env(path)
    at = open_page()  # no uncaught exception
    message = at.error[0].value  # single-user mode: the local user is an editor and sees the path
    assert len(at.error) == 1 and message.startswith(f"Cannot open the database {md(f'{path}: {reason}')}")
    assert not at.title  # no page ran
    assert sorted(p.name for p in tmp_path.iterdir()) == before
