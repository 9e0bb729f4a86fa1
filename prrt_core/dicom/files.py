"""Input files: folders, zip archives, paths and uploads flattened to ``(name, bytes)``, judged by content.

Any file name is accepted (DICOM files are often extension-less): a file is DICOM when it
has the ``DICM`` preamble, or when pydicom reads it with ``force=True`` and it carries a
SOP Class UID; NIfTI-1/2 (optionally gzipped) is recognised by its header magic.

Zips and gzip streams are unpacked by :class:`prrt_core.archives.Unpacker` within the bounds
below, one byte counter per call of :func:`collect_files`; a zip inside a zip is refused, a
gzip stream inside a zip is checked like any other. A refusal is a DicomError naming the
archive and the member.
"""
from __future__ import annotations

import io
import os
import re
from collections.abc import Sequence
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from prrt_core import archives
from prrt_core.errors import DicomError, InputError, tag_label

Source = str | os.PathLike | tuple[str, bytes]

# Bounds of one DICOM input (one call of collect_files), as unpacked from its zips and gzip streams.
MiB = archives.MiB
# The largest real study, 4-5 SPECT/CT time points of 128x128x128 float32 with their CT and
# masks, is about 600 MB (.streamlit/config.toml, maxUploadSize): 1 GiB leaves room for it.
MAX_UNPACKED_BYTES = 1024 * MiB
# The largest single object: an RTDOSE or a label map on a CT grid, 512x512x500 float32 = 500 MiB.
MAX_MEMBER_BYTES = 512 * MiB
# Per-slice exports: 5 time points x (CT + PET) series x ~1,000 slices = 10,000 files; twice that.
MAX_MEMBERS = 20_000
# No scanner, PACS or TotalSegmentator export nests zips: a zip inside a zip is refused.
MAX_NESTING = 0
LIMITS = archives.Limits(member_bytes=MAX_MEMBER_BYTES, members=MAX_MEMBERS, depth=MAX_NESTING)


def _is_skipped(name: str) -> bool:
    parts = Path(name).parts
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _is_gzip(data: bytes) -> bool:
    """A gzip stream by its magic; a DICOM file whose 128-byte preamble starts alike is not one."""
    return data[:2] == archives.GZIP_MAGIC and data[128:132] != b"DICM"


def _as_dicom_error(exc: InputError) -> DicomError:
    """An archive's refusal (prrt_core.archives.refusal) as a DicomError naming the archive and member."""
    return DicomError(exc.where, None, exc.problem)


def _unpacked(unpacker: archives.Unpacker, label: str, data: bytes, depth: int = 0) -> list[tuple[str, bytes]]:
    """The members of a zip archive (by its ``PK`` signature), else the file itself; a gzip stream
    (NIfTI) is unpacked once, kept by nothing, to hold it to the bounds."""
    try:
        if data[:4] != archives.ZIP_MAGIC:
            if _is_gzip(data):
                unpacker.gunzip(label, data, LIMITS, keep=False)
            return [(label, data)]
        members = unpacker.zip_members(label, data, LIMITS, depth=depth, skip=_is_skipped)
    except InputError as exc:
        raise _as_dicom_error(exc) from None
    return [file for name, member in members for file in _unpacked(unpacker, name, member, depth + 1)]


def collect_files(inputs: Source | Sequence[Source]) -> list[tuple[str, bytes]]:
    """Flatten folders, zip archives, paths and (name, bytes) pairs into (name, bytes) files.

    Hidden files and ``__MACOSX`` folders are skipped; everything else is returned and
    judged by content, whatever its name.
    """
    if isinstance(inputs, (str, os.PathLike)) or (isinstance(inputs, tuple) and len(inputs) == 2
                                                    and isinstance(inputs[1], (bytes, bytearray))):
        inputs = [inputs]
    files: list[tuple[str, bytes]] = []
    unpacker = archives.Unpacker(MAX_UNPACKED_BYTES)
    for item in inputs:
        if isinstance(item, tuple):
            files.extend(_unpacked(unpacker, str(item[0]), bytes(item[1])))
            continue
        path = Path(item)
        if path.is_dir():
            for member in sorted(p for p in path.rglob("*") if p.is_file()):
                rel = member.relative_to(path)
                if not _is_skipped(str(rel)):
                    files.extend(_unpacked(unpacker, f"{path.name}/{rel}", member.read_bytes()))
        elif path.is_file():
            files.extend(_unpacked(unpacker, path.name, path.read_bytes()))
        else:
            raise DicomError(str(path), None, "no such file or folder")
    return files


def nifti_bytes(data: bytes, name: str = "gzip file") -> bytes | None:
    """The uncompressed NIfTI bytes when the file is NIfTI-1/2 (by content), else None.

    A gzip stream is unpacked within :data:`LIMITS`; one it cannot read is refused (DicomError).
    """
    raw = data
    if _is_gzip(data):
        try:
            raw = archives.Unpacker(MAX_UNPACKED_BYTES).gunzip(name, data, LIMITS)
        except InputError as exc:
            raise _as_dicom_error(exc) from None
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
