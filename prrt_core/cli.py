"""Command line: ``python -m prrt_core {init,demo,export} ...`` (``--help`` on each)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import demo
from .store import DB_ENV_VAR, Store, StoreError, default_path

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m prrt_core",
        description="Salvage PRRT Board: manage the SQLite store from the command line.")
    parser.add_argument("--db", type=Path, default=None,
                        help=f"database file (default: ${DB_ENV_VAR} or data/prrt.sqlite)")
    parser.add_argument("--user", default="cli", help="name written to the audit log (default: cli)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("init", help="create an empty database (or migrate an existing one)")

    p = sub.add_parser("demo", help="write the synthetic demo cohort into an empty database")
    p.add_argument("--patients", type=int, default=demo.DEFAULT_N_PATIENTS,
                   help="cohort size (default 35, the published study)")
    p.add_argument("--seed", type=int, default=demo.DEFAULT_SEED, help="random seed")

    p = sub.add_parser("export", help="write every clinical table as CSV into a folder")
    p.add_argument("folder", type=Path, help="output folder (created if missing)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the process exit code (0 ok, 1 refused input, 2 usage)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    path = args.db or default_path()
    try:
        with Store(path) as store:
            if args.command == "init":
                print(f"{path}: schema version {store.schema_version}")
            elif args.command == "demo":
                counts = demo.load(store, n_patients=args.patients, seed=args.seed, user=args.user)
                print(f"{path}: demo cohort written: "
                      + ", ".join(f"{n} {table}" for table, n in counts.items()))
            elif args.command == "export":
                args.folder.mkdir(parents=True, exist_ok=True)
                for table, frame in store.read_all().items():
                    target = args.folder / f"{table}.csv"
                    frame.to_csv(target, index=False, date_format="%Y-%m-%d")
                    print(f"{target}: {len(frame)} rows")
    except (StoreError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
