"""``python -m prrt_core restore BACKUP.sqlite``: replace the database by a checked backup."""
from __future__ import annotations

import argparse
from pathlib import Path

from prrt_core.cli.common import command_actor, database_path
from prrt_core.store import backup

NAME = "restore"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(NAME, help="replace the database by a checked backup "
                              "(the current one is saved beside it first)")
    p.add_argument("file", type=Path, metavar="BACKUP.sqlite")


def run(args: argparse.Namespace) -> int:
    path = database_path(args)
    saved = backup.restore(args.file, path, actor=command_actor(args))
    print(f"{path}: restored from {args.file}; the previous database was saved as {saved}")
    return 0
