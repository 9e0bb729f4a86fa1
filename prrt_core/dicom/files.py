"""Input files: folders, zip archives, paths and uploads flattened to ``(name, bytes)``, judged by content.

Any file name is accepted (DICOM files are often extension-less): a file is DICOM when it
has the ``DICM`` preamble, or when pydicom reads it with ``force=True`` and it carries a
SOP Class UID; NIfTI-1/2 (optionally gzipped) is recognised by its header magic.
"""
from __future__ import annotations

import gzip
import io
import os
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from prrt_core.errors import DicomError, tag_label

Source = str | os.PathLike | tuple[str, bytes]


def _is_skipped(name: str) -> bool:
    parts = Path(name).parts
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _zip_members(name: str, data: bytes) -> list[tuple[str, bytes]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise DicomError(name, None, f"not a readable zip archive ({exc})") from None
    with archive:
        return [(f"{name}/{info.filename}", archive.read(info)) for info in archive.infolist()
                if not info.is_dir() and not _is_skipped(info.filename)]


def _unpacked(label: str, data: bytes) -> list[tuple[str, bytes]]:
    """The members of a zip archive (by its ``PK`` signature), else the file itself."""
    return _zip_members(label, data) if data[:4] == b"PK\x03\x04" else [(label, data)]


def collect_files(inputs: Source | Sequence[Source]) -> list[tuple[str, bytes]]:
    """Flatten folders, zip archives, paths and (name, bytes) pairs into (name, bytes) files.

    Hidden files and ``__MACOSX`` folders are skipped; everything else is returned and
    judged by content, whatever its name.
    """
    if isinstance(inputs, (str, os.PathLike)) or (isinstance(inputs, tuple) and len(inputs) == 2
                                                    and isinstance(inputs[1], (bytes, bytearray))):
        inputs = [inputs]
    files: list[tuple[str, bytes]] = []
    for item in inputs:
        if isinstance(item, tuple):
            files.extend(_unpacked(str(item[0]), bytes(item[1])))
            continue
        path = Path(item)
        if path.is_dir():
            for member in sorted(p for p in path.rglob("*") if p.is_file()):
                rel = member.relative_to(path)
                if not _is_skipped(str(rel)):
                    files.extend(_unpacked(f"{path.name}/{rel}", member.read_bytes()))
        elif path.is_file():
            files.extend(_unpacked(path.name, path.read_bytes()))
        else:
            raise DicomError(str(path), None, "no such file or folder")
    return files


def nifti_bytes(data: bytes) -> bytes | None:
    """The uncompressed NIfTI bytes when the file is NIfTI-1/2 (by content), else None."""
    raw = data
    if data[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(data)
        except (OSError, EOFError):
            return None
    if len(raw) >= 348 and raw[344:348] in (b"n+1\x00", b"ni1\x00"):
        return raw
    if len(raw) >= 540 and raw[4:12] in (b"n+2\x00\r\n\x1a\n", b"ni2\x00\r\n\x1a\n"):
        return raw
    return None


def read_dataset(name: str, data: bytes) -> Dataset:
    """Parse one file as DICOM: the DICM preamble, or a forced read that yields a SOP Class UID."""
    has_preamble = data[128:132] == b"DICM"
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=not has_preamble)
        sop_class = str(ds.get("SOPClassUID", "") or "")
    except Exception as exc:  # noqa: BLE001 - any parser failure means "not DICOM" for the user
        raise DicomError(name, None, f"not a DICOM file (unreadable: {type(exc).__name__})") from None
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)+", sop_class):
        why = "no 'DICM' preamble and no valid " if not has_preamble else "no valid "
        raise DicomError(name, None, f"not a DICOM file ({why}{tag_label('SOPClassUID')})")
    return ds
