"""The ``--pacs`` options of ``python -m prrt_core dicom``: search a PACS over DICOMweb, list the
series, or retrieve the chosen series as the command's input files.

Credentials come from the environment only (PRRT_PACS_TOKEN, or PRRT_PACS_USER and
PRRT_PACS_PASSWORD), never from arguments: arguments are visible to every user in ``ps`` and
kept in the shell's history. So the PACS patient ID comes from PRRT_PACS_PATIENT_ID or from
``--pacs-patient-id -`` (one line read from standard input); any other value of
``--pacs-patient-id`` is refused (exit 2). The PACS patient ID is never printed, logged or stored.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys

import pandas as pd

from prrt_core.cli.common import number
from prrt_core.dicom.pacs import PacsSettings, retrieve_series, search_pacs, series_table
from prrt_core.dicom.pacs.settings import DEFAULT_TIMEOUT_S, ENV_PASSWORD, ENV_TOKEN, ENV_USER, TIMEOUT_RANGE_S
from prrt_core.errors import InputError

ENV_PATIENT_ID = "PRRT_PACS_PATIENT_ID"
MAX_STDIN_CHARS = 1000  # one line holding a patient ID (64 characters at most)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (e.g. 2024-03-01): {text!r}") from None


def _stdin_only(text: str) -> str:
    """``--pacs-patient-id`` takes '-' only (argparse exits 2 on anything else, value not shown)."""
    if text != "-":
        raise argparse.ArgumentTypeError(
            f"takes only '-' (read the ID from standard input), or give the ID in ${ENV_PATIENT_ID}: an ID on the "
            "command line is kept in the shell's history and visible to other users in ps (value not shown)")
    return text


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the PACS options to the ``dicom`` parser."""
    g = p.add_argument_group(
        "PACS (DICOMweb)", f"search a PACS (QIDO-RS) for the patient's NM/PT studies and list their series; with "
        f"--series, retrieve those (WADO-RS) and compute as from files. Authentication from the environment: "
        f"{ENV_TOKEN} (bearer token), or {ENV_USER} and {ENV_PASSWORD} (basic); never from arguments.")
    g.add_argument("--pacs", metavar="URL", help="base URL of the DICOMweb services, e.g. https://pacs/dicom-web")
    g.add_argument("--pacs-patient-id", metavar="-", type=_stdin_only, help=f"'-': read the patient's ID in the PACS from standard "
                   f"input (one line); without it, from ${ENV_PATIENT_ID}. Any other value is refused: an argument "
                   "is kept in the shell's history and visible to other users in ps. Never printed, logged or stored")
    g.add_argument("--from", dest="pacs_from", type=_date, metavar="DATE", help="first study date, e.g. 2024-03-01")
    g.add_argument("--to", dest="pacs_to", type=_date, metavar="DATE", help="last study date (default: today)")
    g.add_argument("--series", action="append", default=[], metavar="UID",
                   help="Series Instance UID to retrieve (repeatable; the time points of one cycle and the VOIs); "
                   "without it the series are listed and nothing is retrieved")
    g.add_argument("--pacs-timeout-s", type=number(*TIMEOUT_RANGE_S, " s"), default=DEFAULT_TIMEOUT_S,
                   help=f"time-out of each request, s (default {DEFAULT_TIMEOUT_S:g})")
    g.add_argument("--pacs-allow-http", action="store_true",
                   help="allow a plain http:// URL to a host that is not this computer (the patient ID and the "
                   "credentials then cross the network in clear); without it only https:// or loopback")


def patient_id(args: argparse.Namespace) -> str:
    """The PACS patient ID: a line of standard input with ``--pacs-patient-id -``, else $PRRT_PACS_PATIENT_ID."""
    if args.pacs_patient_id == "-":
        given = sys.stdin.readline(MAX_STDIN_CHARS).strip()
    else:
        given = os.environ.get(ENV_PATIENT_ID, "")
    if not given:
        raise InputError(f"--pacs: give the patient's PACS ID in ${ENV_PATIENT_ID}, or --pacs-patient-id - and on "
                         "standard input")
    return given


def files(args: argparse.Namespace) -> list[tuple[str, bytes]] | None:
    """The files of the ``--series`` chosen (None after listing the series when none was chosen)."""
    if args.pacs_from is None:
        raise InputError("--pacs: give --from, the first study date (and --to, default today)")
    settings = PacsSettings.from_environment(args.pacs, timeout_s=args.pacs_timeout_s,
                                             allow_http=bool(getattr(args, "pacs_allow_http", False)))
    result = search_pacs(settings, patient_id(args), args.pacs_from, args.pacs_to or dt.date.today())
    found = list(result.series)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if not args.series:
        with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 70):
            print(f"{len(found)} series on {settings.server}" + (":" if found else " (check the ID and the dates)"))
            if found:
                print(series_table(found).to_string(index=False))
                print("\nretrieve with --series UID (repeatable): the time points of one cycle and the VOIs")
        return None
    by_uid = {s.series_instance_uid: s for s in found}
    unknown = [uid for uid in args.series if uid not in by_uid]
    if unknown:
        raise InputError(f"--series {unknown[0]}: not among the {len(found)} series found for this patient ID and "
                         "these dates (run without --series to list them)")
    chosen = [by_uid[uid] for uid in dict.fromkeys(args.series)]
    report = None
    if getattr(args, "verbose", False):
        def report(fraction: float, message: str) -> None:
            print(f"{100 * fraction:5.0f} % {message}", file=sys.stderr)
    retrieved = retrieve_series(settings, chosen, progress=report)
    print(f"retrieved {len(retrieved)} instance(s) of {len(chosen)} series from {settings.server}", file=sys.stderr)
    return retrieved
