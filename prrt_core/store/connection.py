"""Opening an SQLite store file: the file checked first, a configured connection, and forward
migrations under a schema version.

Foreign keys are per connection and off by default in SQLite, so every connection turns them
on; WAL and a busy timeout let readers and one writer work at once. A file that is not
writable is opened read-only (``mode=ro``, journal mode left as it is).
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

from prrt_core.errors import InputError, StoreError
from prrt_core.store import schema

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 10.0
SQLITE_HEADER = b"SQLite format 3\x00"
_HEADER_BYTES = 100  # the database header (sqlite.org/fileformat.html, section 1.3)


def database_file(path: str | os.PathLike, *, create: bool) -> bool:
    """Check that ``path`` is a file SQLite can open as a store, before anything opens it;
    returns whether it is read-only.

    Refused with a :class:`StoreError` naming the path (and nothing created): a directory,
    a device or other non-regular file (``/dev/null``), an empty file unless ``create``, a
    file that is not SQLite, a truncated SQLite file, and a missing file unless ``create``.
    A file without write permission (for anyone, so also for root) is read-only.
    """
    if os.fspath(path) == ":memory:":
        return False
    path = Path(path)

    def refused(reason: str) -> StoreError:
        return StoreError("database", "path", str(path), reason)

    try:
        info = path.stat()
    except FileNotFoundError:
        if create:
            return False
        raise refused("no such database file (create one with: python -m prrt_core --db PATH init)") from None
    except OSError as exc:
        raise refused(f"cannot be used ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise refused("is a directory, not a database file")
    if not stat.S_ISREG(info.st_mode):
        raise refused("is not a regular file (a device, pipe or socket), not a database file")
    read_only = not os.access(path, os.W_OK) or not info.st_mode & 0o222
    if info.st_size == 0:
        if create and not read_only:
            return False  # SQLite makes an empty file a new database
        raise refused("empty file, not a database (create one with: python -m prrt_core --db PATH init)")
    try:
        with path.open("rb") as file:
            header = file.read(_HEADER_BYTES)
    except OSError as exc:
        raise refused(f"cannot be read ({exc.strerror})") from None
    if not header.startswith(SQLITE_HEADER):
        raise refused("not an SQLite database (the file does not start with 'SQLite format 3')")
    if len(header) < _HEADER_BYTES:
        raise refused(f"truncated SQLite file ({info.st_size} bytes)")
    page_size = int.from_bytes(header[16:18], "big")
    declared = int.from_bytes(header[28:32], "big") * (65536 if page_size == 1 else page_size)
    # The in-header size is valid when its version-valid-for number equals the change counter;
    # with a -wal file beside it, pages may still live there (SQLite checks those itself).
    if (header[24:28] == header[92:96] and declared and info.st_size < declared
            and not path.with_name(path.name + "-wal").exists()):
        raise refused(f"truncated SQLite file: {info.st_size} bytes of the {declared} its header declares")
    return read_only


def connect(path: str | os.PathLike, *, read_only: bool = False) -> sqlite3.Connection:
    """A configured connection: foreign keys on, WAL, busy timeout, explicit transactions.

    ``read_only`` opens the file with ``mode=ro`` and leaves its journal mode as it is.
    """
    if read_only:
        uri = f"{Path(path).resolve().as_uri()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    else:
        conn = sqlite3.connect(os.fspath(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")  # per connection, off by default
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        if os.fspath(path) != ":memory:" and not read_only:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        conn.close()
        raise
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


def create_schema(conn: sqlite3.Connection, version: int) -> None:
    """The DDL of schema versions 1 to ``version`` on an empty database, in one transaction and
    without audit rows: the fresh database a restore copies a backup's rows into."""
    conn.execute("BEGIN")
    try:
        for script in schema.MIGRATIONS[:version]:
            for statement in _statements(script):
                conn.execute(statement)
        # PRAGMA takes no parameters; version is an int checked by the caller.
        conn.execute(f"PRAGMA user_version = {int(version)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


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
