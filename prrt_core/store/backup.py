"""Backup and restore of the whole store (the export as CSV files is
``prrt_core.importer.export``).

- :func:`backup`: a consistent copy of the database file through SQLite's online
  backup API (``sqlite3.Connection.backup``), safe while others write.
- :func:`restore`: replaces the database with a backup after checking it
  (:func:`check_backup`: SQLite header, ``PRAGMA integrity_check``, foreign keys,
  schema version not newer than this program, exactly the expected tables). The
  current database is first saved beside it as ``<name>.pre-restore-<UTC time>.sqlite``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from prrt_core.errors import BackupError
from prrt_core.store import Store, connect, schema
from prrt_core.store.access import Actor, require_editor

log = logging.getLogger(__name__)

SQLITE_HEADER = b"SQLite format 3\x00"
# Tables of each schema version (version 2 added performance_status).
_TABLES_BY_VERSION = {1: set(schema.CLINICAL_TABLES) - {"performance_status"} | {"audit", "meta"},
                      2: set(schema.CLINICAL_TABLES) | {"audit", "meta"}}


def backup(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Copy the database ``source`` to ``target`` with SQLite's backup API (one consistent
    snapshot even while others write); the copy is a single self-contained file."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = connect(source)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")  # no -wal file beside the copy
        finally:
            dst.close()
    finally:
        src.close()
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
    """Check that ``path`` is a sound backup of this program's database; raise BackupError."""
    path = Path(path)
    data = path.read_bytes() if path.is_file() else b""
    if not data:
        raise BackupError(f"{path.name}: empty or missing file")
    if not data.startswith(SQLITE_HEADER):
        raise BackupError(f"{path.name}: not an SQLite database (a backup starts with "
                          "'SQLite format 3')")
    try:
        conn = sqlite3.connect(path)
    except sqlite3.Error as exc:
        raise BackupError(f"{path.name}: cannot open: {exc}") from None
    try:
        problems = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        if problems != ["ok"]:
            raise BackupError(f"{path.name}: damaged (integrity_check: {'; '.join(problems[:3])})")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > schema.SCHEMA_VERSION:
            raise BackupError(f"{path.name}: schema version {version} is newer than this program "
                              f"({schema.SCHEMA_VERSION}): update the program first")
        if version < 1:
            raise BackupError(f"{path.name}: not a Salvage PRRT Board database (schema version 0)")
        tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
        expected = _TABLES_BY_VERSION[version]
        if tables != expected:
            missing, extra = sorted(expected - tables), sorted(tables - expected)
            raise BackupError(f"{path.name}: not a Salvage PRRT Board database of schema version "
                              f"{version}" + (f"; missing tables: {', '.join(missing)}" if missing else "")
                              + (f"; unexpected tables: {', '.join(extra)}" if extra else ""))
        if conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
            raise BackupError(f"{path.name}: rows refer to missing rows (foreign_key_check)")
        # Table names come from the fixed set checked above.
        rows = {t: conn.execute(f"SELECT count(*) FROM [{t}]").fetchone()[0]
                for t in schema.CLINICAL_TABLES if t in tables}
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path.name}: not a readable SQLite database ({exc})") from None
    finally:
        conn.close()
    return BackupInfo(version, rows, hashlib.sha256(data).hexdigest())


def check_backup_data(data: bytes, name: str) -> BackupInfo:
    """:func:`check_backup` for an uploaded file's bytes; messages name it ``name``."""
    with tempfile.TemporaryDirectory() as folder:
        (copy := Path(folder) / Path(name).name).write_bytes(data)
        return check_backup(copy)


def restore_data(data: bytes, name: str, target: str | os.PathLike, *, actor: Actor) -> Path:
    """:func:`restore` from an uploaded file's bytes; returns the saved previous copy."""
    with tempfile.TemporaryDirectory() as folder:
        (copy := Path(folder) / Path(name).name).write_bytes(data)
        return restore(copy, target, actor=actor)


def restore(backup_path: str | os.PathLike, target: str | os.PathLike, *, actor: Actor) -> Path:
    """Replace the database ``target`` by the checked backup; returns the saved previous copy.

    Editors only. The copy happens in one step of the backup API under SQLite's lock, so
    other connections see the old or the new database, never a mix. Older backups are
    migrated forward. The audit log (the backup's) gets a row recording the restore,
    numbered after every earlier revision so that caches keyed on it are invalidated.
    """
    require_editor(actor)
    backup_path, target = Path(backup_path), Path(target)
    info = check_backup(backup_path)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    with Store(target) as live:
        revision_before = live.revision
    saved = backup(target, target.with_name(f"{target.stem}.pre-restore-{stamp}.sqlite"))
    src = sqlite3.connect(backup_path)
    dst = connect(target)
    try:
        src.backup(dst)
    except sqlite3.Error as exc:
        raise BackupError(f"{backup_path.name}: restore failed, database unchanged ({exc})") from None
    finally:
        src.close()
        dst.close()
    with Store(target) as store, store.transaction(actor):
        audit_id = max(revision_before, store.revision) + 1
        store.conn.execute(
            "INSERT INTO audit (audit_id, at_utc, user, action, table_name, row_key, after_json) "
            "VALUES (?, ?, ?, 'import', 'database', ?, ?)",
            (audit_id, dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), actor.name,
             f"restore {backup_path.name}",
             json.dumps({"restored_from": backup_path.name, "sha256": info.sha256,
                         "schema_version": info.schema_version, "rows": info.rows,
                         "previous_saved_as": saved.name})))
    log.info("database restored from a backup (%s); previous copy %s", info.sha256[:12], saved.name)
    return saved
