"""Backup and restore of the whole store (CSV export: ``prrt_core.importer.export``).

- :func:`backup`: a consistent copy of the database file through SQLite's online
  backup API (``sqlite3.Connection.backup``), safe while others write.
- :func:`restore`: replaces the database's contents by a backup's rows. A backup is a file from
  outside, so it gives rows, never schema: :func:`check_backup` reads a private copy (at most
  :data:`MAX_BACKUP_BYTES`) and refuses it unless its SQLite header, ``integrity_check``, schema
  version, every object of ``sqlite_master`` (tables, columns, indexes, its version's triggers, no
  view) and foreign keys are exactly those of its version, and no row is over :data:`MAX_ROW_BYTES`; the
  rows are then copied with plain INSERTs of the known columns into a fresh database made by our
  own DDL (``connection.create_schema``), so CHECK constraints and foreign keys apply, and it is
  migrated forward. Only then is the live file touched, in one write transaction: the previous
  database saved as ``<name>.pre-restore-<UTC time>.sqlite``, every object dropped and recreated
  from our DDL, the rows copied, an audit row recording the restore after the live revision. Killed at any point, the file holds the old database or the complete new one
  with its audit row, and other connections see one or the other under SQLite's locks (replacing
  the file by ``os.replace`` would leave them the old -wal and -shm files beside the new file).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from prrt_core.errors import BackupError, StoreError
from prrt_core.store import connection, schema
from prrt_core.store.access import Actor, require_editor
from prrt_core.store.connection import SQLITE_HEADER, connect, database_file
from prrt_core.store.integrity import error_from

log = logging.getLogger(__name__)

# The Data page accepts uploads up to 1024 MB (.streamlit/config.toml, maxUploadSize).
MAX_BACKUP_BYTES = 1 << 30
# A row of the store is a few hundred bytes (import cells hold at most 500 characters).
MAX_ROW_BYTES = 1_000_000
# Tables of each schema version, parents first (2 added performance_status, 3 the rest, 4 a column).
_V3_TABLES = ("ssa_administrations", "findings", "board_decisions")
_TABLES_BY_VERSION = {
    1: [t for t in schema.CLINICAL_TABLES if t not in ("performance_status", *_V3_TABLES)] + ["audit", "meta"],
    2: [t for t in schema.CLINICAL_TABLES if t not in _V3_TABLES] + ["audit", "meta"],
    3: [*schema.CLINICAL_TABLES, "audit", "meta"], 4: [*schema.CLINICAL_TABLES, "audit", "meta"]}
# integrity_check lines about values (CHECK, NOT NULL): the copy names their row and value instead.
_VALUE_PROBLEMS = ("CHECK constraint failed in ", "NULL value in ")


def backup(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Copy the database ``source`` to ``target`` with SQLite's backup API (one consistent
    snapshot even while others write); the copy is a single self-contained file. A ``source``
    that is not a store file is refused (StoreError) before anything is written."""
    read_only = database_file(source, create=False)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = dst = None
    try:
        src = connect(source, read_only=read_only)
        dst = sqlite3.connect(partial)
        src.backup(dst)
        dst.execute("PRAGMA journal_mode = DELETE")  # no -wal file beside the copy
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise StoreError("database", "path", os.fspath(source), f"cannot be copied ({exc})") from None
    finally:
        for conn in (dst, src):
            if conn is not None:
                conn.close()
    os.replace(partial, target)
    log.info("backup written: %s", target.name)
    return target


def backup_bytes(source: str | os.PathLike) -> bytes:
    """A backup of ``source`` as bytes (for a download)."""
    with tempfile.TemporaryDirectory() as folder:
        return backup(source, Path(folder) / "backup.sqlite").read_bytes()


@dataclass(frozen=True)
class BackupInfo:
    schema_version: int
    rows: dict[str, int]
    sha256: str


def check_backup(path: str | os.PathLike) -> BackupInfo:
    """Check that ``path`` is a sound backup of this program's database, down to every row
    (it is copied into a fresh database and discarded); raise BackupError naming the file."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="prrt-backup-") as folder:
        copy = _private_copy(path, Path(folder), path.name)
        info = _inspect(copy, path.name)
        _build(copy, Path(folder) / "built.sqlite", info, path.name)
    return info


def check_backup_data(data: bytes, name: str) -> BackupInfo:
    """:func:`check_backup` for an uploaded file's bytes; messages name it ``name``."""
    _check_size(len(data), name)
    with tempfile.TemporaryDirectory() as folder:
        (copy := Path(folder) / Path(name).name).write_bytes(data)
        return check_backup(copy)


def restore_data(data: bytes, name: str, target: str | os.PathLike, *, actor: Actor) -> Path:
    """:func:`restore` from an uploaded file's bytes; returns the saved previous copy."""
    require_editor(actor)
    _check_size(len(data), name)
    with tempfile.TemporaryDirectory() as folder:
        (copy := Path(folder) / Path(name).name).write_bytes(data)
        return restore(copy, target, actor=actor)


def restore(backup_path: str | os.PathLike, target: str | os.PathLike, *, actor: Actor) -> Path:
    """Replace the database ``target`` by the checked backup; returns the saved previous copy.

    Editors only. Refused (BackupError or StoreError, the live file byte for byte as it was)
    unless the backup passes :func:`check_backup` and ``target`` is an existing, writable store
    file. The new database is built beside ``target`` first; the swap, the saved previous copy
    and the audit row recording the restore (numbered after the live revision, so that caches
    keyed on it are invalidated) are then one write transaction (module docstring).
    """
    require_editor(actor)
    backup_path, target = Path(backup_path), Path(target)
    if database_file(target, create=False):
        raise StoreError("database", "path", str(target), "read-only file: a restore needs write access")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.restore-") as folder:
        copy = _private_copy(backup_path, Path(folder), backup_path.name)
        info = _inspect(copy, backup_path.name)
        built = _build(copy, Path(folder) / "built.sqlite", info, backup_path.name)
        saved = _swap(built, target, target.with_name(f"{target.stem}.pre-restore-{stamp}.sqlite"),
                      {"restored_from": backup_path.name, "sha256": info.sha256,
                       "schema_version": info.schema_version, "rows": info.rows}, actor)
    log.info("database restored from a backup (%s); previous copy %s", info.sha256[:12], saved.name)
    return saved


# ---- checking a backup ------------------------------------------------------------------
def _check_size(size: int, name: str) -> None:
    if size > MAX_BACKUP_BYTES:
        raise BackupError(f"{name}: {size} bytes, more than the {MAX_BACKUP_BYTES} bytes "
                          f"({MAX_BACKUP_BYTES / 2**30:g} GiB) a backup may have")


def _private_copy(path: Path, folder: Path, name: str) -> Path:
    """A copy of the backup only this restore reads (no -wal or journal of the original comes along,
    and the original may change meanwhile); refused when empty, missing or over the size bound."""
    try:
        info = path.stat()
    except OSError:
        raise BackupError(f"{name}: empty or missing file") from None
    if not stat.S_ISREG(info.st_mode):
        raise BackupError(f"{name}: not a regular file")
    if info.st_size == 0:
        raise BackupError(f"{name}: empty or missing file")
    _check_size(info.st_size, name)
    copy = folder / "backup.sqlite"
    shutil.copyfile(path, copy)
    _check_size(copy.stat().st_size, name)  # it may have grown since
    return copy


@functools.cache
def _reference(version: int) -> tuple[dict[tuple[str, str], tuple[str, str | None]], dict[str, tuple[str, ...]]]:
    """The objects ((type, name) -> (table, SQL)) and table columns of schema ``version``, made by our DDL."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        connection.create_schema(conn, version)
        return _objects(conn), {t: _columns(conn, t) for t in _TABLES_BY_VERSION[version]}
    finally:
        conn.close()


def _objects(conn: sqlite3.Connection, db: str = "main") -> dict[tuple[str, str], tuple[str, str | None]]:
    # sqlite_stat tables (ANALYZE) are statistics, not schema, and are never copied.
    rows = conn.execute(f"SELECT type, name, tbl_name, sql FROM {db}.sqlite_master "
                        "WHERE name NOT LIKE 'sqlite_stat%'").fetchall()
    return {(kind, name): (table, None if sql is None else " ".join(sql.split())) for kind, name, table, sql in rows}


def _columns(conn: sqlite3.Connection, table: str, db: str = "main") -> tuple[str, ...]:
    # table names come from _TABLES_BY_VERSION, never from the file.
    return tuple(row[1] for row in conn.execute(f"PRAGMA {db}.table_info([{table}])"))


def _inspect(copy: Path, name: str) -> BackupInfo:
    """Everything about the backup except its values' constraints (those apply in :func:`_build`)."""
    with copy.open("rb") as file:
        if not file.read(len(SQLITE_HEADER)).startswith(SQLITE_HEADER):
            raise BackupError(f"{name}: not an SQLite database (a backup starts with 'SQLite format 3')")
        file.seek(0)
        digest = hashlib.file_digest(file, "sha256").hexdigest()
    try:
        conn = sqlite3.connect(f"{copy.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{name}: cannot open: {exc}") from None
    try:
        conn.execute("PRAGMA trusted_schema = OFF")
        problems = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        problems = [p for p in problems if p != "ok" and not p.startswith(_VALUE_PROBLEMS)]
        if problems:
            raise BackupError(f"{name}: damaged (integrity_check: {'; '.join(problems[:3])})")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > schema.SCHEMA_VERSION:
            raise BackupError(f"{name}: schema version {version} is newer than this program "
                              f"({schema.SCHEMA_VERSION}): update the program first")
        if version < 1:
            raise BackupError(f"{name}: not a Salvage PRRT Board database (schema version 0)")
        _check_schema(conn, name, version)
        if (orphan := conn.execute("PRAGMA foreign_key_check").fetchone()) is not None:
            raise BackupError(f"{name}: {orphan[0]} row rowid={orphan[1]} refers to a missing {orphan[2]} "
                              "row (foreign_key_check)")
        for table in _TABLES_BY_VERSION[version]:
            _check_rows(conn, name, table, _reference(version)[1][table])
        rows = {t: conn.execute(f"SELECT count(*) FROM [{t}]").fetchone()[0]
                for t in schema.CLINICAL_TABLES if t in _TABLES_BY_VERSION[version]}
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{name}: not a readable SQLite database ({exc})") from None
    finally:
        conn.close()
    return BackupInfo(version, rows, digest)


def _check_schema(conn: sqlite3.Connection, name: str, version: int) -> None:
    """Every object of the backup's sqlite_master is one of its schema version, defined the same way."""
    ours, columns = _reference(version)
    theirs = _objects(conn)
    expected = set(_TABLES_BY_VERSION[version])
    tables = {n for kind, n in theirs if kind == "table" and not n.startswith("sqlite_")}
    if tables != expected:
        missing, extra = sorted(expected - tables), sorted(tables - expected)
        raise BackupError(f"{name}: not a Salvage PRRT Board database of schema version "
                          f"{version}" + (f"; missing tables: {', '.join(missing)}" if missing else "")
                          + (f"; unexpected tables: {', '.join(extra)}" if extra else ""))
    for kind, n in sorted(set(theirs) - set(ours)):
        raise BackupError(f"{name}: {kind} '{n}' is not part of schema version {version}")
    for kind, n in sorted(set(ours) - set(theirs)):
        raise BackupError(f"{name}: {kind} '{n}' of schema version {version} is missing")
    for table in _TABLES_BY_VERSION[version]:
        found = _columns(conn, table)
        for column in columns[table]:
            if column not in found:
                raise BackupError(f"{name}: table '{table}': column '{column}' of schema version {version} "
                                  "is missing")
        for column in found:
            if column not in columns[table]:
                raise BackupError(f"{name}: table '{table}': column '{column}' is not part of schema "
                                  f"version {version}")
    for (kind, n), definition in sorted(ours.items()):
        if theirs[kind, n] != definition:
            raise BackupError(f"{name}: {kind} '{n}' is not defined as in schema version {version} "
                              "(its columns, types or constraints differ)")


def _check_rows(conn: sqlite3.Connection, name: str, table: str, columns: tuple[str, ...]) -> None:
    """No binary value (the store holds text and numbers) and no row over MAX_ROW_BYTES."""
    key = schema.PRIMARY_KEYS[table]
    sizes = [f"ifnull(length(CAST([{c}] AS BLOB)), 0)" for c in columns]  # columns: our schema's
    blob = " OR ".join(f"typeof([{c}]) = 'blob'" for c in columns)
    row = conn.execute(f"SELECT [{key}], {', '.join(f'typeof([{c}]), {s}' for c, s in zip(columns, sizes))} "
                       f"FROM [{table}] WHERE ({' + '.join(sizes)}) > ? OR {blob} LIMIT 1",
                       (MAX_ROW_BYTES,)).fetchone()
    if row is None:
        return
    where = f"{name}: {table} row {key}={row[0]!r}"
    kinds, lengths = row[1::2], row[2::2]
    if "blob" in kinds:
        raise BackupError(f"{where}: {columns[kinds.index('blob')]} is binary data (a store holds text and numbers)")
    largest = max(range(len(columns)), key=lambda i: lengths[i])
    raise BackupError(f"{where}: {sum(lengths) / 1e6:.1f} MB ({columns[largest]} {lengths[largest] / 1e6:.1f} MB), "
                      f"more than the {MAX_ROW_BYTES / 1e6:.1f} MB a row may hold")


# ---- building the new database and swapping it in -------------------------------------
def _build(copy: Path, built: Path, info: BackupInfo, name: str) -> Path:
    """A fresh database at ``built`` with our DDL of the backup's version, the backup's rows copied
    with plain INSERTs of the known columns (CHECK, NOT NULL, UNIQUE and foreign keys apply), then
    migrated forward to this program's version. Raises BackupError naming the row and value."""
    version = info.schema_version
    conn = sqlite3.connect(built, isolation_level=None)
    try:
        _fill(conn, copy, version, name)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{name}: cannot be copied into a fresh database ({exc})") from None
    finally:
        conn.close()
    return built


def _fill(conn: sqlite3.Connection, copy: Path, version: int, name: str) -> None:
    """:func:`_build`'s steps on the fresh database ``conn``."""
    conn.execute("PRAGMA foreign_keys = ON")
    connection.create_schema(conn, version)
    conn.execute("ATTACH DATABASE ? AS backup", (str(copy),))
    conn.execute("BEGIN")
    try:
        for table in _TABLES_BY_VERSION[version]:
            columns = ", ".join(f"[{c}]" for c in _reference(version)[1][table])
            key = schema.PRIMARY_KEYS[table]
            try:
                conn.execute(f"INSERT INTO main.[{table}] ({columns}) SELECT {columns} FROM backup.[{table}] "
                             f"ORDER BY [{key}]")
            except sqlite3.IntegrityError as exc:
                raise _row_error(conn, name, table, columns, exc) from None
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("DETACH DATABASE backup")
    connection.migrate(conn)


def _row_error(conn: sqlite3.Connection, name: str, table: str, columns: str,
               exc: sqlite3.IntegrityError) -> BackupError:
    """The first row of ``table`` the fresh database refuses, inserted one by one (inside the open
    transaction, each in a savepoint), named by its key, field and value."""
    key = schema.PRIMARY_KEYS[table]
    cursor = conn.execute(f"SELECT {columns} FROM backup.[{table}] ORDER BY [{key}]")
    names = [d[0] for d in cursor.description]
    for values in cursor.fetchall():
        record = dict(zip(names, values))
        conn.execute("SAVEPOINT one_row")
        try:
            conn.execute(f"INSERT INTO main.[{table}] ({columns}) VALUES ({', '.join('?' for _ in names)})", values)
        except sqlite3.IntegrityError as row_exc:
            reason = str(error_from(table, row_exc, record, None, conn)).split(": ", 1)[1]
            return BackupError(f"{name}: {table} row {key}={record[key]!r}: {reason}")
        finally:
            conn.execute("ROLLBACK TO one_row")
            conn.execute("RELEASE one_row")
    return BackupError(f"{name}: table {table}: {exc}")


def _swap(built: Path, target: Path, saved_path: Path, audit: dict, actor: Actor) -> Path:
    """One write transaction on ``target``: save it beside itself, then :func:`_refill` it from
    ``built`` and add the audit row of the restore. Returns the saved copy."""
    try:
        conn = connect(target)
    except sqlite3.Error as exc:
        raise StoreError("database", "path", str(target), f"cannot be opened ({exc})") from None
    try:
        conn.execute("PRAGMA foreign_keys = OFF")  # whole tables are dropped and refilled; checked below
        conn.execute("ATTACH DATABASE ? AS built", (str(built),))
        conn.execute("BEGIN IMMEDIATE")
        try:
            saved = backup(target, saved_path)  # exactly what is replaced: nobody else can commit now
            revision = _revision(conn)
            _refill(conn)
            audit_id = max(revision, _revision(conn)) + 1
            conn.execute(
                "INSERT INTO audit (audit_id, at_utc, user, action, table_name, row_key, after_json) "
                "VALUES (?, ?, ?, 'import', 'database', ?, ?)",
                (audit_id, connection.now_utc(), actor.name, f"restore {audit['restored_from']}",
                 json.dumps(audit | {"previous_saved_as": saved.name})))
            if (orphan := conn.execute("PRAGMA main.foreign_key_check").fetchone()) is not None:
                raise StoreError(orphan[0], None, orphan[1], f"refers to a missing {orphan[2]} row")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise StoreError("database", "path", str(target), f"restore failed, database unchanged ({exc})") from None
    finally:
        conn.close()
    return saved


def _revision(conn: sqlite3.Connection) -> int:
    """The live revision (the latest audit id); 0 when the file has no audit table."""
    try:
        return conn.execute("SELECT coalesce(max(audit_id), 0) FROM main.audit").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _refill(conn: sqlite3.Connection) -> None:
    """Inside the swap's transaction: drop every object of the live file, recreate each from the
    built database's DDL (ours), copy its rows and schema version."""
    for kind in ("trigger", "view", "table"):  # a table's indexes go with it
        for (name,) in conn.execute("SELECT name FROM main.sqlite_master WHERE type = ? "
                                    "AND name NOT LIKE 'sqlite_%'", (kind,)).fetchall():
            conn.execute(f"DROP {kind.upper()} IF EXISTS main.[{name.replace(']', ']]')}]")
    for (sql,) in conn.execute("SELECT sql FROM built.sqlite_master WHERE sql IS NOT NULL "
                               "AND name NOT LIKE 'sqlite_%' ORDER BY rowid").fetchall():
        conn.execute(sql)  # unqualified CREATE: into main
    version = conn.execute("PRAGMA built.user_version").fetchone()[0]
    conn.execute(f"PRAGMA main.user_version = {int(version)}")
    for table in _TABLES_BY_VERSION[schema.SCHEMA_VERSION]:
        conn.execute(f"INSERT INTO main.[{table}] SELECT * FROM built.[{table}]")
