"""Clinical data import and editing: every row validated before anything is written.

Input: CSV files named after their table (``patients.csv``, ``cycles.csv`` ...), an
Excel workbook with one sheet per table (the template from :func:`template_workbook`),
or a zip of such CSV files (the export of ``backup.export_zip``; its audit.csv is
skipped). Files carry natural
keys, never internal ids:

=================== ==============================================
table               natural key
=================== ==============================================
patients            patient_id
cycles              patient_id, cycle_number
dosimetry           patient_id, cycle_number, organ, label
labs                patient_id, lab_date
assessments         patient_id, assessment_date, modality
events              patient_id, event_type, phase
performance_status  patient_id, status_date
=================== ==============================================

One column specification (:data:`TABLES`) drives the template, its explanation
sheet, the header parsing with unit conversion, and the validation; its ranges and
enumerations equal the CHECK constraints of ``schema.py`` (tests/test_importers.py
feeds boundary values to both). Validation is vectorised per column and reports
every problem at once as a table (File, Row, Column, Value, Reason); row 1 is the
header. Nothing is written unless there is no problem; then all rows are written in
one transaction, which re-checks everything under the write lock. A row whose key
exists is updated in the columns the file carries (an empty cell clears the value);
an identical row is left alone, so re-importing a file changes nothing. Import never
deletes.

Limits: a file may hold at most :data:`MAX_FILE_MB` MB (a workbook or zip at most
:data:`MAX_UNZIPPED_MB` MB uncompressed); text must be UTF-8 (or UTF-16 with a
byte-order mark); dates are ISO ``YYYY-MM-DD``; formulas, merged cells and sheets
that are not tables are refused. Identifying columns (names, birth dates, ...)
are refused, never stored.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import logging
import math
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prrt_core.errors import ImportRejected
from prrt_core.store import schema
from prrt_core.store import Store
from prrt_core.tables import Tables
from prrt_core.store.access import Actor

log = logging.getLogger(__name__)

MAX_FILE_MB = 10  # ~300,000 lab rows: checked in about 10 s (2 cores)
MAX_FILE_BYTES = MAX_FILE_MB * 1024 * 1024
MAX_UNZIPPED_MB = 200
MAX_TEXT_CHARS = 500
EXAMPLE_PATIENT_ID = "EXAMPLE-01"
EXPLANATION_SHEET = "columns"
PROBLEM_COLUMNS = ["File", "Row", "Column", "Value", "Reason"]
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_ISO_DATE = r"\d{4}-\d{2}-\d{2}"
_ID = r"[A-Za-z0-9_-]{1,32}"  # schema.py: length 1-32, NOT GLOB '*[^A-Za-z0-9_-]*'
_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
_IDENTIFYING = {"name", "first_name", "last_name", "surname", "given_name", "full_name",
                "patient_name", "birth_date", "date_of_birth", "dob", "birthdate", "birthday",
                "address", "street", "phone", "telephone", "email", "e_mail", "mrn",
                "hospital_number", "insurance_number", "ssn", "social_security_number"}


@dataclass(frozen=True)
class Unit:
    """An accepted unit: canonical value = value * mul / div."""

    label: str
    mul: float = 1.0
    div: float = 1.0


# Creatinine, molar mass 113.12 g/mol: 1 mg/dL = 88.4 umol/L (KDIGO 2012 CKD guideline, units table).
CREATININE_UMOL_L_PER_MG_DL = 88.4
# Haemoglobin as the monomer, molar mass 16 114.5 g/mol (ICSH reference method, J Clin Pathol
# 1996;49:271-274): 1 mmol/L = 1.611 g/dL; CTCAE v5.0 pairs 10.0 g/dL with 6.2 mmol/L.
HB_G_DL_PER_MMOL_L = 1.611
# Bilirubin, molar mass 584.7 g/mol: 1 mg/dL = 17.1 umol/L (AMA Manual of Style SI conversion table).
BILIRUBIN_UMOL_L_PER_MG_DL = 17.1
# 1 Ci = 3.7e10 Bq by definition (CGPM 1964), so 1 mCi = 37 MBq = 0.037 GBq.
MBQ_PER_MCI = 37.0

_COUNT_UNITS = (Unit("10^3/µL"), Unit("G/L"), Unit("/nL"))  # all equal to 10^9/L


@dataclass(frozen=True)
class ColumnSpec:
    """One column of an import table: type, unit(s), allowed values, as in schema.py."""

    name: str                 # store column (its name carries the canonical unit)
    kind: str                 # id | text | int | real | date | bool | enum
    description: str
    required: bool = False
    label: str = ""           # header stem; defaults to name
    unit: str | None = None   # canonical unit of the store column
    alternatives: tuple[Unit, ...] = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    step: int | None = None
    choices: tuple[str, ...] = ()
    example: Any = None
    empty: Any = None         # value stored for an empty cell

    @property
    def stem(self) -> str:
        return self.label or self.name

    @property
    def header(self) -> str:
        """The template header: stem and canonical unit, e.g. ``activity (GBq)``."""
        return f"{self.stem} ({self.unit})" if self.unit else self.stem

    @property
    def units(self) -> tuple[Unit, ...]:
        return ((Unit(self.unit),) + self.alternatives) if self.unit else ()

    def allowed(self) -> str:
        """Allowed values in words (the explanation sheet and error messages)."""
        if self.kind == "enum":
            return "one of: " + ", ".join(self.choices)
        if self.kind == "bool":
            return "1/0, yes/no or true/false"
        if self.kind == "date":
            return "a date, YYYY-MM-DD"
        if self.kind == "id":
            return "1-32 letters, digits, '-' or '_'"
        if self.kind in ("int", "real"):
            text = f"{'whole number' if self.kind == 'int' else 'number'} in {self.range_text()}"
            return text + (f", a multiple of {self.step}" if self.step else "")
        return f"text, at most {MAX_TEXT_CHARS} characters"

    def range_text(self) -> str:
        """The numeric range in interval notation with the canonical unit, e.g. ``(0, 15] GBq``."""
        lo, hi = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"{lo}{self.low:g}, {self.high:g}{hi}" + (f" {self.unit}" if self.unit else "")


@dataclass(frozen=True)
class TableSpec:
    name: str
    key: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]
    description: str
    date: str | None = None   # the column that dates a row (for "nothing after death")

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)


def _patient(description: str = "Patient id as in the patients table or the database.") -> ColumnSpec:
    return ColumnSpec("patient_id", "id", description, required=True, example=EXAMPLE_PATIENT_ID)


def _count(name: str, label: str, high: float, what: str, example: float) -> ColumnSpec:
    return ColumnSpec(name, "real", what, label=label, unit="10^9/L", alternatives=_COUNT_UNITS,
                      low=0, high=high, example=example)


_PHASES = ("initial", "salvage")
TABLES: dict[str, TableSpec] = {t.name: t for t in (
    TableSpec("patients", ("patient_id",), (
        _patient("Pseudonymous patient id, unique: 1-32 letters, digits, '-' or '_'. Never a "
                 "name, birth date or hospital number."),
        ColumnSpec("sex", "enum", "Sex.", required=True, choices=("M", "F"), example="F"),
        ColumnSpec("age_at_first_prrt_years", "int", "Age at the first PRRT cycle.",
                   label="age_at_first_prrt", unit="years", low=0, high=120, example=62),
        ColumnSpec("primary_site", "enum", "Primary tumour site.", required=True, choices=(
            "small intestine", "pancreas", "lung", "CUP", "rectum", "colon", "stomach",
            "paraganglioma", "pheochromocytoma", "other"), example="small intestine"),
        ColumnSpec("tumour_grade", "enum", "WHO grade.", choices=("G1", "G2", "G3"), example="G2"),
        ColumnSpec("ki67_pct", "real", "Ki-67 proliferation index.", label="ki67", unit="%",
                   low=0, high=100, example=5.0),
        ColumnSpec("hypertension", "bool", "Arterial hypertension (renal risk factor).",
                   required=True, example=0),
        ColumnSpec("diabetes", "bool", "Diabetes mellitus (renal risk factor).", required=True,
                   example=0),
        ColumnSpec("other_renal_risk", "text", "Other renal risk factors, free text.", example=""),
        ColumnSpec("prior_therapies", "text", "Prior therapies, separated by ';'.",
                   example="surgery; somatostatin analogue"),
    ), "One row per patient."),
    TableSpec("cycles", ("patient_id", "cycle_number"), (
        _patient(),
        ColumnSpec("cycle_number", "int", "Cycle number, counting initial and salvage cycles; "
                   "dates must increase with it.", required=True, low=1, high=30, example=1),
        ColumnSpec("phase", "enum", "Treatment phase; initial cycles precede salvage cycles.",
                   required=True, choices=_PHASES, example="initial"),
        ColumnSpec("cycle_date", "date", "Date of administration.", required=True,
                   example="2024-01-15"),
        ColumnSpec("activity_gbq", "real", "Administered 177Lu-DOTATATE activity.", required=True,
                   label="activity", unit="GBq",
                   alternatives=(Unit("MBq", 1.0, 1000.0), Unit("mCi", MBQ_PER_MCI, 1000.0)),
                   low=0, low_open=True, high=15, example=7.4),
    ), "One row per PRRT cycle.", date="cycle_date"),
    TableSpec("dosimetry", ("patient_id", "cycle_number", "organ", "label"), (
        _patient(),
        ColumnSpec("cycle_number", "int", "The cycle (as in the cycles table or the database).",
                   required=True, low=1, high=30, example=1),
        ColumnSpec("organ", "enum", "Organ or tumour.", required=True, choices=(
            "kidneys", "kidney_left", "kidney_right", "tumour", "spleen", "liver",
            "bone_marrow"), example="kidneys"),
        ColumnSpec("label", "text", "Distinguishes several VOIs of one organ (e.g. lesion name); "
                   "empty for one.", example="", empty=""),
        ColumnSpec("dose_gy", "real", "Absorbed dose of this cycle.", required=True, label="dose",
                   unit="Gy", low=0, high=500, example=3.9),
        ColumnSpec("t_eff_h", "real", "Effective half-life (at most the Lu-177 physical "
                   "half-life, 159.528 h).", label="t_eff", unit="h", low=0, low_open=True,
                   high=159.528, example=45.0),
        ColumnSpec("method", "text", "Dosimetry method.", required=True,
                   example="SPECT/CT 3 time points (24, 48, 96 h)"),
        ColumnSpec("provenance", "text", "Source of the value (report, software).", example=""),
    ), "One row per organ (and label) per cycle."),
    TableSpec("labs", ("patient_id", "lab_date"), (
        _patient(),
        ColumnSpec("lab_date", "date", "Date of the blood sample.", required=True,
                   example="2024-01-10"),
        ColumnSpec("hb_g_dl", "real", "Haemoglobin.", label="hb", unit="g/dL",
                   alternatives=(Unit("g/L", 1.0, 10.0), Unit("mmol/L", HB_G_DL_PER_MMOL_L)),
                   low=2, high=25, example=12.5),
        _count("plt_10e9_l", "plt", 2000, "Platelets.", 210.0),
        _count("wbc_10e9_l", "wbc", 500, "White blood cells.", 6.1),
        _count("neut_10e9_l", "neut", 200, "Neutrophils.", 3.9),
        _count("lymph_10e9_l", "lymph", 500, "Lymphocytes.", 1.5),
        ColumnSpec("creatinine_mg_dl", "real", "Serum creatinine.", label="creatinine",
                   unit="mg/dL", alternatives=(Unit("µmol/L", 1.0, CREATININE_UMOL_L_PER_MG_DL),),
                   low=0.1, high=30, example=0.9),
        ColumnSpec("egfr_ml_min_173m2", "real", "Estimated GFR.", label="egfr",
                   unit="mL/min/1.73 m²", low=0, high=200, example=85.0),
        ColumnSpec("mag3_ter_ml_min_173m2", "real", "Tc-99m MAG3 tubular extraction rate.",
                   label="mag3_ter", unit="mL/min/1.73 m²", low=0, high=800, example=230.0),
        ColumnSpec("bilirubin_mg_dl", "real", "Total bilirubin.", label="bilirubin", unit="mg/dL",
                   alternatives=(Unit("µmol/L", 1.0, BILIRUBIN_UMOL_L_PER_MG_DL),),
                   low=0, high=50, example=0.6),
        ColumnSpec("albumin_g_dl", "real", "Serum albumin.", label="albumin", unit="g/dL",
                   alternatives=(Unit("g/L", 1.0, 10.0),), low=0.5, high=7, example=4.2),
    ), "One row per patient and sample date; at least one value.", date="lab_date"),
    TableSpec("assessments", ("patient_id", "assessment_date", "modality"), (
        _patient(),
        ColumnSpec("assessment_date", "date", "Date of imaging; follow-ups come after the "
                   "baseline of their phase.", required=True, example="2023-12-20"),
        ColumnSpec("phase", "enum", "Treatment phase the assessment belongs to.", required=True,
                   choices=_PHASES, example="initial"),
        ColumnSpec("role", "enum", "Baseline (before the phase) or follow-up.", required=True,
                   choices=("baseline", "follow-up"), example="baseline"),
        ColumnSpec("modality", "enum", "Imaging modality.", required=True,
                   choices=("Ga-68 DOTATATE PET/CT", "CT", "MRI"), example="Ga-68 DOTATATE PET/CT"),
        ColumnSpec("target_sum_mm", "real", "Sum of target-lesion diameters (RECIST 1.1).",
                   label="target_sum", unit="mm", alternatives=(Unit("cm", 10.0),),
                   low=0, high=2000, example=85.0),
        ColumnSpec("new_lesions", "bool", "New lesions found.", required=True, example=0),
        ColumnSpec("non_target", "enum", "Non-target lesion status.",
                   choices=("CR", "non-CR/non-PD", "PD", "NE"), example="non-CR/non-PD"),
        ColumnSpec("recist_recorded", "enum", "RECIST 1.1 response as reported.",
                   choices=("CR", "PR", "SD", "PD", "NE"), example=""),
        ColumnSpec("sstr_krenning_score", "int", "SSTR expression, Krenning score.", low=0,
                   high=4, example=3),
    ), "One row per patient, date and modality.", date="assessment_date"),
    TableSpec("events", ("patient_id", "event_type", "phase"), (
        _patient(),
        ColumnSpec("event_date", "date", "Date of the event.", required=True, example="2025-03-01"),
        ColumnSpec("event_type", "enum", "Progression (one per phase), death or last contact.",
                   required=True, choices=("progression", "death", "last_contact"),
                   example="progression"),
        ColumnSpec("phase", "enum", "Phase whose progression this is; empty for death and last "
                   "contact.", choices=_PHASES, example="initial"),
    ), "Progression per phase, death, last contact.", date="event_date"),
    TableSpec("performance_status", ("patient_id", "status_date"), (
        _patient(),
        ColumnSpec("status_date", "date", "Date of the assessment.", required=True,
                   example="2024-01-05"),
        ColumnSpec("ecog", "int", "ECOG performance status.", low=0, high=5, example=1),
        ColumnSpec("karnofsky_pct", "int", "Karnofsky performance status.", label="karnofsky",
                   unit="%", low=0, high=100, step=10, example=80),
    ), "ECOG and/or Karnofsky per date.", date="status_date"),
)}


# ---- problems ---------------------------------------------------------------
def _problem(source: str, row: Any, column: str | None, value: Any, reason: str) -> dict:
    text = "" if value is None else str(value)
    return {"File": source, "Row": None if row is None else int(row), "Column": column or "",
            "Value": text if len(text) <= 80 else text[:77] + "...", "Reason": reason}


def _problem_frame(problems: Iterable[dict]) -> pd.DataFrame:
    """Problems sorted by file and row; Row is "" for a problem of a whole file."""
    frame = pd.DataFrame(list(problems), columns=PROBLEM_COLUMNS)
    frame["Row"] = frame["Row"].astype("Int64")
    frame = frame.drop_duplicates().sort_values(["File", "Row"], na_position="first", kind="stable")
    frame["Row"] = frame["Row"].astype(object).where(frame["Row"].notna(), "")
    return frame.reset_index(drop=True)


def _masked(source: str, texts: pd.Series, mask: pd.Series, column: str, reason: Any) -> list[dict]:
    """One problem per row of ``mask``; ``reason`` is a string or a Series of strings."""
    rows = texts.index[mask.to_numpy(dtype=bool)]
    reasons = reason[mask] if isinstance(reason, pd.Series) else [reason] * len(rows)
    return [_problem(source, r, column, texts.loc[r], why) for r, why in zip(rows, reasons)]


# ---- reading files ----------------------------------------------------------
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
    tables: dict[str, RawTable] = field(default_factory=dict)
    problems: list[dict] = field(default_factory=list)

    def add(self, raw: RawTable) -> None:
        if raw.table in self.tables:
            self.problems.append(_problem(raw.source, None, None, raw.table,
                                          f"table {raw.table} also comes from "
                                          f"{self.tables[raw.table].source}: give each table once"))
        else:
            self.tables[raw.table] = raw


def _table_for(name: str) -> str | None:
    stem = Path(name).stem.strip().casefold().replace(" ", "_").replace("-", "_")
    for table in sorted(schema.CLINICAL_TABLES, key=len, reverse=True):
        if stem == table or (stem.startswith(table) and not stem[len(table)].isalpha()):
            return table
    return None


def _clean_text(cells: pd.DataFrame) -> pd.DataFrame:
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
    table = _table_for(name)
    if table is None:
        out.problems.append(_problem(name, None, None, name, "cannot tell the table from the file "
                                     "name: name it " + ", ".join(f"{t}.csv" for t in schema.CLINICAL_TABLES)))
        return
    text, reason = _decode(data)
    if reason:
        out.problems.append(_problem(name, None, None, None, reason))
        return
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    records: list[list[str]] = []
    try:
        for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True):
            records.append(record)
    except csv.Error as exc:
        out.problems.append(_problem(name, len(records) + 1, None, None,
                                     f"malformed CSV: {exc} (an unclosed quote?)"))
        return
    if not records or not any(c.strip() for c in records[0]):
        out.problems.append(_problem(name, None, None, None, "empty file: no header row"))
        return
    headers, width = records[0], len(records[0])
    numbers, rows = [], []
    for number, record in enumerate(records[1:], start=2):
        if len(record) != width:
            if len(record) > width and any(c.strip() for c in record[width:]):
                out.problems.append(_problem(name, number, None, delimiter.join(record)[:80],
                                             f"{len(record)} fields but the header has {width}"))
                continue
            record = (record + [""] * width)[:width]  # blank trailing fields only
        numbers.append(number)
        rows.append(record)
    del records
    cells = pd.DataFrame(rows, index=numbers, columns=range(width), dtype=object)
    out.add(RawTable(table, name, headers, _clean_text(cells), decimal_comma=delimiter == ";"))


def _cell_text(value: Any) -> str:
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


def _unzipped_too_large(name: str, archive: zipfile.ZipFile, out: Parsed) -> bool:
    total = sum(info.file_size for info in archive.infolist())
    if total > MAX_UNZIPPED_MB * 1024 * 1024:
        out.problems.append(_problem(name, None, None, f"{total / 2**20:.0f} MB",
                                     f"unpacks to more than {MAX_UNZIPPED_MB} MB: split it"))
        return True
    return False


def _read_workbook(name: str, data: bytes, out: Parsed) -> None:
    import openpyxl
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if _unzipped_too_large(name, archive, out):
                return
        book = openpyxl.load_workbook(io.BytesIO(data), data_only=False)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        out.problems.append(_problem(name, None, None, None,
                                     f"not a readable Excel workbook ({type(exc).__name__})"))
        return
    for sheet_name in book.sheetnames:
        sheet, source = book[sheet_name], f"{name} › {sheet_name}"
        table = _table_for(sheet_name)
        if sheet_name.strip().casefold() == EXPLANATION_SHEET:
            continue
        if table is None or not hasattr(sheet, "merged_cells"):
            out.problems.append(_problem(source, None, None, sheet_name, "this sheet is not a table: "
                                         "rename it to one of " + ", ".join(schema.CLINICAL_TABLES)
                                         + " or remove it"))
            continue
        rows, cell_problems = {}, []
        for row in sheet.iter_rows():
            texts = []
            for cell in row:
                if cell.data_type == "f":
                    cell_problems.append(_problem(source, cell.row, cell.coordinate, cell.value,
                                                  "a formula: paste values only"))
                elif cell.data_type == "e":
                    cell_problems.append(_problem(source, cell.row, cell.coordinate, cell.value,
                                                  "an Excel error value"))
                texts.append("" if cell.data_type in "fe" else _cell_text(cell.value))
            rows[row[0].row if row else len(rows) + 1] = texts
        headers = [h.strip() for h in rows.pop(1, [])]
        while headers and not headers[-1]:
            headers.pop()
        for merged in sheet.merged_cells.ranges:
            out.problems.append(_problem(source, merged.min_row, merged.coord, None,
                                         "merged cells: unmerge them (every cell holds its own value)"))
        out.problems.extend(cell_problems)
        if not headers:
            out.problems.append(_problem(source, 1, None, None, "no header in row 1"))
            continue
        width = max([len(headers)] + [len(r) for r in rows.values()])
        cells = pd.DataFrame.from_dict({k: v + [""] * (width - len(v)) for k, v in rows.items()},
                                       orient="index", columns=range(width), dtype=object)
        out.add(RawTable(table, source, headers + [""] * (width - len(headers)), _clean_text(cells)))


def _read_one(name: str, data: bytes, out: Parsed) -> None:
    if len(data) > MAX_FILE_BYTES:
        out.problems.append(_problem(name, None, None, f"{len(data) / 2**20:.1f} MB",
                                     f"larger than the {MAX_FILE_MB} MB limit: split the file"))
    elif not data.strip():
        out.problems.append(_problem(name, None, None, None, "empty file"))
    elif data.startswith(b"SQLite format 3\x00"):
        out.problems.append(_problem(name, None, None, None, "a database backup, not an import "
                                     "file: restore it under Export and backup"))
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        out.problems.append(_problem(name, None, None, None, "Excel 97-2003 (.xls) or another OLE "
                                     "file: save it as .xlsx"))
    elif data.startswith(b"PK\x03\x04"):
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile:
            out.problems.append(_problem(name, None, None, None, "a damaged zip or Excel file"))
            return
        with archive:
            if "xl/workbook.xml" in archive.namelist():
                _read_workbook(name, data, out)
            elif not _unzipped_too_large(name, archive, out):
                # The export's audit log is the store's own history: never imported.
                members = [m for m in archive.infolist() if not m.is_dir()
                           and Path(m.filename).name.casefold() != "audit.csv"]
                if not members:
                    out.problems.append(_problem(name, None, None, None, "an empty zip file"))
                for member in members:
                    _read_one(f"{name}/{member.filename}", archive.read(member), out)
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
            out.problems.append(_problem(path.name, None, None, str(path), "no such file"))
        elif path.stat().st_size > MAX_FILE_BYTES:
            out.problems.append(_problem(path.name, None, None, f"{path.stat().st_size / 2**20:.1f} MB",
                                         f"larger than the {MAX_FILE_MB} MB limit: split the file"))
        else:
            files.append((path.name, path.read_bytes()))
    parsed = read_files(files)
    parsed.problems[:0] = out.problems
    return parsed


# ---- headers and cells ------------------------------------------------------
def _unit_key(unit: str) -> str:
    return (unit.casefold().replace("µ", "u").replace("μ", "u").replace("²", "2")
            .replace("⁹", "9").replace("³", "3").replace(" ", ""))


_HEADER = re.compile(r"^(?P<stem>[^()\[\]]*?)\s*(?:[(\[](?P<unit>[^()\[\]]*)[)\]])?$")


def _map_headers(spec: TableSpec, raw: RawTable) -> tuple[dict[int, tuple[ColumnSpec, Unit | None]], list[dict]]:
    """Which spec column (and unit) each header names; problems for the rest."""
    by_stem = {c.stem: c for c in spec.columns} | {c.name: c for c in spec.columns}
    mapped: dict[int, tuple[ColumnSpec, Unit | None]] = {}
    problems, seen = [], {}
    for pos, header in enumerate(raw.headers):
        if not header:
            if (raw.cells[pos] != "").any():
                problems.append(_problem(raw.source, 1, f"column {pos + 1}", None,
                                         "values in a column without a header"))
            continue
        m = _HEADER.match(header)
        stem = re.sub(r"[\s-]+", "_", m["stem"].strip().casefold()) if m else header
        unit_text = (m["unit"] or "").strip() if m else ""
        col = by_stem.get(stem)
        if col is None:
            reason = ("identifying data is never stored: remove this column" if stem in _IDENTIFYING
                      else "unknown column; this table has: " + ", ".join(c.header for c in spec.columns))
            problems.append(_problem(raw.source, 1, header, None, reason))
            continue
        unit = None
        if col.unit and not unit_text:
            if stem != col.name:
                problems.append(_problem(raw.source, 1, header, None, "unit missing: write "
                                         + " or ".join(f"{col.stem} ({u.label})" for u in col.units)))
                continue
            unit = col.units[0]  # the store name carries the canonical unit
        elif col.unit:
            unit = {_unit_key(u.label): u for u in col.units}.get(_unit_key(unit_text))
            if unit is None:
                problems.append(_problem(raw.source, 1, header, unit_text, f"unknown unit for "
                                         f"{col.stem}; accepted: " + ", ".join(u.label for u in col.units)))
                continue
            if stem == col.name and unit is not col.units[0]:
                problems.append(_problem(raw.source, 1, header, unit_text, f"{col.name} is in "
                                         f"{col.unit}: write {col.stem} ({unit.label})"))
                continue
        elif unit_text:
            problems.append(_problem(raw.source, 1, header, unit_text, f"{col.stem} takes no unit"))
            continue
        if col.name in seen:
            problems.append(_problem(raw.source, 1, header, None,
                                     f"{col.stem} given twice (also column {seen[col.name] + 1})"))
            continue
        seen[col.name] = pos
        mapped[pos] = (col, unit)
    for col in spec.columns:
        if col.required and col.name not in seen:
            problems.append(_problem(raw.source, 1, col.header, None, "required column missing"))
    return mapped, problems


def _parse_column(col: ColumnSpec, unit: Unit | None, texts: pd.Series, source: str,
                  decimal_comma: bool) -> tuple[pd.Series, list[dict]]:
    """Typed values of one column (canonical unit) and the problems of its cells (vectorised)."""
    name, empty = col.header, texts == ""
    problems: list[dict] = []
    if col.required:
        problems += _masked(source, texts, empty, name, "required")
    if col.kind in ("int", "real"):
        s = texts.str.replace(",", ".", regex=False) if decimal_comma else texts
        ok = _match(s, _NUMBER)
        problems += _masked(source, texts, ~empty & ~ok, name, "not a number")
        raw_num = pd.to_numeric(s.where(ok), errors="coerce")
        num = raw_num * (unit.mul if unit else 1.0) / (unit.div if unit else 1.0)
        if col.kind == "int":
            frac = ok & (raw_num % 1 != 0)
            problems += _masked(source, texts, frac, name, "not a whole number")
            ok &= ~frac
        above_low = num > col.low if col.low_open else num >= col.low
        below_high = num < col.high if col.high_open else num <= col.high
        out = ok & ~(above_low & below_high)
        if unit is not None and (unit.mul, unit.div) != (1.0, 1.0):
            why = (texts + f" {unit.label} = " + num.map(lambda v: f"{v:.4g}") + f" {col.unit}: "
                   f"outside {col.range_text()}")
        else:
            why = f"outside {col.range_text()}"
        problems += _masked(source, texts, out, name, why)
        ok &= ~out
        if col.step:
            off = ok & (num % col.step != 0)
            problems += _masked(source, texts, off, name, f"not a multiple of {col.step}")
            ok &= ~off
        values = num.where(ok)
        return (values.round().astype("Int64") if col.kind == "int" else values.astype(float)), problems
    if col.kind == "date":
        iso = _match(texts, _ISO_DATE)
        days = pd.to_datetime(texts.where(iso), format="%Y-%m-%d", errors="coerce")
        problems += _masked(source, texts, ~empty & ~iso, name, "not a date: write YYYY-MM-DD")
        problems += _masked(source, texts, iso & days.isna(), name, "no such calendar date")
        return days.dt.strftime("%Y-%m-%d").astype(object).where(days.notna(), None), problems
    if col.kind == "bool":
        key = texts.str.casefold()
        truth = key.map({"1": 1, "1.0": 1, "true": 1, "yes": 1, "y": 1,
                         "0": 0, "0.0": 0, "false": 0, "no": 0, "n": 0})
        problems += _masked(source, texts, ~empty & truth.isna(), name, "not yes/no: write 1 or 0")
        return truth.astype("Int64"), problems
    if col.kind == "enum":
        canonical = texts.str.casefold().map({c.casefold(): c for c in col.choices})
        problems += _masked(source, texts, ~empty & canonical.isna(), name, col.allowed())
        return canonical.astype(object).where(canonical.notna(), None), problems
    # id and free text
    bad = texts.str.contains(_CONTROL, regex=True).fillna(False).astype(bool)
    problems += _masked(source, texts, bad, name, "contains control characters")
    long = texts.str.len() > (32 if col.kind == "id" else MAX_TEXT_CHARS)
    if col.kind == "id":
        invalid = ~empty & ~bad & ~_match(texts, _ID)
        problems += _masked(source, texts, invalid, name, "not a pseudonymous id: " + col.allowed())
        bad |= invalid
    else:
        problems += _masked(source, texts, long, name, f"longer than {MAX_TEXT_CHARS} characters")
        bad |= long
    values = texts.where(~empty & ~bad, None if col.empty is None else col.empty)
    return values.where(~bad, None).astype(object), problems


def _match(texts: pd.Series, pattern: str) -> pd.Series:
    return texts.str.fullmatch(pattern).fillna(False).astype(bool)


def _row_rules(spec: TableSpec, typed: pd.DataFrame, texts: pd.DataFrame, source: str) -> list[dict]:
    """Rules across the columns of one row (as in schema.py, plus the template's example row)."""
    problems = []
    blank = pd.Series("", index=typed.index, dtype=object)
    pid = typed.get("patient_id")
    if pid is not None:
        example = pid == EXAMPLE_PATIENT_ID
        problems += _masked(source, texts["patient_id"], example, "patient_id",
                            "the template's example row: replace it with real data or delete it")
    if spec.name == "events" and {"event_type", "phase"} <= set(typed):
        progression = typed["event_type"] == "progression"
        has_phase = typed["phase"].notna()
        problems += _masked(source, texts["phase"], progression & ~has_phase, "phase",
                            "required for a progression: initial or salvage")
        problems += _masked(source, texts["phase"], typed["event_type"].notna() & ~progression
                            & has_phase, "phase", "only a progression has a phase: leave it empty")
    if spec.name == "performance_status":
        given = [typed[c].notna() for c in ("ecog", "karnofsky_pct") if c in typed]
        none = ~np.logical_or.reduce(given) if given else pd.Series(True, index=typed.index)
        problems += _masked(source, blank, pd.Series(none, index=typed.index), "ecog, karnofsky (%)",
                            "give ECOG or Karnofsky")
    return problems


@dataclass
class _Typed:
    """One table's rows after cell parsing: canonical values, row numbers, problems."""

    table: str
    source: str
    frame: pd.DataFrame        # spec columns present + _row, _source, _bad
    present: tuple[str, ...]   # spec columns the input carries


def _parse_table(raw: RawTable) -> tuple[_Typed, list[dict]]:
    spec = TABLES[raw.table]
    mapped, problems = _map_headers(spec, raw)
    cells = raw.cells.loc[(raw.cells != "").any(axis=1)] if len(raw.cells.columns) else raw.cells
    typed = pd.DataFrame(index=cells.index)
    texts = pd.DataFrame(index=cells.index)
    cell_problems: list[dict] = []
    for pos, (col, unit) in mapped.items():
        texts[col.name] = cells[pos] if pos in cells else ""
        typed[col.name], found = _parse_column(col, unit, texts[col.name], raw.source, raw.decimal_comma)
        cell_problems += found
    present = tuple(c.name for c in spec.columns if c.name in typed)
    for col in spec.columns:  # a key column the file lacks holds its empty value (label "")
        if col.name in spec.key and col.name not in typed:
            texts[col.name], typed[col.name] = "", col.empty
    cell_problems += _row_rules(spec, typed, texts, raw.source)
    bad_rows = {p["Row"] for p in cell_problems}
    typed["_row"] = typed.index
    typed["_source"] = raw.source
    # Without a required column no row is complete: leave the rows out of cross-row checks.
    incomplete = any(c.required and c.name not in present for c in spec.columns)
    typed["_bad"] = incomplete | typed.index.isin(list(bad_rows))
    return _Typed(raw.table, raw.source, typed.reset_index(drop=True), present), problems + cell_problems


# ---- the store in natural-key form ------------------------------------------
def _read_tables(store: Store) -> Tables:
    if store.conn.in_transaction:  # inside a write: same snapshot, no new BEGIN
        return Tables(**{t: store.read(t) for t in schema.CLINICAL_TABLES})
    return store.read_all()


def natural_frames(tables: Tables) -> dict[str, pd.DataFrame]:
    """Store tables in import form: natural keys (no internal ids), canonical values, ``_pk``."""
    out = {}
    cycles = tables.cycles[["cycle_id", "patient_id", "cycle_number"]]
    for name, spec in TABLES.items():
        frame = tables.table(name)
        if name == "dosimetry":
            frame = frame.merge(cycles, on="cycle_id", how="left")
        nat = pd.DataFrame({"_pk": frame[schema.PRIMARY_KEYS[name]].to_numpy()}, index=frame.index)
        for col in spec.columns:
            values = frame[col.name]
            if col.kind == "date":
                days = pd.to_datetime(values)
                values = days.dt.strftime("%Y-%m-%d").astype(object).where(days.notna(), None)
            elif col.kind in ("int", "bool"):
                values = values.astype(float).round().astype("Int64")
            elif col.kind == "real":
                values = values.astype(float)
            else:
                values = values.astype(object).where(values.notna(), None)
            nat[col.name] = values
        out[name] = nat.reset_index(drop=True)
    return out


def export_frames(tables: Tables) -> dict[str, pd.DataFrame]:
    """Every clinical table in import form (store column names), sorted by natural key."""
    return {name: frame.drop(columns="_pk").sort_values(list(TABLES[name].key), kind="stable")
            .reset_index(drop=True) for name, frame in natural_frames(tables).items()}


def _keys(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """The natural key of each row as one string (parts joined by \\x1f; missing = "")."""
    parts = [frame[c].astype("string").fillna("").astype(object) for c in columns]
    if not parts:
        return pd.Series("", index=frame.index)
    key = parts[0]
    for part in parts[1:]:
        key = key + "\x1f" + part
    return key


def _key_text(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """A natural key for people: values joined by ' / ' (an empty label stays empty)."""
    return _keys(frame, columns).str.replace("\x1f", " / ", regex=False).str.rstrip(" /")


def _same(a: pd.Series, b: pd.Series, kind: str) -> pd.Series:
    both_missing = a.isna().to_numpy() & b.isna().to_numpy()
    if kind == "real":
        x, y = a.astype(float).to_numpy(), b.astype(float).to_numpy()
        return pd.Series(both_missing | np.isclose(x, y, rtol=1e-9, atol=0.0), index=a.index)
    both = ~a.isna().to_numpy() & ~b.isna().to_numpy()
    equal = np.zeros(len(a), dtype=bool)
    equal[both] = np.asarray(a.astype(object).to_numpy()[both] == b.astype(object).to_numpy()[both],
                             dtype=bool)
    return pd.Series(both_missing | equal, index=a.index)


# ---- checks across rows and tables ------------------------------------------
def _blame(pairs: pd.DataFrame, column: str, reason_first: pd.Series, reason_second: pd.Series,
           column_second: str | None = None) -> list[dict]:
    """For each violating pair (columns *_1 for one row, *_2 for the other), flag the
    changed row: the first if changed, else the second."""
    problems = []
    for i in range(len(pairs)):
        row = pairs.iloc[i]
        for side, reason, col in (("1", reason_first.iloc[i], column),
                                  ("2", reason_second.iloc[i], column_second or column)):
            if row[f"_changed_{side}"]:
                problems.append(_problem(row[f"_source_{side}"], row[f"_row_{side}"], col,
                                         row[f"{col}_{side}"], reason))
                break
    return problems


def _duplicates(frame: pd.DataFrame, spec: TableSpec) -> list[dict]:
    """Rows sharing a natural key; each changed one is reported with the others' rows."""
    problems = []
    key = _keys(frame, spec.key)
    dups = frame.assign(_key=key)[key.duplicated(keep=False).to_numpy()]
    for value, group in dups.groupby("_key", sort=False):
        for i in group.index[group["_changed"].astype(bool).to_numpy()]:
            others = group.drop(index=i)
            where = ", ".join("an existing row" if pd.isna(r) else f"row {r}"
                              if s == group.at[i, "_source"] else f"{s} row {r}"
                              for s, r in zip(others["_source"], others["_row"]))
            problems.append(_problem(group.at[i, "_source"], group.at[i, "_row"],
                                     ", ".join(spec.key), value.replace("\x1f", " / ").rstrip(" /"),
                                     "duplicate key: also " + where))
    return problems


def _cross_checks(merged: dict[str, pd.DataFrame], known: dict[str, set], *,
                  duplicates: bool) -> list[dict]:
    """Duplicates, unknown references, date order: problems on changed rows only."""
    problems: list[dict] = []
    for name, frame in merged.items():
        spec = TABLES[name]
        changed = frame["_changed"].astype(bool)
        if duplicates:
            problems += _duplicates(frame, spec)
        if name != "patients":
            unknown = changed & ~frame["patient_id"].isin(known["patients"])
            problems += [_problem(s, r, "patient_id", p, "unknown patient: not in the patients "
                                  "table or the database") for s, r, p in
                         zip(frame["_source"][unknown], frame["_row"][unknown], frame["patient_id"][unknown])]
        if name == "dosimetry":
            cyc = _keys(frame, ("patient_id", "cycle_number"))
            missing = changed & frame["patient_id"].isin(known["patients"]) & ~cyc.isin(known["cycles"])
            problems += [_problem(s, r, "cycle_number", c, f"patient {p} has no cycle {c}")
                         for s, r, p, c in zip(frame["_source"][missing], frame["_row"][missing],
                                               frame["patient_id"][missing], frame["cycle_number"][missing])]
    labs = merged["labs"]
    empty = labs["_changed"].astype(bool) & labs[[c.name for c in TABLES["labs"].columns[2:]]].isna().all(axis=1)
    problems += [_problem(s, r, "lab values", None, "no lab value in this row")
                 for s, r in zip(labs["_source"][empty], labs["_row"][empty])]
    problems += _cycle_order(merged["cycles"])
    problems += _assessment_order(merged["assessments"])
    problems += _after_death(merged)
    return problems


def _cycle_order(cycles: pd.DataFrame) -> list[dict]:
    c = cycles.dropna(subset=["cycle_number", "cycle_date"]).sort_values(["patient_id", "cycle_number"])
    later, earlier = c.iloc[1:].reset_index(drop=True), c.iloc[:-1].reset_index(drop=True)
    same = later["patient_id"].to_numpy() == earlier["patient_id"].to_numpy()
    pairs = later.add_suffix("_1").join(earlier.add_suffix("_2"))[same]
    if pairs.empty:
        return []
    problems = []
    bad_date = pairs[pairs["cycle_date_1"] <= pairs["cycle_date_2"]]
    problems += _blame(bad_date, "cycle_date",
                       "not after cycle " + bad_date["cycle_number_2"].astype(str) + " on " + bad_date["cycle_date_2"],
                       "not before cycle " + bad_date["cycle_number_1"].astype(str) + " on " + bad_date["cycle_date_1"])
    bad_phase = pairs[(pairs["phase_1"] == "initial") & (pairs["phase_2"] == "salvage")]
    problems += _blame(bad_phase, "phase",
                       "an initial cycle after salvage cycle " + bad_phase["cycle_number_2"].astype(str),
                       "a salvage cycle before initial cycle " + bad_phase["cycle_number_1"].astype(str))
    return problems


def _assessment_order(assessments: pd.DataFrame) -> list[dict]:
    a = assessments.dropna(subset=["assessment_date", "phase", "role"])
    follow, base = a[a["role"] == "follow-up"], a[a["role"] == "baseline"]
    pairs = follow.add_suffix("_1").merge(base.add_suffix("_2"), left_on=["patient_id_1", "phase_1"],
                                          right_on=["patient_id_2", "phase_2"])
    pairs = pairs[pairs["assessment_date_1"] <= pairs["assessment_date_2"]]
    return _blame(pairs, "assessment_date",
                  "not after the " + pairs["phase_1"] + " baseline on " + pairs["assessment_date_2"],
                  "baseline not before the " + pairs["phase_1"] + " follow-up on " + pairs["assessment_date_1"])


def _after_death(merged: dict[str, pd.DataFrame]) -> list[dict]:
    events = merged["events"]
    death = events[events["event_type"] == "death"].dropna(subset=["event_date"])
    problems = []
    for name, spec in TABLES.items():
        if spec.date is None or death.empty:
            continue
        rows = merged[name].dropna(subset=[spec.date])
        pairs = rows.add_suffix("_1").merge(death.add_suffix("_2"), left_on="patient_id_1",
                                            right_on="patient_id_2")
        pairs = pairs[pairs[f"{spec.date}_1"] > pairs["event_date_2"]]
        problems += _blame(pairs, spec.date, "after the patient's death on " + pairs["event_date_2"],
                           "death before a " + name + " record on " + pairs[f"{spec.date}_1"],
                           column_second="event_date")
    return problems


# ---- plans ------------------------------------------------------------------
@dataclass
class Plan:
    """What an import or an edit would do, or the problems that stop it."""

    problems: pd.DataFrame
    inserts: dict[str, pd.DataFrame] = field(default_factory=dict)
    updates: dict[str, list[tuple[Any, dict]]] = field(default_factory=dict)
    deletes: dict[str, list[Any]] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    changes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["Table", "Key", "Action", "Changes"]))

    @property
    def ok(self) -> bool:
        return self.problems.empty

    @property
    def n_writes(self) -> int:
        return (sum(len(f) for f in self.inserts.values()) + sum(map(len, self.updates.values()))
                + sum(map(len, self.deletes.values())))

    def summary(self) -> pd.DataFrame:
        """Rows added, updated, deleted and unchanged per table."""
        names = [t for t in schema.CLINICAL_TABLES if t in set(self.inserts) | set(self.updates)
                 | set(self.deletes) | set(self.unchanged)]
        return pd.DataFrame({"Table": names,
                             "Added": [len(self.inserts.get(t, ())) for t in names],
                             "Updated": [len(self.updates.get(t, ())) for t in names],
                             "Deleted": [len(self.deletes.get(t, ())) for t in names],
                             "Unchanged": [self.unchanged.get(t, 0) for t in names]})


def _changes_text(spec: TableSpec, row: pd.Series, old: pd.Series, columns: Sequence[str]) -> str:
    def show(v: Any) -> str:
        return "—" if v is None or pd.isna(v) else f"{v:g}" if isinstance(v, float) else str(v)
    return "; ".join(f"{spec.column(c).header}: {show(old[c])} → {show(row[c])}" for c in columns)


def _diff(spec: TableSpec, new: pd.DataFrame, old: pd.DataFrame, on: str, present: Sequence[str]):
    """Match ``new`` rows to ``old`` on column ``on``; return inserts, updates, unchanged, change log."""
    old = old.set_index(on, drop=False)
    matched = new[on].isin(old.index) & new[on].notna()
    inserts = new[~matched]
    label = _key_text(new, spec.key)
    updates, log_rows, unchanged = [], [], 0
    if matched.any():
        upd = new[matched]
        before = old.loc[upd[on].to_numpy()].set_axis(upd.index)
        differs = pd.DataFrame({c: ~_same(upd[c], before[c], spec.column(c).kind) for c in present})
        for i in upd.index[differs.any(axis=1).to_numpy()]:
            cols = [c for c in present if differs.at[i, c]]
            changes = {c: _plain(upd.at[i, c]) for c in cols}
            updates.append((_pk_of(before.at[i, "_pk"]), changes))
            log_rows.append([spec.name, label.at[i], "update",
                             _changes_text(spec, upd.loc[i], before.loc[i], cols)])
        unchanged = int((~differs.any(axis=1)).sum())
    log_rows += [[spec.name, k, "add", ""] for k in label[~matched]]
    return inserts, updates, unchanged, log_rows


def _pk_of(value: Any) -> Any:
    """An internal key as stored: int for integer keys, text for patient ids, None if new."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (float, np.floating, np.integer)):
        return int(value)
    return value


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _merge_view(store_nat: dict[str, pd.DataFrame], changed: dict[str, pd.DataFrame],
                drop_pks: dict[str, set], drop_keys: dict[str, set]) -> dict[str, pd.DataFrame]:
    """The store as it would be after the change: changed rows replace stored ones (by
    internal key or by natural key); a changed row lacking a column keeps the stored value."""
    merged = {}
    for name, frame in store_nat.items():
        spec = TABLES[name]
        keys = _keys(frame, spec.key)
        keep = ~frame["_pk"].isin(drop_pks.get(name, set()))
        if name in drop_keys:
            keep &= ~keys.isin(drop_keys[name])
        base = frame[keep].assign(_changed=False, _row=pd.NA, _source=None)
        parts = [base]
        if name in changed:
            new = changed[name].assign(_changed=True)
            absent = [c.name for c in spec.columns if c.name not in new]
            if absent:
                stored = frame[absent].set_axis(keys.to_numpy())
                new_keys = _keys(new, spec.key).to_numpy()
                found = pd.Series(new_keys).isin(stored.index).to_numpy()
                for col in absent:
                    new[col] = None
                    new.loc[found, col] = stored.loc[new_keys[found], col].to_numpy()
            for col in spec.columns:  # same dtypes as the store side, so concat keeps them
                if col.name in new and new[col.name].dtype != base[col.name].dtype:
                    new[col.name] = new[col.name].astype(base[col.name].dtype)
            parts = [part for part in (base, new) if len(part)] or [base]
        merged[name] = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
        for col in TABLES[name].columns:
            if col.name not in merged[name]:
                merged[name][col.name] = None
    return merged


def _known(merged: dict[str, pd.DataFrame], typed: Mapping[str, _Typed]) -> dict[str, set]:
    """Patients and cycles that exist after the change (or are named in the input at all)."""
    patients = set(merged["patients"]["patient_id"].dropna())
    cycles = set(_keys(merged["cycles"], ("patient_id", "cycle_number")))
    if "patients" in typed:
        patients |= set(typed["patients"].frame["patient_id"].dropna())
    if "cycles" in typed:
        f = typed["cycles"].frame.dropna(subset=["patient_id", "cycle_number"])
        cycles |= set(_keys(f, ("patient_id", "cycle_number")))
    return {"patients": patients, "cycles": cycles}


def _plan(store: Store, parsed: Parsed) -> Plan:
    problems = list(parsed.problems)
    typed: dict[str, _Typed] = {}
    for name, raw in parsed.tables.items():
        t, found = _parse_table(raw)
        typed[name] = t
        problems += found
    store_nat = natural_frames(_read_tables(store))
    good = {n: t.frame[~t.frame["_bad"]].drop(columns="_bad") for n, t in typed.items()}
    merged = _merge_view(store_nat, good, {}, {n: set(_keys(f, TABLES[n].key)) for n, f in good.items()})
    problems += _cross_checks(merged, _known(merged, typed), duplicates=False)
    for name, t in typed.items():  # duplicates within the files, valid rows or not
        keyed = t.frame.dropna(subset=[c for c in TABLES[name].key if c != "phase"])
        problems += _duplicates(keyed.assign(_changed=True), TABLES[name])
    if not parsed.tables and not problems:
        problems.append(_problem("", None, None, None, "no table found in the files"))
    plan = Plan(_problem_frame(problems))
    if not plan.ok:
        return plan
    log_rows = []
    for name, t in typed.items():
        spec, frame = TABLES[name], good[name].copy()
        old = store_nat[name].assign(_key=_keys(store_nat[name], spec.key))
        frame["_key"] = _keys(frame, spec.key)
        present = [c for c in t.present if c not in spec.key]
        inserts, updates, unchanged, rows = _diff(spec, frame, old, "_key", present)
        plan.inserts[name] = inserts[[c.name for c in spec.columns if c.name in inserts]]
        plan.updates[name], plan.unchanged[name] = updates, unchanged
        log_rows += rows
    plan.changes = pd.DataFrame(log_rows, columns=["Table", "Key", "Action", "Changes"])
    return plan


def _apply(store: Store, plan: Plan, *, actor: Actor, action: str) -> None:
    """Write a checked plan as ``actor`` (call inside ``store.transaction(actor)``): deletes, updates, inserts."""
    for name in reversed(schema.CLINICAL_TABLES):
        for pk in plan.deletes.get(name, ()):
            store.delete(name, pk, actor=actor)
    for name in schema.CLINICAL_TABLES:
        for pk, changes in plan.updates.get(name, ()):
            if name == "dosimetry" and {"patient_id", "cycle_number"} & set(changes):
                changes = dict(changes)
                row = store.conn.execute("SELECT c.patient_id, c.cycle_number FROM dosimetry d JOIN cycles c "
                                         "USING (cycle_id) WHERE d.dosimetry_id = ?", (pk,)).fetchone()
                pid, number = changes.pop("patient_id", row[0]), changes.pop("cycle_number", row[1])
                changes["cycle_id"] = _cycle_ids(store).get((pid, int(number)))
            if changes:
                store.update(name, pk, changes, actor=actor)
        rows = plan.inserts.get(name)
        if rows is not None and len(rows):
            if name == "dosimetry":
                ids = _cycle_ids(store)
                rows = rows.assign(cycle_id=[ids[(p, int(c))] for p, c in
                                             zip(rows["patient_id"], rows["cycle_number"])])
                rows = rows.drop(columns=["patient_id", "cycle_number"])
            store.insert({name: rows}, actor=actor, action=action, audit_rows=True)


def _cycle_ids(store: Store) -> dict[tuple[str, int], int]:
    return {(p, n): i for i, p, n in store.conn.execute(
        "SELECT cycle_id, patient_id, cycle_number FROM cycles")}


def check_import(store: Store, parsed: Parsed) -> Plan:
    """Validate parsed files against the store (a dry run): the plan or the problems."""
    return _plan(store, parsed)


def commit_import(store: Store, parsed: Parsed, *, actor: Actor) -> Plan:
    """Validate again under the write lock and write everything in one transaction.

    Raises :class:`ImportRejected` (nothing written) when any problem is found, and
    ``AccessDenied`` when ``actor`` is not an editor.
    """
    with store.transaction(actor):
        plan = _plan(store, parsed)
        if not plan.ok:
            raise ImportRejected(plan)
        _apply(store, plan, actor=actor, action="import")
    log.info("import: %d rows written", plan.n_writes)
    return plan


def import_files(store: Store, files: Iterable[tuple[str, bytes]], *, actor: Actor,
                 dry_run: bool = False) -> Plan:
    """Read, validate and (unless ``dry_run``) write files; see :func:`commit_import`."""
    parsed = read_files(files)
    return check_import(store, parsed) if dry_run else commit_import(store, parsed, actor=actor)


# ---- editing (the Data page) ------------------------------------------------
def editable_frame(tables: Tables, table: str,
                   patient_id: str | None = None) -> pd.DataFrame:
    """One table in import form for ``st.data_editor``: dates as datetime, flags as bool,
    internal key in ``_pk``, index = row number from 1."""
    spec = TABLES[table]
    frame = natural_frames(tables)[table]
    if patient_id is not None:
        frame = frame[frame["patient_id"] == patient_id]
    frame = frame.sort_values(list(spec.key), kind="stable")
    for col in spec.columns:
        if col.kind == "date":
            frame[col.name] = pd.to_datetime(frame[col.name])
        elif col.kind == "bool":
            frame[col.name] = frame[col.name].astype("boolean")
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    return frame[[c.name for c in spec.columns] + ["_pk"]]


def _edit_plan(store: Store, table: str, original: pd.DataFrame, edited: pd.DataFrame,
               conflicts: bool) -> Plan:
    spec, source = TABLES[table], f"{table} (editor)"
    store_nat = natural_frames(_read_tables(store))
    current = store_nat[table]
    columns = [c.name for c in spec.columns]

    def typed_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
        cells = frame[columns].apply(lambda s: s.map(_cell_text)).astype(object)
        cells.columns = range(len(columns))
        raw = RawTable(table, source, columns, _clean_text(cells))
        t, found = _parse_table(raw)
        pks = frame["_pk"].reindex(t.frame["_row"].to_numpy())
        t.frame["_pk"] = pd.Series([_pk_of(v) for v in pks], index=t.frame.index, dtype=object)
        return t.frame, found

    shown = {_pk_of(v) for v in original["_pk"].dropna()}
    kept = {_pk_of(v) for v in edited["_pk"].dropna()} & shown
    deleted = sorted(shown - kept)
    typed, problems = typed_rows(edited)
    new_rows = typed[typed["_pk"].isna()]
    old_rows = typed[typed["_pk"].notna()]
    if table == "patients":
        renamed = old_rows[old_rows["patient_id"] != old_rows["_pk"]]
        problems += [_problem(source, r, "patient_id", v, f"a patient id cannot be changed (was {k}): "
                              "add the patient anew and delete the old row")
                     for r, v, k in zip(renamed["_row"], renamed["patient_id"], renamed["_pk"])]
    by_pk = current.set_index("_pk", drop=False)
    exists = old_rows["_pk"].isin(by_pk.index)
    compared = old_rows[exists]
    before = by_pk.loc[compared["_pk"].to_numpy()].set_axis(compared.index)
    differs = pd.concat([~_same(compared[c], before[c], spec.column(c).kind) for c in columns],
                        axis=1).any(axis=1) if len(compared) else pd.Series(False, index=compared.index)
    changed = pd.concat([new_rows, compared[differs.to_numpy()]])
    # Only new and changed rows are checked: untouched rows are as the store holds them.
    changed_rows = set(changed["_row"])
    problems = [p for p in problems if p["Row"] is None or p["Row"] in changed_rows]
    if conflicts:
        orig_typed, _ = typed_rows(original)
        gone = sorted((set(orig_typed["_pk"]) - set(by_pk.index)))
        problems += [_problem(source, None, None, pk, "deleted by someone else since you opened "
                              "the table: reload") for pk in gone]
        touched = set(compared.loc[differs.to_numpy(), "_pk"]) | set(deleted)
        o = orig_typed[orig_typed["_pk"].isin(touched) & orig_typed["_pk"].isin(by_pk.index)]
        now = by_pk.loc[o["_pk"].to_numpy()].set_axis(o.index)
        moved = pd.concat([~_same(o[c], now[c], spec.column(c).kind) for c in columns],
                          axis=1).any(axis=1) if len(o) else pd.Series(False, index=o.index)
        problems += [_problem(source, r, None, k, "changed by someone else since you opened the "
                              "table: reload") for r, k in zip(o["_row"][moved.to_numpy()],
                                                             _key_text(o, spec.key)[moved.to_numpy()])]
    good = changed[~changed["_bad"]].drop(columns="_bad")
    merged = _merge_view(store_nat, {table: good}, {table: set(deleted) | set(good["_pk"].dropna())}, {})
    problems += _cross_checks(merged, _known(merged, {}), duplicates=True)
    plan = Plan(_problem_frame(problems))
    if not plan.ok:
        return plan
    inserts, updates, _, log_rows = _diff(spec, good, current, "_pk", columns)
    plan.inserts[table] = inserts[columns]
    plan.updates[table] = updates
    plan.deletes[table] = deleted
    plan.unchanged[table] = len(kept) - len(updates)
    gone_rows = current[current["_pk"].isin(deleted)]
    log_rows += [[table, k, "delete", ""] for k in _key_text(gone_rows, spec.key)]
    plan.changes = pd.DataFrame(log_rows, columns=["Table", "Key", "Action", "Changes"])
    return plan


def check_edits(store: Store, table: str, original: pd.DataFrame, edited: pd.DataFrame) -> Plan:
    """Validate an edited table (from :func:`editable_frame`) the way an import is validated."""
    return _edit_plan(store, table, original, edited, conflicts=True)


def commit_edits(store: Store, table: str, original: pd.DataFrame, edited: pd.DataFrame, *,
                 actor: Actor) -> Plan:
    """Write the edits in one transaction after re-checking them, and refusing rows that
    someone else changed since ``original`` was read. Raises :class:`ImportRejected`."""
    with store.transaction(actor):
        plan = _edit_plan(store, table, original, edited, conflicts=True)
        if not plan.ok:
            raise ImportRejected(plan)
        _apply(store, plan, actor=actor, action="insert")
    log.info("edit of %s: %d rows written", table, plan.n_writes)
    return plan


def cascade_counts(tables: Tables, table: str, pks: Sequence[Any]) -> dict[str, int]:
    """Rows of other tables that deleting ``pks`` of ``table`` removes with them (ON DELETE CASCADE)."""
    if table == "patients":
        cycles = tables.cycles.loc[tables.cycles["patient_id"].isin(pks), "cycle_id"]
        out = {t: int(tables.dosimetry["cycle_id"].isin(cycles).sum()) if t == "dosimetry"
               else int(tables.table(t)["patient_id"].isin(pks).sum()) for t in schema.CLINICAL_TABLES[1:]}
        return {t: n for t, n in out.items() if n}
    if table == "cycles":
        n = int(tables.dosimetry["cycle_id"].isin(pks).sum())
        return {"dosimetry": n} if n else {}
    return {}


def delete_text(tables: Tables, plan: Plan, table: str) -> str:
    """What a planned delete removes, in words, cascades included (for a confirmation)."""
    keys = plan.changes.loc[plan.changes["Action"] == "delete", "Key"]
    text = f"Delete {len(plan.deletes[table])} row(s) from **{table}**: {', '.join(keys)}."
    cascade = cascade_counts(tables, table, plan.deletes[table])
    if cascade:
        text += " This also deletes " + ", ".join(f"{n} {t} row(s)" for t, n in cascade.items()) + "."
    return text


# ---- template ---------------------------------------------------------------
def columns_table() -> pd.DataFrame:
    """The explanation of every column (the template's ``columns`` sheet)."""
    return pd.DataFrame([{
        "table": t.name, "column (header)": c.header, "required": "yes" if c.required else "no",
        "natural key": "yes" if c.name in t.key else "",
        "other accepted units": ", ".join(f"{c.stem} ({u.label})" for u in c.alternatives),
        "allowed values": c.allowed(), "description": c.description,
        "example": "" if c.example is None else str(c.example),
    } for t in TABLES.values() for c in t.columns])


def template_workbook() -> bytes:
    """The Excel import template: a sheet per table (header with units, one example row)
    and the ``columns`` sheet explaining each column, generated from :data:`TABLES`."""
    import openpyxl
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    book = openpyxl.Workbook()
    book.remove(book.active)
    for spec in TABLES.values():
        sheet = book.create_sheet(spec.name)
        for j, col in enumerate(spec.columns, start=1):
            sheet.cell(1, j, col.header).font = Font(bold=True)
            value = col.example
            if col.kind == "date" and value:
                value = dt.date.fromisoformat(value)
            cell = sheet.cell(2, j, value if value != "" else None)
            cell.font = Font(italic=True, color="808080")
            if col.kind == "date":
                cell.number_format = "yyyy-mm-dd"
            letter = get_column_letter(j)
            sheet.column_dimensions[letter].width = max(12, len(col.header) + 2)
            if col.kind in ("enum", "bool"):
                options = col.choices if col.kind == "enum" else ("1", "0")
                rule = DataValidation(type="list", formula1='"' + ",".join(options) + '"',
                                      allow_blank=not col.required)
                rule.add(f"{letter}2:{letter}5000")
                sheet.add_data_validation(rule)
        sheet.freeze_panes = "A2"
    info = book.create_sheet(EXPLANATION_SHEET)
    notes = [
        "Salvage PRRT Board import template. Row 1 of each table sheet is the header (keep it); "
        f"row 2 is an example (patient {EXAMPLE_PATIENT_ID}): replace or delete it.",
        "Use pseudonymous patient ids only: never names, birth dates or hospital numbers. Dates "
        "are YYYY-MM-DD. Write a value in another unit by changing the unit in the header, e.g. "
        "'creatinine (µmol/L)'. Leave a sheet empty (header only) or delete it if you have no data.",
        "Rows whose key already exists are updated; nothing is ever deleted by an import.",
        "",
    ]
    for i, note in enumerate(notes, start=1):
        info.cell(i, 1, note)
    table = columns_table()
    for j, name in enumerate(table.columns, start=1):
        info.cell(len(notes) + 1, j, name).font = Font(bold=True)
        info.column_dimensions[get_column_letter(j)].width = 60 if name == "description" else 24
    for i, row in enumerate(table.itertuples(index=False), start=len(notes) + 2):
        for j, value in enumerate(row, start=1):
            info.cell(i, j, value)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
