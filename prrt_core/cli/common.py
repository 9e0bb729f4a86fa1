"""What every command shares: the database it works on and the actor it writes as."""
from __future__ import annotations

import argparse
from pathlib import Path

from prrt_core.store import default_path
from prrt_core.store.access import Actor, Role


def database_path(args: argparse.Namespace) -> Path:
    """``--db``, else ``$PRRT_DB``, else data/prrt.sqlite."""
    return Path(getattr(args, "db", None) or default_path())


def command_actor(args: argparse.Namespace) -> Actor:
    """The writer of this command: an editor named by ``--user`` (default "cli"), recorded as via "cli"."""
    return Actor(getattr(args, "user", None) or "cli", Role.EDITOR, "cli")
