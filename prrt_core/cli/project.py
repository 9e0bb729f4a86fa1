"""``python -m prrt_core project``: projected cumulative kidney dose and BED of one patient."""
from __future__ import annotations

import argparse

from prrt_core import projection
from prrt_core.cli.common import SEED_MAX, integer, number, open_store

NAME = "project"
# The Salvage planner page's widgets: activity 1.0-10.0 GBq per cycle, tolerance 1-20 %; the
# projection searches up to MAX_SAFE_CYCLES_CAP further cycles.
ACTIVITY_GBQ = (1.0, 10.0)
TOLERANCE = (0.01, 0.20)
MAX_SAMPLES = 100_000  # 2000 (the default) gives percentiles to about 1 %; 100 000 takes seconds, not GiB


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(NAME, help="project cumulative kidney dose and BED for further cycles")
    p.add_argument("--patient", required=True, help="pseudonymous patient id")
    p.add_argument("--cycles", type=integer(1, projection.MAX_SAFE_CYCLES_CAP), required=True,
                   help=f"number of further cycles (1-{projection.MAX_SAFE_CYCLES_CAP})")
    p.add_argument("--activity", type=number(*ACTIVITY_GBQ, " GBq", non_positive_refused_by_command=True),
                   required=True,
                   help=f"activity per cycle, GBq ({ACTIVITY_GBQ[0]:g}-{ACTIVITY_GBQ[1]:g})")
    p.add_argument("--tolerance", type=number(*TOLERANCE), default=0.05,
                   help=f"accepted probability of crossing a limit ({TOLERANCE[0]:g}-{TOLERANCE[1]:g}, default 0.05)")
    p.add_argument("--samples", type=integer(100, MAX_SAMPLES), default=2000,
                   help=f"Monte-Carlo samples (100-{MAX_SAMPLES:,}, default 2000)")
    p.add_argument("--seed", type=integer(0, SEED_MAX), default=0, help="random seed (default 0)")


def run(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        history, patients = projection.inputs_from_tables(store.read_all())
    row = projection.project(history, args.cycles, args.activity, patients=patients,
                             patient_ids=[args.patient], n_samples=args.samples,
                             tolerance=args.tolerance, seed=args.seed).iloc[0]
    print(f"patient {row['patient_id']}: {args.cycles} further cycle(s) x {args.activity:g} GBq, "
          f"{row['n_past_cycles']} past cycles ({row['n_measured_cycles']} with kidney dosimetry)")
    print(f"{'':24}{'now':>8}{'p05':>8}{'p50':>8}{'p95':>8}{'point':>8}{'limit':>8}{'P(>limit)':>11}")
    for label, key, limit, p_key in (("kidney dose (Gy)", "dose", "dose_limit_gy", "p_exceed_dose"),
                                     ("kidney BED (Gy)", "bed", "bed_limit_gy", "p_exceed_bed")):
        print(f"{label:24}{row[f'{key}_now_gy']:8.2f}{row[f'{key}_p05_gy']:8.2f}"
              f"{row[f'{key}_p50_gy']:8.2f}{row[f'{key}_p95_gy']:8.2f}"
              f"{row[f'point_{key}_gy']:8.2f}{row[limit]:8.1f}{100 * row[p_key]:10.1f}%")
    risk = "yes" if row["renal_risk"] else "no"
    print(f"renal risk factors: {risk} (BED limit {row['bed_limit_gy']:g} Gy); "
          f"largest safe number of cycles at {args.activity:g} GBq: {row['max_safe_cycles']}; "
          f"largest safe activity for {args.cycles} cycle(s): "
          f"{row['max_safe_activity_gbq']:.2f} GBq per cycle (tolerance {args.tolerance:.0%})")
    return 0
