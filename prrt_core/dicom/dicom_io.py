"""Read quantitative SPECT/PET time series, VOIs and dose maps from DICOM (and NIfTI VOIs).

Inputs are a folder, a zip archive, single files, or uploaded files given as
``(name, bytes)``; any file name is accepted (DICOM files are often extension-less):
a file is DICOM when it has the ``DICM`` preamble, or when pydicom reads it with
``force=True`` and it carries a SOP Class UID.

What is read
- Quantitative SPECT: NM Image Storage, Image Type value 3 ``RECON TOMO``, one multi-frame
  file per time point (frames are slices, geometry from the Detector Information
  Sequence), or PET Image Storage series (one file per slice). Pixel values become
  activity concentration in Bq/mL from a Real World Value Mapping with Bq/ml units, or
  ``Units`` (0054,1001) ``BQML`` with Rescale Slope/Intercept, or counts (``CNTS``) with a
  calibration factor (cps/MBq) that the user gives and the scan duration.
- VOIs: DICOM SEG (binary or fractional), RTSTRUCT (closed planar contours, rasterised
  onto the target grid), NIfTI label maps as TotalSegmentator writes them (one binary
  file per structure named after it, or a multi-label file with TotalSegmentator's label
  table in the header extension). Organs are recognised by name (:func:`organ_for_name`).
- RTDOSE dose maps (DoseUnits GY, DoseGridScaling) computed by other software.

Rules (every refusal raises :class:`DicomError` naming the file and the DICOM tag)
- Time points must share one voxel grid: Frame of Reference UID, Rows/Columns/Number of
  Frames, Pixel Spacing, Spacing Between Slices, Image Orientation and Image Position.
  Serial SPECT/CT must be registered onto one grid beforehand; this module does not
  register images. SEG and NIfTI masks on another grid are resampled explicitly
  (nearest neighbour at the target voxel centres) and the resampling is reported.
- Injected activity and injection date/time come from the Radiopharmaceutical Information
  Sequence or from the user; entered values take precedence and are reported as such.
  Missing and not entered is an error, never a default.
- PET values decay-corrected to administration (``DecayCorrection`` ADMIN) are converted
  back to activity at acquisition; ``START`` values refer to the series time.
- Patient name, ID and birth date are never kept: only the fields listed in the returned
  dataclasses leave this module, and the files of one upload are checked to belong to one
  patient by comparing the values transiently.
- Times are the wall-clock values written in the files (time-zone offsets are dropped);
  decay during an acquisition (< 0.3 % for a 30-min Lu-177 scan) is ignored.
"""
from __future__ import annotations

import datetime as dt
import gzip
import io
import logging
import os
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.valuerep import DA, DT, TM

from prrt_core import dosimetry
from prrt_core.errors import DicomError, tag_label

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
Source = str | os.PathLike | tuple[str, bytes]

# SOP Class UIDs (DICOM PS3.4 Annex B).
NM_IMAGE = {"1.2.840.10008.5.1.4.1.1.20", "1.2.840.10008.5.1.4.1.1.5"}  # NM, retired NM
PET_IMAGE = "1.2.840.10008.5.1.4.1.1.128"
ENHANCED_PET_IMAGE = "1.2.840.10008.5.1.4.1.1.130"
SEGMENTATION = "1.2.840.10008.5.1.4.1.1.66.4"
RT_STRUCTURE_SET = "1.2.840.10008.5.1.4.1.1.481.3"
RT_DOSE = "1.2.840.10008.5.1.4.1.1.481.2"
MEDIA_DIRECTORY = "1.2.840.10008.1.3.10"

# Lu-177 half-life in seconds (dosimetry.LU177_HALF_LIFE_H). A file's RadionuclideHalfLife
# further than 2 % from it is not Lu-177 (older tables give 6.71-6.73 d, 1.3 % longer).
LU177_HALF_LIFE_S = dosimetry.LU177_HALF_LIFE_H * 3600.0
HALF_LIFE_TOLERANCE = 0.02
# Geometry tolerances for "the same grid": positions in mm, cosines, relative spacing.
POSITION_TOL_MM = 0.05
COSINE_TOL = 1e-4
SPACING_RTOL = 1e-4
# Two time points closer than this are two reconstructions of one scan, not a series.
MIN_TIME_POINT_GAP_H = 0.25
# Acquisitions later than this after injection (10 Lu-177 half-lives) are refused as
# inconsistent (a wrong injection date is the usual cause).
MAX_TIME_AFTER_INJECTION_H = 10 * dosimetry.LU177_HALF_LIFE_H
# Activity and time agreement between files that both state the injection.
ACTIVITY_AGREEMENT_RTOL = 0.005
INJECTION_TIME_AGREEMENT_S = 60.0

# Organ names accepted by the store (schema.dosimetry.organ) that VOIs map to.
ORGANS = ("kidneys", "kidney_left", "kidney_right", "tumour", "liver", "spleen")
_FILLER_TOKENS = {"", "voi", "roi", "seg", "mask", "whole", "organ", "ct", "spect"}
_LESION_PREFIXES = ("lesion", "tumour", "tumor", "gtv", "metasta", "met")


# --- geometry ----------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Geometry:
    """A voxel grid: index (slice, row, column) -> patient LPS mm through ``affine`` (4 x 4).

    Columns of the affine are the steps along slice, row and column; the last column is
    the centre of voxel (0, 0, 0). frame_of_reference_uid is None for NIfTI.
    """

    shape: tuple[int, int, int]
    affine: np.ndarray
    frame_of_reference_uid: str | None

    @property
    def spacing_mm(self) -> np.ndarray:
        """(slice, row, column) spacing, mm."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    @property
    def cosines(self) -> np.ndarray:
        """Unit directions of increasing slice, row and column index (columns of a 3 x 3)."""
        return self.affine[:3, :3] / self.spacing_mm

    @property
    def voxel_volume_ml(self) -> float:
        return float(abs(np.linalg.det(self.affine[:3, :3])) / 1000.0)

    def describe(self) -> str:
        s = self.spacing_mm
        return (f"{self.shape[2]}×{self.shape[1]}×{self.shape[0]} voxels of "
                f"{s[2]:.2f}×{s[1]:.2f}×{s[0]:.2f} mm")

    def differences(self, other: "Geometry") -> list[tuple[str, str, str]]:
        """(tag keyword, this value, other value) for every grid property that differs."""
        out = []
        if self.frame_of_reference_uid != other.frame_of_reference_uid:
            out.append(("FrameOfReferenceUID", str(self.frame_of_reference_uid),
                        str(other.frame_of_reference_uid)))
        if self.shape[1] != other.shape[1]:
            out.append(("Rows", str(self.shape[1]), str(other.shape[1])))
        if self.shape[2] != other.shape[2]:
            out.append(("Columns", str(self.shape[2]), str(other.shape[2])))
        if self.shape[0] != other.shape[0]:
            out.append(("NumberOfFrames", f"{self.shape[0]} slices", f"{other.shape[0]} slices"))
        a, b = self.spacing_mm, other.spacing_mm
        if not np.allclose(a[1:], b[1:], rtol=SPACING_RTOL, atol=0):
            out.append(("PixelSpacing", _fmt(a[1:]), _fmt(b[1:])))
        if not np.isclose(a[0], b[0], rtol=SPACING_RTOL, atol=0):
            out.append(("SpacingBetweenSlices", _fmt(a[:1]), _fmt(b[:1])))
        if not np.allclose(self.cosines, other.cosines, atol=COSINE_TOL):
            out.append(("ImageOrientationPatient", _fmt(self.cosines[:, [2, 1]].T.ravel()),
                        _fmt(other.cosines[:, [2, 1]].T.ravel())))
        if not np.allclose(self.affine[:3, 3], other.affine[:3, 3], atol=POSITION_TOL_MM, rtol=0):
            out.append(("ImagePositionPatient", _fmt(self.affine[:3, 3]), _fmt(other.affine[:3, 3])))
        return out

    def same_grid(self, other: "Geometry", *, check_frame: bool = True) -> bool:
        diffs = self.differences(other)
        return not [d for d in diffs if check_frame or d[0] != "FrameOfReferenceUID"]

    def same_lattice(self, other: "Geometry") -> bool:
        """Same steps and orientation, voxel centres on one lattice (an integer index offset)."""
        if not np.allclose(self.affine[:3, :3], other.affine[:3, :3], atol=1e-4):
            return False
        offset = np.linalg.solve(self.affine[:3, :3], other.affine[:3, 3] - self.affine[:3, 3])
        return bool(np.allclose(offset, np.rint(offset), atol=1e-3))


def _fmt(values) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in np.asarray(values, dtype=float).ravel()) + "]"


def geometry_from_planes(position_mm, row_cosine, column_cosine, pixel_spacing_mm, slice_step_mm,
                         n_slices: int, rows: int, columns: int, frame_of_reference_uid):
    """Geometry from DICOM plane tags: ImagePositionPatient of slice 0, ImageOrientationPatient
    (row then column cosines), PixelSpacing (row spacing, column spacing), the signed step
    between slices along row x column."""
    row_c, col_c = np.asarray(row_cosine, float), np.asarray(column_cosine, float)
    normal = np.cross(row_c, col_c)
    affine = np.eye(4)
    affine[:3, 0] = normal * slice_step_mm
    affine[:3, 1] = col_c * float(pixel_spacing_mm[0])
    affine[:3, 2] = row_c * float(pixel_spacing_mm[1])
    affine[:3, 3] = np.asarray(position_mm, float)
    return Geometry((int(n_slices), int(rows), int(columns)), affine,
                    None if frame_of_reference_uid is None else str(frame_of_reference_uid))


def resample_nearest(volume: np.ndarray, source: Geometry, target: Geometry, fill=0) -> np.ndarray:
    """Values of ``volume`` (on ``source``) at the voxel centres of ``target``, nearest neighbour.

    Target voxels whose centre falls outside the source grid get ``fill``. The same grid
    returns a copy.
    """
    if source.same_grid(target, check_frame=False) and volume.shape == target.shape:
        return volume.copy()
    to_source = np.linalg.inv(source.affine) @ target.affine
    out = np.full(target.shape, fill, dtype=volume.dtype)
    r, c = np.meshgrid(np.arange(target.shape[1]), np.arange(target.shape[2]), indexing="ij")
    plane = np.stack([np.zeros_like(r), r, c, np.ones_like(r)], axis=-1).reshape(-1, 4).astype(float)
    for k in range(target.shape[0]):  # one slice at a time keeps memory at one plane of indices
        plane[:, 0] = k
        idx = np.rint(plane @ to_source.T)[:, :3].astype(np.int64)
        inside = np.all((idx >= 0) & (idx < np.array(volume.shape)), axis=1)
        values = out[k].reshape(-1)
        values[inside] = volume[idx[inside, 0], idx[inside, 1], idx[inside, 2]]
    return out


# --- results ----------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SpectTimePoint:
    """One quantitative SPECT (or PET) acquisition: activity concentration on its grid."""

    activity_bq_per_ml: np.ndarray  # float32, (slices, rows, columns)
    geometry: Geometry
    acquired: dt.datetime
    modality: str
    units: str  # how Bq/mL was obtained
    series_instance_uid: str
    sop_instance_uids: tuple[str, ...]
    source: str  # file name(s), for messages only (never stored)
    injection_activity_mbq: float | None
    injection_time: dt.datetime | None
    injection_source: str  # the file that stated the injection, for messages


@dataclass(frozen=True)
class Injection:
    """Injected activity and time. *_origin is 'entered' or the DICOM tag (no file names: it is
    stored as provenance); *_file names the file that stated it, for messages and display only."""

    activity_mbq: float
    time: dt.datetime
    activity_origin: str
    time_origin: str
    activity_file: str | None = None
    time_file: str | None = None

    @property
    def activity_source(self) -> str:
        return self.activity_origin + (f" of {self.activity_file}" if self.activity_file else "")

    @property
    def time_source(self) -> str:
        return self.time_origin + (f" of {self.time_file}" if self.time_file else "")


@dataclass(frozen=True, eq=False)
class VoiSource:
    """A named structure from a SEG segment, an RTSTRUCT ROI or a NIfTI label, not yet on a grid."""

    name: str
    organ: str | None
    kind: str  # "SEG" | "RTSTRUCT" | "NIfTI"
    source: str  # file name, for messages only
    series_instance_uid: str | None
    sop_instance_uid: str | None
    frame_of_reference_uid: str | None
    volume: np.ndarray | None = None  # bool or label volume (SEG, NIfTI)
    geometry: Geometry | None = None
    label_value: int | None = None  # NIfTI multi-label value
    contours_mm: tuple[np.ndarray, ...] = ()  # RTSTRUCT closed planar contours, (n, 3) each

    def describe(self) -> str:
        where = {"SEG": "segment", "RTSTRUCT": "ROI", "NIfTI": "label"}[self.kind]
        return f"{self.kind} {self.source} {where} '{self.name}'"

    def provenance(self) -> dict:
        out = {"kind": self.kind, "name": self.name}
        if self.series_instance_uid:
            out["series_instance_uid"] = self.series_instance_uid
        if self.sop_instance_uid:
            out["sop_instance_uid"] = self.sop_instance_uid
        if self.kind == "NIfTI":
            out["note"] = "NIfTI label map (no DICOM UIDs)"
        return out


@dataclass(frozen=True, eq=False)
class Voi:
    """A VOI rasterised on the study's reference grid."""

    name: str
    organ: str | None
    mask: np.ndarray  # bool, reference grid
    source: VoiSource
    note: str


@dataclass(frozen=True, eq=False)
class DoseMap:
    """An RTDOSE grid. dose_gy is None when DoseUnits is not GY (values then in ``values``)."""

    values: np.ndarray  # pixel data x DoseGridScaling, float64
    dose_units: str
    dose_type: str
    summation_type: str
    geometry: Geometry
    series_instance_uid: str
    sop_instance_uid: str
    source: str

    @property
    def dose_gy(self) -> np.ndarray:
        if self.dose_units != "GY":
            raise DicomError(self.source, "DoseUnits",
                             f"is {self.dose_units!r}: only absolute dose in GY can be used as absorbed dose")
        if self.dose_type != "PHYSICAL":
            raise DicomError(self.source, "DoseType",
                             f"is {self.dose_type!r}: only PHYSICAL absorbed dose can be used")
        return self.values


@dataclass(frozen=True, eq=False)
class DicomStudy:
    """Everything read for one cycle's dosimetry. Holds no patient name, ID or birth date."""

    time_points: tuple[SpectTimePoint, ...]
    injection: Injection | None
    vois: tuple[Voi, ...]
    voi_sources: tuple[VoiSource, ...]
    dose_maps: tuple[DoseMap, ...]
    geometry: Geometry
    notes: tuple[str, ...] = ()
    ignored: tuple[str, ...] = field(default_factory=tuple)

    @property
    def times_h(self) -> np.ndarray:
        """Acquisition times after injection, h (empty without SPECT)."""
        if not self.time_points:
            return np.zeros(0)
        return np.array([(tp.acquired - self.injection.time).total_seconds() / 3600.0
                         for tp in self.time_points])

    def summary(self) -> pd.DataFrame:
        """One row per series read, VOI and dose map: what, units, time, grid (for display)."""
        rows = []
        for i, (tp, t_h) in enumerate(zip(self.time_points, self.times_h), start=1):
            rows.append({"Item": f"SPECT time point {i}", "Modality": tp.modality,
                         "Series Instance UID": tp.series_instance_uid, "Files": len(tp.sop_instance_uids),
                         "Time after injection (h)": round(float(t_h), 2), "Units": tp.units,
                         "Grid": tp.geometry.describe(), "Note": ""})
        for voi in self.vois:
            rows.append({"Item": f"VOI {voi.name}", "Modality": voi.source.kind,
                         "Series Instance UID": voi.source.series_instance_uid or "",
                         "Files": 1, "Time after injection (h)": None,
                         "Units": f"{int(voi.mask.sum())} voxels",
                         "Grid": self.geometry.describe(), "Note": voi.note})
        for dose in self.dose_maps:
            rows.append({"Item": "RTDOSE", "Modality": "RTDOSE", "Series Instance UID": dose.series_instance_uid,
                         "Files": 1, "Time after injection (h)": None,
                         "Units": f"{dose.dose_units} ({dose.dose_type}, {dose.summation_type})",
                         "Grid": dose.geometry.describe(), "Note": ""})
        return pd.DataFrame(rows, columns=["Item", "Modality", "Series Instance UID", "Files",
                                           "Time after injection (h)", "Units", "Grid", "Note"])


# --- file collection ---------------------------------------------------------------
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
            name, data = str(item[0]), bytes(item[1])
            files.extend(_zip_members(name, data) if data[:4] == b"PK\x03\x04" else [(name, data)])
            continue
        path = Path(item)
        if path.is_dir():
            for member in sorted(p for p in path.rglob("*") if p.is_file()):
                rel = member.relative_to(path)
                if not _is_skipped(str(rel)):
                    data = member.read_bytes()
                    label = f"{path.name}/{rel}"
                    files.extend(_zip_members(label, data) if data[:4] == b"PK\x03\x04" else [(label, data)])
        elif path.is_file():
            data = path.read_bytes()
            files.extend(_zip_members(path.name, data) if data[:4] == b"PK\x03\x04" else [(path.name, data)])
        else:
            raise DicomError(str(path), None, "no such file or folder")
    return files


# --- low-level parsing ---------------------------------------------------------------
def _nifti_bytes(name: str, data: bytes) -> bytes | None:
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


def _require(ds: Dataset, keyword: str, name: str, why: str = ""):
    value = ds.get(keyword)
    if value is None or (isinstance(value, (str, bytes)) and not str(value).strip()):
        raise DicomError(name, keyword, "missing" + (f" ({why})" if why else ""))
    return value


def _floats(value, count: int, name: str, keyword: str) -> np.ndarray:
    items = [value] if isinstance(value, (str, bytes, int, float)) else list(value)
    try:
        out = np.array([float(v) for v in items])
    except (TypeError, ValueError):
        raise DicomError(name, keyword, f"not numeric: {value!r}") from None
    if out.size != count or not np.isfinite(out).all():
        raise DicomError(name, keyword, f"expected {count} finite numbers, got {value!r}")
    return out


def _datetime(ds: Dataset, name: str, dt_keyword: str | None, date_keyword: str, time_keyword: str) -> dt.datetime:
    """A date-time from the DT tag (when given), else from the DA + TM pair; time-zone offsets are dropped."""
    value = ds.get(dt_keyword) if dt_keyword else None
    label = dt_keyword or date_keyword
    try:
        if value not in (None, ""):
            return DT(str(value)).replace(tzinfo=None)
        date, time = ds.get(date_keyword), ds.get(time_keyword)
        if date in (None, "") or time in (None, ""):
            missing = date_keyword if date in (None, "") else time_keyword
            also = f", and {tag_label(missing)} is missing too" if dt_keyword else ""
            raise DicomError(name, dt_keyword or missing, "missing" + also)
        d, t = DA(str(date)), TM(str(time))
        return dt.datetime.combine(d, dt.time(t.hour, t.minute, t.second, t.microsecond))
    except DicomError:
        raise
    except (ValueError, TypeError) as exc:
        raise DicomError(name, label, f"not a valid date/time ({exc})") from None


def _pixels(ds: Dataset, name: str) -> np.ndarray:
    """The stored pixel values; a missing or undecodable Pixel Data element names the transfer syntax."""
    try:
        return np.asarray(ds.pixel_array)
    except Exception as exc:  # noqa: BLE001 - missing element, unsupported compression, truncated data
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "unknown")
        raise DicomError(name, "PixelData", f"cannot be decoded ({type(exc).__name__}; transfer syntax "
                         f"{syntax})") from None


def _image_type(ds: Dataset) -> list[str]:
    value = ds.get("ImageType") or []
    return [str(v).upper() for v in (value if not isinstance(value, str) else value.split("\\"))]


# --- SPECT / PET ---------------------------------------------------------------------
def _radiopharmaceutical(ds: Dataset, name: str) -> tuple[float | None, dt.datetime | None]:
    """(activity MBq, injection date-time) stated in the file; None where not stated."""
    seq = ds.get("RadiopharmaceuticalInformationSequence")
    if not seq:
        return None, None
    item = seq[0]
    half_life = item.get("RadionuclideHalfLife")
    if half_life not in (None, ""):
        half_life_s = float(half_life)
        if abs(half_life_s / LU177_HALF_LIFE_S - 1.0) > HALF_LIFE_TOLERANCE:
            raise DicomError(name, "RadionuclideHalfLife",
                             f"is {half_life_s:.0f} s ({half_life_s / 86400:.3f} d), not Lu-177 "
                             f"({LU177_HALF_LIFE_S:.0f} s): this series is not a Lu-177 acquisition")
    total = item.get("RadionuclideTotalDose")
    activity = None
    if total not in (None, ""):
        activity = float(total) / 1.0e6  # Bq -> MBq (RadionuclideTotalDose is in Bq, PS3.3 C.8.9.1)
        if not np.isfinite(activity) or activity <= 0:
            raise DicomError(name, "RadionuclideTotalDose", f"must be > 0 Bq, is {total!r}")
    when = None
    start = item.get("RadiopharmaceuticalStartDateTime")
    if start not in (None, ""):
        try:
            when = DT(str(start)).replace(tzinfo=None)
        except (ValueError, TypeError):
            raise DicomError(name, "RadiopharmaceuticalStartDateTime", f"not a valid date-time: {start!r}") from None
    return activity, when


def _nm_geometry(ds: Dataset, name: str) -> Geometry:
    n_frames = int(ds.get("NumberOfFrames") or 1)
    detector = ds.get("DetectorInformationSequence")
    holder = detector[0] if detector and "ImagePositionPatient" in detector[0] else ds
    position = _floats(_require(holder, "ImagePositionPatient", name,
                                "in DetectorInformationSequence (0054,0022) or the dataset"), 3, name,
                       "ImagePositionPatient")
    orientation = _floats(_require(holder, "ImageOrientationPatient", name,
                                   "in DetectorInformationSequence (0054,0022) or the dataset"), 6, name,
                          "ImageOrientationPatient")
    spacing = _floats(_require(ds, "PixelSpacing", name), 2, name, "PixelSpacing")
    step = float(_floats(_require(ds, "SpacingBetweenSlices", name, "needed to place the slices"), 1, name,
                         "SpacingBetweenSlices")[0])
    pointer = ds.get("FrameIncrementPointer")
    pointers = [] if pointer is None else (list(pointer) if isinstance(pointer, (list, pydicom.multival.MultiValue))
                                           else [pointer])
    slice_vector_tag = tag_for_keyword("SliceVector")
    others = [p for p in pointers if int(p) != slice_vector_tag]
    if others:
        names = ", ".join(pydicom.datadict.keyword_for_tag(int(p)) or hex(int(p)) for p in others)
        raise DicomError(name, "FrameIncrementPointer",
                         f"frames vary by {names} besides SliceVector: a mixed series (several energy "
                         "windows, detectors or gates in one file) cannot be a single activity map")
    return geometry_from_planes(position, orientation[:3], orientation[3:], spacing, step, n_frames,
                                int(_require(ds, "Rows", name)), int(_require(ds, "Columns", name)),
                                _require(ds, "FrameOfReferenceUID", name, "needed to match time points and VOIs"))


def _real_world_bq_per_ml(ds: Dataset) -> tuple[float, float, str] | None:
    """(slope, intercept, unit) to Bq/mL from a Real World Value Mapping with activity-concentration units."""
    scale = {"bq/ml": 1.0, "kbq/ml": 1.0e3, "mbq/ml": 1.0e6}
    seqs = [ds.get("RealWorldValueMappingSequence")]
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared and "RealWorldValueMappingSequence" in shared[0]:
        seqs.append(shared[0].RealWorldValueMappingSequence)
    for seq in seqs:
        for item in seq or []:
            units = item.get("MeasurementUnitsCodeSequence")
            code = str(units[0].get("CodeValue", "")).lower() if units else ""
            if code in scale and "RealWorldValueSlope" in item:
                f = scale[code]
                return (float(item.RealWorldValueSlope) * f,
                        float(item.get("RealWorldValueIntercept", 0.0) or 0.0) * f,
                        f"{units[0].CodeValue} from RealWorldValueMapping")
    return None


def _scan_duration_s(ds: Dataset, name: str) -> float:
    """Acquisition duration for counts: PET ActualFrameDuration, NM views x frame duration."""
    if ds.get("Modality") == "PT":
        return float(_require(ds, "ActualFrameDuration", name, "needed to turn counts into a count rate")) / 1000.0
    rotations = ds.get("RotationInformationSequence")
    if not rotations:
        raise DicomError(name, "RotationInformationSequence", "missing (needed for the scan duration of counts); "
                         "give the acquisition duration")
    total = 0.0
    for item in rotations:
        frame_ms = _require(item, "ActualFrameDuration", name, "in RotationInformationSequence")
        views = _require(item, "NumberOfFramesInRotation", name, "in RotationInformationSequence")
        total += float(frame_ms) * float(views) / 1000.0
    return total


def _to_bq_per_ml(ds: Dataset, pixels: np.ndarray, name: str, voxel_ml: float, *,
                  calibration_cps_per_mbq: float | None, acquisition_duration_s: float | None):
    """Stored pixel values -> Bq/mL (float64) and a description of how."""
    rwvm = _real_world_bq_per_ml(ds)
    if rwvm is not None:
        slope, intercept, how = rwvm
        return pixels * slope + intercept, how
    units = str(ds.get("Units", "") or "").upper()
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    if units == "BQML":
        if ds.get("Modality") == "PT" and "RescaleSlope" not in ds:
            raise DicomError(name, "RescaleSlope", "missing (Type 1 in PET images)")
        how = "Bq/mL from Units BQML" + (" and Rescale Slope" if "RescaleSlope" in ds else "")
        return pixels * slope + intercept, how
    if units == "CNTS" or (not units and calibration_cps_per_mbq is not None):
        if calibration_cps_per_mbq is None:
            raise DicomError(name, "Units", f"is {units or 'missing'}: the images are counts; enter the "
                             "calibration factor (cps/MBq) to convert them to activity")
        if not calibration_cps_per_mbq > 0:
            raise ValueError(f"calibration_cps_per_mbq must be > 0, got {calibration_cps_per_mbq}")
        duration = acquisition_duration_s if acquisition_duration_s is not None else _scan_duration_s(ds, name)
        if not duration > 0:
            raise DicomError(name, "ActualFrameDuration", f"scan duration must be > 0 s, is {duration}")
        counts = pixels * slope + intercept
        # counts / s / (cps/MBq) = MBq in the voxel; / mL -> MBq/mL; x 1e6 -> Bq/mL.
        factor = 1.0e6 / (duration * calibration_cps_per_mbq * voxel_ml)
        return counts * factor, (f"counts / ({calibration_cps_per_mbq:g} cps/MBq × {duration:g} s)")
    if not units:
        raise DicomError(name, "Units", "missing and no RealWorldValueMappingSequence (0040,9096) with Bq/ml: "
                         "the pixel values have no activity unit; for counts enter the calibration factor")
    raise DicomError(name, "Units", f"is {units!r}: only BQML (Bq/mL) or CNTS with a calibration factor "
                     "can be used for dosimetry")


def _acquisition_time(ds: Dataset, name: str) -> tuple[dt.datetime, str]:
    """(time the pixel values refer to, decay-correction mode) for an NM or PET object."""
    mode = str(ds.get("DecayCorrection", "NONE") or "NONE").upper()
    if mode == "START":
        return _datetime(ds, name, None, "SeriesDate", "SeriesTime"), mode
    return _datetime(ds, name, "AcquisitionDateTime", "AcquisitionDate", "AcquisitionTime"), mode


def _nm_time_point(name: str, ds: Dataset, **conversion) -> SpectTimePoint:
    image_type = _image_type(ds)
    if len(image_type) < 3 or image_type[2] != "RECON TOMO":
        raise DicomError(name, "ImageType", f"is {image_type}: not a reconstructed SPECT (value 3 must be "
                         "RECON TOMO); planar, whole-body, projection or gated NM cannot be used")
    if len(image_type) >= 4 and image_type[3] == "TRANSMISSION":
        raise DicomError(name, "ImageType", f"is {image_type}: a transmission (attenuation) map, not emission")
    geometry = _nm_geometry(ds, name)
    pixels = _pixels(ds, name).astype(np.float64).reshape(geometry.shape)
    values, how = _to_bq_per_ml(ds, pixels, name, geometry.voxel_volume_ml, **conversion)
    acquired, mode = _acquisition_time(ds, name)
    activity, injected = _radiopharmaceutical(ds, name)
    values = _undo_admin_decay(values, mode, acquired, injected, name)
    return SpectTimePoint(values.astype(np.float32), geometry, acquired, "NM", how,
                          str(_require(ds, "SeriesInstanceUID", name)), (str(_require(ds, "SOPInstanceUID", name)),),
                          name, activity, injected, name)


def _undo_admin_decay(values, mode, acquired, injected, name):
    if mode in ("NONE", "START"):
        return values
    if mode == "ADMIN":
        if injected is None:
            raise DicomError(name, "RadiopharmaceuticalStartDateTime",
                             "missing, but DecayCorrection (0054,1102) is ADMIN: cannot undo the decay correction")
        dt_h = (acquired - injected).total_seconds() / 3600.0
        return values * dosimetry.decay_factor(dt_h)
    raise DicomError(name, "DecayCorrection", f"is {mode!r}: expected NONE, START or ADMIN")


def _pet_time_point(slices: list[tuple[str, Dataset]], **conversion) -> SpectTimePoint:
    first_name, first = slices[0]
    label = first_name if len(slices) == 1 else f"{first_name} (+{len(slices) - 1} files of its series)"
    keys = ("Rows", "Columns", "PixelSpacing", "ImageOrientationPatient", "FrameOfReferenceUID", "Units")
    ref = {k: str(first.get(k)) for k in keys}
    for name, ds in slices[1:]:
        for k in keys:
            if str(ds.get(k)) != ref[k]:
                raise DicomError(name, k, f"differs from {first_name} within one series ({ds.get(k)!r} vs "
                                 f"{first.get(k)!r}): a mixed series")
    orientation = _floats(_require(first, "ImageOrientationPatient", first_name), 6, first_name,
                          "ImageOrientationPatient")
    normal = np.cross(orientation[:3], orientation[3:])
    positions = np.array([_floats(_require(ds, "ImagePositionPatient", n), 3, n, "ImagePositionPatient")
                          for n, ds in slices])
    order = np.argsort(positions @ normal)
    slices = [slices[i] for i in order]
    positions = positions[order]
    depth = positions @ normal
    if len(slices) > 1:
        steps = np.diff(depth)
        if (np.abs(steps) < 1e-3).any():
            dup = slices[int(np.argmin(np.abs(steps))) + 1][0]
            raise DicomError(dup, "ImagePositionPatient", "repeats another slice of the series: a mixed series "
                             "(two reconstructions or time points under one Series Instance UID)")
        if not np.allclose(steps, steps[0], rtol=1e-3, atol=1e-3):
            raise DicomError(first_name, "ImagePositionPatient", "slices are not evenly spaced "
                             f"(steps {steps.min():.3f}-{steps.max():.3f} mm)")
        step = float(steps[0])
    else:
        step = float(_floats(_require(first, "SliceThickness", first_name), 1, first_name, "SliceThickness")[0])
    geometry = geometry_from_planes(positions[0], orientation[:3], orientation[3:],
                                    _floats(_require(first, "PixelSpacing", first_name), 2, first_name, "PixelSpacing"),
                                    step, len(slices), int(first.Rows), int(first.Columns),
                                    _require(first, "FrameOfReferenceUID", first_name))
    values = np.empty(geometry.shape, dtype=np.float32)
    for k, (name, ds) in enumerate(slices):
        plane, how = _to_bq_per_ml(ds, _pixels(ds, name).astype(np.float64), name,
                                   geometry.voxel_volume_ml, **conversion)
        values[k] = plane
    times = [_acquisition_time(ds, name) for name, ds in slices]
    modes = {m for _, m in times}
    if len(modes) > 1:
        raise DicomError(first_name, "DecayCorrection", f"differs between slices of one series: {sorted(modes)}")
    acquired = min(t for t, _ in times)
    if max(t for t, _ in times) - acquired > dt.timedelta(hours=2):
        raise DicomError(first_name, "AcquisitionDateTime", "slices of one series were acquired more than 2 h apart:"
                         " a mixed series")
    activity, injected = _radiopharmaceutical(first, first_name)
    values = _undo_admin_decay(values.astype(np.float64), modes.pop(), acquired, injected, first_name)
    return SpectTimePoint(values.astype(np.float32), geometry, acquired, "PT", how,
                          str(_require(first, "SeriesInstanceUID", first_name)),
                          tuple(str(_require(ds, "SOPInstanceUID", n)) for n, ds in slices),
                          label, activity, injected, first_name)


# --- VOIs --------------------------------------------------------------------------------
def organ_for_name(name: str, interpreted_type: str | None = None) -> str | None:
    """Store organ for a VOI name: kidney_left | kidney_right | kidneys | tumour | liver | spleen | None.

    Case, spaces, hyphens and filler words (VOI, ROI, mask, ...) are ignored; 'left', 'l',
    'lt' and 'right', 'r', 'rt' give the side; names starting with lesion, tumour/tumor,
    GTV or metasta... are lesions, as is an RTSTRUCT ROI of interpreted type GTV.
    TotalSegmentator names (kidney_left, kidney_cyst_left, ...) map as expected: a cyst is
    not a kidney.
    """
    tokens = [t for t in re.split(r"[^a-z0-9]+", name.lower()) if t not in _FILLER_TOKENS]
    words = set(tokens)
    if words in ({"kidney", "left"}, {"kidney", "l"}, {"kidney", "lt"}, {"niere", "links"}):
        return "kidney_left"
    if words in ({"kidney", "right"}, {"kidney", "r"}, {"kidney", "rt"}, {"niere", "rechts"}):
        return "kidney_right"
    if words in ({"kidneys"}, {"kidney"}, {"kidneys", "both"}, {"kidney", "both"}, {"nieren"}):
        return "kidneys"
    if words == {"liver"}:
        return "liver"
    if words == {"spleen"}:
        return "spleen"
    if tokens and any(tokens[0].startswith(p) for p in _LESION_PREFIXES) and "cyst" not in words:
        return "tumour"
    if (interpreted_type or "").upper() == "GTV":
        return "tumour"
    return None


def _seg_sources(name: str, ds: Dataset) -> list[VoiSource]:
    seg_type = str(_require(ds, "SegmentationType", name)).upper()
    if seg_type not in ("BINARY", "FRACTIONAL"):
        raise DicomError(name, "SegmentationType", f"is {seg_type!r}: only BINARY or FRACTIONAL is supported")
    frame_uid = str(_require(ds, "FrameOfReferenceUID", name, "needed to place the segments"))
    shared = (ds.get("SharedFunctionalGroupsSequence") or [Dataset()])[0]
    per_frame = _require(ds, "PerFrameFunctionalGroupsSequence", name)
    pixels = _pixels(ds, name)
    n_frames = int(ds.get("NumberOfFrames") or 1)
    pixels = pixels.reshape(n_frames, int(ds.Rows), int(ds.Columns))
    if len(per_frame) != n_frames:
        raise DicomError(name, "PerFrameFunctionalGroupsSequence", f"has {len(per_frame)} items for {n_frames} "
                         "frame(s) of pixel data")
    if seg_type == "FRACTIONAL":
        # Fraction >= 1/2 of MaximumFractionalValue is inside (the usual 50 % rule).
        pixels = pixels >= 0.5 * float(_require(ds, "MaximumFractionalValue", name))
    else:
        pixels = pixels.astype(bool)

    def group(item, seq_keyword, keyword):
        for holder in (item, shared):
            seq = holder.get(seq_keyword)
            if seq and keyword in seq[0]:
                return seq[0].get(keyword)
        raise DicomError(name, keyword, f"missing in {seq_keyword} (per-frame and shared functional groups)")

    positions, segments, orientations = [], [], []
    for i, item in enumerate(per_frame):
        positions.append(_floats(group(item, "PlanePositionSequence", "ImagePositionPatient"), 3, name,
                                 "ImagePositionPatient"))
        segments.append(int(group(item, "SegmentIdentificationSequence", "ReferencedSegmentNumber")))
        orientations.append(tuple(np.round(_floats(group(item, "PlaneOrientationSequence",
                                                         "ImageOrientationPatient"), 6, name,
                                                   "ImageOrientationPatient"), 6)))
    if len(set(orientations)) != 1:
        raise DicomError(name, "ImageOrientationPatient", "frames have different orientations")
    orientation = np.array(orientations[0])
    measures_item = per_frame[0]
    spacing = _floats(group(measures_item, "PixelMeasuresSequence", "PixelSpacing"), 2, name, "PixelSpacing")
    normal = np.cross(orientation[:3], orientation[3:])
    positions = np.array(positions)
    depth = positions @ normal
    in_plane = positions - depth[:, None] * normal
    if not np.allclose(in_plane, in_plane[0], atol=POSITION_TOL_MM * 10):
        raise DicomError(name, "ImagePositionPatient", "frames are not stacked along the slice normal")
    planes = np.unique(np.round(depth, 3))
    try:
        step = float(group(measures_item, "PixelMeasuresSequence", "SpacingBetweenSlices"))
    except DicomError:
        step = float(np.min(np.diff(planes))) if planes.size > 1 else float(
            group(measures_item, "PixelMeasuresSequence", "SliceThickness"))
    index = (depth - planes[0]) / step
    if not np.allclose(index, np.rint(index), atol=0.05):
        raise DicomError(name, "ImagePositionPatient", f"frame positions are not multiples of the slice spacing "
                         f"{step:g} mm")
    index = np.rint(index).astype(int)
    geometry = geometry_from_planes(in_plane[0] + planes[0] * normal, orientation[:3], orientation[3:], spacing,
                                    step, int(index.max()) + 1, int(ds.Rows), int(ds.Columns), frame_uid)
    segment_seq = _require(ds, "SegmentSequence", name)
    labels = {int(s.SegmentNumber): str(s.get("SegmentLabel") or f"segment {int(s.SegmentNumber)}")
              for s in segment_seq}
    sources = []
    for number, label in labels.items():
        volume = np.zeros(geometry.shape, dtype=bool)
        frames = [i for i, s in enumerate(segments) if s == number]
        for i in frames:
            volume[index[i]] |= pixels[i]
        sources.append(VoiSource(label, organ_for_name(label), "SEG", name, str(ds.get("SeriesInstanceUID", "")),
                                 str(ds.get("SOPInstanceUID", "")), frame_uid, volume=volume, geometry=geometry))
    return sources


def _rtstruct_sources(name: str, ds: Dataset) -> list[VoiSource]:
    rois = {int(r.ROINumber): r for r in _require(ds, "StructureSetROISequence", name)}
    interpreted = {int(o.ReferencedROINumber): str(o.get("RTROIInterpretedType", "") or "")
                   for o in ds.get("RTROIObservationsSequence") or []}
    sources = []
    for item in ds.get("ROIContourSequence") or []:
        number = int(item.ReferencedROINumber)
        if number not in rois:
            raise DicomError(name, "ReferencedROINumber", f"{number} is not in StructureSetROISequence (3006,0020)")
        roi = rois[number]
        contours = []
        for c in item.get("ContourSequence") or []:
            if str(c.get("ContourGeometricType", "")).upper() != "CLOSED_PLANAR":
                continue  # POINT / OPEN contours enclose no volume
            points = np.array([float(v) for v in c.ContourData]).reshape(-1, 3)
            if len(points) >= 3:
                contours.append(points)
        if not contours:
            continue
        roi_name = str(roi.get("ROIName") or f"ROI {number}")
        sources.append(VoiSource(roi_name, organ_for_name(roi_name, interpreted.get(number)), "RTSTRUCT", name,
                                 str(ds.get("SeriesInstanceUID", "")), str(ds.get("SOPInstanceUID", "")),
                                 str(roi.get("ReferencedFrameOfReferenceUID", "") or "") or None,
                                 contours_mm=tuple(contours)))
    return sources


_CARET_LABEL = re.compile(r'<Label\s+Key="(\d+)"[^>]*>\s*<!\[CDATA\[(.*?)\]\]>\s*</Label>', re.S)


def _nifti_sources(name: str, raw: bytes) -> list[VoiSource]:
    import nibabel as nib

    try:
        img = (nib.Nifti1Image if raw[344:348] in (b"n+1\x00", b"ni1\x00") else nib.Nifti2Image).from_bytes(raw)
        data = np.asanyarray(img.dataobj)
    except Exception as exc:  # noqa: BLE001 - report any nibabel failure as an unreadable file
        raise DicomError(name, None, f"unreadable NIfTI file ({type(exc).__name__}: {exc})") from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise DicomError(name, None, f"NIfTI label map must be 3-D, has shape {data.shape}")
    if not np.all(np.equal(np.mod(data, 1), 0)):
        raise DicomError(name, None, "NIfTI label map must hold integer labels")
    labels = np.rint(data).astype(np.int32).transpose(2, 1, 0)  # (i, j, k) -> (slice, row, column)
    ras = img.affine
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ ras  # NIfTI is RAS+, DICOM patient coordinates LPS
    affine = np.eye(4)
    affine[:3, 0], affine[:3, 1], affine[:3, 2], affine[:3, 3] = lps[:3, 2], lps[:3, 1], lps[:3, 0], lps[:3, 3]
    geometry = Geometry(labels.shape, affine, None)
    table = {}
    for ext in img.header.extensions:
        content = ext.get_content()
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
        table.update({int(k): v.strip() for k, v in _CARET_LABEL.findall(text)})
    present = [int(v) for v in np.unique(labels) if v != 0]
    stem = re.sub(r"\.nii(\.gz)?$", "", Path(name).name, flags=re.I)
    if table:
        names = {v: table.get(v, f"label {v}") for v in present}
    elif set(present) <= {1}:
        names = {1: stem}
    else:
        raise DicomError(name, None, f"label map with labels {present[:8]} but no label names (no "
                         "TotalSegmentator label table in the header extension); save one file per structure "
                         "named after it (e.g. kidney_left.nii.gz)")
    return [VoiSource(label, organ_for_name(label), "NIfTI", name, None, None, None, volume=labels,
                      geometry=geometry, label_value=value) for value, label in names.items()]


def _rasterise_contours(contours: Sequence[np.ndarray], target: Geometry, source: str, name: str) -> np.ndarray:
    """Closed planar contours (patient mm) -> mask on ``target``: on each slice the contour plane
    nearest the slice centre (within half a slice) is filled with the even-odd rule (holes)."""
    to_index = np.linalg.inv(target.affine)
    by_slice: dict[int, list[tuple[float, np.ndarray]]] = {}
    for points in contours:
        idx = np.c_[points, np.ones(len(points))] @ to_index.T
        k = idx[:, 0]
        if np.ptp(k) > 0.1:
            raise DicomError(source, "ContourData", f"a contour of ROI '{name}' is not parallel to the target "
                             "slices (oblique contours are not supported)")
        k_mean = float(k.mean())
        slice_k = int(np.rint(k_mean))
        if 0 <= slice_k < target.shape[0]:
            by_slice.setdefault(slice_k, []).append((abs(k_mean - slice_k), idx[:, 1:3]))
    mask = np.zeros(target.shape, dtype=bool)
    for slice_k, items in by_slice.items():
        nearest = min(d for d, _ in items)
        for distance, poly in items:
            if distance - nearest > 1e-3:
                continue
            rmin, cmin = np.maximum(np.floor(poly.min(axis=0)).astype(int), 0)
            rmax = min(int(np.ceil(poly[:, 0].max())), target.shape[1] - 1)
            cmax = min(int(np.ceil(poly[:, 1].max())), target.shape[2] - 1)
            if rmax < rmin or cmax < cmin:
                continue
            rr, cc = np.meshgrid(np.arange(rmin, rmax + 1), np.arange(cmin, cmax + 1), indexing="ij")
            r1, c1 = poly[:, 0][:, None, None], poly[:, 1][:, None, None]
            r2, c2 = np.roll(poly[:, 0], -1)[:, None, None], np.roll(poly[:, 1], -1)[:, None, None]
            with np.errstate(divide="ignore", invalid="ignore"):
                crosses = ((r1 > rr) != (r2 > rr)) & (cc < (c2 - c1) * (rr - r1) / (r2 - r1) + c1)
            inside = np.logical_xor.reduce(crosses, axis=0)
            mask[slice_k, rmin:rmax + 1, cmin:cmax + 1] ^= inside
    return mask


def voi_mask(source: VoiSource, target: Geometry) -> tuple[np.ndarray, str]:
    """The VOI as a boolean mask on ``target`` and a note on how it got there.

    Refuses a different Frame of Reference (DICOM VOIs) and an empty result.
    """
    if source.kind != "NIfTI" and target.frame_of_reference_uid is not None:
        if source.frame_of_reference_uid != target.frame_of_reference_uid:
            keyword = "ReferencedFrameOfReferenceUID" if source.kind == "RTSTRUCT" else "FrameOfReferenceUID"
            raise DicomError(source.source, keyword, f"of '{source.name}' is {source.frame_of_reference_uid}, the "
                             f"images' FrameOfReferenceUID (0020,0052) is {target.frame_of_reference_uid}: the "
                             "VOI belongs to another scan or registration")
    if source.kind == "RTSTRUCT":
        mask = _rasterise_contours(source.contours_mm, target, source.source, source.name)
        note = "contours rasterised at the voxel centres"
    else:
        volume = source.volume if source.label_value is None else source.volume == source.label_value
        mask = resample_nearest(volume.astype(bool), source.geometry, target, fill=False)
        note = ("on the image grid" if source.geometry.same_lattice(target)
                else f"resampled (nearest neighbour) from {source.geometry.describe()}")
        if source.kind == "NIfTI":
            note += "; NIfTI has no Frame of Reference: assumed to be from this SPECT/CT"
    if not mask.any():
        where = {"SEG": "segment", "RTSTRUCT": "ROI", "NIfTI": "label"}[source.kind]
        raise DicomError(source.source, None, f"{where} '{source.name}' is empty on the image grid (outside the "
                         "field of view, or an empty mask)")
    return mask, note


# --- RTDOSE ---------------------------------------------------------------------------------
def read_rtdose(name: str, ds: Dataset) -> DoseMap:
    """An RTDOSE grid: pixel data x DoseGridScaling (Gy when DoseUnits is GY)."""
    scaling = float(_require(ds, "DoseGridScaling", name, "needed to scale the pixel data"))
    units = str(_require(ds, "DoseUnits", name)).upper()
    orientation = _floats(_require(ds, "ImageOrientationPatient", name), 6, name, "ImageOrientationPatient")
    position = _floats(_require(ds, "ImagePositionPatient", name), 3, name, "ImagePositionPatient")
    n_frames = int(ds.get("NumberOfFrames") or 1)
    if n_frames > 1:
        offsets = np.array([float(v) for v in _require(ds, "GridFrameOffsetVector", name)])
        if offsets.size != n_frames:
            raise DicomError(name, "GridFrameOffsetVector", f"has {offsets.size} values for {n_frames} frames")
        # PS3.3 C.8.8.3.2: relative offsets when the first is 0, else absolute positions along the normal.
        normal = np.cross(orientation[:3], orientation[3:])
        if offsets[0] != 0:
            offsets = offsets - float(position @ normal)
        steps = np.diff(offsets)
        if not np.allclose(steps, steps[0], rtol=1e-4, atol=1e-4) or steps[0] == 0:
            raise DicomError(name, "GridFrameOffsetVector", "frames are not evenly spaced")
        step = float(steps[0])
        position = position + offsets[0] * normal
    else:
        step = float(ds.get("SliceThickness") or 1.0)
    geometry = geometry_from_planes(position, orientation[:3], orientation[3:],
                                    _floats(_require(ds, "PixelSpacing", name), 2, name, "PixelSpacing"), step,
                                    n_frames, int(ds.Rows), int(ds.Columns), ds.get("FrameOfReferenceUID"))
    values = _pixels(ds, name).astype(np.float64).reshape(geometry.shape) * scaling
    return DoseMap(values, units, str(ds.get("DoseType", "") or "").upper(),
                   str(ds.get("DoseSummationType", "") or ""), geometry, str(ds.get("SeriesInstanceUID", "")),
                   str(ds.get("SOPInstanceUID", "")), name)


# --- the whole study --------------------------------------------------------------------
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


def _check_one_patient(datasets: list[tuple[str, Dataset]]) -> None:
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


def _injection(points: Sequence[SpectTimePoint], activity_mbq, injection_time) -> Injection:
    stated_a = [(tp.injection_source, tp.injection_activity_mbq) for tp in points if tp.injection_activity_mbq]
    stated_t = [(tp.injection_source, tp.injection_time) for tp in points if tp.injection_time is not None]
    for label, stated, close in (
            ("RadionuclideTotalDose", stated_a, lambda a, b: abs(a / b - 1) <= ACTIVITY_AGREEMENT_RTOL),
            ("RadiopharmaceuticalStartDateTime", stated_t,
             lambda a, b: abs((a - b).total_seconds()) <= INJECTION_TIME_AGREEMENT_S)):
        for name, value in stated[1:]:
            if not close(value, stated[0][1]):
                raise DicomError(name, label, f"is {value} but {stated[0][0]} says {stated[0][1]}: the time points "
                                 "are not from one administration")
    first = points[0].source
    a_file = t_file = None
    if activity_mbq is not None:
        if not (np.isfinite(activity_mbq) and activity_mbq > 0):
            raise ValueError(f"activity_mbq must be > 0, got {activity_mbq}")
        a_origin = "entered" + (f" (files state {stated_a[0][1]:.1f} MBq)" if stated_a else "")
        if stated_a and abs(stated_a[0][1] / activity_mbq - 1) > ACTIVITY_AGREEMENT_RTOL:
            logger.warning("entered injected activity %.1f MBq differs from the files' %.1f MBq",
                           activity_mbq, stated_a[0][1])
    elif stated_a:
        activity_mbq, a_origin, a_file = stated_a[0][1], tag_label("RadionuclideTotalDose"), stated_a[0][0]
    else:
        raise DicomError(first, "RadionuclideTotalDose", "missing (no RadiopharmaceuticalInformationSequence "
                         "(0054,0016) states the injected activity in any time point): enter the injected activity")
    if injection_time is not None:
        t_origin = "entered"
    elif stated_t:
        injection_time, t_origin, t_file = stated_t[0][1], tag_label("RadiopharmaceuticalStartDateTime"), stated_t[0][0]
    else:
        raise DicomError(first, "RadiopharmaceuticalStartDateTime", "missing in every time point (a start time "
                         "without a date is not enough for a multi-day series): enter the injection date and time")
    return Injection(float(activity_mbq), injection_time, a_origin, t_origin, a_file, t_file)


def read_study(inputs: Source | Sequence[Source], *, voi_inputs: Source | Sequence[Source] = (),
               activity_mbq: float | None = None, injection_time: dt.datetime | None = None,
               calibration_cps_per_mbq: float | None = None, acquisition_duration_s: float | None = None,
               progress: Progress | None = None) -> DicomStudy:
    """Read SPECT/PET time points, VOIs and RTDOSE maps from files, folders, zips or uploads.

    activity_mbq / injection_time: entered values (used instead of the files' when given).
    calibration_cps_per_mbq: for images in counts (reconstructed counts per second of scan per MBq).
    acquisition_duration_s: overrides the scan duration read from the files (counts only).
    progress(fraction, message) is called while reading. Raises DicomError on any refused input.
    """
    report = progress or (lambda fraction, message: None)
    files = collect_files(inputs) + (collect_files(voi_inputs) if voi_inputs else [])
    if not files:
        raise DicomError("input", None, "no files found")
    conversion = {"calibration_cps_per_mbq": calibration_cps_per_mbq, "acquisition_duration_s": acquisition_duration_s}
    nm, pet, voi_sources, dose_maps, ignored, identity = [], {}, [], [], [], []
    for i, (name, data) in enumerate(files):
        report(0.6 * i / len(files), f"Reading {Path(name).name} ({i + 1} of {len(files)})")
        raw = _nifti_bytes(name, data)
        if raw is not None:
            voi_sources.extend(_nifti_sources(name, raw))
            continue
        ds = read_dataset(name, data)
        identity.append((name, ds))
        sop_class = str(ds.SOPClassUID)
        modality = str(ds.get("Modality", "") or "")
        if sop_class in NM_IMAGE or modality == "NM":
            if sop_class not in NM_IMAGE and len(_image_type(ds)) >= 3 and _image_type(ds)[2] == "RECON TOMO":
                raise DicomError(name, "SOPClassUID", f"is {sop_class}, not NM Image Storage: a screen capture "
                                 "of SPECT holds no activity values")
            if sop_class not in NM_IMAGE:
                raise DicomError(name, "ImageType", f"is {_image_type(ds)} ({modality}, SOP Class {sop_class}): "
                                 "a planar or captured NM image, not a reconstructed quantitative SPECT")
            nm.append(_nm_time_point(name, ds, **conversion))
        elif sop_class == PET_IMAGE:
            series = str(_require(ds, "SeriesInstanceUID", name))
            pet.setdefault(series, []).append((name, ds))
        elif sop_class == ENHANCED_PET_IMAGE:
            raise DicomError(name, "SOPClassUID", "Enhanced PET Image Storage is not supported; export as PET "
                             "Image Storage (one file per slice)")
        elif sop_class == SEGMENTATION:
            voi_sources.extend(_seg_sources(name, ds))
        elif sop_class == RT_STRUCTURE_SET:
            voi_sources.extend(_rtstruct_sources(name, ds))
        elif sop_class == RT_DOSE:
            dose_maps.append(read_rtdose(name, ds))
        elif sop_class == MEDIA_DIRECTORY:
            ignored.append(f"{name}: DICOMDIR (index file) ignored")
        else:
            ignored.append(f"{name}: {modality or 'unknown modality'} (SOP Class {sop_class}) not used for dosimetry")
    _check_one_patient(identity)
    del identity
    report(0.6, "Checking series")
    seen = {}
    for tp in nm:
        if tp.series_instance_uid in seen:
            raise DicomError(tp.source, "SeriesInstanceUID", f"is shared with {seen[tp.series_instance_uid]}: two "
                             "multi-frame NM files in one series is a mixed series")
        seen[tp.series_instance_uid] = tp.source
    points = nm + [_pet_time_point(slices, **conversion) for slices in pet.values()]
    points.sort(key=lambda tp: tp.acquired)
    if not points and not dose_maps:
        raise DicomError("input", None, f"no quantitative SPECT (NM RECON TOMO), PET or RTDOSE among the {len(files)} "
                         "files read" + (f"; ignored: {'; '.join(ignored[:3])}" if ignored else ""))
    if len(points) == 1:
        raise DicomError(points[0].source, "AcquisitionDateTime", "only one SPECT time point: voxel dosimetry "
                         "needs two or more")
    for a, b in zip(points, points[1:]):
        if (b.acquired - a.acquired).total_seconds() / 3600.0 < MIN_TIME_POINT_GAP_H:
            raise DicomError(b.source, "AcquisitionDateTime", f"{b.acquired:%Y-%m-%d %H:%M} is within "
                             f"{MIN_TIME_POINT_GAP_H * 60:.0f} min of {a.source} ({a.acquired:%Y-%m-%d %H:%M}): two "
                             "series of one scan; keep one series per time point")
    for tp in points[1:]:
        diffs = points[0].geometry.differences(tp.geometry)
        if diffs:
            keyword, first_value, this_value = diffs[0]
            raise DicomError(tp.source, keyword, f"is {this_value} but {first_value} in {points[0].source}: the time "
                             "points are not on one voxel grid (register and resample them onto one grid first)")
    injection = None
    if points:
        injection = _injection(points, activity_mbq, injection_time)
        for tp in points:
            t_h = (tp.acquired - injection.time).total_seconds() / 3600.0
            keyword = "AcquisitionDateTime"
            if t_h <= 0:
                raise DicomError(tp.source, keyword, f"{tp.acquired:%Y-%m-%d %H:%M} is not after the injection "
                                 f"({injection.time:%Y-%m-%d %H:%M}, {injection.time_source})")
            if t_h > MAX_TIME_AFTER_INJECTION_H:
                raise DicomError(tp.source, keyword, f"is {t_h:.0f} h after the injection ({injection.time_source}):"
                                 " more than 10 half-lives; check the injection date")
    geometry = points[0].geometry if points else dose_maps[0].geometry
    if points:
        for dose in dose_maps:
            if dose.geometry.frame_of_reference_uid != geometry.frame_of_reference_uid:
                raise DicomError(dose.source, "FrameOfReferenceUID", f"is {dose.geometry.frame_of_reference_uid}, the"
                                 f" SPECT's is {geometry.frame_of_reference_uid}: the dose map is of another scan")
    report(0.7, "Placing VOIs on the image grid")
    vois, unused = [], []
    for j, source in enumerate(voi_sources):
        if source.organ is None:
            unused.append(source.name)
            continue
        report(0.7 + 0.3 * j / len(voi_sources), f"VOI {source.name}")
        mask, note = voi_mask(source, geometry)
        vois.append(Voi(source.name, source.organ, mask, source, note))
    _check_duplicates(vois)
    notes = list(ignored)
    if unused:
        notes.append("VOIs not used (name not recognised as kidney, lesion, liver or spleen): "
                     + ", ".join(sorted(set(unused))[:20]) + (" …" if len(set(unused)) > 20 else ""))
    if not vois:
        raise DicomError(files[0][0] if not voi_sources else voi_sources[0].source, None,
                         "no kidney or lesion VOI found: upload a SEG, RTSTRUCT or NIfTI label map with VOIs named "
                         "e.g. 'kidney_left', 'Kidney right', 'Lesion 1'")
    report(1.0, "Read")
    logger.info("read %d time points, %d VOIs, %d dose maps (%d files)", len(points), len(vois), len(dose_maps),
                len(files))
    return DicomStudy(tuple(points), injection, tuple(vois), tuple(voi_sources), tuple(dose_maps), geometry,
                      tuple(notes), tuple(ignored))


def _check_duplicates(vois: Iterable[Voi]) -> None:
    seen: dict[tuple[str, str], Voi] = {}
    for voi in vois:
        key = (voi.organ, voi.name.strip().lower() if voi.organ == "tumour" else "")
        if key in seen:
            raise DicomError(voi.source.source, None, f"{voi.source.describe()} and {seen[key].source.describe()} "
                             f"are both {voi.organ}: keep one VOI per organ (and one per lesion name)")
        seen[key] = voi
