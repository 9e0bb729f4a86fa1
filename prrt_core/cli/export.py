"""``python -m prrt_core export FOLDER``: the Data page's export, its files in a folder.

Every clinical table in import form and the audit log as CSV, formula-like text neutralised
(``prrt_core.importer.export``): the same bytes as the files of the page's zip.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from prrt_core.cli.common import open_store
from prrt_core.importer import export

NAME = "export"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(NAME, help="write every clinical table (import form) and the audit log as CSV "
                              "into a folder: the files of the Data page's export zip")
    p.add_argument("folder", type=Path, help="output folder (created if missing)")


def run(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        written = export.export_folder(store, args.folder)
    for target, rows in written.items():
        print(f"{target}: {rows} rows")
    return 0
