"""Concurrent writers lose nothing; a killed or failed import leaves the file as before, unlocked."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading

import pytest

from prrt_core import importer
from prrt_core.store import Store, StoreError, schema
from tests.support import REPO, child_at_marker, editor

PATIENT = {"patient_id": "P1", "sex": "F", "primary_site": "lung", "hypertension": 0, "diabetes": 0}


def patient_files(prefix: str, n: int) -> list[tuple[str, bytes]]:
    patients = "patient_id,sex,primary_site,hypertension,diabetes\n" + "".join(
        f"{prefix}{i},F,lung,0,1\n" for i in range(n))
    cycles = "patient_id,cycle_number,phase,cycle_date,activity (GBq)\n" + "".join(
        f"{prefix}{i},{c},initial,2021-0{c}-01,7.4\n" for i in range(n) for c in (1, 2))
    return [("patients.csv", patients.encode()), ("cycles.csv", cycles.encode())]


SHARED_LABS = [("labs.csv", b"patient_id,lab_date,hb (g/dL)\nP1,2021-03-01,12.1\nP1,2021-04-01,11.8\n")]


def counts(path) -> dict[str, int]:
    with Store(path) as store:
        return {t: len(store.read(t)) for t in schema.CLINICAL_TABLES}


def can_write_immediately(path) -> bool:
    """A fresh connection that will not wait (timeout 0) takes the write lock and writes."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO meta (key, value) VALUES ('probe', '1') "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        conn.execute("COMMIT")
        return True
    finally:
        conn.close()


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "shared.sqlite"
    with Store(path) as store:
        store.insert({"patients": [PATIENT]}, actor=editor("setup"))
    return path


def test_threads_importing_at_once_lose_nothing(db):
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            with Store(db) as store:
                for batch in range(3):
                    importer.import_files(store, patient_files(f"T{k}B{batch}-", 4) + SHARED_LABS,
                                           actor=editor(f"session{k}"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    got = counts(db)
    # 6 sessions x 3 imports x 4 patients (+ P1), 2 cycles each; the shared labs once.
    assert (got["patients"], got["cycles"], got["labs"]) == (1 + 72, 144, 2)
    with Store(db) as store:
        audit = store.read("audit")
    assert set(audit.loc[audit["table_name"] == "patients", "user"]) >= {f"session{k}" for k in range(6)}


def test_processes_importing_at_once_lose_nothing(db, tmp_path):
    script = textwrap.dedent(f"""
        import sys
        from prrt_core import importer
        from prrt_core.store import Store
        from tests.support import editor
        k = int(sys.argv[1])
        patients = "patient_id,sex,primary_site,hypertension,diabetes\\n" + "".join(
            f"X{{k}}-{{i}},M,CUP,0,0\\n" for i in range(10))
        with Store({str(db)!r}) as store:
            for i in range(5):  # five imports per process, each one transaction
                rows = "patient_id,lab_date,plt (10^9/L)\\n" + f"P1,2022-0{{i + 1}}-0{{k + 1}},{{100 + k}}\\n"
                importer.import_files(store, [("patients.csv", patients.encode()),
                                               ("labs.csv", rows.encode())], actor=editor(f"proc{{k}}"))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(k)], stderr=subprocess.PIPE, cwd=REPO)
             for k in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()
    got = counts(db)
    assert (got["patients"], got["labs"]) == (1 + 40, 20)  # 4 x 10 patients; 4 x 5 lab dates
    assert can_write_immediately(db)


def test_concurrent_edits_of_one_row_the_second_is_refused_not_lost(db):
    with Store(db) as store:
        original = importer.editable_frame(store.read_all(), "patients")
    first, second = original.copy(), original.copy()
    first.loc[1, "diabetes"] = True
    second.loc[1, "primary_site"] = "pancreas"
    with Store(db) as store:
        importer.commit_edits(store, "patients", original, first, actor=editor("dr_a"))
    with Store(db) as store, pytest.raises(importer.ImportRejected) as info:
        importer.commit_edits(store, "patients", original, second, actor=editor("dr_b"))
    assert info.value.plan.problems["Reason"].tolist() == [
        "changed by someone else since you opened the table: reload"]
    with Store(db) as store:
        row = store.read("patients").iloc[0]
    assert bool(row["diabetes"]) and row["primary_site"] == "lung"  # dr_a's change kept


CHILD = """
import time
from pathlib import Path
from prrt_core import importer
from prrt_core.importer import plan as implementation
from prrt_core.store import Store
from tests.support import editor

original = implementation.apply_plan

def apply_then_hang(store, plan, **kwargs):
    original(store, plan, **kwargs)       # every row written, transaction still open
    Path({marker!r}).write_text("written")
    time.sleep(120)                       # killed here, before COMMIT

implementation.apply_plan = apply_then_hang
with Store({db!r}) as store:
    importer.import_files(store, [("labs.csv", Path({labs!r}).read_bytes())], actor=editor("doomed"))
"""


def test_import_killed_during_its_transaction_leaves_the_database_as_before(db, tmp_path):
    labs = tmp_path / "labs.csv"
    rows = "".join(f"P1,{2000 + i // 365:04d}-{1 + i % 12:02d}-{1 + i % 28:02d},12.0\n" for i in range(3000))
    labs.write_text("patient_id,lab_date,hb (g/dL)\n" + "".join(dict.fromkeys(rows.splitlines(True))))
    before, marker = counts(db), tmp_path / "marker"
    with Store(db) as store:
        revision = store.revision
    child = child_at_marker(CHILD.format(marker=str(marker), db=str(db), labs=str(labs)), marker)
    # While the child holds the write lock, a writer that will not wait is refused ...
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        can_write_immediately(db)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    # ... and after the kill nothing of the import is there, and the file is free at once.
    assert counts(db) == before
    with Store(db) as store:
        assert store.revision == revision
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert can_write_immediately(db)


def test_a_failed_write_never_leaves_the_file_locked(db):
    with Store(db) as store:
        with pytest.raises(importer.ImportRejected):
            importer.import_files(store, [("labs.csv", b"patient_id,lab_date,hb (g/dL)\nP9,2021-01-01,12\n")],
                                   actor=editor("t"))
        assert can_write_immediately(db)
        with pytest.raises(StoreError):
            store.insert({"patients": [PATIENT]}, actor=editor("t"))  # duplicate key, rolled back
        assert can_write_immediately(db)
        with pytest.raises(RuntimeError), store.transaction(editor()):
            store.insert({"patients": [PATIENT | {"patient_id": "P2"}]}, actor=editor("t"))
            raise RuntimeError("crash in the middle of a transaction")
        assert not store.conn.in_transaction and can_write_immediately(db)
        store.insert({"patients": [PATIENT | {"patient_id": "P3"}]}, actor=editor("t"))  # the store still works
    assert sorted(counts_ids(db)) == ["P1", "P3"]


def counts_ids(path) -> list[str]:
    with Store(path) as store:
        return store.read("patients")["patient_id"].tolist()
