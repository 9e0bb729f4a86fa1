"""Validated import and edit of clinical data: every row checked before anything is written."""
from prrt_core.importer.importers import *  # noqa: F401,F403  (split in progress)
from prrt_core.importer.importers import _apply, _table_for  # noqa: F401
