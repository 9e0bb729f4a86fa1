"""``python -m prrt_core demo``: write the synthetic demo cohort into an empty database."""
from __future__ import annotations

import argparse

from prrt_core.cli.common import SEED_MAX, command_actor, database_path, integer, open_store
from prrt_core.datasets import demo

NAME = "demo"
MAX_PATIENTS = 10_000  # a large synthetic cohort (the benchmarks' size) in seconds; more is not a demo


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(NAME, help="write the synthetic demo cohort into an empty database")
    p.add_argument("--patients", type=integer(1, MAX_PATIENTS), default=demo.DEFAULT_N_PATIENTS,
                   help=f"cohort size (1-{MAX_PATIENTS:,}; default 35, the published study)")
    p.add_argument("--seed", type=integer(0, SEED_MAX), default=demo.DEFAULT_SEED, help="random seed")


def run(args: argparse.Namespace) -> int:
    path = database_path(args)
    with open_store(args, create=True) as store:
        counts = demo.load(store, actor=command_actor(args), n_patients=args.patients, seed=args.seed)
    print(f"{path}: demo cohort written: " + ", ".join(f"{n} {table}" for table, n in counts.items()))
    return 0
