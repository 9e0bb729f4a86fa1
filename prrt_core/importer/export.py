"""Export of the whole store as import files: every clinical table as CSV in import form
(natural keys, column names with units, UTF-8 with a byte-order mark for spreadsheets) plus the
audit log, in one zip.

Text cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``,
tab or CR) get a leading apostrophe (OWASP, "CSV Injection"); numeric columns are left as
numbers, so -0.5 stays a number. The importer removes that apostrophe again
(``files.clean_text``), so an export re-imports unchanged.
"""
from __future__ import annotations

import io
import logging
import os
import zipfile

import pandas as pd

from prrt_core.importer.natural import export_frames
from prrt_core.store import Store

log = logging.getLogger(__name__)

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells that start like a spreadsheet formula with an apostrophe.

    Only text (object/string) columns change; numbers stay numbers.
    """
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            values = out[column]
            text = values.map(lambda v: isinstance(v, str))
            risky = text & values.astype(str).str.startswith(FORMULA_START)
            out[column] = values.where(~risky, "'" + values.astype(str))
    return out


def _csv(frame: pd.DataFrame) -> bytes:
    return neutralise(frame).to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def export_zip(source: Store | str | os.PathLike) -> bytes:
    """Every clinical table (import form) and the audit log as CSV files in a zip.

    ``source`` is an open store or a database path (opened and closed here).
    """
    if not isinstance(source, Store):
        with Store(source) as store:
            return export_zip(store)
    with zipfile.ZipFile(buffer := io.BytesIO(), "w", zipfile.ZIP_DEFLATED) as archive:
        frames = export_frames(source.read_all())
        for name, frame in frames.items():
            archive.writestr(f"{name}.csv", _csv(frame))
        archive.writestr("audit.csv", _csv(source.read("audit")))
    log.info("export: %s", ", ".join(f"{len(f)} {n}" for n, f in frames.items()))
    return buffer.getvalue()
