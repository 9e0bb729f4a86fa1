"""``python -m prrt_core backup OUT.sqlite``: a consistent copy of the database (SQLite backup API)."""
from __future__ import annotations

import argparse
from pathlib import Path

from prrt_core.cli.common import database_path
from prrt_core.store import backup

NAME = "backup"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(NAME, help="consistent copy of the database (SQLite backup API)")
    p.add_argument("out", type=Path, metavar="OUT.sqlite")


def run(args: argparse.Namespace) -> int:
    path = database_path(args)
    backup.backup(path, args.out)  # a missing file, directory, device or non-store file is refused first
    print(f"{args.out}: backup of {path}")
    return 0
