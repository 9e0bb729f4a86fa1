"""Import rules of the tumour board's decision records (``board_decisions``), as in schema.py:
what each decision needs, a record supersedes only an earlier record of its patient, each record
is superseded at most once, and a signed record is never changed (an import that would change
one is refused; re-importing it unchanged is not a change)."""
from __future__ import annotations

import pandas as pd

from prrt_core.importer.problems import problem, problems_where

# (decision, columns that must be given, columns that must be empty), schema.py decision_details.
_DETAILS = (("salvage", ("n_cycles", "activity_gbq"), ("defer_until",)),
            ("no salvage", (), ("n_cycles", "activity_gbq", "defer_until")),
            ("defer", ("defer_until",), ("n_cycles", "activity_gbq")))
_HEADERS = {"n_cycles": "n_cycles", "activity_gbq": "activity (GBq)", "defer_until": "defer_until",
            "supersedes_record": "supersedes_record"}


def decision_rules(typed: pd.DataFrame, texts: pd.DataFrame, source: str) -> list[dict]:
    """Row rules: the details each decision needs, defer_until after the board date, and a
    superseded record numbered before this one."""
    problems: list[dict] = []
    if "decision" not in typed:
        return problems
    blank = pd.Series("", index=typed.index, dtype=object)
    for decision, needed, forbidden in _DETAILS:
        rows = typed["decision"] == decision
        for column in needed:
            given = typed[column].notna() if column in typed else pd.Series(False, index=typed.index)
            problems += problems_where(source, texts.get(column, blank), rows & ~given, _HEADERS[column],
                                       f"required for the decision '{decision}'")
        for column in forbidden:
            if column in typed:
                problems += problems_where(source, texts[column], rows & typed[column].notna(), _HEADERS[column],
                                           f"must be empty for the decision '{decision}'")
    if {"defer_until", "board_date"} <= set(typed):
        early = typed["defer_until"].notna() & typed["board_date"].notna() \
            & (typed["defer_until"].astype(str) <= typed["board_date"].astype(str))
        problems += problems_where(source, texts["defer_until"], early, "defer_until",
                                   "must be after the board date")
    if {"supersedes_record", "record_number"} <= set(typed):
        later = typed["supersedes_record"].notna() & typed["record_number"].notna() \
            & (typed["supersedes_record"] >= typed["record_number"]).fillna(False)
        problems += problems_where(source, texts["supersedes_record"], later, "supersedes_record",
                                   "must name an earlier record (a smaller record number)")
    return problems


def decision_checks(decisions: pd.DataFrame) -> list[dict]:
    """Across rows (the store as the import would leave it, changed rows flagged ``_changed``):
    a superseded record exists for the same patient and is superseded only once."""
    rows = decisions.dropna(subset=["patient_id", "record_number"])
    known = set(zip(rows["patient_id"], rows["record_number"].astype(int)))
    problems = []
    changed = rows[rows["_changed"].astype(bool) & rows["supersedes_record"].notna()]
    for _, row in changed.iterrows():
        target = (row["patient_id"], int(row["supersedes_record"]))
        if target not in known:
            problems.append(problem(row["_source"], row["_row"], "supersedes_record", target[1],
                                    f"patient {target[0]} has no decision record {target[1]}"))
    pairs = rows.dropna(subset=["supersedes_record"])
    twice = pairs[pairs.duplicated(subset=["patient_id", "supersedes_record"], keep=False)
                  & pairs["_changed"].astype(bool)]
    problems += [problem(s, r, "supersedes_record", int(n), "this record is already superseded by another")
                 for s, r, n in zip(twice["_source"], twice["_row"], twice["supersedes_record"])]
    return problems


def signed_changes(keys: list[str], source_rows: list[tuple[str, int]]) -> list[dict]:
    """A problem for each signed record the import would change (never allowed)."""
    return [problem(source, row, "patient_id, record_number", key.replace("\x1f", " / "),
                    "a signed decision is never changed: give the changed record a new record_number "
                    "and name this one in supersedes_record")
            for key, (source, row) in zip(keys, source_rows)]
