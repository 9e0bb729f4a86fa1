"""Board decision records (issue 13 §4): signed, never changed, superseded, exported, re-imported."""
from __future__ import annotations

import datetime as dt
import io
import sqlite3
import zipfile

import pytest

from prrt_core import importer
from prrt_core.decisions import Decision, DecisionRecord, current, records
from prrt_core.errors import ImportRejected, InputError, StoreError
from prrt_core.store import Store
from prrt_core.store import decisions as store_decisions
from prrt_core.store.access import Actor, Role
from tests.support import editor

PATIENT = {"patient_id": "P1", "sex": "F", "primary_site": "pancreas", "hypertension": 0, "diabetes": 0}
BOARD = dt.date(2025, 2, 3)
SIGNED_AT = dt.datetime(2025, 2, 3, 15, 30, tzinfo=dt.UTC)


def salvage(**changes) -> DecisionRecord:
    values = dict(patient_id="P1", board_date=BOARD, decision=Decision.SALVAGE, n_cycles=2, activity_gbq=7.4,
                  attendees="oncology; nuclear medicine", rationale="PFS 30 months after initial PRRT",
                  snapshot={"verdict": "caution", "dose_p50_gy": 31.2, "missing": float("nan")})
    return DecisionRecord(**(values | changes))


@pytest.fixture
def store():
    with Store(":memory:") as s:
        s.insert({"patients": [PATIENT]}, actor=editor("seed"))
        yield s


def test_a_signed_record_is_numbered_signed_and_audited(store):
    signed = store_decisions.sign(store, salvage(), actor=editor("dr_chair"), now_utc=SIGNED_AT)
    assert (signed.record_number, signed.signed_by, signed.signed_at_utc) == (1, "dr_chair", "2025-02-03T15:30:00Z")
    local = Actor("local user", Role.EDITOR, "local")  # single-user mode names the person who signs
    second = store_decisions.sign(store, salvage(), actor=local, signer=" Dr B ", now_utc=SIGNED_AT)
    assert second.signed_by == "Dr B (local user)"
    with pytest.raises(InputError, match="signer"):
        store_decisions.sign(store, salvage(), actor=local, signer="x" * 121)
    assert signed.label == "salvage: 2 x 7.4 GBq"
    row = store.read("board_decisions").iloc[0]
    # NaN in the snapshot is stored as JSON null (strict JSON; the schema's json_valid refuses NaN).
    assert row["snapshot_json"] == '{"dose_p50_gy":31.2,"missing":null,"verdict":"caution"}'
    audit = store.read("audit").query("table_name == 'board_decisions'")
    assert audit["user"].tolist() == ["dr_chair", "local user"] and set(audit["action"]) == {"insert"}


def test_a_signed_record_is_never_changed_or_deleted_even_by_sql(store):
    store_decisions.sign(store, salvage(), actor=editor("dr_chair"), now_utc=SIGNED_AT)
    with pytest.raises(StoreError, match="never changed"):
        store.update("board_decisions", 1, {"rationale": "edited"}, actor=editor("dr_b"))
    with pytest.raises(sqlite3.IntegrityError, match="never deleted"):
        store.conn.execute("DELETE FROM board_decisions")
    assert store.read("board_decisions")["rationale"].tolist() == ["PFS 30 months after initial PRRT"]


def test_superseding_names_the_earlier_record_once(store):
    store_decisions.sign(store, salvage(), actor=editor("dr_chair"), now_utc=SIGNED_AT)
    later = salvage(decision=Decision.DEFER, n_cycles=None, activity_gbq=None,
                    defer_until=dt.date(2025, 5, 1), supersedes_record=1, board_date=dt.date(2025, 2, 10))
    second = store_decisions.sign(store, later, actor=editor("dr_chair"), now_utc=SIGNED_AT)
    assert second.record_number == 2 and second.label == "defer until 2025-05-01"
    with pytest.raises(StoreError, match="already superseded"):
        store_decisions.sign(store, later, actor=editor("dr_chair"))
    with pytest.raises(StoreError, match="no decision record 7"):
        store_decisions.sign(store, salvage(supersedes_record=7), actor=editor("dr_chair"))
    frame = store.read("board_decisions")
    assert [r.record_number for r in records(frame, "P1")] == [1, 2]
    assert current(frame, "P1").record_number == 2
    assert current(frame, "P2") is None


@pytest.mark.parametrize("changes, field", [
    ({"n_cycles": None}, "n_cycles"), ({"activity_gbq": float("inf")}, "activity_gbq"),
    ({"activity_gbq": 15.01}, "activity_gbq"), ({"decision": Decision.NO_SALVAGE}, "n_cycles"),
    ({"decision": Decision.DEFER, "n_cycles": None, "activity_gbq": None, "defer_until": BOARD}, "defer_until"),
    ({"attendees": "  "}, "attendees"), ({"rationale": "x" * 2001}, "rationale"),
    ({"rationale": "a\x00b"}, "rationale"), ({"attendees": "Dr \u202eliveE rD"}, "attendees"), ({"snapshot": {"blob": "x" * 70000}}, "snapshot"),
])
def test_an_incomplete_or_inconsistent_record_is_refused_naming_the_field(changes, field):
    with pytest.raises(InputError, match=field):
        salvage(**changes)


def test_export_reimports_unchanged_and_a_changed_signed_record_is_refused(store):
    store_decisions.sign(store, salvage(), actor=editor("dr_chair"), now_utc=SIGNED_AT)
    files = [(name, data) for name, data in _unzipped(importer.export_zip(store)) if name != "audit.csv"]
    with Store(":memory:") as fresh:
        importer.import_files(fresh, files, actor=editor("import"))
        internal = ["decision_id", "recorded_via"]
        assert fresh.read("board_decisions").drop(columns=internal).equals(
            store.read("board_decisions").drop(columns=internal))
        assert [r.imported for r in records(fresh.read("board_decisions"), "P1")] == [True]
        assert [r.imported for r in records(store.read("board_decisions"), "P1")] == [False]
        again = importer.import_files(fresh, files, actor=editor("import"))
        assert again.n_writes == 0  # identical: unchanged, not an update
        changed = [(n, d.replace(b"PFS 30 months", b"PFS 31 months")) for n, d in files]
        with pytest.raises(ImportRejected) as info:
            importer.import_files(fresh, changed, actor=editor("import"))
        reason = info.value.plan.problems["Reason"].tolist()
        assert any("a signed decision is never changed" in r for r in reason)



def test_an_import_that_supersedes_a_missing_or_taken_record_is_refused(store):
    store_decisions.sign(store, salvage(), actor=editor("dr_chair"), now_utc=SIGNED_AT)
    header = ("patient_id,record_number,board_date,decision,n_cycles,activity (GBq),attendees,rationale,"
              "snapshot,signed_by,signed_at (UTC),supersedes_record\r\n")
    row = 'P1,{n},2025-03-01,salvage,1,3.7,board,reduced,"{{}}",chair,2025-03-01T10:00:00Z,{s}\r\n'
    data = (header + row.format(n=6, s=5) + row.format(n=3, s=1) + row.format(n=4, s=1)).encode()
    with pytest.raises(ImportRejected) as info:
        importer.import_files(store, [("board_decisions.csv", data)], actor=editor("import"))
    problems = info.value.plan.problems
    assert problems.loc[problems["Row"] == 2, "Reason"].tolist() == ["patient P1 has no decision record 5"]
    assert set(problems.loc[problems["Reason"].str.contains("already superseded"), "Row"]) == {3, 4}
    assert len(store.read("board_decisions")) == 1  # nothing written


def _unzipped(data: bytes):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(name, archive.read(name)) for name in archive.namelist()]


def test_a_patient_with_a_signed_decision_is_not_deleted_and_the_editor_says_why(store):
    """The board_decisions foreign key has no ON DELETE CASCADE: the editor names the patient and
    its records (not a raw IntegrityError), writes nothing, and never counts decisions as cascading."""
    store_decisions.sign(store, salvage(), actor=editor("dr_chair"), now_utc=SIGNED_AT)
    tables = store.read_all()
    original = importer.editable_frame(tables, "patients")
    with pytest.raises(ImportRejected) as info:
        importer.commit_edits(store, "patients", original, original.iloc[0:0], actor=editor("dr_b"))
    problem = info.value.plan.problems.iloc[0]
    assert (problem["Column"], problem["Value"]) == ("patient_id", "P1")
    assert problem["Reason"] == "1 signed board decision(s) are kept for this patient, so the patient cannot be deleted"
    assert "board_decisions" not in importer.cascade_counts(tables, "patients", ["P1"])
    assert len(store.read("patients")) == 1
