"""``python -m prrt_core export FOLDER``: every clinical table as a CSV file in a folder."""
from __future__ import annotations

import argparse
from pathlib import Path

from prrt_core.cli.common import database_path
from prrt_core.store import Store

NAME = "export"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(NAME, help="write every clinical table as CSV into a folder")
    p.add_argument("folder", type=Path, help="output folder (created if missing)")


def run(args: argparse.Namespace) -> int:
    with Store(database_path(args)) as store:
        tables = store.read_all()
    args.folder.mkdir(parents=True, exist_ok=True)
    for table, frame in tables.items():
        target = args.folder / f"{table}.csv"
        frame.to_csv(target, index=False, date_format="%Y-%m-%d")
        print(f"{target}: {len(frame)} rows")
    return 0
