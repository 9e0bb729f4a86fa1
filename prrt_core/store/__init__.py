"""The store: the only code that speaks SQL. Database (open, migrate, read, audited writes), schema,
access (actors and roles), backup and restore.

Open with ``Store(path)`` (a context manager); every write names its writer, an
``access.Actor`` with the editor role.
"""
from prrt_core.errors import StoreError
from prrt_core.store.database import (
    BUSY_TIMEOUT_S,
    DB_ENV_VAR,
    DEFAULT_DB_PATH,
    Store,
    connect,
    default_path,
    migrate,
    plain_value,
)

__all__ = ["BUSY_TIMEOUT_S", "DB_ENV_VAR", "DEFAULT_DB_PATH", "Store", "StoreError", "connect", "default_path",
           "migrate", "plain_value"]
