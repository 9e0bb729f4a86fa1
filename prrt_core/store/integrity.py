"""A refused write named for the user: which table, row, field and value broke which constraint.

SQLite reports a failed constraint by message; CHECK constraints are named after their
column (schema.py), so the message names the field.
"""
from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from typing import Any

from prrt_core.errors import StoreError

_NOT_NULL = re.compile(r"NOT NULL constraint failed: (\w+)\.(\w+)")
_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)")
_CHECK = re.compile(r"CHECK constraint failed: (\w+)")


def error_from(table: str, exc: sqlite3.IntegrityError, record: Mapping[str, Any],
                row: int | None, conn: sqlite3.Connection | None = None) -> StoreError:
    message = str(exc)
    if m := _NOT_NULL.search(message):
        return StoreError(m.group(1), m.group(2), record.get(m.group(2)), "required", row)
    if m := _CHECK.search(message):
        field = m.group(1)
        return StoreError(table, field, record.get(field), "out of range or not allowed", row)
    if m := _UNIQUE.search(message):
        fields = [f.split(".")[-1] for f in m.group(1).split(", ")]
        value = tuple(record.get(f) for f in fields) if len(fields) > 1 else record.get(fields[0])
        return StoreError(table, ", ".join(fields), value, "duplicate of an existing row", row)
    if "FOREIGN KEY" in message and conn is not None:
        for fk in conn.execute(f"PRAGMA foreign_key_list([{table}])").fetchall():
            parent, column, parent_column = fk[2], fk[3], fk[4]
            value = record.get(column)
            exists = conn.execute(
                f"SELECT 1 FROM [{parent}] WHERE [{parent_column}] = ?", (value,)).fetchone()
            if value is not None and exists is None:
                return StoreError(table, column, value, f"no such {parent} row", row)
    return StoreError(table, None, None, message, row)
