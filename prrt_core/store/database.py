"""The SQLite store: one file, opened per unit of work, every write one transaction.

Open with ``Store(path)`` (a context manager). The schema is migrated forward on
open (``schema.MIGRATIONS``). A path that is not a store file (a directory, a device, not
SQLite, truncated; missing, with ``create=False``) is refused naming it, creating nothing; a
file without write permission opens read-only and refuses writes. Reads return pandas DataFrames whose column names
carry units; dates come back as ``datetime64[ns]`` and flags as ``bool``.
A rejected write raises :class:`StoreError` naming table, row, field and value,
and leaves the file exactly as it was.

Connections are never shared between threads or kept at import time: open a
``Store`` where you need it and close it (``with Store(path) as store:``).

Every write names its writer: ``transaction``, ``insert``, ``update`` and ``delete`` take
a required ``actor`` (``access.Actor``); only an editor may write
(``access.require_editor``), and the audit log records the actor's name. There is no
default writer: the command line and the demo loader pass theirs explicitly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlite_utils

from prrt_core.errors import InputError, StoreError
from prrt_core.paths import DATA_DIR
from prrt_core.store import schema
from prrt_core.store.access import Actor, require_editor
from prrt_core.store.connection import connect, database_file, migrate, now_utc
from prrt_core.store.integrity import error_from
from prrt_core.tables import Tables

log = logging.getLogger(__name__)

DEFAULT_DB_PATH = DATA_DIR / "prrt.sqlite"
DB_ENV_VAR = "PRRT_DB"

TableRows = pd.DataFrame | list[Mapping[str, Any]]


def default_path() -> Path:
    """The database file: ``$PRRT_DB`` when set, else ``data/prrt.sqlite``."""
    return Path(os.environ.get(DB_ENV_VAR) or DEFAULT_DB_PATH)


def plain_value(value: Any) -> Any:
    """A Python scalar SQLite accepts: NaN/NaT -> None, Timestamp -> ISO date, numpy -> builtin."""
    if value is None:
        return None
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        return None if pd.isna(value) else value.strftime("%Y-%m-%d")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else float(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _records(rows: TableRows) -> list[dict[str, Any]]:
    if isinstance(rows, pd.DataFrame):
        rows = rows.to_dict(orient="records")
    return [{k: plain_value(v) for k, v in row.items()} for row in rows]


class Store:
    """One open SQLite store. Use as a context manager; not shared across threads."""

    def __init__(self, path: str | os.PathLike | None = None, *, migrate_schema: bool = True,
                 create: bool = True):
        """Open (``create``: or create) the store at ``path``; a file that is not a store is refused
        with a :class:`StoreError` naming it, and nothing is created (``connection.database_file``).
        A file without write permission opens read-only: reads work, writes are refused."""
        self.path = Path(path) if path is not None else default_path()
        self.read_only = database_file(self.path, create=create)
        try:
            if os.fspath(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = connect(self.path, read_only=self.read_only)
        except (OSError, sqlite3.Error) as exc:
            raise self._refused(f"cannot be opened ({exc})") from None
        try:
            self._check_opened(migrate_schema)
            self.db = sqlite_utils.Database(self.conn)
            if migrate_schema:
                migrate(self.conn)
        except sqlite3.DatabaseError as exc:  # malformed pages; OperationalError: locked, I/O ...
            self.conn.close()
            damaged = not isinstance(exc, sqlite3.OperationalError)
            raise self._refused(f"{'damaged or not a store' if damaged else 'cannot be used'} ({exc})") from None
        except BaseException:
            self.conn.close()
            raise

    def _refused(self, reason: str) -> StoreError:
        return StoreError("database", "path", str(self.path), reason)

    def _check_opened(self, migrate_schema: bool) -> None:
        """Refuse another program's SQLite file, and a read-only file that needs migrating."""
        version = self.schema_version
        if version == 0 and self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise self._refused("an SQLite database of another program (schema version 0, tables of its own)")
        if self.read_only and migrate_schema and version < schema.SCHEMA_VERSION:
            raise self._refused(f"read-only file at schema version {version}: migrating it to version "
                                f"{schema.SCHEMA_VERSION} needs write access")

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    # ---- metadata -------------------------------------------------------
    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    @property
    def is_demo(self) -> bool:
        """True while the loaded data is the synthetic demo cohort."""
        return self.meta("dataset") == "demo"

    @property
    def revision(self) -> int:
        """Changes whenever anything is written (the latest audit id): a cache key for reads."""
        return self.conn.execute("SELECT coalesce(max(audit_id), 0) FROM audit").fetchone()[0]

    def is_empty(self) -> bool:
        return self.conn.execute("SELECT NOT EXISTS (SELECT 1 FROM patients)").fetchone()[0] == 1

    def columns(self, table: str) -> list[str]:
        self._check_table(table)
        return [c.name for c in self.db[table].columns]

    # ---- reads ----------------------------------------------------------
    def read(self, table: str, *, patient_id: str | None = None) -> pd.DataFrame:
        """All rows of ``table`` (optionally of one patient) as a typed DataFrame."""
        self._check_table(table)
        key = schema.PRIMARY_KEYS[table]
        # table and key come from the fixed schema whitelist, never from input.
        sql = f"SELECT * FROM [{table}]"
        params: tuple = ()
        if patient_id is not None:
            if table == "dosimetry":
                sql += " WHERE cycle_id IN (SELECT cycle_id FROM cycles WHERE patient_id = ?)"
            elif "patient_id" in self.columns(table):
                sql += " WHERE patient_id = ?"
            else:
                raise InputError(f"table {table} has no patient_id")
            params = (patient_id,)
        frame = pd.read_sql_query(f"{sql} ORDER BY [{key}]", self.conn, params=params)
        return _typed(table, frame)

    def read_all(self) -> Tables:
        """Every clinical table, read in one snapshot (a single read transaction)."""
        self.conn.execute("BEGIN")
        try:
            return Tables(**{t: self.read(t) for t in schema.CLINICAL_TABLES})
        finally:
            self.conn.execute("COMMIT")

    @property
    def in_transaction(self) -> bool:
        """Whether a write transaction of this store is open (reads then see its snapshot)."""
        return self.conn.in_transaction

    def cycle_ids(self) -> dict[tuple[str, int], int]:
        """cycle_id by (patient_id, cycle_number), for rows that name a cycle by its natural key."""
        return {(p, n): i for i, p, n in self.conn.execute("SELECT cycle_id, patient_id, cycle_number FROM cycles")}

    def cycle_key_of_dosimetry(self, dosimetry_id: int) -> tuple[str, int]:
        """(patient_id, cycle_number) of the cycle a dosimetry row belongs to."""
        row = self.conn.execute("SELECT c.patient_id, c.cycle_number FROM dosimetry d JOIN cycles c "
                                "USING (cycle_id) WHERE d.dosimetry_id = ?", (dosimetry_id,)).fetchone()
        if row is None:
            raise StoreError("dosimetry", "dosimetry_id", dosimetry_id, "no such row")
        return row[0], int(row[1])

    # ---- writes ---------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self, actor: Actor) -> Iterator[Store]:
        """One IMMEDIATE transaction (savepoint when nested) written by ``actor``: all or nothing.
        Editors only."""
        require_editor(actor)
        if self.read_only:
            raise self._refused("read-only file: nothing can be written (make the file writable to change data)")
        if self.conn.in_transaction:
            with self.db.atomic():
                yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    def insert(self, rows_by_table: Mapping[str, TableRows], *, actor: Actor,
               action: str = "insert", meta: Mapping[str, str] | None = None,
               audit_rows: bool = False) -> dict[str, int]:
        """Insert rows into several tables in one transaction; returns rows per table.

        Tables are written parent first (``schema.CLINICAL_TABLES`` order). On any
        rejected value nothing is written and :class:`StoreError` says where.
        The audit log gets one row per table, or with ``audit_rows`` one row per
        inserted row (its key and values).
        """
        user = require_editor(actor).name
        batches = {t: _records(rows_by_table[t]) for t in self._ordered(rows_by_table)}
        for table, records in batches.items():
            self._check_columns(table, records)
        try:
            with self.transaction(actor):
                for table, records in batches.items():
                    if audit_rows:
                        self._insert_audited(table, records, user, action)
                        continue
                    if records:
                        self.db[table].insert_all(records)
                    self._audit(user, action, table, f"{len(records)} rows",
                                None, {"rows": len(records)})
                for key, value in (meta or {}).items():
                    self.conn.execute(
                        "INSERT INTO meta (key, value) VALUES (?, ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))
        except sqlite3.IntegrityError as exc:
            raise self._diagnose(batches, exc) from exc
        return {t: len(r) for t, r in batches.items()}

    def update(self, table: str, key: Any, changes: Mapping[str, Any], *, actor: Actor) -> None:
        """Change some fields of one row (by primary key), audited with before and after."""
        user = require_editor(actor).name
        self._check_columns(table, [changes])
        pk = schema.PRIMARY_KEYS[table]
        with self.transaction(actor):
            before = self._row(table, key)
            try:
                self.db[table].update(key, {k: plain_value(v) for k, v in changes.items()})
            except sqlite3.IntegrityError as exc:
                raise error_from(table, exc, dict(changes), None) from exc
            after = self._row(table, key)
            self._audit(user, "update", table, f"{pk}={key}", before, after)

    def delete(self, table: str, key: Any, *, actor: Actor) -> None:
        """Delete one row (children cascade), audited with the row as it was."""
        user = require_editor(actor).name
        pk = schema.PRIMARY_KEYS[table]
        with self.transaction(actor):
            before = self._row(table, key)
            self.db[table].delete(key)
            self._audit(user, "delete", table, f"{pk}={key}", before, None)

    # ---- internals ------------------------------------------------------
    def _insert_audited(self, table: str, records: list[dict], user: str, action: str) -> None:
        """Insert rows and audit each with its key and stored values (inside a transaction).

        Integer keys not given are numbered after the largest existing one (the write lock
        is held), so rows go in with executemany and are read back in one query.
        """
        if not user:
            raise StoreError("audit", "user", user, "every write needs a user name")
        if not records:
            return
        pk = schema.PRIMARY_KEYS[table]
        if pk != "patient_id":
            # table and pk come from the fixed schema whitelist, never from input.
            next_id = self.conn.execute(f"SELECT coalesce(max([{pk}]), 0) + 1 FROM [{table}]").fetchone()[0]
            numbered = []
            for record in records:
                if record.get(pk) is None:
                    record = {**record, pk: next_id}
                    next_id += 1
                numbered.append(record)
            records = numbered
        groups: dict[tuple[str, ...], list[dict]] = {}
        for record in records:
            groups.setdefault(tuple(record), []).append(record)
        for columns, group in groups.items():
            # columns are checked against the schema (_check_columns) before this.
            self.conn.executemany(
                f"INSERT INTO [{table}] ({', '.join(f'[{c}]' for c in columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})", [[r[c] for c in columns] for r in group])
        keys = [r[pk] for r in records]
        stored: dict[Any, dict] = {}
        names = [d[0] for d in self.conn.execute(f"SELECT * FROM [{table}] LIMIT 0").description]
        at = names.index(pk)
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            for row in self.conn.execute(
                    f"SELECT * FROM [{table}] WHERE [{pk}] IN ({', '.join('?' for _ in chunk)})", chunk):
                stored[row[at]] = dict(zip(names, row))
        now = now_utc()
        self.conn.executemany(
            "INSERT INTO audit (at_utc, user, action, table_name, row_key, before_json, after_json) "
            "VALUES (?, ?, ?, ?, ?, NULL, ?)",
            [(now, user, action, table, f"{pk}={key}", json.dumps(stored[key], default=str))
             for key in keys])

    def _row(self, table: str, key: Any) -> dict[str, Any]:
        try:
            return dict(self.db[table].get(key))
        except sqlite_utils.db.NotFoundError:
            raise StoreError(table, schema.PRIMARY_KEYS[table], key, "no such row") from None

    def _audit(self, user: str, action: str, table: str, row_key: str,
               before: Any, after: Any) -> None:
        if not user:
            raise StoreError("audit", "user", user, "every write needs a user name")
        self.conn.execute(
            "INSERT INTO audit (at_utc, user, action, table_name, row_key, before_json, after_json) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (now_utc(), user, action, table, row_key,
             None if before is None else json.dumps(before, default=str),
             None if after is None else json.dumps(after, default=str)))

    def _check_table(self, table: str) -> None:
        if table not in schema.PRIMARY_KEYS:
            raise StoreError(table, None, table, "unknown table")

    def _ordered(self, rows_by_table: Mapping[str, TableRows]) -> list[str]:
        for table in rows_by_table:
            if table not in schema.CLINICAL_TABLES:
                raise StoreError(table, None, table, "unknown table")
        return [t for t in schema.CLINICAL_TABLES if t in rows_by_table]

    def _check_columns(self, table: str, records: list[Mapping[str, Any]]) -> None:
        known = set(self.columns(table))
        for i, record in enumerate(records):
            unknown = sorted(set(record) - known)
            if unknown:
                raise StoreError(table, unknown[0], record[unknown[0]], "unknown column", row=i)

    def _diagnose(self, batches: dict[str, list[dict]], exc: sqlite3.IntegrityError) -> StoreError:
        """Replay the rejected batch row by row, inside a rolled-back transaction, to name the row.

        Inside an enclosing transaction (an insert nested in ``transaction()``) the replay
        runs in a savepoint that is rolled back, leaving the enclosing transaction as it was.
        """
        nested = self.conn.in_transaction
        self.conn.execute("SAVEPOINT diagnose" if nested else "BEGIN IMMEDIATE")
        try:
            for table, records in batches.items():
                for i, record in enumerate(records):
                    try:
                        self.db[table].insert(record)
                    except sqlite3.IntegrityError as row_exc:
                        return error_from(table, row_exc, record, i, self.conn)
        finally:
            if nested:
                self.conn.execute("ROLLBACK TO diagnose")
                self.conn.execute("RELEASE diagnose")
            else:
                self.conn.execute("ROLLBACK")
        return StoreError(next(iter(batches), "?"), None, None, str(exc))


def _typed(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    for column in schema.DATE_COLUMNS.get(table, ()):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], format="%Y-%m-%d")
    for column in schema.BOOL_COLUMNS.get(table, ()):
        if column in frame:
            frame[column] = frame[column].astype(bool)
    for column in schema.NULLABLE_BOOL_COLUMNS.get(table, ()):
        if column in frame:
            frame[column] = frame[column].astype("boolean")
    return frame
