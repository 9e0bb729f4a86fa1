"""Hostile or broken DICOM is refused with a DicomError naming the file and the tag: never silently
wrong numbers, never a traceback, and bounded in memory and time (hardening issue, items 1, 2 and 6).

Every input is the shipped phantom (prrt_core.testing.phantom) with one thing changed. Each test
says what happened before. Reads that used to exhaust memory run in a subprocess under
RLIMIT_AS and a timeout, so a regression fails the test instead of taking the machine down.
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.sequence import Sequence
from pydicom.uid import ImplicitVRLittleEndian

from prrt_core import dicom
from prrt_core.dicom import voi_sources
from prrt_core.errors import DicomError
from prrt_core.testing import phantom

PH = phantom.default_phantom()
ROOT = Path(__file__).resolve().parents[2]
# The stated caps (voi_sources.MAX_CONTOUR_POINTS_PER_ROI, MAX_SEG_FRAMES), as literals so that the
# tests below also run, and fail for the right reason, on code without them.
MAX_CONTOUR_POINTS_PER_ROI = 1_000_000
MAX_SEG_FRAMES = 10_000
# Address space of a bounded read: importing prrt_core.dicom takes ~0.5 GiB, the phantom study a
# few MB more; the failures below asked for 1.8 GiB (a 60,000-vertex contour) to 7.6 GiB.
LIMIT_BYTES = 3 * 2**29  # 1.5 GiB
TIMEOUT_S = 90


@pytest.fixture(scope="module")
def nm_folder(tmp_path_factory) -> Path:
    return phantom.write_phantom(tmp_path_factory.mktemp("nm") / "series").folder


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def _edit(path: Path, change, *, implicit: bool = False) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the invalid values written on purpose
        ds = pydicom.dcmread(path)
        change(ds)
        if implicit:  # values over 64 kB (a long ContourData) only fit Implicit VR's 4-byte lengths
            ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        ds.save_as(path, enforce_file_format=True)


def _set(keyword: str, value, *, sequence: str | None = None):
    def change(ds):
        setattr(ds if sequence is None else ds[sequence][0], keyword, value)
    return change


def _refusal(folder: Path, **kwargs) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DicomError) as err:
            dicom.read_study(folder, **kwargs)
    return str(err.value)


_BOUNDED_READ = """
import json, resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
import warnings
warnings.simplefilter("ignore")
from prrt_core import dicom
try:
    study = dicom.read_study(sys.argv[2])
except dicom.DicomError as exc:
    print(json.dumps({"refused": str(exc)}))
else:
    print(json.dumps({"voxels": {v.name: int(v.mask.sum()) for v in study.vois}}))
"""


def _read_bounded(folder: Path) -> dict:
    """read_study(folder) in a child process limited to LIMIT_BYTES of address space and TIMEOUT_S;
    its DicomError message or the voxel count of each VOI. A MemoryError (a traceback) fails."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", _BOUNDED_READ, str(LIMIT_BYTES), str(folder)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, f"exit code {proc.returncode}:\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _rtstruct_folder(nm_folder: Path, dst: Path) -> Path:
    folder = _copy(nm_folder, dst)
    (folder / "vois_seg").unlink()
    phantom.write_rtstruct(folder / "rt", PH)
    return folder


# --- item 1: Rescale Slope / Intercept and Real World Value Mapping ------------------------------
@pytest.mark.parametrize("keyword, value, problem", [
    # Before: "0" or "" -> `float(x or 1.0)` = 1, the kidneys of time point 1 came out 36.8x too low.
    ("RescaleSlope", "0", "is 0: must be >= 1e-06 and <= 3e+10 (Bq/mL per stored value; 30 GBq in 1 mL at most)"),
    ("RescaleSlope", "-36.8", "is -36.8: must be >= 1e-06 and <= 3e+10 (Bq/mL per stored value; 30 GBq in 1 mL "
                              "at most)"),
    # Before: NaN and inf Bq/mL everywhere, no error.
    ("RescaleSlope", "NaN", "is NaN: not a finite number"),
    ("RescaleSlope", "1e400", "is 1e400: not a finite number"),
    # Before: accepted: 1e12 Bq/mL per stored value is more than the whole injection in a microlitre.
    ("RescaleSlope", "1e12", "is 1e12: must be >= 1e-06 and <= 3e+10 (Bq/mL per stored value; 30 GBq in 1 mL "
                             "at most)"),
    ("RescaleIntercept", "nan", "is nan: not a finite number"),
    ("RescaleIntercept", "-5e10", "is -5e10: must be >= -3e+10 and <= 3e+10 (Bq/mL; 30 GBq in 1 mL at most)"),
])
def test_absurd_rescale_slope_or_intercept_is_refused_naming_the_tag(tmp_path, nm_folder, keyword, value, problem):
    folder = _copy(nm_folder, tmp_path / "s")
    _edit(folder / "spect_tp1", _set(keyword, value))
    label = {"RescaleSlope": "RescaleSlope (0028,1053)", "RescaleIntercept": "RescaleIntercept (0028,1052)"}[keyword]
    assert _refusal(folder) == f"s/spect_tp1: {label}: {problem}"


def test_rescale_intercept_without_slope_in_nm_is_refused(tmp_path, nm_folder):
    """NM images need neither (the NM Image Module does not define them), but the Modality LUT
    Module makes them Type 1C together. Before: a lone RescaleIntercept was read with slope 1."""
    folder = _copy(nm_folder, tmp_path / "s")
    _edit(folder / "spect_tp3", lambda ds: delattr(ds, "RescaleSlope"))
    assert _refusal(folder) == ("s/spect_tp3: RescaleSlope (0028,1053): missing while RescaleIntercept (0028,1052) is "
                                "present: the stored values cannot be converted to Bq/mL")


def test_nm_without_rescale_reads_the_stored_values_as_they_are(tmp_path):
    """Guard (passes before and after): the NM Image Module does not define Rescale Slope and
    Intercept, so both absent means the stored values are Bq/mL (slope 1, intercept 0)."""
    folder = tmp_path / "s"
    values = np.rint(PH.activity_bq_per_ml(24.0) / 100.0)  # whole numbers that fit 16 bits
    path = phantom.write_nm(folder / "spect", PH, 24.0, values)
    _edit(path, lambda ds: [delattr(ds, k) for k in ("RescaleSlope", "RescaleIntercept")]
          + [setattr(ds, "PixelData", values.astype(np.uint16).tobytes())])
    tp = dicom.spect.nm_time_point("spect", pydicom.dcmread(path), calibration_cps_per_mbq=None,
                                   acquisition_duration_s=None)
    np.testing.assert_array_equal(tp.activity_bq_per_ml, values.astype(np.float32))
    assert tp.units == "Bq/mL from Units BQML"


def test_pet_without_rescale_intercept_is_refused(tmp_path):
    """PET Image Module: Rescale Slope and Intercept are Type 1. Before: a missing intercept was 0."""
    folder = phantom.write_phantom(tmp_path / "pt", PH, modality="PT").folder
    first = sorted((folder / "pet_tp1").iterdir())[0]
    _edit(first, lambda ds: delattr(ds, "RescaleIntercept"))
    assert _refusal(folder) == (f"pt/pet_tp1/{first.name}: RescaleIntercept (0028,1052): missing (Type 1 in PET "
                                "images, PS3.3 C.8.9.4)")


@pytest.mark.parametrize("change, problem", [
    # Before: slope 0 made every voxel 0 Bq/mL, read without a word.
    (_set("RealWorldValueSlope", 0.0, sequence="RealWorldValueMappingSequence"),
     "RealWorldValueSlope (0040,9225): is 0.0: must be >= 1e-06 and <= 3e+10 (Bq/ml per stored value; 30 GBq in "
     "1 mL at most)"),
    # Before: a missing intercept was taken as 0; slope and intercept are Type 1C together.
    (lambda ds: delattr(ds.RealWorldValueMappingSequence[0], "RealWorldValueIntercept"),
     "RealWorldValueIntercept (0040,9224): missing while RealWorldValueSlope (0040,9225) is present: the stored "
     "values cannot be converted to Bq/ml"),
])
def test_broken_real_world_value_mapping_is_refused(tmp_path, change, problem):
    folder = phantom.write_phantom(tmp_path / "s", PH, quantification="RWVM").folder
    _edit(folder / "spect_tp2", change)
    assert _refusal(folder) == f"s/spect_tp2: {problem}"


# --- item 2: every numeric tag finite and in range, first ------------------------------------------
def test_nan_half_life_is_refused_not_taken_for_lu177(tmp_path, nm_folder):
    """Before: abs(nan / T - 1) > 2 % is False, so a NaN RadionuclideHalfLife passed the Lu-177 check."""
    folder = _copy(nm_folder, tmp_path / "s")
    _edit(folder / "spect_tp2", _set("RadionuclideHalfLife", "NaN", sequence="RadiopharmaceuticalInformationSequence"))
    assert _refusal(folder) == "s/spect_tp2: RadionuclideHalfLife (0018,1075): is NaN: not a finite number"


def _all_nm(folder: Path, change) -> None:
    for f in sorted(folder.glob("spect_tp*")):
        _edit(f, change)


@pytest.mark.parametrize("change, message", [
    # Before: 370 GBq (a unit error) was taken as the injected activity.
    (_set("RadionuclideTotalDose", "3.7e11", sequence="RadiopharmaceuticalInformationSequence"),
     "s/spect_tp1: RadionuclideTotalDose (0018,1074): is 3.7e11: must be > 0 and <= 3e+10 (Bq, PS3.3 C.8.9.1; at "
     "most 30 GBq, four times the standard 7.4 GBq cycle)"),
    # Before: these three were refused as "spect_tp2: ImageOrientationPatient: ... not on one voxel grid":
    # a zero spacing or cosine gave NaN cosines that compare unequal; the wrong file and the wrong cause.
    (_set("SpacingBetweenSlices", "0"),
     "s/spect_tp1: SpacingBetweenSlices (0018,0088): gives a step of 0 mm between slices: its size must be >= 0.01 "
     "and <= 100 mm"),
    (_set("PixelSpacing", ["0", "0"]), r"s/spect_tp1: PixelSpacing (0028,0030): is 0\0: must be >= 0.01 and <= 100 "
                                       "(mm)"),
    (_set("ImageOrientationPatient", [0.0] * 6, sequence="DetectorInformationSequence"),
     "s/spect_tp1: ImageOrientationPatient (0020,0037): is [0, 0, 0, 0, 0, 0]: not two unit vectors at right angles "
     "(row and column direction cosines, PS3.3 C.7.6.2.1.1)"),
    # Before: `int(x or 1)` made 0 frames 1, then "a value could not be read (ValueError: cannot reshape
    # array of size 163840 into shape (1,64,64))", without the tag.
    (_set("NumberOfFrames", 0),
     "s/spect_tp1: NumberOfFrames (0028,0008): is 0: must be >= 1 (the slices of a SPECT volume)"),
])
def test_broken_numbers_in_every_time_point_are_refused_naming_the_tag(tmp_path, nm_folder, change, message):
    folder = _copy(nm_folder, tmp_path / "s")
    _all_nm(folder, change)
    assert _refusal(folder) == message


def test_counts_frame_duration_over_a_day_is_refused(tmp_path):
    """Before: 1e8 ms (28 h) per view was accepted: the count rate, and so the activity, 83x too low."""
    folder = phantom.write_phantom(tmp_path / "s", PH, quantification="CNTS").folder
    _edit(folder / "spect_tp4", _set("ActualFrameDuration", 100_000_000, sequence="RotationInformationSequence"))
    assert _refusal(folder, calibration_cps_per_mbq=12.0) == (
        "s/spect_tp4: ActualFrameDuration (0018,1242): is 100000000: must be > 0 and <= 8.64e+07 (ms, at most a day)")


@pytest.mark.parametrize("value, problem", [
    ("NaN", "is NaN: not a finite number"),  # before: a NaN dose map
    ("0", "is 0: must be > 0 (needed to scale the pixel data)"),  # before: a dose map of zeros
])
def test_broken_dose_grid_scaling_is_refused(tmp_path, nm_folder, value, problem):
    folder = _copy(nm_folder, tmp_path / "s")
    phantom.write_rtdose(folder / "dose", PH, PH.expected_dose_map_gy(1.04))
    _edit(folder / "dose", _set("DoseGridScaling", value))
    assert _refusal(folder) == f"s/dose: DoseGridScaling (3004,000E): {problem}"


def test_fractional_seg_with_maximum_zero_is_refused(tmp_path, nm_folder):
    """Before: fraction >= 0.5 x 0 held for every pixel: each segment became the whole field of view."""
    folder = _copy(nm_folder, tmp_path / "s")
    _edit(folder / "vois_seg", lambda ds: [setattr(ds, "SegmentationType", "FRACTIONAL"),
                                           setattr(ds, "MaximumFractionalValue", 0)])
    assert _refusal(folder) == "s/vois_seg: MaximumFractionalValue (0062,000E): is 0: must be >= 1 and <= 255"


def test_nan_in_contour_data_is_refused_naming_roi_and_contour(tmp_path, nm_folder):
    """Before: a traceback (ValueError: cannot convert float NaN to integer) while rasterising."""
    folder = _rtstruct_folder(nm_folder, tmp_path / "s")

    def poison(ds):
        contour = ds.ROIContourSequence[0].ContourSequence[2]
        contour.ContourData = ["NaN" if i == 3 else v for i, v in enumerate(contour.ContourData)]
    _edit(folder / "rt", poison)
    assert _refusal(folder) == ("s/rt: ContourData (3006,0050): contour 3 of ROI 'Kidney left' holds a non-finite "
                                "value (nan) at position 4")


def test_number_refuses_non_finite_before_the_range():
    """tags.number: NaN is refused even where no range is given (NaN compares False with every bound)."""
    from prrt_core.dicom.tags import number  # imported here: the other tests also run on code without it

    ds = pydicom.Dataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.RadionuclideHalfLife = "NaN"
    with pytest.raises(DicomError, match=r"^f: RadionuclideHalfLife \(0018,1075\): is NaN: not a finite number$"):
        number(ds, "RadionuclideHalfLife", "f")
    ds.RadionuclideHalfLife = "574300.8"
    assert number(ds, "RadionuclideHalfLife", "f", above=0) == 574300.8
    assert number(pydicom.Dataset(), "RadionuclideHalfLife", "f", default=None) is None


# --- item 6: VOI structures bounded in memory and time, and inside the image --------------------------
def _voxel_centres_in_ellipse(slice_k: int, a_mm: float, b_mm: float) -> int:
    x, y, _ = PH.axes_mm()
    xx, yy = np.meshgrid(x, y)
    return int(((xx / a_mm) ** 2 + (yy / b_mm) ** 2 < 1.0).sum())


def test_60000_vertex_contour_is_rasterised_in_bounded_memory(tmp_path, nm_folder):
    """A 60,000-vertex contour across the body (140 x 100 mm) as 'Kidney left'. Before: the
    rasteriser broadcast vertices x bounding-box pixels, ~1.8 GiB for this one contour (under the
    limit: MemoryError, "Unable to allocate 1.18 GiB for an array with shape (60000, 44, 60)").
    Now: one slice at a time, and exactly the voxel centres inside the ellipse."""
    folder = _rtstruct_folder(nm_folder, tmp_path / "s")
    slice_k = 20
    angle = np.linspace(0.0, 2 * np.pi, 60_000, endpoint=False)
    z = PH.axes_mm()[2][slice_k]
    points = np.c_[140.0 * np.cos(angle), 100.0 * np.sin(angle), np.full(angle.size, z)]

    def huge(ds):
        contour = ds.ROIContourSequence[0].ContourSequence[0]
        contour.NumberOfContourPoints = len(points)
        contour.ContourData = [f"{v:.6f}" for v in points.ravel()]
        ds.ROIContourSequence[0].ContourSequence = Sequence([contour])
    _edit(folder / "rt", huge, implicit=True)
    result = _read_bounded(folder)
    assert result["voxels"]["Kidney left"] == _voxel_centres_in_ellipse(slice_k, 140.0, 100.0)


def _undefined_lengths(ds: pydicom.Dataset) -> None:
    """Write every sequence and item with undefined length, so that a value can be spliced in."""
    for element in ds:
        if element.VR == "SQ":
            element.is_undefined_length = True
            for item in element.value:
                item.is_undefined_length_sequence_item = True
                _undefined_lengths(item)


def _splice_contour_data(path: Path, marker: bytes, value: bytes) -> None:
    """Replace the ContourData value ``marker`` (Implicit VR: tag, 4-byte length, value) by ``value``.
    pydicom needs seconds and hundreds of MB to write millions of DS values; the bytes are the same."""
    tag = struct.pack("<HH", 0x3006, 0x0050)
    raw = path.read_bytes()
    old = tag + struct.pack("<I", len(marker)) + marker
    assert raw.count(old) == 1
    path.write_bytes(raw.replace(old, tag + struct.pack("<I", len(value)) + value))


def test_roi_over_the_contour_point_cap_is_refused_before_its_points_are_read(tmp_path, nm_folder):
    """Before: pydicom decoded the 3,000,003 DS values into objects: ~8 s, and a MemoryError under
    the limit. Now: counted from the raw bytes and refused, naming the ROI and the count."""
    folder = _rtstruct_folder(nm_folder, tmp_path / "s")
    marker = b"1.0\\2.0\\3.0 "

    def one_contour(ds):
        contour = ds.ROIContourSequence[0].ContourSequence[0]
        contour.ContourData = ["1.0", "2.0", "3.0"]
        ds.ROIContourSequence[0].ContourSequence = Sequence([contour])
        _undefined_lengths(ds)
    _edit(folder / "rt", one_contour, implicit=True)
    n = MAX_CONTOUR_POINTS_PER_ROI + 1
    _splice_contour_data(folder / "rt", marker, b"\\".join([b"1.0"] * (3 * n)) + b" ")
    assert _read_bounded(folder) == {"refused": (
        f"s/rt: ContourData (3006,0050): ROI 'Kidney left' has {n:,} contour points, more than the "
        f"{MAX_CONTOUR_POINTS_PER_ROI:,} one ROI may have")}


def test_contour_partly_outside_the_image_is_refused_naming_roi_and_contour(tmp_path, nm_folder):
    """One contour of 'Kidney left' moved 960 m along z. Before: it fell outside the slices and was
    dropped: the kidney lost a slice without a word."""
    folder = _rtstruct_folder(nm_folder, tmp_path / "s")
    moved = {}

    def shift(ds):
        contour = ds.ROIContourSequence[0].ContourSequence[4]
        points = np.array([float(v) for v in contour.ContourData]).reshape(-1, 3) + [0.0, 0.0, 960_000.0]
        contour.ContourData = [f"{v:.4f}" for v in points.ravel()]
        moved["points"] = points
    _edit(folder / "rt", shift)
    idx = (np.c_[moved["points"], np.ones(len(moved["points"]))] @ np.linalg.inv(PH.geometry().affine).T)[:, :3]
    lo, hi = idx.min(axis=0), idx.max(axis=0)
    assert _refusal(folder) == (
        "s/rt: ContourData (3006,0050): contour 5 of ROI 'Kidney left' lies outside the image grid, so the VOI would "
        f"be cut short (voxel index slice {lo[0]:.1f} to {hi[0]:.1f}, row {lo[1]:.1f} to {hi[1]:.1f}, column "
        f"{lo[2]:.1f} to {hi[2]:.1f}; the grid has 40 slices of 64 rows x 64 columns)")


@pytest.mark.parametrize("offset_mm", [960_000.0, 9_600_000.0])
def test_seg_frame_far_off_the_grid_is_refused_in_bounded_memory(tmp_path, nm_folder, offset_mm):
    """One frame of 'Lesion 1' placed 960 m (9.6 km) away. Before: the SEG's own grid spanned the
    gap, a volume of 200,018 (2,000,018) slices per segment: 781 MiB (7.63 GiB) each asked for, a
    MemoryError under the limit; with memory to spare the lesion silently lost the frame. Now:
    refused, naming the segment and the frame number."""
    folder = _copy(nm_folder, tmp_path / "s")
    seg = pydicom.dcmread(folder / "vois_seg")
    lesion = next(int(s.SegmentNumber) for s in seg.SegmentSequence if s.SegmentLabel == "Lesion 1")
    frames = [i for i, item in enumerate(seg.PerFrameFunctionalGroupsSequence)
              if int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber) == lesion]
    frame = frames[2]
    position = [float(v) for v in seg.PerFrameFunctionalGroupsSequence[frame].PlanePositionSequence[0]
                .ImagePositionPatient]

    def move(ds):
        item = ds.PerFrameFunctionalGroupsSequence[frame].PlanePositionSequence[0]
        item.ImagePositionPatient = [position[0], position[1], position[2] + offset_mm]
    _edit(folder / "vois_seg", move)
    slice_k = round((position[2] - PH.origin_mm[2]) / PH.spacing_mm)
    rows, columns = np.nonzero(PH.masks()["Lesion 1"][slice_k])
    far = slice_k + offset_mm / PH.spacing_mm
    assert _read_bounded(folder) == {"refused": (
        f"s/vois_seg: ImagePositionPatient (0020,0032): frame {frame + 1} of segment 'Lesion 1' (its "
        "PlanePositionSequence) lies outside the image grid, so the VOI would be cut short (voxel index slice "
        f"{far:.1f} to {far:.1f}, row {rows.min():.1f} to {rows.max():.1f}, column {columns.min():.1f} to "
        f"{columns.max():.1f}; the grid has 40 slices of 64 rows x 64 columns)")}


def test_seg_over_the_frame_cap_is_refused_before_decoding(tmp_path, nm_folder):
    """A SEG of 10,001 frames (the phantom's frames repeated). Before: decoded and placed whatever
    the count. Now: refused from NumberOfFrames before its pixels are decoded."""
    folder = _copy(nm_folder, tmp_path / "s")
    n = MAX_SEG_FRAMES + 1

    def repeat(ds):
        items = list(ds.PerFrameFunctionalGroupsSequence)
        order = [i % len(items) for i in range(n)]
        frames = ds.pixel_array
        ds.PerFrameFunctionalGroupsSequence = Sequence([items[i] for i in order])
        ds.NumberOfFrames = n
        ds.PixelData = pydicom.pixels.pack_bits(frames[order].astype(np.uint8))
    _edit(folder / "vois_seg", repeat)
    assert _refusal(folder) == (f"s/vois_seg: NumberOfFrames (0028,0008): is {n}: must be >= 1 and <= "
                                f"{MAX_SEG_FRAMES} (frames in one SEG: larger ones are refused before decoding)")


def test_stated_caps():
    assert voi_sources.MAX_CONTOUR_POINTS_PER_ROI == MAX_CONTOUR_POINTS_PER_ROI
    assert voi_sources.MAX_SEG_FRAMES == MAX_SEG_FRAMES
