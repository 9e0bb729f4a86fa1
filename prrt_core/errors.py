"""The one error hierarchy of prrt_core: pages and the command line catch these, and only these.

``PrrtError`` is the base. ``InputError`` (also a ``ValueError``) is refused input: a file,
a cell, a DICOM tag, a setting, a backup; its message names where and what, and nothing
was written. ``AccessDenied`` (also a ``PermissionError``) is a write without an editor.
Anything else that escapes prrt_core is a programming error and is never shown to a user
as a message (see docs/architecture.md, "Errors").
"""
from __future__ import annotations

from typing import Any


class PrrtError(Exception):
    """Base of every error prrt_core raises on purpose."""


class InputError(PrrtError, ValueError):
    """Refused input; the message names the file/table, row, field or tag and the value."""


class AccessDenied(PrrtError, PermissionError):
    """A write attempted by an actor without the editor role (or by nobody)."""


class StoreError(InputError):
    """A write the store refused: names the table, row, field and value."""

    def __init__(self, table: str, field: str | None, value: Any, reason: str, row: int | None = None):
        self.table, self.field, self.value, self.reason, self.row = table, field, value, reason, row
        where = table if row is None else f"{table} row {row}"
        what = f"field {field} = {value!r}" if field else f"value {value!r}"
        super().__init__(f"{where}: {what} rejected: {reason}")


def tag_label(keyword: str) -> str:
    """'Units (0054,1001)' for a DICOM keyword; keywords pydicom does not know are returned as is."""
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(keyword)
    return keyword if tag is None else f"{keyword} ({tag >> 16:04X},{tag & 0xFFFF:04X})"


class DicomError(InputError):
    """A refused DICOM input: names the file, the DICOM tag (keyword and number) and the problem."""

    def __init__(self, file: str, tag: str | None, problem: str):
        self.file, self.tag, self.problem = file, tag, problem
        super().__init__(f"{file}: {tag_label(tag)}: {problem}" if tag else f"{file}: {problem}")


class ImportRejected(InputError):
    """Problems found in an import or edit: nothing was written. ``plan.problems`` lists every one
    (a table with the columns File, Row, Column, Value, Reason)."""

    def __init__(self, plan: Any):
        self.plan = plan
        super().__init__(f"{len(plan.problems)} problem(s), nothing written; first: "
                         + " | ".join(str(v) for v in plan.problems.iloc[0].tolist()))


class BackupError(InputError):
    """A file that cannot be used as a backup; the message says why."""


class ConfigError(InputError):
    """A configuration file (eligibility.toml, secrets) that cannot be used; the message says where."""


class ReportError(PrrtError):
    """A document that could not be produced (the tumour-board PDF: renderer missing, failed or too
    slow); the message says what to install or do instead."""


class PacsError(InputError):
    """A DICOMweb request to a PACS that failed or was refused: names the server (URL without
    credentials), the request (QIDO-RS/WADO-RS and the study/series UID) and what went wrong
    (unreachable, timeout, HTTP 401/403 credentials refused, too large, not DICOM). Never holds
    the PACS patient ID."""

    def __init__(self, server: str, request: str, problem: str):
        self.server, self.request, self.problem = server, request, problem
        super().__init__(f"PACS {server}: {request}: {problem}")
