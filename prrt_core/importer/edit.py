"""Editing a table on the Data page: the table in editor form, and the edits checked like an
import (cell by cell and across tables) before they are written in one transaction. Unlike an
import, an edit deletes the rows removed from the table (with their cascades, spelled out first),
and refuses rows someone else changed since the table was read."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from prrt_core.errors import ImportRejected
from prrt_core.importer.cells import parse_table
from prrt_core.importer.checks import cross_checks
from prrt_core.importer.files import RawTable, cell_text, clean_text
from prrt_core.importer.natural import key_text, merge_view, natural_frames, same_values, store_frames
from prrt_core.importer.plan import CHANGE_COLUMNS, Plan, apply_plan, diff, pk_of
from prrt_core.importer.problems import problem, problem_frame
from prrt_core.importer.spec import TABLES, ColumnKind, TableSpec
from prrt_core.store import Store, schema
from prrt_core.store.access import Actor
from prrt_core.tables import Tables

log = logging.getLogger(__name__)


def editable_frame(tables: Tables, table: str,
                   patient_id: str | None = None) -> pd.DataFrame:
    """One table in import form for ``st.data_editor``: dates as ISO text (``YYYY-MM-DD``), flags
    as "yes"/"no" (None: not recorded), internal key in ``_pk``, index = row number from 1.

    Dates are text, not datetime: whatever is typed (``21-01-01``, ``0001-01-01``) then reaches the
    import's cell rules and comes back as a problem naming the cell. In a datetime column a year
    pandas cannot hold in nanoseconds (before 1677 or after 2262) stops st.data_editor itself
    (streamlit 1.67 assigns it into the column: pandas raises AssertionError), before any check.
    """
    spec = TABLES[table]
    frame = natural_frames(tables)[table]
    if patient_id is not None:
        frame = frame[frame["patient_id"] == patient_id]
    frame = frame.sort_values(list(spec.key), kind="stable")
    for col in spec.columns:
        if col.kind == ColumnKind.DATE:
            text = frame[col.name].map(cell_text).astype(object)
            frame[col.name] = text.where(text != "", None)
        elif col.kind == ColumnKind.BOOL:  # "yes" / "no" / empty: an unrecorded value stays visibly empty
            flags = frame[col.name].astype("boolean")
            frame[col.name] = flags.map({True: "yes", False: "no"}, na_action="ignore").astype(object).where(
                flags.notna(), None)
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    return frame[[c.name for c in spec.columns] + ["_pk"]]


def _edit_plan(store: Store, table: str, original: pd.DataFrame, edited: pd.DataFrame) -> Plan:
    """The plan of an edit, or the problems of its new and changed rows, including rows someone
    else changed or deleted since ``original`` was read."""
    spec, source = TABLES[table], _source(table)
    if not spec.editable:
        return Plan(problem_frame([problem(source, None, None, None, f"{table} rows are never edited")]))
    store_nat = store_frames(store)
    current = store_nat[table]
    columns = [c.name for c in spec.columns]

    shown = {pk_of(v) for v in original["_pk"].dropna()}
    kept = {pk_of(v) for v in edited["_pk"].dropna()} & shown
    deleted = sorted(shown - kept)
    typed, problems = _typed_rows(table, edited)
    new_rows = typed[typed["_pk"].isna()]
    old_rows = typed[typed["_pk"].notna()]
    if table == "patients":
        renamed = old_rows[old_rows["patient_id"] != old_rows["_pk"]]
        problems += [problem(source, r, "patient_id", v, f"a patient id cannot be changed (was {k}): "
                             "add the patient anew and delete the old row")
                     for r, v, k in zip(renamed["_row"], renamed["patient_id"], renamed["_pk"])]
    by_pk = current.set_index("_pk", drop=False)
    exists = old_rows["_pk"].isin(by_pk.index)
    compared = old_rows[exists]
    differs = _differs(compared, by_pk, spec)
    changed = pd.concat([new_rows, compared[differs.to_numpy()]])
    # Only new and changed rows are checked: untouched rows are as the store holds them.
    changed_rows = set(changed["_row"])
    problems = [p for p in problems if p["Row"] is None or p["Row"] in changed_rows]
    orig_typed, _ = _typed_rows(table, original)
    gone = sorted(set(orig_typed["_pk"]) - set(by_pk.index))
    problems += [problem(source, None, None, pk, "deleted by someone else since you opened "
                         "the table: reload") for pk in gone]
    if table == "patients" and deleted:  # a signed decision is kept, so is its patient (schema.py)
        decided = store_nat["board_decisions"]["patient_id"].value_counts()
        problems += [problem(source, None, "patient_id", pk, f"{int(decided[pk])} signed board decision(s) "
                             "are kept for this patient, so the patient cannot be deleted")
                     for pk in deleted if pk in decided.index]
    touched = set(compared.loc[differs.to_numpy(), "_pk"]) | set(deleted)
    o = orig_typed[orig_typed["_pk"].isin(touched) & orig_typed["_pk"].isin(by_pk.index)]
    moved = _differs(o, by_pk, spec)
    problems += [problem(source, r, None, k, "changed by someone else since you opened the "
                         "table: reload") for r, k in zip(o["_row"][moved.to_numpy()],
                                                          key_text(o, spec.key)[moved.to_numpy()])]
    good = changed[~changed["_bad"]].drop(columns="_bad")
    merged = merge_view(store_nat, {table: good}, {table: set(deleted) | set(good["_pk"].dropna())}, {})
    problems += cross_checks(merged, {}, duplicates=True)
    plan = Plan(problem_frame(problems))
    if not plan.ok:
        return plan
    inserts, updates, _, log_rows = diff(spec, good, current, "_pk", columns)
    plan.inserts[table] = inserts[columns]
    plan.updates[table] = updates
    plan.deletes[table] = deleted
    plan.unchanged[table] = len(kept) - len(updates)
    gone_rows = current[current["_pk"].isin(deleted)]
    log_rows += [[table, k, "delete", ""] for k in key_text(gone_rows, spec.key)]
    plan.changes = pd.DataFrame(log_rows, columns=CHANGE_COLUMNS)
    return plan


def _source(table: str) -> str:
    """How problems of the editor name the table (their File column)."""
    return f"{table} (editor)"


def _cell_texts(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The cells of an editor frame as the text a CSV would hold (cleaned like an import's)."""
    columns = [c.name for c in TABLES[table].columns]
    return clean_text(frame[columns].apply(lambda s: s.map(cell_text)).astype(object))


def _typed_rows(table: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    """The rows of an editor frame parsed by the import's cell and row rules, with their ``_pk``;
    and the problems found, each naming the table, row (the frame's index), column and value."""
    columns = [c.name for c in TABLES[table].columns]
    cells = _cell_texts(table, frame)
    cells.columns = range(len(columns))
    t, found = parse_table(RawTable(table, _source(table), columns, cells))
    pks = frame["_pk"].reindex(t.frame["_row"].to_numpy())
    t.frame["_pk"] = pd.Series([pk_of(v) for v in pks], index=t.frame.index, dtype=object)
    return t.frame, found


def cell_problems(table: str, original: pd.DataFrame, edited: pd.DataFrame) -> pd.DataFrame:
    """The problems (File, Row, Column, Value, Reason) of the cells of new and changed rows of an
    edit, by the import's cell and row rules, without the store: what the page shows as soon as
    a value is typed (Save checks again, across rows and tables, before anything is written)."""
    texts = _cell_texts(table, edited)
    before = _cell_texts(table, original).set_axis([pk_of(v) for v in original["_pk"]])
    before = before[~before.index.duplicated()]
    pks = [pk_of(v) for v in edited["_pk"]]
    known = np.array([pk is not None and pk in before.index for pk in pks], dtype=bool)
    same = np.zeros(len(texts), dtype=bool)
    if known.any():
        old = before.loc[[pk for pk, k in zip(pks, known) if k]].to_numpy()
        same[known] = (texts.to_numpy()[known] == old).all(axis=1)
    changed = set(texts.index[~same])
    _, found = _typed_rows(table, edited)
    return problem_frame(p for p in found if p["Row"] in changed)


def _differs(rows: pd.DataFrame, by_pk: pd.DataFrame, spec: TableSpec) -> pd.Series:
    """Whether each row differs, in any column of ``spec``, from the row of ``by_pk`` with its ``_pk``."""
    if not len(rows):
        return pd.Series(False, index=rows.index)
    stored = by_pk.loc[rows["_pk"].to_numpy()].set_axis(rows.index)
    return pd.concat([~same_values(rows[c.name], stored[c.name], c.kind) for c in spec.columns], axis=1).any(axis=1)


def check_edits(store: Store, table: str, original: pd.DataFrame, edited: pd.DataFrame) -> Plan:
    """Validate an edited table (from :func:`editable_frame`) the way an import is validated."""
    return _edit_plan(store, table, original, edited)


def commit_edits(store: Store, table: str, original: pd.DataFrame, edited: pd.DataFrame, *,
                 actor: Actor) -> Plan:
    """Write the edits in one transaction after re-checking them, and refusing rows that
    someone else changed since ``original`` was read. Raises :class:`ImportRejected`."""
    with store.transaction(actor):
        plan = _edit_plan(store, table, original, edited)
        if not plan.ok:
            raise ImportRejected(plan)
        apply_plan(store, plan, actor=actor, action="insert")
    log.info("edit of %s: %d rows written", table, plan.n_writes)
    return plan


def cascade_counts(tables: Tables, table: str, pks: Sequence[Any]) -> dict[str, int]:
    """Rows of other tables that deleting ``pks`` of ``table`` removes with them (ON DELETE CASCADE)."""
    if table == "patients":
        cycles = tables.cycles.loc[tables.cycles["patient_id"].isin(pks), "cycle_id"]
        out = {t: int(tables.dosimetry["cycle_id"].isin(cycles).sum()) if t == "dosimetry"
               else int(tables.table(t)["patient_id"].isin(pks).sum()) for t in schema.CLINICAL_TABLES[1:]
               if TABLES[t].editable}  # signed decisions never cascade: they refuse the delete
        return {t: n for t, n in out.items() if n}
    if table == "cycles":
        n = int(tables.dosimetry["cycle_id"].isin(pks).sum())
        return {"dosimetry": n} if n else {}
    return {}


def delete_text(tables: Tables, plan: Plan, table: str) -> str:
    """What a planned delete removes, in words, cascades included (for a confirmation)."""
    keys = plan.changes.loc[plan.changes["Action"] == "delete", "Key"]
    text = f"Delete {len(plan.deletes[table])} row(s) from **{table}**: {', '.join(keys)}."
    cascade = cascade_counts(tables, table, plan.deletes[table])
    if cascade:
        text += " This also deletes " + ", ".join(f"{n} {t} row(s)" for t, n in cascade.items()) + "."
    return text

