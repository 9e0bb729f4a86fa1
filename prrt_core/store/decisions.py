"""Signing a tumour-board decision record into the store: numbered per patient, written with its
signer and UTC time in one transaction, audited; a superseded record must exist and not be
superseded yet. Stored records are never changed (schema.py triggers)."""
from __future__ import annotations

import datetime as dt

from prrt_core.decisions import DecisionRecord, signer_name, snapshot_json
from prrt_core.errors import StoreError
from prrt_core.store.access import Actor
from prrt_core.store.database import Store


def sign(store: Store, record: DecisionRecord, *, actor: Actor, signer: str | None = None,
         now_utc: dt.datetime | None = None) -> DecisionRecord:
    """Store ``record`` signed by ``actor`` (an editor) at ``now_utc`` (default: now); returns it
    with its record number, signer and time. ``signer``: the person's name when the actor is not
    one (single-user mode's "local user"), recorded as "name (actor)". StoreError names a missing
    or already superseded record, or an unknown patient."""
    when = (now_utc or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    with store.transaction(actor):
        own = store.read("board_decisions", patient_id=record.patient_id)
        numbers = set(own["record_number"].astype(int))
        target = record.supersedes_record
        if target is not None:
            if target not in numbers:
                raise StoreError("board_decisions", "supersedes_record", target,
                                 f"patient {record.patient_id} has no decision record {target}")
            if target in set(own["supersedes_record"].dropna().astype(int)):
                raise StoreError("board_decisions", "supersedes_record", target,
                                 "this record is already superseded by another")
        name = actor.name if signer is None else f"{signer_name(signer)} ({actor.name})"
        signed = record.signed(max(numbers, default=0) + 1, name, stamp)
        row = {"patient_id": signed.patient_id, "record_number": signed.record_number,
               "board_date": signed.board_date.isoformat(), "decision": signed.decision.value,
               "n_cycles": signed.n_cycles, "activity_gbq": signed.activity_gbq,
               "defer_until": signed.defer_until.isoformat() if signed.defer_until else None,
               "attendees": signed.attendees, "rationale": signed.rationale,
               "snapshot_json": snapshot_json(signed.snapshot), "signed_by": signed.signed_by,
               "signed_at_utc": stamp, "supersedes_record": target, "recorded_via": "planner"}
        store.insert({"board_decisions": [row]}, actor=actor, audit_rows=True)
    return signed
