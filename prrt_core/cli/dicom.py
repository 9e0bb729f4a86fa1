"""``python -m prrt_core dicom``: dosimetry from a quantitative SPECT/CT series (or RTDOSE) and VOIs.

Reads a folder, zip archive or files (any names), or series retrieved from a PACS over
DICOMweb (``--pacs``, prrt_core/cli/pacs.py), prints what was read and the kidney and tumour doses, and with ``--patient`` and ``--cycle`` writes them to that cycle of the store
(one transaction; rows that exist for the cycle's organ and label are replaced only with
``--replace``, old -> new printed). One SPECT time point: single-time-point dosimetry (Hänscheid
2018 and Madsen 2018) with ``--t-eff-h``, or T_eff from the earlier cycles of the ``--patient`` saved to, else
the cohort median. Exit codes: 0 done, 1 refused input (the message names the file and DICOM
tag), 2 usage.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import pandas as pd

from prrt_core import dicom
from prrt_core.cli import pacs
from prrt_core.cli.common import command_actor, database_path, integer, number, open_store
from prrt_core.dicom import study_dose
from prrt_core.dicom.study_stp import StpMethod, compute_single_time_point
from prrt_core.dosimetry import voxel
from prrt_core.dosimetry.single_time_point import MAX_T_EFF_H
from prrt_core.errors import InputError, PrrtError
from prrt_core.importer import dosimetry_results
from prrt_core.views import dosimetry as dose_view


def _datetime(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date-time (e.g. 2024-03-04T09:30): {text!r}") from None


NAME = "dicom"
# Bounds of the numeric options: what a quantitative SPECT/CT study of a PRRT cycle can have.
ACTIVITY_MBQ = (1.0, 15_000.0)  # the store's limit is 15 GBq per cycle (schema.py, activity_gbq)
CALIBRATION_CPS_PER_MBQ = (0.01, 10_000.0)
SCAN_DURATION_S = (1.0, 86_400.0)  # up to one day
DENSITY_G_PER_ML = (0.1, 3.0)  # lung to cortical bone, with margin
CYCLE_NUMBER = (1, 30)  # schema.py, cycle_number


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``dicom`` command to an argparse subparsers object; returns its parser."""
    p = subparsers.add_parser(
        NAME, help="kidney and tumour dose from quantitative SPECT/CT DICOM (or RTDOSE) and VOIs",
        description=__doc__.split("\n\n")[0])
    p.add_argument("inputs", nargs="*", type=Path, metavar="INPUT",
                   help="folder, zip archive or files: SPECT/PET time points, VOIs (SEG, RTSTRUCT, NIfTI), RTDOSE "
                   "(optional with --pacs)")
    p.add_argument("--voi-file", action="append", type=Path, default=[], metavar="PATH",
                   help="a VOI file or folder kept elsewhere (SEG, RTSTRUCT, NIfTI label map); repeatable")
    p.add_argument("--activity-mbq", type=number(*ACTIVITY_MBQ, " MBq"),
                   help=f"injected activity, MBq ({ACTIVITY_MBQ[0]:g}-{ACTIVITY_MBQ[1]:g}; when not in the files, or "
                   "to override RadionuclideTotalDose)")
    p.add_argument("--injection-time", type=_datetime, metavar="ISO",
                   help="injection date and time, e.g. 2024-03-04T09:30 (when not in the files)")
    p.add_argument("--calibration-cps-per-mbq", type=number(*CALIBRATION_CPS_PER_MBQ, " cps/MBq"),
                   help="SPECT calibration factor for images in counts, cps/MBq "
                   f"({CALIBRATION_CPS_PER_MBQ[0]:g}-{CALIBRATION_CPS_PER_MBQ[1]:g})")
    p.add_argument("--scan-duration-s", type=number(*SCAN_DURATION_S, " s"),
                   help=f"scan duration for counts, s ({SCAN_DURATION_S[0]:g}-{SCAN_DURATION_S[1]:g}; "
                   "default: from the files)")
    p.add_argument("--density-g-per-ml", type=number(*DENSITY_G_PER_ML, " g/mL"), default=voxel.TISSUE_DENSITY_G_PER_ML,
                   help=f"tissue density, g/mL ({DENSITY_G_PER_ML[0]:g}-{DENSITY_G_PER_ML[1]:g}; default "
                   f"{voxel.TISSUE_DENSITY_G_PER_ML})")
    p.add_argument("--dose-source", choices=[s.value for s in study_dose.DoseSource], default=study_dose.DoseSource.VOXEL.value,
                   help="dose to store: voxel mean by local deposition (voxel, default), by the dose-voxel "
                   "kernel (dvk), organ-level (organ: VOI TAC), or the RTDOSE mean (rtdose)")
    p.add_argument("--t-eff-h", type=number(1.0, MAX_T_EFF_H, " h"),
                   help="kidney effective half-life for one SPECT time point, h (default: the median of the "
                   "--patient's earlier cycles, else the cohort median)")
    p.add_argument("--stp-method", choices=[m.value for m in StpMethod], default=StpMethod.MADSEN.value,
                   help="single-time-point dose to store: madsen (default; every VOI) or hanscheid (kidneys)")
    p.add_argument("--accept-mismatch", action="store_true",
                   help="store to the cycle although the study's injection date (more than a day) or activity "
                   "(more than 5 %%) differs from the cycle's; without it nothing is written")
    p.add_argument("--replace", action="store_true",
                   help="replace stored doses of the cycle (same organ and label); without it they are listed and "
                   "nothing is written")
    p.add_argument("--patient", help="pseudonymous patient id to save to (with --cycle)")
    p.add_argument("--cycle", type=integer(*CYCLE_NUMBER), help=f"cycle number to save to ({CYCLE_NUMBER[0]}-"
                   f"{CYCLE_NUMBER[1]}, with --patient)")
    pacs.add_arguments(p)
    # SUPPRESS: a --db given before the command (main parser) is not overwritten by this default.
    p.add_argument("--db", type=Path, default=argparse.SUPPRESS, help="database file (default: $PRRT_DB or "
                   "data/prrt.sqlite)")
    return p


def _progress(verbose: bool):
    if not verbose:
        return None
    last = [-1]

    def report(fraction: float, message: str) -> None:
        step = int(fraction * 10)
        if step != last[0]:
            last[0] = step
            print(f"{100 * fraction:5.0f} % {message}", file=sys.stderr)
    return report


def _t_eff(args, study) -> tuple[float, str]:
    """(T_eff h, where it came from) for one time point: --t-eff-h, else the store's patient or cohort."""
    if args.t_eff_h is not None:
        return args.t_eff_h, f"T_eff {args.t_eff_h:.1f} h: entered (--t-eff-h)"
    if args.patient is None:
        raise InputError("one SPECT time point: give --t-eff-h H, or --patient and --cycle to save with the median "
                         "of the patient's earlier cycles (else the cohort median)")
    with open_store(args) as store:
        tables = store.read_all()
    before = study.injection.time.date() if study.injection is not None else None
    estimate = dosimetry_results.t_eff_estimate(tables, args.patient, before)
    if estimate is None:
        raise InputError(f"one SPECT time point: no kidney T_eff stored for patient {args.patient!r} or the cohort; "
                         "give --t-eff-h H")
    return estimate.t_eff_h, dosimetry_results.t_eff_text(estimate, args.patient)


def _read(args):
    """The study (one time point: a SingleTimePointDosimetry) or its voxel dosimetry."""
    inputs = list(args.inputs)
    if args.pacs:
        retrieved = pacs.files(args)
        if retrieved is None:  # the series were listed
            return None
        inputs += retrieved
    progress = _progress(getattr(args, "verbose", False)) or (lambda f, m: None)
    study = dicom.read_study(inputs, voi_inputs=args.voi_file, activity_mbq=args.activity_mbq,
                             injection_time=args.injection_time, calibration_cps_per_mbq=args.calibration_cps_per_mbq,
                             acquisition_duration_s=args.scan_duration_s, progress=lambda f, m: progress(0.6 * f, m))
    if len(study.time_points) == 1:
        t_eff, source = _t_eff(args, study)
        return compute_single_time_point(study, t_eff, source, args.density_g_per_ml)
    return study_dose.compute(study, density_g_per_ml=args.density_g_per_ml,
                              progress=lambda f, m: progress(0.6 + 0.4 * f, m))


def _print_doses(args, result) -> str | None:
    """Print the VOI table and the headline doses; returns the source/method to store, None on a usage error."""
    if isinstance(result, study_dose.VoxelDosimetry):
        print(dose_view.organ_table(result).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        print()
        if args.dose_source not in result.dose_sources:
            print(f"error: --dose-source {args.dose_source} not available; have "
                  f"{', '.join(result.dose_sources)}", file=sys.stderr)
            return None
        for label, value, detail in dose_view.headline_doses(result, args.dose_source):
            print(f"{label:28} {value:8.2f}   {detail}")
        return args.dose_source
    print(f"single-time-point dosimetry; {result.t_eff_source}")
    print(result.organs.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return StpMethod(args.stp_method)


def run(args: argparse.Namespace) -> int:
    """Run the ``dicom`` command; returns the exit code."""
    if (args.patient is None) != (args.cycle is None):
        print("error: give --patient and --cycle together (or neither, to only print)", file=sys.stderr)
        return 2
    if not args.inputs and not args.pacs:
        print("error: give INPUT files or folders, or --pacs URL", file=sys.stderr)
        return 2
    if not args.pacs and (args.series or args.pacs_patient_id or args.pacs_from or args.pacs_to
                          or args.pacs_allow_http):
        print("error: --series, --pacs-patient-id, --from, --to and --pacs-allow-http need --pacs URL",
              file=sys.stderr)
        return 2
    try:
        if args.patient is not None:
            open_store(args).close()  # a database that is missing or not a store: refused before the study is read
        result = _read(args)
        if result is None:
            return 0
    except InputError as exc:
        print(f"error: {exc}; nothing stored", file=sys.stderr)
        return 1
    study = result.study
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 60):
        if study.injection is not None:
            print(f"injected activity: {study.injection.activity_mbq:.1f} MBq ({study.injection.activity_source}); "
                  f"injection time from {study.injection.time_source}")
        print(study.summary().drop(columns=["Series Instance UID"]).to_string(index=False))
        for note in study.notes:
            print(f"note: {note}")
        print()
        source = _print_doses(args, result)
        if source is None:
            return 2
        if args.patient is None:
            return 0
        return _save(args, result, source)


def _save(args, result, source) -> int:
    path = database_path(args)
    try:
        with open_store(args) as store:
            check = dosimetry_results.check_save(store, result, args.patient, args.cycle, source)
            for warning in check.warnings:
                print(f"warning: {warning}", file=sys.stderr)
            if check.warnings and not args.accept_mismatch:
                print(f"error: the study's injection date or activity differs from cycle {args.cycle}'s (above); "
                      "give --accept-mismatch to store it there anyway; nothing stored", file=sys.stderr)
                return 1
            if check.replacements and not args.replace:
                print(check.replacement_table().to_string(index=False), file=sys.stderr)
                print(f"error: cycle {args.cycle} of patient {args.patient} holds {len(check.replacements)} of these "
                      "doses (old -> new above); give --replace to replace them; nothing stored", file=sys.stderr)
                return 1
            done = dosimetry_results.save(store, check, actor=command_actor(args), replace=args.replace)
    except PrrtError as exc:
        print(f"error: {exc}; nothing stored", file=sys.stderr)
        return 1
    print(f"\n{path}: saved to cycle {args.cycle} of patient {args.patient}")
    print(done.to_string(index=False))
    return 0
