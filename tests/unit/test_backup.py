"""Export (formula injection neutralised), backup through SQLite's backup API, checked restore."""

from __future__ import annotations

import io
import shutil
import sqlite3
import threading
import zipfile

import pandas as pd
import pytest

from prrt_core import importer
from prrt_core.importer import export
from prrt_core.store import Store, backup, migrate, schema
from prrt_core.store.access import Actor, Role
from prrt_core.store.backup import BackupError
from tests.support import editor

EDITOR = Actor("dr_e", Role.EDITOR, "oidc")
PATIENT = {"patient_id": "P1", "sex": "F", "primary_site": "lung", "hypertension": 0, "diabetes": 0}


def test_neutralise_prefixes_formula_text_and_leaves_numbers():
    frame = pd.DataFrame({"text": ["=1+1", "+cmd", "-2", "@SUM(A1)", "\tx", "\rx", "plain", "a=b", None],
                          "number": [-1.5, -2.0, 3.0, 0.0, 1.0, 2.0, -0.0, 5.0, None]})
    out = export.neutralise(frame)
    # OWASP "CSV Injection": cells starting with = + - @ tab CR are prefixed with an apostrophe.
    assert out["text"].tolist() == ["'=1+1", "'+cmd", "'-2", "'@SUM(A1)", "'\tx", "'\rx", "plain", "a=b", None]
    pd.testing.assert_series_equal(out["number"], frame["number"])  # a negative number is a number
    csv_text = out.to_csv(index=False)
    assert "\n'-2,3.0\n" in csv_text and "\nplain,-0.0\n" in csv_text and "=1+1,-1.5" in csv_text


def test_export_zip_has_every_table_in_import_form_and_the_audit(demo_db):
    with Store(demo_db) as store:
        data = export.export_zip(store)
        counts = {t: len(store.read(t)) for t in schema.CLINICAL_TABLES}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == sorted([f"{t}.csv" for t in schema.CLINICAL_TABLES] + ["audit.csv"])
        raw = archive.read("dosimetry.csv")
        assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 byte-order mark, for spreadsheets
        frames = {t: pd.read_csv(io.BytesIO(archive.read(f"{t}.csv")), encoding="utf-8-sig")
                  for t in schema.CLINICAL_TABLES}
    assert {t: len(f) for t, f in frames.items()} == counts
    assert list(frames["dosimetry"].columns) == [c.name for c in importer.TABLES["dosimetry"].columns]
    assert "cycle_id" not in frames["dosimetry"] and "lab_id" not in frames["labs"]


def writer(path, stop: threading.Event, written: list[int]) -> None:
    """Keep inserting a patient with its cycle in one transaction each."""
    with Store(path) as store:
        i = 0
        while not stop.is_set():
            pid = f"W{i:05d}"
            store.insert({"patients": [PATIENT | {"patient_id": pid}],
                          "cycles": [{"patient_id": pid, "cycle_number": 1, "phase": "initial",
                                      "cycle_date": "2021-01-01", "activity_gbq": 7.4}]}, actor=editor("w"))
            written.append(i)
            i += 1


def test_backup_is_a_consistent_snapshot_while_another_connection_writes(tmp_path):
    path = tmp_path / "live.sqlite"
    Store(path).close()
    stop, written = threading.Event(), []
    thread = threading.Thread(target=writer, args=(path, stop, written))
    thread.start()
    try:
        while len(written) < 20:
            stop.wait(0.01)
        copies = [backup.backup(path, tmp_path / f"copy{i}.sqlite") for i in range(3)]
    finally:
        stop.set()
        thread.join()
    for copy in copies:
        info = backup.check_backup(copy)
        # Every transaction wrote a patient and its cycle together: a snapshot has pairs.
        assert info.rows["patients"] == info.rows["cycles"] >= 20
        assert not copy.with_name(copy.name + "-wal").exists()  # self-contained file
    assert backup.check_backup(copies[-1]).rows["patients"] <= len(written)


def make_db(path, patients=("P1",)):
    with Store(path) as store:
        store.insert({"patients": [PATIENT | {"patient_id": p} for p in patients]}, actor=editor("setup"))
    return path


def test_restore_replaces_the_database_and_keeps_the_previous_copy(tmp_path):
    live = make_db(tmp_path / "live.sqlite", ("P1",))
    saved = backup.backup(make_db(tmp_path / "other.sqlite", ("A1", "A2")), tmp_path / "b.sqlite")
    with Store(live) as store:
        store.update("patients", "P1", {"sex": "M"}, actor=editor("x"))
        revision_before = store.revision
    previous = backup.restore(saved, live, actor=EDITOR)
    with Store(live) as store:
        assert sorted(store.read("patients")["patient_id"]) == ["A1", "A2"]
        last = store.read("audit").iloc[-1]
        # The restore is audited and numbered after every earlier revision (cache keys).
        assert store.revision == revision_before + 1
        assert (last["user"], last["table_name"], last["row_key"]) == ("dr_e", "database", "restore b.sqlite")
        assert '"patients": 2' in last["after_json"]
    assert previous.name.startswith("live.pre-restore-") and previous.suffix == ".sqlite"
    with Store(previous) as old:
        assert old.read("patients")["sex"].tolist() == ["M"]
    # another connection writes immediately afterwards
    conn = sqlite3.connect(live, timeout=0)
    conn.execute("INSERT INTO meta (key, value) VALUES ('probe', '1')")
    conn.commit()
    conn.close()


def test_restore_of_an_older_schema_version_migrates_it(tmp_path):
    old = tmp_path / "v1.sqlite"
    conn = sqlite3.connect(old)
    migrate(conn, target=1)
    conn.close()
    live = make_db(tmp_path / "live.sqlite")
    assert backup.check_backup(old).schema_version == 1
    backup.restore(old, live, actor=EDITOR)
    with Store(live) as store:
        assert store.schema_version == schema.SCHEMA_VERSION and store.is_empty()


def refuse(path, match):
    with pytest.raises(BackupError, match=match):
        backup.check_backup(path)


def test_bad_backups_are_refused_with_a_clear_message(tmp_path):
    good = make_db(tmp_path / "good.sqlite")
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    refuse(empty, "empty or missing file")
    text = tmp_path / "patients.csv"
    text.write_text("patient_id\nP1\n")
    refuse(text, "not an SQLite database")
    truncated = tmp_path / "truncated.sqlite"
    data = backup.backup(good, tmp_path / "full.sqlite").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    refuse(truncated, "damaged|not a readable SQLite database")
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(data[:4096] + b"\x13" * (len(data) - 4096))
    refuse(corrupt, "damaged|not a readable SQLite database")
    newer = tmp_path / "newer.sqlite"
    shutil.copy(tmp_path / "full.sqlite", newer)
    with sqlite3.connect(newer) as conn:
        conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    refuse(newer, f"schema version {schema.SCHEMA_VERSION + 1} is newer than this program")
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (x)")
        conn.execute("PRAGMA user_version = 2")
    refuse(foreign, "missing tables: assessments, audit, cycles.*unexpected tables: notes")
    extra = tmp_path / "extra.sqlite"
    shutil.copy(tmp_path / "full.sqlite", extra)
    with sqlite3.connect(extra) as conn:
        conn.execute("CREATE TABLE sneaky (x)")
    refuse(extra, "unexpected tables: sneaky")
    orphan = tmp_path / "orphan.sqlite"
    shutil.copy(tmp_path / "full.sqlite", orphan)
    with sqlite3.connect(orphan) as conn:  # foreign keys off on this plain connection
        conn.execute("INSERT INTO cycles (patient_id, cycle_number, phase, cycle_date, activity_gbq) "
                     "VALUES ('NOBODY', 1, 'initial', '2021-01-01', 7.4)")
    refuse(orphan, "foreign_key_check")
    plain = tmp_path / "plain.sqlite"
    sqlite3.connect(plain).execute("CREATE TABLE t (x)").connection.close()
    refuse(plain, "schema version 0")
    # A refused file leaves the live database untouched.
    live = make_db(tmp_path / "live.sqlite", ("L1",))
    with pytest.raises(BackupError):
        backup.restore(truncated, live, actor=EDITOR)
    with Store(live) as store:
        assert store.read("patients")["patient_id"].tolist() == ["L1"]
