"""What every command shares: the database it works on, the actor it writes as, and argument
types with bounds (out of range or not finite: argparse exits 2 naming the range)."""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

from prrt_core.store import Store, default_path
from prrt_core.store.access import Actor, Role

SEED_MAX = 2**32 - 1  # numpy's legacy seed range; any larger seed gives no more randomness


def database_path(args: argparse.Namespace) -> Path:
    """``--db``, else ``$PRRT_DB``, else data/prrt.sqlite."""
    return Path(getattr(args, "db", None) or default_path())


def open_store(args: argparse.Namespace, *, create: bool = False) -> Store:
    """The command's store. A missing file is refused (StoreError naming it) unless ``create``
    (only ``init`` and ``demo`` create one); so is a directory, device or non-SQLite file."""
    return Store(database_path(args), create=create)


def command_actor(args: argparse.Namespace) -> Actor:
    """The writer of this command: an editor named by ``--user`` (default "cli"), recorded as via "cli"."""
    return Actor(getattr(args, "user", None) or "cli", Role.EDITOR, "cli")


def integer(low: int, high: int, unit: str = "") -> Callable[[str], int]:
    """An argparse type: an integer from ``low`` to ``high`` (inclusive)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be an integer from {low:,} to {high:,}{unit}, got {text!r}")
        return value
    return parse


def number(low: float, high: float, unit: str = "", *, non_positive_refused_by_command: bool = False
           ) -> Callable[[str], float]:
    """An argparse type: a finite number from ``low`` to ``high`` (inclusive); nan and inf are refused.

    ``non_positive_refused_by_command``: a finite value <= 0 is passed on for the command to refuse
    as input (exit 1), as ``project --activity -1`` always was (tests/unit/test_projection_store.py).
    """
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if non_positive_refused_by_command and math.isfinite(value) and value <= 0:
            return value
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be a number from {low:g} to {high:g}{unit}, got {text!r}")
        return value
    return parse
