"""One cycle's study read from files: SPECT/PET time points, injection, VOIs on the image grid, RTDOSE.

Rules (every refusal raises :class:`DicomError` naming the file and the DICOM tag)
- Time points must share one voxel grid: Frame of Reference UID, Rows/Columns/Number of
  Frames, Pixel Spacing, Spacing Between Slices, Image Orientation and Image Position.
  Serial SPECT/CT must be registered onto one grid beforehand; this package does not
  register images. VOIs are placed on the grid of the first time point (or of the first
  RTDOSE when there is no SPECT).
- Time points at least 15 min apart, after the injection and within 10 Lu-177 half-lives of
  it; injected activity and date/time as in :mod:`.injection`. One time point is read (for
  single-time-point dosimetry, :mod:`.study_stp`); voxel dosimetry (:mod:`.study_dose`) needs two.
- Files that are neither DICOM nor NIfTI by content (a PACS export's README, viewer, autorun.inf,
  images, PDFs) are skipped and named in the notes, as are DICOM objects not used (a DICOMDIR,
  CT); a file that starts as DICOM but cannot be read is refused (:mod:`.files`).
- Patient name, ID and birth date are never kept: only the fields listed in the returned
  dataclasses leave this package, and the files of one upload are checked to belong to one
  patient by comparing the values transiently (:mod:`.identity`).
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pydicom.dataset import Dataset

from prrt_core import dosimetry
from prrt_core.dicom.files import MEDIA_DIRECTORY, Source, collect_files, dicom_dataset, nifti_bytes, sop_class_uid
from prrt_core.dicom.geometry import Geometry
from prrt_core.dicom.identity import check_one_patient
from prrt_core.dicom.injection import Injection, resolve_injection
from prrt_core.dicom.rtdose import DoseMap, read_rtdose
from prrt_core.dicom.spect import SpectTimePoint, nm_time_point, pet_time_point
from prrt_core.dicom.tags import image_type, require_tag, unreadable_values_refused
from prrt_core.dicom.voi import Voi, VoiSource, voi_mask
from prrt_core.dicom.voi_sources import nifti_sources, rtstruct_sources, seg_sources
from prrt_core.errors import DicomError

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]

# SOP Class UIDs (DICOM PS3.4 Annex B).
NM_IMAGE = {"1.2.840.10008.5.1.4.1.1.20", "1.2.840.10008.5.1.4.1.1.5"}  # NM, retired NM
PET_IMAGE = "1.2.840.10008.5.1.4.1.1.128"
ENHANCED_PET_IMAGE = "1.2.840.10008.5.1.4.1.1.130"
SEGMENTATION = "1.2.840.10008.5.1.4.1.1.66.4"
RT_STRUCTURE_SET = "1.2.840.10008.5.1.4.1.1.481.3"
RT_DOSE = "1.2.840.10008.5.1.4.1.1.481.2"
# MEDIA_DIRECTORY (a DICOMDIR) from .files, which reads its class from the file meta information.

# Two time points closer than this are two reconstructions of one scan, not a series.
MIN_TIME_POINT_GAP_H = 0.25
# Acquisitions later than this after injection (10 Lu-177 half-lives) are refused as
# inconsistent (a wrong injection date is the usual cause).
MAX_TIME_AFTER_INJECTION_H = 10 * dosimetry.LU177_HALF_LIFE_H
# Skipped files named one by one in the notes (a CD viewer holds hundreds); the rest are counted.
MAX_SKIPPED_NAMED = 20
SKIPPED = "not DICOM or NIfTI, skipped"


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
    skipped: tuple[str, ...] = ()  # names of the files neither DICOM nor NIfTI, all of them

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
    contents = _read_files(files, conversion, report)
    report(0.6, "Checking series")
    with unreadable_values_refused("PET series"):
        points = _time_points(contents, conversion)
    if not points and not contents.dose_maps:
        raise DicomError("input", None, f"no quantitative SPECT (NM RECON TOMO), PET or RTDOSE among the {len(files)} "
                         "files read" + (f"; ignored: {'; '.join(contents.ignored[:3])}" if contents.ignored else "")
                         + _skipped_clause(contents.skipped))
    _check_time_points(points)
    injection = _injection(points, activity_mbq, injection_time) if points else None
    geometry = _reference_geometry(points, contents.dose_maps)
    report(0.7, "Placing VOIs on the image grid")
    vois, unused = _place_vois(contents.voi_sources, geometry, report)
    notes = list(contents.ignored) + _skipped_notes(contents.skipped)
    if unused:
        notes.append("VOIs not used (name not recognised as kidney, lesion, liver or spleen): "
                     + ", ".join(sorted(set(unused))[:20]) + (" …" if len(set(unused)) > 20 else ""))
    if not vois:
        images = [tp.source for tp in points] + [dose.source for dose in contents.dose_maps]
        raise DicomError(contents.voi_sources[0].source if contents.voi_sources else images[0], None,
                         "no kidney or lesion VOI found: upload a SEG, RTSTRUCT or NIfTI label map with VOIs named "
                         "e.g. 'kidney_left', 'Kidney right', 'Lesion 1'" + _skipped_clause(contents.skipped))
    report(1.0, "Read")
    logger.info("read %d time points, %d VOIs, %d dose maps (%d files)", len(points), len(vois),
                len(contents.dose_maps), len(files))
    return DicomStudy(tuple(points), injection, tuple(vois), tuple(contents.voi_sources), tuple(contents.dose_maps),
                      geometry, tuple(notes), tuple(contents.ignored), tuple(contents.skipped))


def _skipped_notes(skipped: Sequence[str]) -> list[str]:
    """One note per skipped file ('README.TXT: not DICOM or NIfTI, skipped'), the first MAX_SKIPPED_NAMED."""
    notes = [f"{name}: {SKIPPED}" for name in skipped[:MAX_SKIPPED_NAMED]]
    if len(skipped) > MAX_SKIPPED_NAMED:
        notes.append(f"… and {len(skipped) - MAX_SKIPPED_NAMED} more files {SKIPPED}")
    return notes


def _skipped_clause(skipped: Sequence[str]) -> str:
    """The skipped files for a refusal: '; skipped as not DICOM or NIfTI: a, b (and 3 more)', or ''."""
    if not skipped:
        return ""
    more = f" (and {len(skipped) - MAX_SKIPPED_NAMED} more)" if len(skipped) > MAX_SKIPPED_NAMED else ""
    return f"; {len(skipped)} file(s) {SKIPPED}: {', '.join(skipped[:MAX_SKIPPED_NAMED])}{more}"


@dataclass
class _Contents:
    """The files of one upload by kind, each read on its own (nothing checked across files yet)."""

    nm: list[SpectTimePoint] = field(default_factory=list)
    pet: dict[str, list[tuple[str, Dataset]]] = field(default_factory=dict)  # Series Instance UID -> slices
    voi_sources: list[VoiSource] = field(default_factory=list)
    dose_maps: list[DoseMap] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # file names, neither DICOM nor NIfTI


def _read_files(files: list[tuple[str, bytes]], conversion: dict, report: Progress) -> _Contents:
    """Read every file (NIfTI by content, else DICOM, else skipped), then refuse files of different patients."""
    contents, identity = _Contents(), []
    for i, (name, data) in enumerate(files):
        report(0.6 * i / len(files), f"Reading {Path(name).name} ({i + 1} of {len(files)})")
        raw = nifti_bytes(data)
        if raw is not None:
            contents.voi_sources.extend(nifti_sources(name, raw))
            continue
        ds = dicom_dataset(name, data)
        if ds is None:
            contents.skipped.append(name)
            continue
        identity.append((name, ds))
        with unreadable_values_refused(name):
            _add_dataset(contents, name, ds, conversion)
    check_one_patient(identity)
    return contents


def _add_dataset(contents: _Contents, name: str, ds: Dataset, conversion: dict) -> None:
    """Read one DICOM object into ``contents`` by its SOP Class; refuse objects that look usable but are not."""
    sop_class = sop_class_uid(ds)
    modality = str(ds.get("Modality", "") or "")
    if sop_class in NM_IMAGE or modality == "NM":
        if sop_class not in NM_IMAGE:
            types = image_type(ds)
            if len(types) >= 3 and types[2] == "RECON TOMO":
                raise DicomError(name, "SOPClassUID", f"is {sop_class}, not NM Image Storage: a screen capture "
                                 "of SPECT holds no activity values")
            raise DicomError(name, "ImageType", f"is {types} ({modality}, SOP Class {sop_class}): "
                             "a planar or captured NM image, not a reconstructed quantitative SPECT")
        contents.nm.append(nm_time_point(name, ds, **conversion))
    elif sop_class == PET_IMAGE:
        series = str(require_tag(ds, "SeriesInstanceUID", name))
        contents.pet.setdefault(series, []).append((name, ds))
    elif sop_class == ENHANCED_PET_IMAGE:
        raise DicomError(name, "SOPClassUID", "Enhanced PET Image Storage is not supported; export as PET "
                         "Image Storage (one file per slice)")
    elif sop_class == SEGMENTATION:
        contents.voi_sources.extend(seg_sources(name, ds))
    elif sop_class == RT_STRUCTURE_SET:
        contents.voi_sources.extend(rtstruct_sources(name, ds))
    elif sop_class == RT_DOSE:
        contents.dose_maps.append(read_rtdose(name, ds))
    elif sop_class == MEDIA_DIRECTORY:
        contents.ignored.append(f"{name}: DICOMDIR (index file) ignored")
    else:
        contents.ignored.append(f"{name}: {modality or 'unknown modality'} (SOP Class {sop_class}) not used for "
                                "dosimetry")


def _time_points(contents: _Contents, conversion: dict) -> list[SpectTimePoint]:
    """The NM and PET time points in acquisition order; refuses two NM files of one series."""
    seen = {}
    for tp in contents.nm:
        if tp.series_instance_uid in seen:
            raise DicomError(tp.source, "SeriesInstanceUID", f"is shared with {seen[tp.series_instance_uid]}: two "
                             "multi-frame NM files in one series is a mixed series")
        seen[tp.series_instance_uid] = tp.source
    points = contents.nm + [pet_time_point(slices, **conversion) for slices in contents.pet.values()]
    points.sort(key=lambda tp: tp.acquired)
    return points


def _check_time_points(points: Sequence[SpectTimePoint]) -> None:
    """Time points at least MIN_TIME_POINT_GAP_H apart, all on one voxel grid (one or none is accepted)."""
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


def _injection(points: Sequence[SpectTimePoint], activity_mbq: float | None,
               injection_time: dt.datetime | None) -> Injection:
    """The injection (entered or stated); every time point must be after it and within 10 half-lives."""
    injection = resolve_injection(points, activity_mbq, injection_time)
    for tp in points:
        t_h = (tp.acquired - injection.time).total_seconds() / 3600.0
        keyword = "AcquisitionDateTime"
        if t_h <= 0:
            raise DicomError(tp.source, keyword, f"{tp.acquired:%Y-%m-%d %H:%M} is not after the injection "
                             f"({injection.time:%Y-%m-%d %H:%M}, {injection.time_source})")
        if t_h > MAX_TIME_AFTER_INJECTION_H:
            raise DicomError(tp.source, keyword, f"is {t_h:.0f} h after the injection ({injection.time_source}):"
                             " more than 10 half-lives; check the injection date")
    return injection


def _reference_geometry(points: Sequence[SpectTimePoint], dose_maps: Sequence[DoseMap]) -> Geometry:
    """The grid VOIs are placed on: the SPECT's, else the first RTDOSE's. With SPECT, every RTDOSE
    must share its Frame of Reference."""
    geometry = points[0].geometry if points else dose_maps[0].geometry
    if points:
        for dose in dose_maps:
            if dose.geometry.frame_of_reference_uid != geometry.frame_of_reference_uid:
                raise DicomError(dose.source, "FrameOfReferenceUID", f"is {dose.geometry.frame_of_reference_uid}, the"
                                 f" SPECT's is {geometry.frame_of_reference_uid}: the dose map is of another scan")
    return geometry


def _place_vois(sources: Sequence[VoiSource], geometry: Geometry, report: Progress) -> tuple[list[Voi], list[str]]:
    """(VOIs on ``geometry`` of every source named after an organ, names of the sources not used)."""
    vois, unused = [], []
    for j, source in enumerate(sources):
        if source.organ is None:
            unused.append(source.name)
            continue
        report(0.7 + 0.3 * j / len(sources), f"VOI {source.name}")
        mask, note = voi_mask(source, geometry)
        vois.append(Voi(source.name, source.organ, mask, source, note))
    _check_duplicates(vois)
    return vois, unused


def _check_duplicates(vois: Iterable[Voi]) -> None:
    """One VOI per organ, and one per lesion name."""
    seen: dict[tuple[str, str], Voi] = {}
    for voi in vois:
        key = (voi.organ, voi.name.strip().lower() if voi.organ == "tumour" else "")
        if key in seen:
            raise DicomError(voi.source.source, None, f"{voi.source.describe()} and {seen[key].source.describe()} "
                             f"are both {voi.organ}: keep one VOI per organ (and one per lesion name)")
        seen[key] = voi
