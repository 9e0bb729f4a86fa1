"""Export of the whole store as import files: every clinical table as CSV in import form
(natural keys, column names with units, UTF-8 with a byte-order mark for spreadsheets) plus the
audit log, in one zip (the Data page) or a folder (the command line): the same files.

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
from pathlib import Path

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


def export_files(source: Store | str | os.PathLike) -> dict[str, tuple[bytes, int]]:
    """The one export: file name -> (CSV bytes, rows) of every clinical table in import form and
    of the audit log, formula-like text neutralised. The Data page zips them (:func:`export_zip`),
    ``python -m prrt_core export`` writes them into a folder (:func:`export_folder`).

    ``source`` is an open store or the path of an existing database (opened and closed here).
    """
    if not isinstance(source, Store):
        with Store(source, create=False) as store:
            return export_files(store)
    frames = export_frames(source.read_all()) | {"audit": source.read("audit")}
    log.info("export: %s", ", ".join(f"{len(f)} {n}" for n, f in frames.items()))
    return {f"{name}.csv": (_csv(frame), len(frame)) for name, frame in frames.items()}


def export_zip(source: Store | str | os.PathLike) -> bytes:
    """Every clinical table (import form) and the audit log as CSV files in a zip (:func:`export_files`)."""
    with zipfile.ZipFile(buffer := io.BytesIO(), "w", zipfile.ZIP_DEFLATED) as archive:
        for name, (data, _) in export_files(source).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def export_folder(source: Store | str | os.PathLike, folder: str | os.PathLike) -> dict[Path, int]:
    """The files of :func:`export_files` written into ``folder`` (created if missing); path -> rows."""
    files = export_files(source)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, (data, rows) in files.items():
        (target := folder / name).write_bytes(data)
        written[target] = rows
    return written
