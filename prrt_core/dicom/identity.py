"""One patient per upload: identity elements compared transiently, never kept, logged or shown.

Patient name, ID and birth date are read raw (no pydicom value conversion or validation
warning that could quote them in a log) and only compared between the files of one upload.
"""
from __future__ import annotations

import re

from pydicom.dataset import Dataset

from prrt_core.errors import DicomError

_IDENTITY_KEYWORDS = ("PatientID", "PatientName", "PatientBirthDate")


def _raw_identity(ds: Dataset, keyword: str) -> str:
    """The stored text of an identity element, read raw: pydicom's value conversion (and any
    validation warning quoting the value in a log) is never triggered. Case, spaces and trailing
    name separators are normalised so vendor formatting is not a mismatch."""
    elem = ds.get_item(keyword)
    if elem is None or elem.value is None:
        return ""
    value = elem.value
    text = value.decode("latin-1", "replace") if isinstance(value, bytes) else str(value)
    return re.sub(r"[\s^\x00]+$", "", text.strip().upper())


def check_one_patient(datasets: list[tuple[str, Dataset]]) -> None:
    """Refuse files of different patients; the values are compared here and never kept or shown."""
    first_name, first_values = None, None
    for name, ds in datasets:
        values = tuple(_raw_identity(ds, k) for k in _IDENTITY_KEYWORDS)
        if not any(values):
            continue
        if first_values is None:
            first_name, first_values = name, values
        else:
            for keyword, a, b in zip(_IDENTITY_KEYWORDS, first_values, values):
                if a and b and a != b:
                    raise DicomError(name, keyword, f"differs from {first_name}: the files belong to different "
                                     "patients (values not shown)")
