"""Opening an SQLite store file: a configured connection, and forward migrations under a schema version.

Foreign keys are per connection and off by default in SQLite, so every connection turns them
on; WAL and a busy timeout let readers and one writer work at once.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import sqlite3
from collections.abc import Iterator

from prrt_core.errors import InputError, StoreError
from prrt_core.store import schema

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 10.0


def connect(path: str | os.PathLike) -> sqlite3.Connection:
    """A configured connection: foreign keys on, WAL, busy timeout, explicit transactions."""
    conn = sqlite3.connect(os.fspath(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")  # per connection, off by default
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    if os.fspath(path) != ":memory:":
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _statements(script: str) -> Iterator[str]:
    """Split a DDL script into complete statements (sqlite3.complete_statement)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer.strip()
            buffer = ""
    if buffer.strip():
        raise InputError(f"incomplete SQL statement in migration: {buffer.strip()[:80]!r}")


def migrate(conn: sqlite3.Connection, target: int = schema.SCHEMA_VERSION) -> int:
    """Apply forward migrations up to ``target``, each in one IMMEDIATE transaction.

    Returns the schema version afterwards. A file newer than this code is refused.
    An up-to-date file is only read, so opening a store takes no write lock.
    """
    if conn.execute("PRAGMA user_version").fetchone()[0] == target:
        return target
    for version in range(1, target + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if current > schema.SCHEMA_VERSION:
                raise StoreError("meta", "schema_version", current,
                                 f"the file is newer than this program (version {schema.SCHEMA_VERSION})")
            if current < version:
                for statement in _statements(schema.MIGRATIONS[version - 1]):
                    conn.execute(statement)
                # PRAGMA takes no parameters; version is an int from range().
                conn.execute(f"PRAGMA user_version = {int(version)}")
                conn.execute(
                    "INSERT INTO audit (at_utc, user, action, table_name, row_key, after_json) "
                    "VALUES (?, 'system', 'migrate', 'schema', ?, NULL)",
                    (now_utc(), str(version)))
                log.info("store migrated to schema version %d", version)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return conn.execute("PRAGMA user_version").fetchone()[0]


def now_utc() -> str:
    """The current UTC time as ISO 8601 text, to the second (audit rows)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
