"""Restore takes rows, never schema, from a backup; the swap and its audit row are one atomic step.

A backup is a file from outside: it may carry a trigger (one that divides every new dose by 10,
or RAISE(IGNORE) on audit inserts, which silently stops auditing and freezes the cache
revision), a view, an index, a table without its CHECK constraints, a missing or extra column,
or a huge row. Each is refused naming the object and the value, and the live database stays
byte for byte as it was. A restore killed at any point leaves the old database or the complete
new one with its audit row.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import textwrap

import pytest

from prrt_core.store import Store, backup, connection, schema
from prrt_core.store.access import Actor, Role
from prrt_core.store.backup import BackupError
from tests.support import child_at_marker, editor

EDITOR = Actor("dr_e", Role.EDITOR, "oidc")
PATIENT = {"patient_id": "P1", "sex": "F", "primary_site": "lung", "hypertension": 0, "diabetes": 0}
CYCLE = {"cycle_id": 1, "patient_id": "P1", "cycle_number": 1, "phase": "initial",
         "cycle_date": "2021-01-01", "activity_gbq": 7.4}
DOSE = {"dosimetry_id": 1, "cycle_id": 1, "organ": "kidneys", "dose_gy": 4.0, "method": "hybrid"}
CYCLES_WITHOUT_CHECKS = ("CREATE TABLE cycles (cycle_id INTEGER PRIMARY KEY, patient_id TEXT NOT NULL "
                         "REFERENCES patients(patient_id) ON DELETE CASCADE, cycle_number INTEGER NOT NULL, "
                         "phase TEXT NOT NULL, cycle_date TEXT NOT NULL, activity_gbq REAL NOT NULL, "
                         "UNIQUE (patient_id, cycle_number))")


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def good(tmp_path):
    """A sound backup: patients A1, A2, a cycle with a kidney dose."""
    source = tmp_path / "source.sqlite"
    with Store(source) as store:
        store.insert({"patients": [PATIENT | {"patient_id": "A1"}, PATIENT | {"patient_id": "A2"}],
                      "cycles": [CYCLE | {"patient_id": "A1"}], "dosimetry": [DOSE]}, actor=editor("src"))
    return backup.backup(source, tmp_path / "good.sqlite")


@pytest.fixture
def live(tmp_path):
    """The database in use: patient L1, closed (no -wal file)."""
    path = tmp_path / "live" / "prrt.sqlite"
    with Store(path) as store:
        store.insert({"patients": [PATIENT | {"patient_id": "L1"}]}, actor=editor("setup"))
    return path


def tampered(good, name: str, *statements: str, schema_edit: str | None = None):
    """A copy of the good backup changed by a plain connection (no foreign keys, no checks)."""
    path = good.with_name(f"{name}.sqlite")
    shutil.copy(good, path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        if schema_edit is not None:  # a table stored with another definition (same columns)
            conn.execute("PRAGMA writable_schema = ON")
            conn.execute("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'cycles'",
                         (schema_edit,))
            conn.execute("PRAGMA writable_schema = OFF")
            conn.close()
            conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA ignore_check_constraints = ON")
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()
    return path


HOSTILE = {
    "trigger dividing every new dose by 10": (
        ["CREATE TRIGGER shrink AFTER INSERT ON dosimetry BEGIN UPDATE dosimetry SET dose_gy = NEW.dose_gy / 10 "
         "WHERE dosimetry_id = NEW.dosimetry_id; END"], None,
        "trigger 'shrink' is not part of schema version 4"),
    "trigger muting the audit log": (
        ["CREATE TRIGGER mute BEFORE INSERT ON audit BEGIN SELECT RAISE(IGNORE); END"], None,
        "trigger 'mute' is not part of schema version 4"),
    "view": (["CREATE VIEW everyone AS SELECT * FROM patients"], None,
             "view 'everyone' is not part of schema version 4"),
    "index": (["CREATE INDEX labs_by_hb ON labs(hb_g_dl)"], None,
              "index 'labs_by_hb' is not part of schema version 4"),
    "missing index": (["DROP INDEX cycles_patient"], None, "index 'cycles_patient' of schema version 4 is missing"),
    "table without its CHECK constraints": (
        ["INSERT INTO cycles (patient_id, cycle_number, phase, cycle_date, activity_gbq) "
         "VALUES ('A2', 1, 'initial', '2021-01-01', 150)"], CYCLES_WITHOUT_CHECKS,
        "table 'cycles' is not defined as in schema version 4"),
    "missing column": (["ALTER TABLE patients DROP COLUMN prior_therapies"], None,
                       "table 'patients': column 'prior_therapies' of schema version 4 is missing"),
    "extra column": (["ALTER TABLE patients ADD COLUMN notes TEXT"], None,
                     "table 'patients': column 'notes' is not part of schema version 4"),
    "2 MB row": (["UPDATE patients SET prior_therapies = printf('%.*c', 2000000, 'x') WHERE patient_id = 'A2'"],
                 None, r"patients row patient_id='A2': 2\.0 MB \(prior_therapies 2\.0 MB\), more than the "
                       r"1\.0 MB a row may hold"),
    "binary value": (["UPDATE patients SET other_renal_risk = x'00ff' WHERE patient_id = 'A1'"], None,
                     "patients row patient_id='A1': other_renal_risk is binary data"),
    "value against a CHECK constraint": (["UPDATE cycles SET activity_gbq = 150 WHERE cycle_id = 1"], None,
                                         r"cycles row cycle_id=1: field activity_gbq = 150\.0 rejected"),
    "dose of an unknown organ": (["UPDATE dosimetry SET organ = 'brain'"], None,
                                 "dosimetry row dosimetry_id=1: field organ = 'brain' rejected"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_backup_that_is_not_exactly_our_schema_is_refused_and_the_live_file_is_untouched(good, live, case):
    statements, schema_edit, message = HOSTILE[case]
    hostile = tampered(good, case.replace(" ", "_"), *statements, schema_edit=schema_edit)
    with pytest.raises(BackupError, match=message):
        backup.check_backup(hostile)  # the Data page's preview refuses it too
    before, listing = sha256(live), sorted(os.listdir(live.parent))
    with pytest.raises(BackupError, match=f"{hostile.name}: .*{message}"):
        backup.restore(hostile, live, actor=EDITOR)
    assert sha256(live) == before  # byte for byte
    assert sorted(os.listdir(live.parent)) == listing  # no saved copy, no temporary file
    with Store(live) as store:
        assert store.read("patients")["patient_id"].tolist() == ["L1"]


def test_a_backup_larger_than_the_bound_is_refused_before_it_is_read(good, live, monkeypatch):
    monkeypatch.setattr(backup, "MAX_BACKUP_BYTES", good.stat().st_size - 1)
    before = sha256(live)
    with pytest.raises(BackupError, match=f"good.sqlite: {good.stat().st_size} bytes, more than the"):
        backup.restore(good, live, actor=EDITOR)
    assert sha256(live) == before


def test_restore_writes_our_schema_and_the_backups_rows(good, live):
    # The live file carries a trigger (e.g. from a restore made before this check): restore drops it.
    with sqlite3.connect(live) as conn:
        conn.execute("CREATE TRIGGER mute BEFORE INSERT ON audit BEGIN SELECT RAISE(IGNORE); END")
    backup.restore(good, live, actor=EDITOR)
    reference = sqlite3.connect(":memory:")
    connection.create_schema(reference, schema.SCHEMA_VERSION)
    objects = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
    with Store(live) as store:
        assert store.conn.execute(objects).fetchall() == reference.execute(objects).fetchall()
        assert store.read("patients")["patient_id"].tolist() == ["A1", "A2"]
        assert store.read("dosimetry")["dose_gy"].tolist() == [4.0]
        assert store.read("audit").iloc[-1]["row_key"] == "restore good.sqlite"
        store.insert({"cycles": [CYCLE | {"cycle_id": 2, "patient_id": "A2"}]}, actor=editor("after"))
        assert store.read("audit").iloc[-1]["user"] == "after"  # auditing works


def test_the_restore_is_numbered_after_writes_made_while_it_was_built(good, live, monkeypatch):
    built = backup._build

    def build_then_someone_writes(*args, **kwargs):
        result = built(*args, **kwargs)
        with Store(live) as store:
            for i in range(5):
                store.insert({"patients": [PATIENT | {"patient_id": f"W{i}"}]}, actor=editor("meanwhile"))
        return result

    monkeypatch.setattr(backup, "_build", build_then_someone_writes)
    with Store(live) as store:
        revision = store.revision
    backup.restore(good, live, actor=EDITOR)
    with Store(live) as store:
        assert store.revision > revision + 5  # never a revision a cache has seen before
        assert store.read("audit").iloc[-1]["row_key"] == "restore good.sqlite"


CHILD = textwrap.dedent("""
    import importlib, time
    from pathlib import Path
    from prrt_core.store import backup
    from tests.support import editor

    module = importlib.import_module({module!r})
    original = getattr(module, {name!r})

    def run_then_hang(*args, **kwargs):
        result = original(*args, **kwargs)
        Path({marker!r}).write_text("reached")
        time.sleep(120)                   # killed here
        return result

    setattr(module, {name!r}, run_then_hang)
    backup.restore({backup!r}, {db!r}, actor=editor("doomed"))
""")


@pytest.mark.parametrize("module, name", [
    ("json", "dumps"),                            # the restore's audit row is being written
    ("prrt_core.store.backup", "_build"),         # the new database is complete beside the target
    ("prrt_core.store.backup", "backup"),         # the previous database has been saved
    ("prrt_core.store.backup", "_refill"),        # the live file holds the new rows, not yet committed
])
def test_a_restore_killed_at_any_step_leaves_the_old_or_the_complete_new_database(good, live, tmp_path,
                                                                                  module, name):
    with Store(live) as store:
        revision = store.revision
    marker = tmp_path / "marker"
    child = child_at_marker(CHILD.format(module=module, name=name, marker=str(marker), backup=str(good),
                                         db=str(live)), marker)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    child.stderr.close()
    with Store(live) as store:
        patients = store.read("patients")["patient_id"].tolist()
        last = store.read("audit").iloc[-1]
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        if patients == ["L1"]:  # the old database, as it was
            assert store.revision == revision
        else:  # the complete new one, with its audit row numbered after the old revision
            assert patients == ["A1", "A2"]
            assert last["row_key"] == "restore good.sqlite" and store.revision > revision
        store.insert({"patients": [PATIENT | {"patient_id": "AFTER"}]}, actor=editor("next"))  # not locked
