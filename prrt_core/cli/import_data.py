"""``python -m prrt_core import FILE...``: validate and import CSV files, a workbook or an export zip.

Every row is checked first; with any problem nothing is written and every problem is listed
(exit 1). ``--dry-run`` checks and reports without writing. A missing database is not created
(``init`` does that): its files are checked against an empty one, and only a dry run succeeds.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from prrt_core import importer
from prrt_core.cli.common import command_actor, database_path, open_store
from prrt_core.store import Store

NAME = "import"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        NAME, help="validate and import CSV files, an Excel workbook or an export zip",
        description="Every row is checked first; with any problem nothing is written and all "
                    f"problems are listed. Files up to {importer.MAX_FILE_MB} MB.")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE",
                   help="patients.csv, cycles.csv, ... or a workbook (.xlsx) or zip")
    p.add_argument("--dry-run", action="store_true", help="check and report, write nothing")


def print_problems(problems: pd.DataFrame) -> None:
    """Every problem of a refused import (file, row, column, value, reason) on standard error."""
    print(f"{len(problems)} problem(s); nothing was written:", file=sys.stderr)
    print(problems.astype("string").fillna("").to_string(index=False), file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    parsed = importer.read_paths(args.files)
    path = database_path(args)
    missing = not path.exists() and not path.is_symlink()
    # A missing database is not created: the files are checked against an empty one in memory.
    with Store(":memory:") if missing else open_store(args) as store:
        if args.dry_run or missing:
            plan = importer.check_import(store, parsed)
            if not plan.ok:
                print_problems(plan.problems)
                return 1
            if missing and not args.dry_run:
                open_store(args)  # refused: no such database file (create one with init)
        else:
            try:
                plan = importer.commit_import(store, parsed, actor=command_actor(args))
            except importer.ImportRejected as exc:
                print_problems(exc.plan.problems)
                return 1
    print(f"{plan.n_writes} row(s) {'would write' if args.dry_run else 'written'}"
          + (f" (into an empty database: {path} does not exist)" if missing else "") + ":")
    print(plan.summary().to_string(index=False))
    updates = plan.changes.query("Action == 'update'")
    if len(updates):
        print(updates.to_string(index=False))
    return 0
