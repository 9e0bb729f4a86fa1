"""The tumour board's decision record: what was decided for a patient at a board, why, by whom,
and a frozen snapshot of what the board saw (verdict, checklist, projection, settings, data
revision).

A record is signed when it is stored (``prrt_core.store.decisions.record``) and is never changed
or deleted afterwards (schema triggers); a later record supersedes it by number. The current
decision of a patient is the newest record that no other record supersedes.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pandas as pd

from prrt_core.errors import InputError

# Bounds as in schema.py (board_decisions); the activity range is the store's for any cycle.
MAX_ATTENDEES_CHARS = 500
MAX_RATIONALE_CHARS = 2000
MAX_SNAPSHOT_CHARS = 65536
MAX_SIGNER_CHARS = 120  # a typed signer name; with " (actor)" it stays within signed_by's 200
MAX_N_CYCLES = 10
MAX_ACTIVITY_GBQ = 15.0
# The stored columns (schema.py board_decisions, without its internal key).
COLUMNS = ("patient_id", "record_number", "board_date", "decision", "n_cycles", "activity_gbq", "defer_until",
           "attendees", "rationale", "snapshot_json", "signed_by", "signed_at_utc", "supersedes_record", "recorded_via")
# Control characters, and the Unicode bidirectional controls (U+200E/F, U+202A-E, U+2066-9) that
# make a text display other than it reads (a signer "Dr \u202eliveE rD" shows as "Dr Eevil").
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class Decision(StrEnum):
    SALVAGE = "salvage"
    NO_SALVAGE = "no salvage"
    DEFER = "defer"


def _text(name: str, value: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{name}: required")
    value = value.strip()
    if len(value) > limit:
        raise InputError(f"{name}: at most {limit} characters, got {len(value)}")
    if _CONTROL.search(value):
        raise InputError(f"{name}: contains control or text-direction characters")
    return value


def signer_name(text: str) -> str:
    """A typed signer's name, checked (InputError: empty, too long, control characters)."""
    return _text("signer", text, MAX_SIGNER_CHARS)


def _plain(value: Any) -> Any:
    """JSON-ready: numpy and pandas scalars to Python, NaN/inf and NA to None, dates to ISO text."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (dt.date, pd.Timestamp)):
        return value.isoformat()[:10] if not isinstance(value, dt.datetime) else value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if value is None or value is pd.NA or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return value


def snapshot_json(snapshot: Mapping[str, Any]) -> str:
    """The snapshot as compact JSON with sorted keys (no NaN: missing numbers are null)."""
    text = json.dumps(_plain(snapshot), sort_keys=True, separators=(",", ":"), allow_nan=False)
    if len(text) > MAX_SNAPSHOT_CHARS:
        raise InputError(f"snapshot: {len(text)} characters, more than the {MAX_SNAPSHOT_CHARS} stored")
    return text


@dataclass(frozen=True)
class DecisionRecord:
    """One decision of the board for one patient; validated on creation (InputError names the field).

    n_cycles and activity_gbq (GBq per cycle) for a salvage decision only; defer_until (after the
    board date) for a deferral only. record_number, signed_by and signed_at_utc are set by the
    store when the record is signed.
    """

    patient_id: str
    board_date: dt.date
    decision: Decision
    attendees: str
    rationale: str
    snapshot: Mapping[str, Any] = field(default_factory=dict)
    n_cycles: int | None = None
    activity_gbq: float | None = None
    defer_until: dt.date | None = None
    supersedes_record: int | None = None
    record_number: int | None = None
    signed_by: str | None = None
    signed_at_utc: str | None = None
    imported: bool = False  # True: came from an import file (its signature is the file's word)

    def __post_init__(self) -> None:
        object.__setattr__(self, "decision", Decision(self.decision))
        object.__setattr__(self, "attendees", _text("attendees", self.attendees, MAX_ATTENDEES_CHARS))
        object.__setattr__(self, "rationale", _text("rationale", self.rationale, MAX_RATIONALE_CHARS))
        salvage, defer = self.decision == Decision.SALVAGE, self.decision == Decision.DEFER
        if salvage:
            if not isinstance(self.n_cycles, int) or isinstance(self.n_cycles, bool) \
                    or not 1 <= self.n_cycles <= MAX_N_CYCLES:
                raise InputError(f"n_cycles: a salvage decision needs 1-{MAX_N_CYCLES} cycles, got {self.n_cycles!r}")
            a = self.activity_gbq
            if not isinstance(a, (int, float)) or isinstance(a, bool) or not math.isfinite(a) \
                    or not 0 < a <= MAX_ACTIVITY_GBQ:
                raise InputError(f"activity_gbq: a salvage decision needs an activity in (0, {MAX_ACTIVITY_GBQ:g}] "
                                 f"GBq per cycle, got {a!r}")
        elif self.n_cycles is not None or self.activity_gbq is not None:
            raise InputError(f"n_cycles, activity_gbq: only a salvage decision has them ({self.decision})")
        if defer:
            if self.defer_until is None or self.defer_until <= self.board_date:
                raise InputError(f"defer_until: a deferral needs a date after the board date "
                                 f"{self.board_date.isoformat()}, got {self.defer_until!r}")
        elif self.defer_until is not None:
            raise InputError(f"defer_until: only a deferral has it ({self.decision})")
        snapshot_json(self.snapshot)  # refuses what cannot be stored

    @property
    def label(self) -> str:
        """'salvage: 2 x 7.4 GBq', 'no salvage' or 'defer until 2025-06-01'."""
        if self.decision == Decision.SALVAGE:
            return f"salvage: {self.n_cycles} x {self.activity_gbq:.1f} GBq"
        if self.decision == Decision.DEFER:
            return f"defer until {self.defer_until.isoformat()}"
        return "no salvage"

    def signed(self, record_number: int, signed_by: str, signed_at_utc: str) -> DecisionRecord:
        return dataclasses.replace(self, record_number=record_number, signed_by=signed_by,
                                   signed_at_utc=signed_at_utc)


def _date(value: Any) -> dt.date | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def _int(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def records(frame: pd.DataFrame, patient_id: str) -> list[DecisionRecord]:
    """A patient's stored records (``Tables.board_decisions``), oldest first."""
    own = frame[frame["patient_id"] == patient_id]
    if own.empty:
        return []
    own = own.assign(number=own["record_number"].astype(int)).sort_values("number")
    return [DecisionRecord(
        patient_id=row.patient_id, board_date=_date(row.board_date), decision=Decision(row.decision),
        attendees=row.attendees, rationale=row.rationale, snapshot=json.loads(row.snapshot_json),
        n_cycles=_int(row.n_cycles), activity_gbq=None if pd.isna(row.activity_gbq) else float(row.activity_gbq),
        defer_until=_date(row.defer_until), supersedes_record=_int(row.supersedes_record),
        record_number=int(row.number), signed_by=row.signed_by, signed_at_utc=row.signed_at_utc,
        imported=getattr(row, "recorded_via", "import") != "planner")
        for row in own.itertuples(index=False)]


def current(frame: pd.DataFrame, patient_id: str) -> DecisionRecord | None:
    """The patient's current decision: the newest record no other record supersedes (None: none)."""
    own = records(frame, patient_id)
    superseded = {r.supersedes_record for r in own}
    live = [r for r in own if r.record_number not in superseded]
    return live[-1] if live else None
