"""The Excel import template, generated from :data:`~prrt_core.importer.spec.TABLES`: a sheet per
table (header with units, one example row, drop-down lists) and the explanation sheet."""
from __future__ import annotations

import datetime as dt
import io

import pandas as pd

from prrt_core.importer.spec import EXAMPLE_PATIENT_ID, TABLES, ColumnKind

EXPLANATION_SHEET = "columns"  # the sheet explaining every column; skipped on import


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
            if col.kind == ColumnKind.DATE and value:
                value = dt.date.fromisoformat(value)
            cell = sheet.cell(2, j, value if value != "" else None)
            cell.font = Font(italic=True, color="808080")
            if col.kind == ColumnKind.DATE:
                cell.number_format = "yyyy-mm-dd"
            letter = get_column_letter(j)
            sheet.column_dimensions[letter].width = max(12, len(col.header) + 2)
            if col.kind in (ColumnKind.ENUM, ColumnKind.BOOL):
                options = col.choices if col.kind == ColumnKind.ENUM else ("1", "0")
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
