"""Command line: ``python -m prrt_core COMMAND ...``: init, demo, export, project, dicom, import,
template, backup, restore (``--help`` on each)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from prrt_core.cli.common import command_actor, database_path
from prrt_core.cli import dicom as cli_dicom
from prrt_core.cli import import_commands as cli_import
from prrt_core.datasets import demo
from prrt_core import projection
from prrt_core.store import DB_ENV_VAR, Store, StoreError

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

    p = sub.add_parser("project", help="project cumulative kidney dose and BED for further cycles")
    p.add_argument("--patient", required=True, help="pseudonymous patient id")
    p.add_argument("--cycles", type=int, required=True, help="number of further cycles (1-10)")
    p.add_argument("--activity", type=float, required=True, help="activity per cycle, GBq")
    p.add_argument("--tolerance", type=float, default=0.05,
                   help="accepted probability of crossing a limit (default 0.05)")
    p.add_argument("--samples", type=int, default=2000, help="Monte-Carlo samples (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")

    cli_dicom.register(sub)
    cli_import.register(sub)
    return parser


# Commands whose module opens the store itself: name -> run(args) -> exit code.
_SELF_CONTAINED = {"dicom": cli_dicom.run, "import": cli_import.run, "template": cli_import.run,
                   "backup": cli_import.run, "restore": cli_import.run}


def _project(store: Store, args: argparse.Namespace) -> str:
    history, patients = projection.inputs_from_tables(store.read_all())
    row = projection.project(history, args.cycles, args.activity, patients=patients,
                             patient_ids=[args.patient], n_samples=args.samples,
                             tolerance=args.tolerance, seed=args.seed).iloc[0]
    lines = [f"patient {row['patient_id']}: {args.cycles} further cycle(s) x {args.activity:g} GBq, "
             f"{row['n_past_cycles']} past cycles ({row['n_measured_cycles']} with kidney dosimetry)",
             f"{'':24}{'now':>8}{'p05':>8}{'p50':>8}{'p95':>8}{'point':>8}{'limit':>8}{'P(>limit)':>11}"]
    for label, key, limit, p_key in (("kidney dose (Gy)", "dose", "dose_limit_gy", "p_exceed_dose"),
                                     ("kidney BED (Gy)", "bed", "bed_limit_gy", "p_exceed_bed")):
        lines.append(f"{label:24}{row[f'{key}_now_gy']:8.2f}{row[f'{key}_p05_gy']:8.2f}"
                     f"{row[f'{key}_p50_gy']:8.2f}{row[f'{key}_p95_gy']:8.2f}"
                     f"{row[f'point_{key}_gy']:8.2f}{row[limit]:8.1f}{100 * row[p_key]:10.1f}%")
    risk = "yes" if row["renal_risk"] else "no"
    lines.append(f"renal risk factors: {risk} (BED limit {row['bed_limit_gy']:g} Gy); "
                 f"largest safe number of cycles at {args.activity:g} GBq: {row['max_safe_cycles']}; "
                 f"largest safe activity for {args.cycles} cycle(s): "
                 f"{row['max_safe_activity_gbq']:.2f} GBq per cycle (tolerance {args.tolerance:.0%})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the process exit code (0 ok, 1 refused input, 2 usage)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.command in _SELF_CONTAINED:
        return _SELF_CONTAINED[args.command](args)
    path = database_path(args)
    try:
        with Store(path) as store:
            if args.command == "init":
                print(f"{path}: schema version {store.schema_version}")
            elif args.command == "demo":
                counts = demo.load(store, actor=command_actor(args), n_patients=args.patients, seed=args.seed)
                print(f"{path}: demo cohort written: "
                      + ", ".join(f"{n} {table}" for table, n in counts.items()))
            elif args.command == "export":
                args.folder.mkdir(parents=True, exist_ok=True)
                for table, frame in store.read_all().items():
                    target = args.folder / f"{table}.csv"
                    frame.to_csv(target, index=False, date_format="%Y-%m-%d")
                    print(f"{target}: {len(frame)} rows")
            elif args.command == "project":
                print(_project(store, args))
    except (StoreError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
