"""The store: the only code that speaks SQL. ``database`` (open, read, audited writes), ``connection``
(configured connections, forward migrations), ``integrity`` (a refused write named for the user),
``schema`` (DDL), ``access`` (actors and roles), ``backup`` (backup and checked restore).

Open with ``Store(path)`` (a context manager); every write names its writer, an
``access.Actor`` with the editor role.
"""
from prrt_core.errors import StoreError
from prrt_core.store.connection import BUSY_TIMEOUT_S, connect, migrate
from prrt_core.store.database import DB_ENV_VAR, DEFAULT_DB_PATH, Store, default_path, plain_value

__all__ = ["BUSY_TIMEOUT_S", "DB_ENV_VAR", "DEFAULT_DB_PATH", "Store", "StoreError", "connect", "default_path",
           "migrate", "plain_value"]
