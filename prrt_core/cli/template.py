"""``python -m prrt_core template OUT.xlsx``: the Excel import template with its column explanations."""
from __future__ import annotations

import argparse
from pathlib import Path

from prrt_core import importer

NAME = "template"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(NAME, help="write the Excel import template")
    p.add_argument("out", type=Path, metavar="OUT.xlsx")


def run(args: argparse.Namespace) -> int:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(importer.template_workbook())
    print(f"{args.out}: import template ({len(importer.TABLES)} table sheets and '{importer.EXPLANATION_SHEET}')")
    return 0
