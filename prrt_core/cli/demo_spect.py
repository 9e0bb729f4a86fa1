"""``python -m prrt_core demo-spect OUT.zip``: write the demo SPECT study (the analytic phantom) as a zip.

Five quantitative SPECT time points (NM, Bq/mL) and a DICOM SEG of both kidneys and a lesion,
for ``python -m prrt_core dicom OUT.zip`` or an upload on the Dosimetry page; the known answer is
in prrt_core/testing/phantom (left kidney 3.20 Gy, voxel mean at 1.04 g/mL). An existing file is
not overwritten (exit 1).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prrt_core.testing.phantom import demo_study_zip

NAME = "demo-spect"


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``demo-spect`` command; returns its parser."""
    p = subparsers.add_parser(NAME, help="write the demo SPECT study (an analytic phantom) as a zip",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("output", type=Path, metavar="OUT.zip", help="the zip file to write (must not exist)")
    return p


def run(args: argparse.Namespace) -> int:
    """Write the zip; 1 when the file exists (nothing is overwritten)."""
    data = demo_study_zip()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    try:
        with args.output.open("xb") as file:
            file.write(data)
    except FileExistsError:
        print(f"error: {args.output} exists; nothing written", file=sys.stderr)
        return 1
    print(f"{args.output}: demo SPECT study written ({len(data) / 1e3:.0f} kB; "
          f"python -m prrt_core dicom {args.output} computes its dosimetry)")
    return 0
