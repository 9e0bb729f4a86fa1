"""``python -m prrt_core demo``: write the synthetic demo cohort into an empty database."""
from __future__ import annotations

import argparse

from prrt_core.cli.common import command_actor, database_path
from prrt_core.datasets import demo
from prrt_core.store import Store

NAME = "demo"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(NAME, help="write the synthetic demo cohort into an empty database")
    p.add_argument("--patients", type=int, default=demo.DEFAULT_N_PATIENTS,
                   help="cohort size (default 35, the published study)")
    p.add_argument("--seed", type=int, default=demo.DEFAULT_SEED, help="random seed")


def run(args: argparse.Namespace) -> int:
    path = database_path(args)
    with Store(path) as store:
        counts = demo.load(store, actor=command_actor(args), n_patients=args.patients, seed=args.seed)
    print(f"{path}: demo cohort written: " + ", ".join(f"{n} {table}" for table, n in counts.items()))
    return 0
