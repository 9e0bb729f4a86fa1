"""The one reader of archives: zip members and gzip streams unpacked within stated bounds.

Every path of prrt_core that opens an archive goes through :class:`Unpacker`: the clinical-data
import (a zip of CSV files; an .xlsx workbook, which is a zip that openpyxl opens after
:meth:`Unpacker.check_zip` has read every part within the bounds) and DICOM input (zips of
series, gzipped NIfTI). The bounds of each kind of archive are the caller's named constants
(``importer/files.py``, ``dicom/files.py``), each with its figure and why.

Nothing here trusts a size an archive declares. Each member is streamed in chunks of
:data:`CHUNK_BYTES`, and a counter of the bytes actually produced stops it at the first chunk
over a bound: over the size its zip header declares (a header that lies is refused, never
believed), over the member bound, over the upload's total. Declared sizes only allow an early
refusal. The number of entries is counted from the raw central directory before zipfile
builds an object per entry, so a directory of millions of entries is refused unread.

Refused, naming the archive and the member: bad CRC, encrypted members, compression other than
stored or deflate (bzip2, LZMA and the rest: zipfile unpacks those without an output bound),
truncated or damaged data, names outside the archive (``../``, absolute paths, drive letters),
symbolic links, and archives nested deeper than the caller allows. A refusal is an
:class:`~prrt_core.errors.InputError` ``"upload.zip/export/labs.csv: <problem>"``, made by
:func:`refusal`; its ``where`` and ``problem`` attributes let a caller report it in its own
style (a DicomError, an import problem row).
"""
from __future__ import annotations

import copy
import gzip
import io
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

from prrt_core.errors import InputError

MiB = 2**20
# Unpacked per read: the most held beyond what is kept, whatever the compression ratio.
CHUNK_BYTES = 1 * MiB
ZIP_MAGIC, GZIP_MAGIC = b"PK\x03\x04", b"\x1f\x8b"
# Stored and deflate are what Windows, macOS, Excel, PACS exports and our own export write, and
# the only methods zipfile unpacks with a bound on each call's output.
READABLE_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
METHOD_NAMES = {9: "Deflate64", 12: "bzip2", 14: "LZMA", 93: "Zstandard", 95: "XZ", 98: "PPMd"}
ENCRYPTED_FLAGS = 0x1 | 0x40   # traditional and strong encryption (general-purpose flag bits 0 and 6)
AES_METHOD = 99                # WinZip AES: encryption disguised as a compression method
# What reading a damaged archive raises (zipfile, zlib, gzip, struct).
_DAMAGE = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError,
           NotImplementedError, RuntimeError, struct.error, OverflowError)


@dataclass(frozen=True)
class Limits:
    """Bounds of one kind of archive: the caller names each figure and why."""

    member_bytes: int   # one member (or gzip stream), as unpacked
    members: int        # entries of one archive, directories included
    depth: int          # archives inside the upload's archive that may be opened (0: none)


def refusal(where: str, problem: str) -> InputError:
    """An InputError ``"where: problem"``; ``where`` and ``problem`` are kept as attributes."""
    error = InputError(f"{where}: {problem}")
    error.where, error.problem = where, problem
    return error


def mb(n_bytes: int) -> str:
    """A size for a message, in MB (2**20 bytes)."""
    return f"{n_bytes / MiB:,.0f} MB" if n_bytes >= MiB else f"{n_bytes / MiB:.2f} MB"


class Unpacker:
    """Unpacks the archives of one upload, counting every byte it produces against ``total_bytes``.

    One Unpacker per upload (an import file, a DICOM input): its counter is shared by the
    upload's archive, the archives inside it and its gzip streams.
    """

    def __init__(self, total_bytes: int):
        self.total_bytes = total_bytes
        self.unpacked_bytes = 0

    # --- zip --------------------------------------------------------------------------------
    def zip_names(self, name: str, data: bytes, limits: Limits, *, depth: int = 0) -> list[str]:
        """The file names in the zip ``data`` (nothing unpacked), or a refusal of its directory."""
        with self._open(name, data, limits, depth) as archive:
            return [info.filename for info in archive.infolist() if not info.is_dir()]

    def zip_members(self, name: str, data: bytes, limits: Limits, *, depth: int = 0,
                    skip: Callable[[str], bool] | None = None) -> list[tuple[str, bytes]]:
        """``("name/member", bytes)`` of every file in the zip ``data`` (``depth``: archives around
        it), except those ``skip`` names, which are not read."""
        with self._open(name, data, limits, depth) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir() and not (skip and skip(i.filename))]
            self._check_declared(name, infos, limits)
            return [(f"{name}/{i.filename}", self._read_member(name, archive, i, keep=True)) for i in infos]

    def check_zip(self, name: str, data: bytes, limits: Limits, *, depth: int = 0) -> None:
        """Read every member of the zip ``data`` within the bounds, keeping none: for an archive that
        another reader (openpyxl) then opens, every part of it known to be sound and bounded."""
        with self._open(name, data, limits, depth) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
            self._check_declared(name, infos, limits)
            for info in infos:
                self._read_member(name, archive, info, keep=False)

    def _open(self, name: str, data: bytes, limits: Limits, depth: int) -> zipfile.ZipFile:
        if depth > limits.depth:
            nested = "an archive inside an archive" if depth == 1 else f"an archive nested {depth} levels deep"
            allowed = f"at most {limits.depth} level of nesting is read" if limits.depth else \
                "archives inside archives are not read here"
            raise refusal(name, f"{nested} ({allowed}): unpack it and upload what it holds")
        entries = _central_entries(data)
        if entries > limits.members:
            raise refusal(name, f"holds {entries:,} entries, more than the {limits.members:,} allowed: split it")
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except _DAMAGE as exc:
            raise refusal(name, f"not a readable zip archive ({_why(exc)})") from None
        try:
            infos = archive.infolist()
            if len(infos) > limits.members:
                raise refusal(name, f"holds {len(infos):,} entries, more than the {limits.members:,} allowed: split it")
            for info in infos:
                _vet(name, info)
        except InputError:
            archive.close()
            raise
        return archive

    def _check_declared(self, name: str, infos: list[zipfile.ZipInfo], limits: Limits) -> None:
        """Refuse early what the headers admit to (the counter still checks what is read)."""
        for info in infos:
            if info.file_size > limits.member_bytes:
                raise refusal(f"{name}/{info.filename}", f"unpacks to {mb(info.file_size)}, more than the "
                              f"{mb(limits.member_bytes)} allowed for one file: split it")
        declared = sum(info.file_size for info in infos)
        if self.unpacked_bytes + declared > self.total_bytes:
            raise refusal(name, f"unpacks to {mb(declared)}, more than the {mb(self.total_bytes)} allowed "
                          "for one upload: split it")

    def _read_member(self, name: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, keep: bool) -> bytes:
        where, declared = f"{name}/{info.filename}", info.file_size
        # zipfile stops a member at the size its header declares, and checks the CRC-32 there: let
        # it read two chunks further, so that a header that lies is seen here (the counter stops it
        # at the first chunk past the declared size) rather than believed.
        probe = copy.copy(info)
        probe.file_size = declared + 2 * CHUNK_BYTES
        count, kept = 0, io.BytesIO() if keep else None
        try:
            stream = archive.open(probe)
        except _DAMAGE as exc:
            raise refusal(where, f"cannot be read: truncated or damaged archive ({_why(exc)})") from None
        with stream:
            for chunk in _chunks(where, stream, "truncated or damaged archive"):
                count += len(chunk)
                if count > declared:
                    raise refusal(where, f"holds more than the {declared:,} bytes its zip header declares: "
                                  "a damaged or forged archive")
                self._count(where, len(chunk))
                if kept is not None:
                    kept.write(chunk)
        if count != declared:
            raise refusal(where, f"holds {count:,} bytes, not the {declared:,} its zip header declares: "
                          "truncated or damaged archive")
        return kept.getvalue() if kept is not None else b""

    # --- gzip -------------------------------------------------------------------------------
    def gunzip(self, name: str, data: bytes, limits: Limits, *, keep: bool = True) -> bytes:
        """The unpacked bytes of the gzip stream ``data`` (``b""`` when not ``keep``: only checked)."""
        count, kept = 0, io.BytesIO() if keep else None
        with gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as stream:
            for chunk in _chunks(name, stream, "not a readable gzip stream"):
                count += len(chunk)
                if count > limits.member_bytes:
                    raise refusal(name, f"unpacks to more than the {mb(limits.member_bytes)} allowed for one "
                                  "file: split it")
                self._count(name, len(chunk))
                if kept is not None:
                    kept.write(chunk)
        return kept.getvalue() if kept is not None else b""

    def _count(self, where: str, n_bytes: int) -> None:
        self.unpacked_bytes += n_bytes
        if self.unpacked_bytes > self.total_bytes:
            raise refusal(where, f"brings the upload over the {mb(self.total_bytes)} allowed unpacked: split it")


def _chunks(where: str, stream: IO[bytes], damaged: str) -> Iterator[bytes]:
    """The chunks of ``stream`` (at most :data:`CHUNK_BYTES` each), or a refusal naming ``where``."""
    while True:
        try:
            chunk = stream.read(CHUNK_BYTES)
        except _DAMAGE as exc:
            if "CRC" in str(exc):  # zipfile: "Bad CRC-32 for file ..."; gzip: "CRC check failed ..."
                raise refusal(where, f"fails its CRC-32 check: damaged ({_why(exc)})") from None
            raise refusal(where, f"cannot be read: {damaged} ({_why(exc)})") from None
        if not chunk:
            return
        yield chunk


def _vet(name: str, info: zipfile.ZipInfo) -> None:
    """Refuse an entry whatever its content: a name outside the archive, a link, encryption, a method."""
    where = f"{name}/{info.filename}"
    path = info.filename.replace("\\", "/")
    if path.startswith("/") or re.match(r"[A-Za-z]:", path) or ".." in path.split("/"):
        raise refusal(where, "a path outside the archive ('..' or an absolute path): refused")
    if info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16):
        raise refusal(where, "a symbolic link: refused (zip the file itself)")
    if info.flag_bits & ENCRYPTED_FLAGS or info.compress_type == AES_METHOD:
        raise refusal(where, "encrypted: zip it again without a password")
    if info.compress_type not in READABLE_METHODS:
        method = METHOD_NAMES.get(info.compress_type, f"method {info.compress_type}")
        raise refusal(where, f"compressed with {method}: zip it again with the standard (deflate) compression")


def _central_entries(data: bytes) -> int:
    """The entries of a zip's central directory, counted by their signatures in its raw bytes.

    Found as zipfile finds it (the end record at the very end, else the last one in the final
    64 KiB; the Zip64 end record just before it); 0 when there is none (zipfile then refuses).
    """
    tail = len(data) - 22
    end = tail if data[tail:tail + 4] == b"PK\x05\x06" and data[-2:] == b"\0\0" else \
        data.rfind(b"PK\x05\x06", max(0, tail - 65535))
    if end < 0 or end + 22 > len(data):
        return 0
    top, size = end, int.from_bytes(data[end + 12:end + 16], "little")
    if end >= 76 and data[end - 20:end - 16] == b"PK\x06\x07" and data[end - 76:end - 72] == b"PK\x06\x06":
        top, size = end - 76, int.from_bytes(data[end - 36:end - 28], "little")
    return data.count(b"PK\x01\x02", max(0, top - size), top)


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
