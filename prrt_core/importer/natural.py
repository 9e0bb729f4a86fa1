"""The store's tables in natural-key form, the form of import files: patient ids, cycle numbers,
dates, organ and label instead of internal ids, values in canonical units, the internal key in
``_pk``. Rows are matched on these keys; :func:`merge_view` is the store as a change would leave it.

=================== ==============================================
table               natural key
=================== ==============================================
patients            patient_id
cycles              patient_id, cycle_number
dosimetry           patient_id, cycle_number, organ, label
labs                patient_id, lab_date
assessments         patient_id, assessment_date, modality
events              patient_id, event_type, phase
performance_status  patient_id, status_date
=================== ==============================================
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from prrt_core.importer.spec import TABLES, ColumnKind
from prrt_core.store import Store, schema
from prrt_core.tables import Tables


def store_frames(store: Store) -> dict[str, pd.DataFrame]:
    """:func:`natural_frames` of the store; inside a write, of that transaction's snapshot."""
    if store.in_transaction:  # inside a write: same snapshot, no new BEGIN
        return natural_frames(Tables(**{t: store.read(t) for t in schema.CLINICAL_TABLES}))
    return natural_frames(store.read_all())


def natural_frames(tables: Tables) -> dict[str, pd.DataFrame]:
    """Store tables in import form: natural keys (no internal ids), canonical values, ``_pk``."""
    out = {}
    cycles = tables.cycles[["cycle_id", "patient_id", "cycle_number"]]
    for name, spec in TABLES.items():
        frame = tables.table(name)
        if name == "dosimetry":
            frame = frame.merge(cycles, on="cycle_id", how="left")
        nat = pd.DataFrame({"_pk": frame[schema.PRIMARY_KEYS[name]].to_numpy()}, index=frame.index)
        for col in spec.columns:
            values = frame[col.name]
            if col.kind == ColumnKind.DATE:
                days = pd.to_datetime(values)
                values = days.dt.strftime("%Y-%m-%d").astype(object).where(days.notna(), None)
            elif col.kind in (ColumnKind.INT, ColumnKind.BOOL):
                values = values.astype(float).round().astype("Int64")
            elif col.kind == ColumnKind.REAL:
                values = values.astype(float)
            else:
                values = values.astype(object).where(values.notna(), None)
            nat[col.name] = values
        out[name] = nat.reset_index(drop=True)
    return out


def export_frames(tables: Tables) -> dict[str, pd.DataFrame]:
    """Every clinical table in import form (store column names), sorted by natural key."""
    return {name: frame.drop(columns="_pk").sort_values(list(TABLES[name].key), kind="stable")
            .reset_index(drop=True) for name, frame in natural_frames(tables).items()}


def joined_keys(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """The natural key of each row as one string (parts joined by \\x1f; missing = "")."""
    parts = [frame[c].astype("string").fillna("").astype(object) for c in columns]
    if not parts:
        return pd.Series("", index=frame.index)
    key = parts[0]
    for part in parts[1:]:
        key = key + "\x1f" + part
    return key


def key_text(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """A natural key for people: values joined by ' / ' (an empty label stays empty)."""
    return joined_keys(frame, columns).str.replace("\x1f", " / ", regex=False).str.rstrip(" /")


def same_values(a: pd.Series, b: pd.Series, kind: ColumnKind) -> pd.Series:
    """Row by row: equal, or both missing; reals equal to a relative 1e-9."""
    both_missing = a.isna().to_numpy() & b.isna().to_numpy()
    if kind == ColumnKind.REAL:
        x, y = a.astype(float).to_numpy(), b.astype(float).to_numpy()
        return pd.Series(both_missing | np.isclose(x, y, rtol=1e-9, atol=0.0), index=a.index)
    both = ~a.isna().to_numpy() & ~b.isna().to_numpy()
    equal = np.zeros(len(a), dtype=bool)
    equal[both] = np.asarray(a.astype(object).to_numpy()[both] == b.astype(object).to_numpy()[both],
                             dtype=bool)
    return pd.Series(both_missing | equal, index=a.index)



def merge_view(store_nat: dict[str, pd.DataFrame], changed: dict[str, pd.DataFrame],
               drop_pks: dict[str, set], drop_keys: dict[str, set]) -> dict[str, pd.DataFrame]:
    """The store as it would be after the change: changed rows replace stored ones (by
    internal key or by natural key); a changed row lacking a column keeps the stored value."""
    merged = {}
    for name, frame in store_nat.items():
        spec = TABLES[name]
        keys = joined_keys(frame, spec.key)
        keep = ~frame["_pk"].isin(drop_pks.get(name, set()))
        if name in drop_keys:
            keep &= ~keys.isin(drop_keys[name])
        base = frame[keep].assign(_changed=False, _row=pd.NA, _source=None)
        parts = [base]
        if name in changed:
            new = changed[name].assign(_changed=True)
            absent = [c.name for c in spec.columns if c.name not in new]
            if absent:
                stored = frame[absent].set_axis(keys.to_numpy())
                new_keys = joined_keys(new, spec.key).to_numpy()
                found = pd.Series(new_keys).isin(stored.index).to_numpy()
                for col in absent:
                    new[col] = None
                    new.loc[found, col] = stored.loc[new_keys[found], col].to_numpy()
            for col in spec.columns:  # same dtypes as the store side, so concat keeps them
                if col.name in new and new[col.name].dtype != base[col.name].dtype:
                    new[col.name] = new[col.name].astype(base[col.name].dtype)
            parts = [part for part in (base, new) if len(part)] or [base]
        merged[name] = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
        for col in TABLES[name].columns:
            if col.name not in merged[name]:
                merged[name][col.name] = None
    return merged

