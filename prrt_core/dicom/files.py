"""Input files: folders, zip archives, paths and uploads flattened to ``(name, bytes)``, judged by content.

Any file name is accepted (DICOM files are often extension-less): a file is DICOM when it
has the ``DICM`` preamble, or when pydicom reads it with ``force=True`` and it carries a
SOP Class UID; NIfTI-1/2 (optionally gzipped) is recognised by its header magic. A file that
is neither (a PACS export's README, HTML/JS viewer, autorun.inf, .exe, .pdf, .jpg) is skipped
by :func:`dicom_dataset` (the caller names it); a file that starts as DICOM but cannot be read
(damaged, truncated, no SOP Class UID) is refused, never skipped.

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
# Zips inside the uploaded zip are not opened (no scanner, PACS or TotalSegmentator export nests its
# images; a PACS CD's viewer may be a .jar or a zip): they are skipped and named.
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
    (NIfTI) is unpacked once, kept by nothing, to hold it to the bounds. An archive inside an
    archive (a PACS CD's Java viewer ``.jar``, a zipped viewer) is not opened: it is returned as a
    file, which read_study skips and names as neither DICOM nor NIfTI."""
    if depth > MAX_NESTING and data[:4] == archives.ZIP_MAGIC:
        return [(label, data)]
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
    judged by content, whatever its name (read_study skips, and names, what is neither DICOM nor NIfTI).
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


# Media Storage Directory Storage (DICOM PS3.4 Annex B): a DICOMDIR names its class only in
# the file meta information (MediaStorageSOPClassUID), having no SOP Class UID of its own.
MEDIA_DIRECTORY = "1.2.840.10008.1.3.10"
# The first two bytes of a DICOM file without preamble: an element of group 0002 (file meta) or
# 0008, little- or big-endian. Elements are in ascending tag order (PS3.5 section 7.1) and SOP Class
# UID (0008,0016) is mandatory, so every usable stored object without preamble starts so.
_PREAMBLELESS_STARTS = (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08")
_UID = re.compile(r"[0-9]+(\.[0-9]+)+")


def looks_like_dicom(data: bytes) -> bool:
    """DICOM by its first bytes: ``DICM`` after the 128-byte preamble (or an all-zero preamble
    followed by a cut-off ``DICM``), or, without preamble, a first element of group 0002 or 0008."""
    if data[128:132] == b"DICM" or data[:2] in _PREAMBLELESS_STARTS:
        return True
    return len(data) > 128 and not any(data[:128]) and b"DICM".startswith(data[128:132])


def sop_class_uid(ds: Dataset) -> str:
    """The SOP Class UID (0008,0016); for a DICOMDIR, which has none, its MediaStorageSOPClassUID."""
    sop_class = str(ds.get("SOPClassUID", "") or "")
    if not sop_class:
        meta = getattr(ds, "file_meta", None)
        media = str(meta.get("MediaStorageSOPClassUID", "") or "") if meta is not None else ""
        sop_class = media if media == MEDIA_DIRECTORY else ""
    return sop_class


def dicom_dataset(name: str, data: bytes) -> Dataset | None:
    """Parse one file as DICOM; None when it is not DICOM by content (the caller skips and names it).

    Only a file that looks like DICOM (:func:`looks_like_dicom`) is parsed (with ``force=True``
    when it has no preamble). A Part 10 file (``DICM`` marker) that then cannot be read or has no
    valid SOP Class UID is refused (DicomError naming the file and tag): damaged or hostile DICOM
    is never skipped. A file without the marker that does not read as DICOM is not DICOM (None).
    """
    if not looks_like_dicom(data):
        return None
    has_preamble = data[128:132] == b"DICM"
    # A Part 10 file (DICM after the preamble, or a zero preamble cut inside DICM) is DICOM for sure:
    # damaged, it is refused. Without the marker only the first two bytes said DICOM: a file that
    # then does not read as DICOM with a SOP Class UID is some other binary file, skipped.
    part10 = has_preamble or (len(data) > 128 and not any(data[:128]))
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=not has_preamble)
        sop_class = sop_class_uid(ds)
    except Exception as exc:  # noqa: BLE001 - any parser failure of a file that starts as DICOM
        if not part10:
            return None
        raise DicomError(name, None, f"a damaged DICOM file (unreadable: {type(exc).__name__})") from None
    if not _UID.fullmatch(sop_class):
        if not part10:
            return None
        raise DicomError(name, "SOPClassUID", "missing or not a UID in a file that starts as DICOM: "
                         "damaged or truncated")
    return ds


def read_dataset(name: str, data: bytes) -> Dataset:
    """Parse one file as DICOM (:func:`dicom_dataset`); a file that is not DICOM is refused too."""
    ds = dicom_dataset(name, data)
    if ds is None:
        raise DicomError(name, None, f"not a DICOM file (no 'DICM' preamble and no valid {tag_label('SOPClassUID')})")
    return ds
