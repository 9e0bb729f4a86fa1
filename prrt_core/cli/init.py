"""``python -m prrt_core init``: create an empty database, or migrate an existing one forward."""
from __future__ import annotations

import argparse

from prrt_core.cli.common import database_path, open_store

NAME = "init"


def register(subparsers: argparse._SubParsersAction) -> None:
    subparsers.add_parser(NAME, help="create an empty database (or migrate an existing one)")


def run(args: argparse.Namespace) -> int:
    path = database_path(args)
    with open_store(args, create=True) as store:
        print(f"{path}: schema version {store.schema_version}" + (" (read-only file)" if store.read_only else ""))
    return 0
