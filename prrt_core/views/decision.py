"""What a board decision record freezes, and how a patient's decisions read on a page.

:func:`snapshot` turns the planner's result into the JSON-ready record of what the board saw:
evaluation date, verdict and reasons, the kidney limit policy, the activity options, every checklist item (status, value,
threshold, source), the scenario, the projection's numbers (Gy, probabilities in %), every model
setting and the data revision. :func:`history` lists a patient's records for a table.
"""
from __future__ import annotations

import dataclasses

import pandas as pd

from prrt_core.decisions import DecisionRecord, current, records
from prrt_core.views.planner import PlannerResult

# The projection row's numbers the snapshot keeps (Gy; p_* as fractions; GBq).
PROJECTION_FIELDS = ("dose_now_gy", "bed_now_gy", "dose_p05_gy", "dose_p50_gy", "dose_p95_gy", "bed_p05_gy",
                     "bed_p50_gy", "bed_p95_gy", "p_exceed_dose", "p_exceed_bed", "dose_limit_gy",
                     "bed_limit_gy", "max_safe_activity_gbq", "max_safe_cycles")
CHECKLIST_FIELDS = ("criterion", "status", "value", "threshold", "severity", "source")
HISTORY_COLUMNS = {"record_number": "Record", "board_date": "Board date", "decision": "Decision",
                   "attendees": "Attendees", "rationale": "Rationale", "signed": "Signed (UTC)",
                   "status": "Status"}


def snapshot(result: PlannerResult, *, data_revision: int) -> dict:
    """The frozen record of what the board saw (JSON-ready after ``decisions.snapshot_json``)."""
    checklist = result.checklist
    row = result.projection
    items = checklist.items
    out = {
        "evaluation_date": result.as_of.isoformat(), "data_revision": int(data_revision),
        "scenario": {"n_cycles": result.scenario.n_cycles, "activity_gbq": result.scenario.activity_gbq},
        "settings": dataclasses.asdict(result.scenario.settings),
        "verdict": str(checklist.verdict), "reasons": list(checklist.reasons),
        "policy": checklist.policy.text,
        "options": None if result.options is None else result.options.text,
        "checklist": [{f: rec.get(f) for f in CHECKLIST_FIELDS} for rec in items.to_dict("records")],
        "projection": None if row is None else {f: row.get(f) for f in PROJECTION_FIELDS if f in row.index},
    }
    return out


def history(frame: pd.DataFrame, patient_id: str) -> pd.DataFrame:
    """A patient's decision records, newest first, with which is current and which superseded
    (HISTORY_COLUMNS keys)."""
    own = records(frame, patient_id)
    superseded_by = {r.supersedes_record: r.record_number for r in own if r.supersedes_record}
    live = current(frame, patient_id)

    def status(r: DecisionRecord) -> str:
        if r.record_number in superseded_by:
            return f"superseded by record {superseded_by[r.record_number]}"
        return "current" if live is not None and r.record_number == live.record_number else "earlier"

    rows = [{"record_number": r.record_number, "board_date": r.board_date.isoformat(), "decision": r.label,
             "attendees": r.attendees, "rationale": r.rationale,
             "signed": f"{r.signed_by}, {r.signed_at_utc}" + (" (imported)" if r.imported else ""),
             "status": status(r)} for r in reversed(own)]
    return pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))

