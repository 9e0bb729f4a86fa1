"""A PACS CD/DVD export as uploaded: DICOM files with a DICOMDIR, a README, a viewer and images.

The layout follows IHE Portable Data for Imaging (IHE RAD TF-1 section 15, TF-2 section 4.47):
a DICOMDIR at the root indexing the DICOM files in folders, README.TXT, INDEX.HTM with an
IHE_PDI web folder, and optionally a viewer and AUTORUN.INF. The DICOMDIR is written by pydicom's
FileSet from the phantom's own files (prrt_core.testing.phantom). Files neither DICOM nor NIfTI
are skipped and named (issue 14); a file that starts as DICOM but is damaged is still refused
naming the file and the tag, as the rest of the upload is.

Expected doses are analytic (tests/unit/test_voxel.py): left kidney 0.60 MBq/mL x 45 h / ln2
x 0.085335 Gy g/(MBq h) / 1.04 g/mL = 3.1962 Gy by local deposition; the noise-free phantom
gives it within 1e-4 (uint16 quantisation of the stored values).
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pydicom
import pytest
from pydicom.fileset import FileSet

from prrt_core import cli, dicom
from prrt_core.dicom import study_dose
from prrt_core.dosimetry import voxel
from prrt_core.errors import DicomError
from prrt_core.testing import phantom

PH = phantom.default_phantom()
RHO = voxel.TISSUE_DENSITY_G_PER_ML
SKIPPED = "not DICOM or NIfTI, skipped"
# What a PACS puts beside the images, by content: none is DICOM (no 'DICM' at byte 128, no
# group 0002/0008 element first) or NIfTI.
EXTRAS = {
    "README.TXT": b"This CD contains DICOM images exported by the PACS.\r\nStart VIEWER\\viewer.exe.\r\n",
    "AUTORUN.INF": b"[autorun]\r\nopen=VIEWER\\viewer.exe\r\nicon=VIEWER\\viewer.exe,0\r\n",
    "INDEX.HTM": b"<!DOCTYPE html><html><head><title>Images</title></head><body>"
                 b"<a href='IHE_PDI/INDEX.HTM'>Open</a></body></html>",
    "IHE_PDI/INDEX.HTM": b"<html><body><script src='viewer.js'></script></body></html>",
    "IHE_PDI/viewer.js": b"document.addEventListener('DOMContentLoaded', () => { load('DICOMDIR'); });\n",
    # A PE executable starts 'MZ' (the DOS header), its 'PE\0\0' signature further in.
    "VIEWER/viewer.exe": b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(48) + b"PE\x00\x00" + bytes(2000),
    # A JPEG starts with SOI FF D8 and an APP0 'JFIF' segment.
    "VIEWER/logo.jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(600) + b"\xff\xd9",
    "VIEWER/manual.pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n",
}


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    """The phantom (five NM time points and a SEG) written as a DICOM file set, with its DICOMDIR."""
    written = phantom.write_phantom(tmp_path_factory.mktemp("ph") / "series")
    file_set = FileSet()
    for path in written.files:
        ds = pydicom.dcmread(path)
        ds.StudyID = "1"  # a STUDY directory record needs it (PS3.3 F.5.3)
        file_set.add(ds)
    root = tmp_path_factory.mktemp("cd")
    file_set.write(root)
    for name, data in EXTRAS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _images(files: dict[str, bytes]) -> dict[str, bytes]:
    return {name: data for name, data in files.items() if name.startswith("PT000000/")}


def test_the_export_is_laid_out_as_a_cd(export):
    files = _files(export)
    assert len(_images(files)) == 6  # five time points and the SEG, one file each
    assert pydicom.dcmread(export / "DICOMDIR").file_meta.MediaStorageSOPClassUID == "1.2.840.10008.1.3.10"
    assert set(EXTRAS) < set(files)
    assert not any(data[128:132] == b"DICM" for data in EXTRAS.values())


def test_export_zip_gives_the_bare_files_dose_and_names_every_skipped_file(export):
    files = _files(export)
    from_zip = study_dose.analyse([("export.zip", _zip(files))])
    bare = study_dose.analyse(list(_images(files).items()))
    left_zip = from_zip.organs.set_index("voi").loc["Kidney left"]
    left_bare = bare.organs.set_index("voi").loc["Kidney left"]
    assert left_zip["voxel_mean_dose_gy"] == left_bare["voxel_mean_dose_gy"]
    assert left_zip["organ_dose_gy"] == left_bare["organ_dose_gy"]
    assert left_zip["voxel_mean_dose_gy"] == pytest.approx(PH.expected_dose_gy("Kidney left", RHO), rel=1e-4)
    assert left_zip["voxel_mean_dose_gy"] == pytest.approx(3.1962, abs=1e-3)
    study = from_zip.study
    assert study.skipped == tuple(f"export.zip/{name}" for name in sorted(EXTRAS))
    assert set(study.notes) == ({f"export.zip/{name}: {SKIPPED}" for name in EXTRAS}
                                | {"export.zip/DICOMDIR: DICOMDIR (index file) ignored"})
    assert bare.study.notes == () and bare.study.skipped == ()


def test_loose_uploads_of_the_same_files_are_skipped_alike(export):
    study = dicom.read_study(list(_files(export).items()))
    assert len(study.time_points) == 5
    assert study.skipped == tuple(sorted(EXTRAS))
    assert "README.TXT: not DICOM or NIfTI, skipped" in study.notes


def test_the_cli_prints_the_skipped_files(export, tmp_path, capsys):
    path = tmp_path / "export.zip"
    path.write_bytes(_zip(_files(export)))
    assert cli.main(["dicom", str(path)]) == 0
    out = capsys.readouterr().out
    for name in EXTRAS:
        assert f"note: export.zip/{name}: {SKIPPED}\n" in out
    assert "Left kidney (Gy)                 3.20" in out


@pytest.mark.parametrize("cut, tag", [
    (130, "SOPClassUID (0008,0016)"),  # the 'DICM' marker cut off after the zero preamble
    (300, "SOPClassUID (0008,0016)"),  # the file meta only
    (1000, "ImagePositionPatient (0020,0032)"),
    ("half", "PixelData (7FE0,0010)"),
])
def test_a_truncated_dicom_file_in_the_export_is_refused_naming_it(export, cut, tag):
    files = _files(export)
    name = "PT000000/ST000000/SE000001/IM000000"
    data = files[name]
    assert data[128:132] == b"DICM"
    files[name] = data[: len(data) // 2 if cut == "half" else cut]
    with pytest.raises(DicomError) as err:
        dicom.read_study([("export.zip", _zip(files))])
    assert str(err.value).startswith(f"export.zip/{name}: {tag}: ")


@pytest.mark.filterwarnings("ignore:End of file reached before delimiter")
def test_dicom_with_a_bad_element_after_its_preamble_is_refused_not_skipped(export):
    files = _files(export)
    name = "PT000000/ST000000/SE000002/IM000000"
    # The file meta group (0002,0000) length says 0xFFFFFFFF: the rest cannot be DICOM elements.
    files[name] = files[name][:132] + b"\x02\x00\x00\x00UL\x04\x00\xff\xff\xff\xff" + b"\xff" * 2000
    with pytest.raises(DicomError, match=rf"^export.zip/{name}: SOPClassUID \(0008,0016\): missing or not a UID "
                                         "in a file that starts as DICOM: damaged or truncated$"):
        dicom.read_study([("export.zip", _zip(files))])


def test_a_dicom_file_without_preamble_is_still_read(export):
    """pydicom's rtstruct.dcm sample has no preamble (it starts with element (0008,0005)):
    read, as before, with force. Cut short, nothing but its first bytes says it is DICOM (a PACS
    CD's other binary files may start alike): it is skipped and named, like any file that is not
    DICOM; a Part 10 file (with 'DICM') cut short is refused (test above)."""
    path = Path(pydicom.data.get_testdata_file("rtstruct.dcm"))
    data = path.read_bytes()
    assert data[128:132] != b"DICM" and data[:4] == b"\x08\x00\x05\x00"
    assert dicom.read_dataset("rtstruct.dcm", data).Modality == "RTSTRUCT"
    with pytest.raises(DicomError, match=r"1 file\(s\) not DICOM or NIfTI, skipped: rtstruct.dcm$"):
        dicom.read_study([("rtstruct.dcm", data[:60])])


def test_a_zip_of_only_non_dicom_files_is_refused_naming_what_was_skipped():
    with pytest.raises(DicomError) as err:
        dicom.read_study([("viewer.zip", _zip(EXTRAS))])
    message = str(err.value)
    assert message.startswith("input: no quantitative SPECT (NM RECON TOMO), PET or RTDOSE among the 8 files read; "
                              f"8 file(s) {SKIPPED}: viewer.zip/README.TXT, viewer.zip/AUTORUN.INF, ")
    for name in EXTRAS:
        assert f"viewer.zip/{name}" in message


def test_images_without_vois_name_the_skipped_files_in_the_refusal(export):
    files = _files(export)
    seg = "PT000000/ST000000/SE000005/IM000000"
    assert pydicom.dcmread(export / seg).Modality == "SEG"
    del files[seg]
    files["VOIS/kidneys.nrrd"] = b"NRRD0004\n# a label map in a format not read\ntype: uint8\n\n"
    with pytest.raises(DicomError, match=r"no kidney or lesion VOI found: .*; 9 file\(s\) not DICOM or NIfTI, "
                                         r"skipped: .*export.zip/VOIS/kidneys.nrrd"):
        dicom.read_study([("export.zip", _zip(files))])


def test_many_skipped_files_are_counted_after_the_first_twenty(export):
    files = _files(export) | {f"IHE_PDI/js/module{i:03d}.js": b"export {};\n" for i in range(100)}
    study = dicom.read_study(list(files.items()))
    assert len(study.skipped) == 108
    skipped_notes = [n for n in study.notes if SKIPPED in n]
    assert len(skipped_notes) == 21 and skipped_notes[-1] == f"… and 88 more files {SKIPPED}"


def test_an_archive_inside_the_export_is_skipped_and_named_not_opened(export):
    # A PACS CD's Java viewer (.jar, a zip) or a zipped viewer: skipped like any non-DICOM file.
    files = _files(export) | {"VIEWER/viewer.zip": _zip({"viewer.js": b"let x = 1;\n"}),
                              "VIEWER/lib/viewer.jar": _zip({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n"})}
    study = dicom.read_study([("export.zip", _zip(files))])
    assert {"export.zip/VIEWER/viewer.zip", "export.zip/VIEWER/lib/viewer.jar"} <= set(study.skipped)
    assert len(study.time_points) == len(dicom.read_study(list(_files(export).items())).time_points)


@pytest.mark.parametrize("start", [b"\x00\x02", b"\x02\x00", b"\x00\x08", b"\x08\x00"])
def test_a_binary_file_that_merely_starts_like_dicom_without_the_marker_is_skipped(export, start):
    files = _files(export) | {"VIEWER/blob.bin": start + bytes(range(256)) * 4}
    study = dicom.read_study(list(files.items()))
    assert "VIEWER/blob.bin" in study.skipped
