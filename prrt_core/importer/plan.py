"""Plans: what an import or edit would write, worked out and checked before anything is written.

An import matches rows on their natural key: a row whose key exists is updated in the columns
the file carries (an empty cell clears the value), an identical row is left alone (so
re-importing a file changes nothing), and nothing is deleted. :func:`commit_import` plans again
under the write lock and writes everything in one transaction through :func:`apply_plan`.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from prrt_core.errors import ImportRejected
from prrt_core.importer.cells import Typed, parse_table
from prrt_core.importer.checks import cross_checks, duplicate_keys
from prrt_core.importer.decisions import signed_changes
from prrt_core.importer.files import Parsed, read_files
from prrt_core.importer.natural import joined_keys, key_text, merge_view, same_values, store_frames
from prrt_core.importer.problems import problem, problem_frame
from prrt_core.importer.spec import TABLES, TableSpec
from prrt_core.store import Store, plain_value, schema
from prrt_core.store.access import Actor

log = logging.getLogger(__name__)

CHANGE_COLUMNS = ["Table", "Key", "Action", "Changes"]


@dataclass
class Plan:
    """What an import or an edit would do, or the problems that stop it."""

    problems: pd.DataFrame
    inserts: dict[str, pd.DataFrame] = field(default_factory=dict)
    updates: dict[str, list[tuple[Any, dict]]] = field(default_factory=dict)
    deletes: dict[str, list[Any]] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    changes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=CHANGE_COLUMNS))

    @property
    def ok(self) -> bool:
        return self.problems.empty

    @property
    def n_writes(self) -> int:
        return (sum(len(f) for f in self.inserts.values()) + sum(map(len, self.updates.values()))
                + sum(map(len, self.deletes.values())))

    def summary(self) -> pd.DataFrame:
        """Rows added, updated, deleted and unchanged per table."""
        names = [t for t in schema.CLINICAL_TABLES if t in set(self.inserts) | set(self.updates)
                 | set(self.deletes) | set(self.unchanged)]
        return pd.DataFrame({"Table": names,
                             "Added": [len(self.inserts.get(t, ())) for t in names],
                             "Updated": [len(self.updates.get(t, ())) for t in names],
                             "Deleted": [len(self.deletes.get(t, ())) for t in names],
                             "Unchanged": [self.unchanged.get(t, 0) for t in names]})


def _changes_text(spec: TableSpec, row: pd.Series, old: pd.Series, columns: Sequence[str]) -> str:
    def show(v: Any) -> str:
        return "—" if v is None or pd.isna(v) else f"{v:g}" if isinstance(v, float) else str(v)
    return "; ".join(f"{spec.column(c).header}: {show(old[c])} → {show(row[c])}" for c in columns)


def diff(spec: TableSpec, new: pd.DataFrame, old: pd.DataFrame, on: str, present: Sequence[str]):
    """Match ``new`` rows to ``old`` on column ``on`` and compare the ``present`` columns: inserts
    (a frame), updates ([(pk, {column: value})]), the number unchanged, change-log rows."""
    old = old.set_index(on, drop=False)
    matched = new[on].isin(old.index) & new[on].notna()
    inserts = new[~matched]
    label = key_text(new, spec.key)
    updates, log_rows, unchanged = [], [], 0
    if matched.any():
        upd = new[matched]
        before = old.loc[upd[on].to_numpy()].set_axis(upd.index)
        differs = pd.DataFrame({c: ~same_values(upd[c], before[c], spec.column(c).kind) for c in present})
        for i in upd.index[differs.any(axis=1).to_numpy()]:
            cols = [c for c in present if differs.at[i, c]]
            changes = {c: plain_value(upd.at[i, c]) for c in cols}
            updates.append((pk_of(before.at[i, "_pk"]), changes))
            log_rows.append([spec.name, label.at[i], "update",
                             _changes_text(spec, upd.loc[i], before.loc[i], cols)])
        unchanged = int((~differs.any(axis=1)).sum())
    log_rows += [[spec.name, k, "add", ""] for k in label[~matched]]
    return inserts, updates, unchanged, log_rows


def pk_of(value: Any) -> Any:
    """An internal key as stored: int for integer keys, text for patient ids, None if new."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (float, np.floating, np.integer)):
        return int(value)
    return value


def _import_plan(store: Store, parsed: Parsed) -> Plan:
    problems = list(parsed.problems)
    typed: dict[str, Typed] = {}
    for name, raw in parsed.tables.items():
        t, found = parse_table(raw)
        typed[name] = t
        problems += found
    store_nat = store_frames(store)
    good = {n: t.frame[~t.frame["_bad"]].drop(columns="_bad") for n, t in typed.items()}
    merged = merge_view(store_nat, good, {}, {n: set(joined_keys(f, TABLES[n].key)) for n, f in good.items()})
    problems += cross_checks(merged, typed, duplicates=False)
    for name, t in typed.items():  # duplicates within the files, valid rows or not
        keyed = t.frame.dropna(subset=[c for c in TABLES[name].key if c != "phase"])
        problems += duplicate_keys(keyed.assign(_changed=True), TABLES[name])
    if not parsed.tables and not problems:
        problems.append(problem("", None, None, None, "no table found in the files"))
    plan = Plan(problem_frame(problems))
    if not plan.ok:
        return plan
    log_rows, signed = [], []
    for name, t in typed.items():
        spec, frame = TABLES[name], good[name].copy()
        old = store_nat[name].assign(_key=joined_keys(store_nat[name], spec.key))
        frame["_key"] = joined_keys(frame, spec.key)
        present = [c for c in t.present if c not in spec.key]
        inserts, updates, unchanged, rows = diff(spec, frame, old, "_key", present)
        if name == "board_decisions" and updates:
            keys = set(old.set_index("_pk").loc[[pk for pk, _ in updates], "_key"])
            hit = frame[frame["_key"].isin(keys)]
            signed += signed_changes(list(hit["_key"]), list(zip(hit["_source"], hit["_row"])))
        plan.inserts[name] = inserts[[c.name for c in spec.columns if c.name in inserts]]
        plan.updates[name], plan.unchanged[name] = updates, unchanged
        log_rows += rows
    if signed:
        return Plan(problem_frame(signed))
    plan.changes = pd.DataFrame(log_rows, columns=CHANGE_COLUMNS)
    return plan


def apply_plan(store: Store, plan: Plan, *, actor: Actor, action: str) -> None:
    """Write a checked plan as ``actor`` (call inside ``store.transaction(actor)``): deletes, updates, inserts."""
    for name in reversed(schema.CLINICAL_TABLES):
        for pk in plan.deletes.get(name, ()):
            store.delete(name, pk, actor=actor)
    for name in schema.CLINICAL_TABLES:
        for pk, changes in plan.updates.get(name, ()):
            if name == "dosimetry" and {"patient_id", "cycle_number"} & set(changes):
                changes = dict(changes)
                patient_id, cycle_number = store.cycle_key_of_dosimetry(pk)
                pid, number = changes.pop("patient_id", patient_id), changes.pop("cycle_number", cycle_number)
                changes["cycle_id"] = store.cycle_ids().get((pid, int(number)))
            if changes:
                store.update(name, pk, changes, actor=actor)
        rows = plan.inserts.get(name)
        if rows is not None and len(rows):
            if name == "dosimetry":
                ids = store.cycle_ids()
                rows = rows.assign(cycle_id=[ids[(p, int(c))] for p, c in
                                             zip(rows["patient_id"], rows["cycle_number"])])
                rows = rows.drop(columns=["patient_id", "cycle_number"])
            store.insert({name: rows}, actor=actor, action=action, audit_rows=True)


def check_import(store: Store, parsed: Parsed) -> Plan:
    """Validate parsed files against the store (a dry run): the plan or the problems."""
    return _import_plan(store, parsed)


def commit_import(store: Store, parsed: Parsed, *, actor: Actor) -> Plan:
    """Validate again under the write lock and write everything in one transaction.

    Raises :class:`ImportRejected` (nothing written) when any problem is found, and
    ``AccessDenied`` when ``actor`` is not an editor.
    """
    with store.transaction(actor):
        plan = _import_plan(store, parsed)
        if not plan.ok:
            raise ImportRejected(plan)
        apply_plan(store, plan, actor=actor, action="import")
    log.info("import: %d rows written", plan.n_writes)
    return plan


def import_files(store: Store, files: Iterable[tuple[str, bytes]], *, actor: Actor,
                 dry_run: bool = False) -> Plan:
    """Read, validate and (unless ``dry_run``) write files; see :func:`commit_import`."""
    parsed = read_files(files)
    return check_import(store, parsed) if dry_run else commit_import(store, parsed, actor=actor)
