"""Clinical data import and editing: every row validated before anything is written.

Input: CSV files named after their table (``patients.csv``, ``cycles.csv`` ...), an Excel
workbook with one sheet per table (the template from :func:`template_workbook`), or a zip of
such CSV files (the export of :func:`export_zip`; its audit.csv is skipped). Files carry natural
keys, never internal ids (see ``natural``). Validation is vectorised per column and reports every
problem at once as a table (File, Row, Column, Value, Reason); row 1 is the header. Nothing is
written unless there is no problem; then all rows are written in one transaction, which
re-checks everything under the write lock. Import never deletes; an edit may.

Modules
- ``spec``: the column specification :data:`TABLES`: kinds, units and their conversions, ranges, choices.
- ``problems``: a problem (File, Row, Column, Value, Reason) and the table of problems.
- ``files``: CSV, workbook and zip files -> :class:`RawTable` of cell text, in :class:`Parsed`; size limits.
- ``cells``: headers -> columns and units; cells -> typed values in canonical units, checked.
- ``natural``: the store in natural-key form, and as a change would leave it.
- ``checks``: checks across rows and tables: duplicate keys, references, date order, nothing after death.
- ``plan``: :class:`Plan`, the diff against the store, :func:`check_import`, :func:`commit_import`.
- ``edit``: the Data page's table editor: :func:`editable_frame`, :func:`check_edits`, :func:`commit_edits`.
- ``template``: the Excel import template and its explanation sheet.
- ``export``: every table as CSV in a zip, formula-like text neutralised.
- ``dosimetry_results``: a computed study's doses as a cycle's dosimetry rows (imported on its own).
"""
from prrt_core.errors import ImportRejected
from prrt_core.importer.edit import cascade_counts, check_edits, commit_edits, delete_text, editable_frame
from prrt_core.importer.export import export_zip, neutralise
from prrt_core.importer.files import MAX_FILE_MB, MAX_UNZIPPED_MB, Parsed, RawTable, read_files, read_paths
from prrt_core.importer.natural import export_frames, natural_frames
from prrt_core.importer.plan import Plan, check_import, commit_import, import_files
from prrt_core.importer.problems import PROBLEM_COLUMNS
from prrt_core.importer.spec import (
    EDITABLE_TABLES,
    EXAMPLE_PATIENT_ID,
    MAX_TEXT_CHARS,
    TABLES,
    ColumnKind,
    ColumnSpec,
    TableSpec,
    Unit,
)
from prrt_core.importer.template import EXPLANATION_SHEET, columns_table, template_workbook

__all__ = [
    "EXAMPLE_PATIENT_ID",
    "EXPLANATION_SHEET",
    "MAX_FILE_MB",
    "MAX_TEXT_CHARS",
    "MAX_UNZIPPED_MB",
    "PROBLEM_COLUMNS",
    "TABLES",
    "EDITABLE_TABLES",
    "ColumnKind",
    "ColumnSpec",
    "ImportRejected",
    "Parsed",
    "Plan",
    "RawTable",
    "TableSpec",
    "Unit",
    "cascade_counts",
    "check_edits",
    "check_import",
    "columns_table",
    "commit_edits",
    "commit_import",
    "delete_text",
    "editable_frame",
    "export_frames",
    "export_zip",
    "import_files",
    "natural_frames",
    "neutralise",
    "read_files",
    "read_paths",
    "template_workbook",
]
