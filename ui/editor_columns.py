"""The Data page's table editor: one Streamlit column configuration per import column (its kind, its
allowed values, whether it is required), so the editor offers what the import would accept."""

from __future__ import annotations

import streamlit as st

from prrt_core import importer


def column(col: importer.ColumnSpec):
    """The ``st.column_config`` column for one import column."""
    label, config, kind = col.header, st.column_config, importer.ColumnKind
    if col.kind == kind.ENUM:
        return config.SelectboxColumn(label, options=list(col.choices), required=col.required)
    if col.kind == kind.BOOL:
        return config.CheckboxColumn(label, default=False)
    if col.kind == kind.DATE:
        return config.DateColumn(label, format="YYYY-MM-DD", required=col.required)
    if col.kind.numeric:
        return config.NumberColumn(label, required=col.required, step=1 if col.kind == kind.INT else None)
    return config.TextColumn(label, required=col.required)


def column_config(spec: importer.TableSpec) -> dict:
    """Every column of a table, with the internal key column ``_pk`` hidden."""
    return {c.name: column(c) for c in spec.columns} | {"_pk": None}
