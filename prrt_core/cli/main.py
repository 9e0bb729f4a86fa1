"""``python -m prrt_core COMMAND ...``: the parser, and running one command (``--help`` on each).

Each command is a module of this package with ``NAME``, ``register(subparsers)`` and
``run(args) -> exit code``. Exit codes: 0 done, 1 refused (the message says what and where;
nothing was written), 2 usage.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from prrt_core.cli import backup, demo, demo_spect, dicom, export, import_data, init, project, restore, template
from prrt_core.errors import PrrtError
from prrt_core.store import DB_ENV_VAR

COMMANDS = (init, demo, export, project, dicom, demo_spect, import_data, template, backup, restore)


def parser() -> argparse.ArgumentParser:
    """The ``python -m prrt_core`` parser with every command."""
    p = argparse.ArgumentParser(prog="python -m prrt_core",
                                description="Salvage PRRT Board: manage the store from the command line.")
    p.add_argument("--db", type=Path, default=None,
                   help=f"database file (default: ${DB_ENV_VAR} or data/prrt.sqlite)")
    p.add_argument("--user", default="cli", help="name written to the audit log (default: cli)")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the process exit code (0 ok, 1 refused input, 2 usage)."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    command = next(c for c in COMMANDS if c.NAME == args.command)
    try:
        return command.run(args)
    except (PrrtError, OSError) as exc:  # refused input, a write without an editor, a missing file
        print(f"error: {exc}", file=sys.stderr)
        return 1
