"""Command line for data management: ``import``, ``template``, ``backup``, ``restore``.

Wired into ``prrt_core.cli``: ``register(subparsers)`` adds the commands to its
parser (which owns ``--db`` and ``--user``); ``run(args)`` executes one and returns
the exit code (0 done, 1 refused input)::

    python -m prrt_core --db PATH import patients.csv cycles.csv [--dry-run]
    python -m prrt_core --db PATH import clinic.xlsx
    python -m prrt_core template OUT.xlsx
    python -m prrt_core --db PATH backup OUT.sqlite
    python -m prrt_core --db PATH restore BACKUP.sqlite
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from prrt_core.cli.common import command_actor, database_path
from prrt_core.store import backup
from prrt_core import importer
from prrt_core.store.access import AccessDenied
from prrt_core.store import Store, StoreError

COMMANDS = ("import", "template", "backup", "restore")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the data-management commands to the ``python -m prrt_core`` parser."""
    p = subparsers.add_parser(
        "import", help="validate and import CSV files, an Excel workbook or an export zip",
        description="Every row is checked first; with any problem nothing is written and all "
                    f"problems are listed. Files up to {importer.MAX_FILE_MB} MB.")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE",
                   help="patients.csv, cycles.csv, ... or a workbook (.xlsx) or zip")
    p.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    p = subparsers.add_parser("template", help="write the Excel import template")
    p.add_argument("out", type=Path, metavar="OUT.xlsx")
    p = subparsers.add_parser("backup", help="consistent copy of the database (SQLite backup API)")
    p.add_argument("out", type=Path, metavar="OUT.sqlite")
    p = subparsers.add_parser("restore", help="replace the database by a checked backup "
                              "(the current one is saved beside it first)")
    p.add_argument("file", type=Path, metavar="BACKUP.sqlite")


def _print_plan(plan: importer.Plan, dry_run: bool) -> None:
    summary = plan.summary()
    verb = "would write" if dry_run else "written"
    print(f"{plan.n_writes} row(s) {verb}:")
    print(summary.to_string(index=False))
    if len(plan.changes.query("Action == 'update'")):
        print(plan.changes.query("Action == 'update'").to_string(index=False))


def _print_problems(problems: pd.DataFrame) -> None:
    print(f"{len(problems)} problem(s); nothing was written:", file=sys.stderr)
    print(problems.astype("string").fillna("").to_string(index=False), file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Execute one data-management command; returns the process exit code."""
    path, actor = database_path(args), command_actor(args)
    try:
        if args.command == "template":
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_bytes(importer.template_workbook())
            print(f"{args.out}: import template ({len(importer.TABLES)} table sheets and "
                  f"'{importer.EXPLANATION_SHEET}')")
        elif args.command == "import":
            parsed = importer.read_paths(args.files)
            with Store(path) as store:
                if args.dry_run:
                    plan = importer.check_import(store, parsed)
                    if not plan.ok:
                        _print_problems(plan.problems)
                        return 1
                else:
                    plan = importer.commit_import(store, parsed, actor=actor)
            _print_plan(plan, args.dry_run)
        elif args.command == "backup":
            if not Path(path).exists():
                raise StoreError("database", None, str(path), "no such database file")
            backup.backup(path, args.out)
            print(f"{args.out}: backup of {path}")
        elif args.command == "restore":
            saved = backup.restore(args.file, path, actor=actor)
            print(f"{path}: restored from {args.file}; the previous database was saved as {saved}")
        else:
            raise ValueError(f"unknown command {args.command!r}")
    except importer.ImportRejected as exc:
        _print_problems(exc.plan.problems)
        return 1
    except (backup.BackupError, StoreError, AccessDenied, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
