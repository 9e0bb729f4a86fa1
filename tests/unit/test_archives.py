"""Hostile archives against the import and DICOM entry points (prrt_core.archives bounds them all).

Every archive is built here. Those that once exhausted memory or time are opened in a child
process under ``RLIMIT_AS`` (:data:`CHILD_MEMORY_BYTES`) with a timeout, so that a regression
fails the test rather than the machine.
"""
from __future__ import annotations

import gzip
import io
import json
import stat
import struct
import subprocess
import sys
import zipfile
import zlib

import pytest

from prrt_core import archives, dicom, importer
from prrt_core.dicom import DicomError
from prrt_core.dicom.files import nifti_bytes
from prrt_core.errors import InputError
from tests.support import REPO

MiB = 2**20
CHILD_MEMORY_BYTES = 3 * 2**29  # 1.5 GiB of address space: the interpreter and its imports take ~0.6
CHILD_TIMEOUT_S = 120           # what each child needs is a few seconds (mostly imports)
PATIENTS_CSV = b"patient_id,sex,primary_site,hypertension,diabetes\nP9,F,lung,0,0\n"
NIFTI_HEADER = bytes(344) + b"n+1\x00" + bytes(4)  # NIfTI-1 magic at byte 344, as nifti_bytes looks for it


# --- building hostile archives ----------------------------------------------------------------
def zip_of(members: list[tuple[str | zipfile.ZipInfo, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def zeros_deflate(n_mib: int, prefix: bytes = b"") -> tuple[bytes, int]:
    """Raw deflate of ``prefix`` + ``n_mib`` MiB of zeros (one flushed 1 MiB block repeated, ~1 KB per
    MiB), and the CRC-32 of what it unpacks to."""
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = first.compress(prefix) + first.flush(zlib.Z_FULL_FLUSH) if prefix else b""
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(MiB)
    crc = zlib.crc32(prefix)
    for _ in range(n_mib):
        crc = zlib.crc32(zeros, crc)
    return head + (block.compress(zeros) + block.flush(zlib.Z_FULL_FLUSH)) * n_mib + b"\x03\x00", crc


def raw_zip(entries: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip written byte by byte from (name, deflated data, CRC-32, unpacked size) per member."""
    body, directory = b"", b""
    for name, raw, crc, size in entries:
        encoded = name.encode()
        fields = (zipfile.ZIP_DEFLATED, 0, 0, crc, len(raw), size, len(encoded), 0)
        directory += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, *fields, 0, 0, 0, 0, len(body)) + encoded
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, *fields) + encoded + raw
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(directory), len(body), 0)
    return body + directory + end


def zip_bomb(name: str, n_mib: int = 1024, prefix: bytes = b"") -> bytes:
    raw, crc = zeros_deflate(n_mib, prefix)
    return raw_zip([(name, raw, crc, len(prefix) + n_mib * MiB)])


def gzip_bomb(n_mib: int = 1024, prefix: bytes = NIFTI_HEADER) -> bytes:
    raw, crc = zeros_deflate(n_mib, prefix)
    size = (len(prefix) + n_mib * MiB) % 2**32
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + raw + struct.pack("<2L", crc, size)


def patched(data: bytes, member: str, *, size: int | None = None, flags: int = 0, byte_at: int | None = None) -> bytes:
    """``data`` with the member's unpacked size rewritten, or flag bits set, in its local and central
    headers (or one byte of its data flipped): the bytes as a forger would leave them."""
    out, name = bytearray(data), member.encode()
    for signature, flag_at, size_at, name_at in ((b"PK\x03\x04", 6, 22, 30), (b"PK\x01\x02", 8, 24, 46)):
        at = out.find(signature)
        while at >= 0:
            if out[at + name_at:at + name_at + len(name)] == name:
                out[at + flag_at] |= flags
                if size is not None:
                    out[at + size_at:at + size_at + 4] = size.to_bytes(4, "little")
                if byte_at is not None and signature == b"PK\x03\x04":
                    extra = int.from_bytes(out[at + 28:at + 30], "little")
                    out[at + name_at + len(name) + extra + byte_at] ^= 0xFF
            at = out.find(signature, at + 1)
    return bytes(out)


# --- the entry points, in this process and in a bounded child -------------------------------------
def import_problems(name: str, data: bytes) -> list[tuple[str, str]]:
    return [(p["File"], p["Reason"]) for p in importer.read_files([(name, data)]).problems]


def dicom_refusal(name: str, data: bytes) -> str:
    with pytest.raises(DicomError) as refused:
        dicom.collect_files([(name, data)])
    return str(refused.value)


CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1])))
from pathlib import Path
from prrt_core import dicom, importer
from prrt_core.errors import InputError
entry, names = sys.argv[2], sys.argv[3:]
files = [(Path(name).name, Path(name).read_bytes()) for name in names]
if entry == "import":
    print(json.dumps([[p["File"], p["Reason"]] for p in importer.read_files(files).problems]))
else:
    try:
        read = dicom.collect_files(files) if entry == "collect_files" else dicom.read_study(files)
        print(json.dumps("not refused"))
    except InputError as exc:
        print(json.dumps(f"{type(exc).__name__}: {exc}"))
"""


def in_child(entry: str, tmp_path, files: dict[str, bytes]):
    """What ``entry`` (import, collect_files, read_study) makes of ``files``, in a child process under
    RLIMIT_AS and a timeout: the import's problems as [File, Reason], or the DICOM refusal."""
    paths = []
    for name, data in files.items():
        (path := tmp_path / name).write_bytes(data)
        paths.append(str(path))
    done = subprocess.run([sys.executable, "-c", CHILD, str(CHILD_MEMORY_BYTES), entry, *paths], cwd=REPO,
                          capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


# --- bombs: memory --------------------------------------------------------------------------------
def test_a_dicom_zip_bomb_of_zeros_is_refused_before_it_is_unpacked(tmp_path):
    """1 MB of zip, 1 GiB of zeros declared honestly: it once reached 2.3 GB."""
    bomb = zip_bomb("series/ct_0001.dcm")
    assert len(bomb) < 1.1 * MiB
    got = in_child("collect_files", tmp_path, {"upload.zip": bomb})
    assert got == ("DicomError: upload.zip/series/ct_0001.dcm: unpacks to 1,024 MB, more than the 512 MB "
                   "allowed for one file: split it")


@pytest.mark.parametrize("entry, name", [("import", "labs.csv"), ("collect_files", "series/ct_0001.dcm")])
def test_a_member_whose_header_understates_its_size_is_stopped_at_that_size(tmp_path, entry, name):
    """The header says 1,000 bytes; the data unpacks to 1 GiB. zipfile alone unpacked up to 2 GiB in
    one call (2.3 GB for a 1 MB import zip); now the counter stops it at byte 1,001."""
    forged = patched(zip_bomb(name), name, size=1000)
    got = in_child(entry, tmp_path, {"upload.zip": forged})
    problem = "holds more than the 1,000 bytes its zip header declares: a damaged or forged archive"
    assert got == ([[f"upload.zip/{name}", problem]] if entry == "import"
                   else f"DicomError: upload.zip/{name}: {problem}")


def test_a_workbook_part_that_understates_its_size_is_refused_before_openpyxl_opens_it(tmp_path):
    """openpyxl reads [Content_Types].xml with ZipFile.read, which unpacked up to 2 GiB in one call
    whatever the header said; now every part is read within the bounds first."""
    part = "[Content_Types].xml"
    template = zipfile.ZipFile(io.BytesIO(importer.template_workbook()))
    parts = [(i.filename, template.read(i)) for i in template.infolist() if i.filename != part]
    raw, crc = zeros_deflate(1024, b"<Types>")
    forged = (part, raw, crc, 1000)  # declares 1,000 bytes, unpacks to 1 GiB
    workbook = raw_zip([forged] + [(n, zlib.compress(d)[2:-4], zlib.crc32(d), len(d)) for n, d in parts])
    got = in_child("import", tmp_path, {"clinic.xlsx": workbook})
    assert got == [[f"clinic.xlsx/{part}",
                    "holds more than the 1,000 bytes its zip header declares: a damaged or forged archive"]]


@pytest.mark.parametrize("inside_a_zip", [False, True])
def test_a_gzip_bomb_is_refused_while_it_is_streamed(tmp_path, inside_a_zip):
    """A 1 MB .nii.gz of 1 GiB (NIfTI header, then zeros): it once reached 3.4 GB in nifti_bytes."""
    bomb = gzip_bomb()
    assert len(bomb) < 1.1 * MiB
    files = {"upload.zip": zip_of([("labels.nii.gz", bomb)], zipfile.ZIP_STORED)} if inside_a_zip \
        else {"labels.nii.gz": bomb}
    where = "upload.zip/labels.nii.gz" if inside_a_zip else "labels.nii.gz"
    got = in_child("read_study", tmp_path, files)
    assert got == f"DicomError: {where}: unpacks to more than the 512 MB allowed for one file: split it"


def test_gzip_streams_share_the_upload_total(tmp_path):
    """Three 400 MiB label maps, each under the bound for one file: the third brings the upload
    over its 1,024 MB (they were each unpacked in full, one after another, by read_study)."""
    bomb = gzip_bomb(400)
    got = in_child("collect_files", tmp_path, {f"labels_{i}.nii.gz": bomb for i in range(3)})
    assert got == "DicomError: labels_2.nii.gz: brings the upload over the 1,024 MB allowed unpacked: split it"


def test_members_whose_declared_sizes_sum_past_the_total_are_refused_unread(tmp_path):
    raw, crc = zeros_deflate(400)
    archive = raw_zip([(f"series/ct_{i}.dcm", raw, crc, 400 * MiB) for i in range(3)])
    got = in_child("collect_files", tmp_path, {"upload.zip": archive})
    assert got == "DicomError: upload.zip: unpacks to 1,200 MB, more than the 1,024 MB allowed for one upload: split it"


# --- nesting and counts ---------------------------------------------------------------------------
def test_import_reads_one_archive_inside_the_upload_and_refuses_deeper_nesting_at_once(tmp_path):
    """4 x 4 x 4 x 4 zips of 9 MB lab tables (6 MB in all): 256 tables of 2 s each, minutes before."""
    line = b"P1,2021-03-01,12.5\n"
    level = zip_of([(f"labs_{i}.csv", b"patient_id,lab_date,hb (g/dL)\n" + line * (9 * MiB // len(line)))
                    for i in range(4)])
    for depth in range(3):
        level = zip_of([(f"z{depth}_{i}.zip", level) for i in range(4)], zipfile.ZIP_STORED)
    assert len(level) < importer.MAX_FILE_MB * MiB
    got = in_child("import", tmp_path, {"nested.zip": level})
    assert len(got) == 16 and got[0] == [
        "nested.zip/z2_0.zip/z1_0.zip",
        "an archive nested 2 levels deep (at most 1 level of nesting is read): unpack it and upload what it holds"]
    # One level is read: an export zip (or a workbook) inside the uploaded zip.
    export = zip_of([("patients.csv", PATIENTS_CSV), ("audit.csv", b"not read")])
    parsed = importer.read_files([("outer.zip", zip_of([("export.zip", export)]))])
    assert parsed.problems == [] and parsed.tables["patients"].source == "outer.zip/export.zip/patients.csv"


def test_dicom_does_not_open_a_zip_inside_a_zip():
    # A PACS CD's zipped or .jar viewer: returned unopened (read_study skips and names it), so the
    # nesting bound is never reached and nothing inside is unpacked.
    inner = zip_of([("ct_0001.dcm", b"not read")])
    assert dicom.collect_files([("upload.zip", zip_of([("series.zip", inner)]))]) == [("upload.zip/series.zip", inner)]


@pytest.mark.parametrize("entry, n_members, limit", [("import", 201, "200"), ("dicom", 20_001, "20,000")])
def test_too_many_members_are_refused_from_the_raw_directory(entry, n_members, limit):
    archive = zip_of([(f"m/{i}", b"") for i in range(n_members)], zipfile.ZIP_STORED)
    assert archives._central_entries(archive) == n_members
    problem = f"holds {n_members:,} entries, more than the {limit} allowed: split it"
    if entry == "import":
        assert import_problems("upload.zip", archive) == [("upload.zip", problem)]
    else:
        assert dicom_refusal("upload.zip", archive) == f"upload.zip: {problem}"


# --- damage, encryption, methods, names, links ------------------------------------------------------
def stored_patients() -> bytes:
    return zip_of([("patients.csv", PATIENTS_CSV)], zipfile.ZIP_STORED)


HOSTILE = {
    "bad CRC": (patched(stored_patients(), "patients.csv", byte_at=40), "patients.csv",
                "fails its CRC-32 check: damaged (BadZipFile: Bad CRC-32 for file 'patients.csv')"),
    "encrypted flag": (patched(stored_patients(), "patients.csv", flags=0x1), "patients.csv",
                       "encrypted: zip it again without a password"),
    "bzip2": (zip_of([("patients.csv", PATIENTS_CSV)], zipfile.ZIP_BZIP2), "patients.csv",
              "compressed with bzip2: zip it again with the standard (deflate) compression"),
    "LZMA": (zip_of([("patients.csv", PATIENTS_CSV)], zipfile.ZIP_LZMA), "patients.csv",
             "compressed with LZMA: zip it again with the standard (deflate) compression"),
    "damaged deflate data": (patched(zip_of([("patients.csv", PATIENTS_CSV * 50)]), "patients.csv", byte_at=0),
                             "patients.csv", "cannot be read: truncated or damaged archive (error: Error -3 while "
                             "decompressing data: "),  # the rest is zlib's
    "truncated": (stored_patients()[:60], None, "not a readable zip archive (BadZipFile: File is not a zip file)"),
    **{f"name {name!r}": (zip_of([(name, PATIENTS_CSV)]), name,
                          "a path outside the archive ('..' or an absolute path): refused")
       for name in ("../patients.csv", "/tmp/patients.csv", "..\\patients.csv", "C:/patients.csv",
                    "data/../../patients.csv")},
}


def symlink() -> bytes:
    info = zipfile.ZipInfo("patients.csv")
    info.create_system, info.external_attr = 3, (stat.S_IFLNK | 0o777) << 16
    return zip_of([(info, b"/etc/passwd")])


HOSTILE["symbolic link"] = (symlink(), "patients.csv", "a symbolic link: refused (zip the file itself)")


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_member_is_refused_naming_archive_and_member_by_the_import(case):
    data, member, problem = HOSTILE[case]
    where = "upload.zip" if member is None else f"upload.zip/{member}"
    [(file, reason)] = import_problems("upload.zip", data)
    assert file == where and reason.startswith(problem), reason


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_member_is_refused_naming_archive_and_member_by_dicom(case):
    data, member, problem = HOSTILE[case]
    where = "upload.zip" if member is None else f"upload.zip/{member}"
    assert dicom_refusal("upload.zip", data).startswith(f"{where}: {problem}")


def test_a_truncated_or_damaged_gzip_is_refused_naming_it():
    good = gzip.compress(NIFTI_HEADER + bytes(1000))
    assert "labels.nii.gz: cannot be read: not a readable gzip stream (EOFError" in \
        dicom_refusal("labels.nii.gz", good[:-20])
    damaged = good[:-8] + (zlib.crc32(b"other") ^ 1).to_bytes(4, "little") + good[-4:]
    assert dicom_refusal("labels.nii.gz", damaged).startswith("labels.nii.gz: fails its CRC-32 check: damaged")


# --- good archives still read ----------------------------------------------------------------------
def test_good_archives_read_as_before():
    labels = gzip.compress(NIFTI_HEADER + bytes(1000))
    upload = zip_of([("s/labels.nii.gz", labels), ("s/.DS_Store", b"x"), ("__MACOSX/._a", b"x"), ("s/", b"")])
    assert dicom.collect_files([("upload.zip", upload)]) == [("upload.zip/s/labels.nii.gz", labels)]
    assert nifti_bytes(labels) == NIFTI_HEADER + bytes(1000)
    assert nifti_bytes(gzip.compress(b"not nifti")) is None
    parsed = importer.read_files([("template.xlsx", importer.template_workbook())])
    assert "cannot" not in " ".join(p["Reason"] for p in parsed.problems)


def test_the_unpacker_counts_what_is_read_not_what_is_declared():
    unpacker = archives.Unpacker(total_bytes=3 * MiB)
    limits = archives.Limits(member_bytes=2 * MiB, members=10, depth=0)
    data = gzip.compress(bytes(2 * MiB))
    assert len(unpacker.gunzip("a.gz", data, limits)) == 2 * MiB
    with pytest.raises(InputError) as refused:
        unpacker.gunzip("b.gz", data, limits, keep=False)
    assert (refused.value.where, refused.value.problem) == ("b.gz", "brings the upload over the 3 MB allowed "
                                                                    "unpacked: split it")
    assert unpacker.unpacked_bytes <= 3 * MiB + archives.CHUNK_BYTES
