"""Reading import files into tables of cell text: CSV files named after their table, an .xlsx
workbook with a sheet per table, or a zip of CSV files (an export; its audit.csv is skipped).

Each table becomes a :class:`RawTable`; whatever cannot be read becomes a problem in
:class:`Parsed`. Text must be UTF-8 (or UTF-16 with a byte-order mark); a file may hold at most
:data:`MAX_FILE_MB` MB, a workbook or zip at most :data:`MAX_UNZIPPED_MB` MB unpacked (what it
holds included); formulas, error values, merged cells and sheets that are not tables are refused.

Zips and workbooks are unpacked by :class:`prrt_core.archives.Unpacker` within the bounds below,
one byte counter per uploaded file: a workbook is read part by part within them before openpyxl
opens it. A zip may hold one level of archives (an export zip or a workbook inside the uploaded
zip), no deeper. A refused archive is a problem naming the archive and the member.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prrt_core import archives
from prrt_core.errors import InputError
from prrt_core.importer.problems import problem
from prrt_core.importer.template import EXPLANATION_SHEET
from prrt_core.store import schema

MAX_FILE_MB = 10  # ~300,000 lab rows: checked in about 10 s (2 cores); also each CSV in a zip
MAX_FILE_BYTES = MAX_FILE_MB * 1024 * 1024
# An uploaded zip or workbook, unpacked, with what it holds. Measured: 30,000 lab rows of 12
# columns are a 1.7 MB workbook that unpacks to 13 MB, so a 10 MB workbook unpacks to ~80 MB and
# 300,000 rows to ~135 MB; a zip of seven 10 MB CSV files to 70 MB.
MAX_UNZIPPED_MB = 200
MAX_UNZIPPED_BYTES = MAX_UNZIPPED_MB * 1024 * 1024
# Entries of one zip or workbook: the export holds 8 files, the template workbook 16 parts; a
# workbook of 50 sheets with their relations and drawings stays under 200.
MAX_ARCHIVE_MEMBERS = 200
# An export zip or workbook inside the uploaded zip is read; an archive inside that is refused.
MAX_ARCHIVE_NESTING = 1
ZIP_LIMITS = archives.Limits(member_bytes=MAX_FILE_BYTES, members=MAX_ARCHIVE_MEMBERS, depth=MAX_ARCHIVE_NESTING)
# One workbook part may be the whole unpacked workbook (a single large sheet).
WORKBOOK_LIMITS = archives.Limits(member_bytes=MAX_UNZIPPED_BYTES, members=MAX_ARCHIVE_MEMBERS,
                                  depth=MAX_ARCHIVE_NESTING)


@dataclass
class RawTable:
    """The cells of one table as text, indexed by spreadsheet row (the header is row 1)."""

    table: str
    source: str
    headers: list[str]
    cells: pd.DataFrame        # columns 0..n-1 (positions of headers), str, "" when empty
    decimal_comma: bool = False


@dataclass
class Parsed:
    """What was read: a raw table per clinical table, and the problems of reading."""

    tables: dict[str, RawTable] = field(default_factory=dict)
    problems: list[dict] = field(default_factory=list)

    def add(self, raw: RawTable) -> None:
        """Keep ``raw``, or a problem when its table was read from another file already."""
        if raw.table in self.tables:
            self.problems.append(problem(raw.source, None, None, raw.table,
                                         f"table {raw.table} also comes from "
                                         f"{self.tables[raw.table].source}: give each table once"))
        else:
            self.tables[raw.table] = raw


def table_for(name: str) -> str | None:
    """The clinical table a file or sheet name stands for (``patients (1).csv`` -> patients), or None."""
    stem = Path(name).stem.strip().casefold().replace(" ", "_").replace("-", "_")
    for table in sorted(schema.CLINICAL_TABLES, key=len, reverse=True):
        if stem == table or (stem.startswith(table) and not stem[len(table)].isalpha()):
            return table
    return None


def clean_text(cells: pd.DataFrame) -> pd.DataFrame:
    """Strip blanks; drop the apostrophe the export puts before =, +, -, @, tab, CR."""
    def clean(col: pd.Series) -> pd.Series:
        col = col.fillna("").astype(str).str.strip()
        quoted = col.str.startswith("'")
        if quoted.any():
            quoted &= col.str.match(r"'[=+\-@\t\r]")
            col = col.where(~quoted, col.str.slice(1))
        return col
    return cells.apply(clean) if len(cells.columns) else cells


def _decode(data: bytes) -> tuple[str | None, str | None]:
    """Text of a CSV file, or the reason it cannot be read."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            return None, f"broken UTF-16 text at byte {exc.start}"
    elif b"\x00" in data:
        return None, "contains NUL bytes: UTF-16 without a byte-order mark, or not a text file"
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[:exc.start].count(b"\n") + 1
            return None, (f"not UTF-8 text: byte 0x{data[exc.start]:02x} on line {line} (Latin-1 or "
                          "Windows-1252?); save the file as 'CSV UTF-8'")
    if "\x00" in text:
        return None, "contains NUL characters: UTF-16 without a byte-order mark, or not a text file"
    return text, None


def _read_csv(name: str, data: bytes, out: Parsed) -> None:
    table = table_for(name)
    if table is None:
        out.problems.append(problem(name, None, None, name, "cannot tell the table from the file "
                                    "name: name it " + ", ".join(f"{t}.csv" for t in schema.CLINICAL_TABLES)))
        return
    text, reason = _decode(data)
    if reason:
        out.problems.append(problem(name, None, None, None, reason))
        return
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    records: list[list[str]] = []
    try:
        for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True):
            records.append(record)
    except csv.Error as exc:
        out.problems.append(problem(name, len(records) + 1, None, None,
                                    f"malformed CSV: {exc} (an unclosed quote?)"))
        return
    if not records or not any(c.strip() for c in records[0]):
        out.problems.append(problem(name, None, None, None, "empty file: no header row"))
        return
    headers, width = records[0], len(records[0])
    numbers, rows = [], []
    for number, record in enumerate(records[1:], start=2):
        if len(record) != width:
            if len(record) > width and any(c.strip() for c in record[width:]):
                out.problems.append(problem(name, number, None, delimiter.join(record)[:80],
                                            f"{len(record)} fields but the header has {width}"))
                continue
            record = (record + [""] * width)[:width]  # blank trailing fields only
        numbers.append(number)
        rows.append(record)
    del records
    cells = pd.DataFrame(rows, index=numbers, columns=range(width), dtype=object)
    out.add(RawTable(table, name, headers, clean_text(cells), decimal_comma=delimiter == ";"))


def cell_text(value: Any) -> str:
    """A spreadsheet or editor value as the text a CSV would hold."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else repr(float(value))
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        midnight = value.hour == value.minute == value.second == value.microsecond == 0
        return value.strftime("%Y-%m-%d") if midnight else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _read_workbook(name: str, data: bytes, out: Parsed) -> None:
    """Read a workbook whose every part has been read within the bounds (archives.Unpacker.check_zip)."""
    import openpyxl
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), data_only=False)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        out.problems.append(problem(name, None, None, None,
                                    f"not a readable Excel workbook ({type(exc).__name__})"))
        return
    for sheet_name in book.sheetnames:
        sheet, source = book[sheet_name], f"{name} › {sheet_name}"
        table = table_for(sheet_name)
        if sheet_name.strip().casefold() == EXPLANATION_SHEET:
            continue
        if table is None or not hasattr(sheet, "merged_cells"):
            out.problems.append(problem(source, None, None, sheet_name, "this sheet is not a table: "
                                        "rename it to one of " + ", ".join(schema.CLINICAL_TABLES)
                                        + " or remove it"))
            continue
        rows, cell_problems = {}, []
        for row in sheet.iter_rows():
            texts = []
            for cell in row:
                if cell.data_type == "f":
                    cell_problems.append(problem(source, cell.row, cell.coordinate, cell.value,
                                                 "a formula: paste values only"))
                elif cell.data_type == "e":
                    cell_problems.append(problem(source, cell.row, cell.coordinate, cell.value,
                                                 "an Excel error value"))
                texts.append("" if cell.data_type in "fe" else cell_text(cell.value))
            rows[row[0].row if row else len(rows) + 1] = texts
        headers = [h.strip() for h in rows.pop(1, [])]
        while headers and not headers[-1]:
            headers.pop()
        for merged in sheet.merged_cells.ranges:
            out.problems.append(problem(source, merged.min_row, merged.coord, None,
                                        "merged cells: unmerge them (every cell holds its own value)"))
        out.problems.extend(cell_problems)
        if not headers:
            out.problems.append(problem(source, 1, None, None, "no header in row 1"))
            continue
        width = max([len(headers)] + [len(r) for r in rows.values()])
        cells = pd.DataFrame.from_dict({k: v + [""] * (width - len(v)) for k, v in rows.items()},
                                       orient="index", columns=range(width), dtype=object)
        out.add(RawTable(table, source, headers + [""] * (width - len(headers)), clean_text(cells)))


def _is_audit(member: str) -> bool:
    """The export's audit log is the store's own history: never imported (nor unpacked)."""
    return Path(member).name.casefold() == "audit.csv"


def _read_zip(name: str, data: bytes, out: Parsed, unpacker: archives.Unpacker, depth: int) -> None:
    """A workbook (checked part by part, then opened by openpyxl), or a zip of import files."""
    try:
        if "xl/workbook.xml" in unpacker.zip_names(name, data, WORKBOOK_LIMITS, depth=depth):
            unpacker.check_zip(name, data, WORKBOOK_LIMITS, depth=depth)
            members = None
        else:
            members = unpacker.zip_members(name, data, ZIP_LIMITS, depth=depth, skip=_is_audit)
    except InputError as exc:  # an archives.refusal, naming the archive and the member
        out.problems.append(problem(exc.where, None, None, None, exc.problem))
        return
    if members is None:
        _read_workbook(name, data, out)
        return
    if not members:
        out.problems.append(problem(name, None, None, None, "an empty zip file"))
    for member_name, member in members:
        _read_one(member_name, member, out, unpacker, depth + 1)


def _read_one(name: str, data: bytes, out: Parsed, unpacker: archives.Unpacker | None = None,
              depth: int = 0) -> None:
    """One file; ``unpacker`` counts what its archives unpack (a new one for an uploaded file)."""
    if len(data) > MAX_FILE_BYTES:
        out.problems.append(problem(name, None, None, f"{len(data) / 2**20:.1f} MB",
                                    f"larger than the {MAX_FILE_MB} MB limit: split the file"))
    elif not data.strip():
        out.problems.append(problem(name, None, None, None, "empty file"))
    elif data.startswith(b"SQLite format 3\x00"):
        out.problems.append(problem(name, None, None, None, "a database backup, not an import "
                                    "file: restore it under Export and backup"))
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        out.problems.append(problem(name, None, None, None, "Excel 97-2003 (.xls) or another OLE "
                                    "file: save it as .xlsx"))
    elif data.startswith(archives.ZIP_MAGIC):
        _read_zip(name, data, out, unpacker or archives.Unpacker(MAX_UNZIPPED_BYTES), depth)
    else:
        _read_csv(name, data, out)


def read_files(files: Iterable[tuple[str, bytes]]) -> Parsed:
    """Read uploaded files (name, content): CSV, .xlsx workbook or zip of CSV files."""
    out = Parsed()
    for name, data in files:
        _read_one(name, data, out)
    return out


def read_paths(paths: Iterable[str | Path]) -> Parsed:
    """Read files from disk; a file over the size limit is refused before it is read."""
    out, files = Parsed(), []
    for path in map(Path, paths):
        if not path.is_file():
            out.problems.append(problem(path.name, None, None, str(path), "no such file"))
        elif path.stat().st_size > MAX_FILE_BYTES:
            out.problems.append(problem(path.name, None, None, f"{path.stat().st_size / 2**20:.1f} MB",
                                        f"larger than the {MAX_FILE_MB} MB limit: split the file"))
        else:
            files.append((path.name, path.read_bytes()))
    parsed = read_files(files)
    parsed.problems[:0] = out.problems
    return parsed

