"""The Data page's table editor: one Streamlit column configuration per import column (its kind, its
allowed values, whether it is required), so the editor offers what the import would accept; and the
problems of the cells typed so far, shown before anything is saved."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from prrt_core import importer
from prrt_core.importer.edit import cell_problems
from ui.text import md

DATE_HELP = "A date as YYYY-MM-DD (e.g. 2021-01-31), as in the import."
SHOWN_PROBLEMS = 10  # cells listed by name in the message; the Save check lists every one


def column(col: importer.ColumnSpec):
    """The ``st.column_config`` column for one import column.

    Dates are edited as ISO text (``importer.editable_frame``): the import's cell rules judge what
    was typed, and a date picker's locale (01/02/2021: January or February?) plays no part.
    """
    label, config, kind = col.header, st.column_config, importer.ColumnKind
    if col.kind == kind.ENUM:
        return config.SelectboxColumn(label, options=list(col.choices), required=col.required)
    if col.kind == kind.BOOL:  # no default: an unticked box would record "no" (e.g. no hypertension) unasked
        return config.SelectboxColumn(label, options=["yes", "no"], required=col.required)
    if col.kind == kind.DATE:
        return config.TextColumn(label, required=col.required, help=DATE_HELP)
    if col.kind.numeric:
        return config.NumberColumn(label, required=col.required, step=1 if col.kind == kind.INT else None)
    return config.TextColumn(label, required=col.required)


def column_config(spec: importer.TableSpec) -> dict:
    """Every column of a table, with the internal key column ``_pk`` hidden."""
    return {c.name: column(c) for c in spec.columns} | {"_pk": None}


def problem_lines(table: str, problems: pd.DataFrame, limit: int = SHOWN_PROBLEMS) -> list[str]:
    """Each problem of ``table`` as markdown naming the table, row, column and the value typed
    (external text escaped: ui.text.md)."""
    lines = [f"- {md(table)}, row {p.Row}, {md(p.Column)}: " + md(f"'{p.Value}'") + f" — {md(p.Reason)}"
             for p in problems.head(limit).itertuples()]
    if len(problems) > limit:
        lines.append(f"- … and {len(problems) - limit} more (Save lists every one).")
    return lines


def warn_about_cells(table: str, original: pd.DataFrame, edited: pd.DataFrame) -> bool:
    """Show the problems of the cells changed so far (nothing is written); True when there are any."""
    if edited.equals(original):  # nothing typed yet: nothing to parse
        return False
    problems = cell_problems(table, original, edited)
    if problems.empty:
        return False
    st.warning(f"{len(problems)} cell(s) would be refused; nothing is saved until they are corrected:\n\n"
               + "\n".join(problem_lines(table, problems)), icon=":material/edit_note:")
    return True
