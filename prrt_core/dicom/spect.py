"""Quantitative SPECT and PET time points: activity concentration (Bq/mL) on a voxel grid.

SPECT is NM Image Storage with Image Type value 3 ``RECON TOMO``, one multi-frame file per
time point (frames are slices, geometry from the Detector Information Sequence); PET is PET
Image Storage, one file per slice, grouped by Series Instance UID. Pixel values become Bq/mL
as :mod:`prrt_core.dicom.activity` describes.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from prrt_core.dicom.activity import acquisition_time, to_bq_per_ml, undo_admin_decay
from prrt_core.dicom.geometry import Geometry, direction_cosines, geometry_from_planes, pixel_spacing, slice_step
from prrt_core.dicom.injection import stated_injection
from prrt_core.dicom.tags import floats, image_type, number, pixel_array, require_tag
from prrt_core.errors import DicomError


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


def _grid_size(ds: Dataset, name: str) -> tuple[int, int]:
    """(Rows, Columns), each at least 1 (US values, so finite and at most 65535)."""
    return int(number(ds, "Rows", name, minimum=1)), int(number(ds, "Columns", name, minimum=1))


def _nm_geometry(ds: Dataset, name: str) -> Geometry:
    # NumberOfFrames is Type 1 in the Multi-frame Module that NM images include (PS3.3 C.7.6.6).
    n_frames = int(number(ds, "NumberOfFrames", name, minimum=1, why="the slices of a SPECT volume"))
    detector = ds.get("DetectorInformationSequence")
    holder = detector[0] if detector and "ImagePositionPatient" in detector[0] else ds
    position = floats(require_tag(holder, "ImagePositionPatient", name,
                                  "in DetectorInformationSequence (0054,0022) or the dataset"), 3, name,
                      "ImagePositionPatient")
    orientation = direction_cosines(require_tag(holder, "ImageOrientationPatient", name,
                                                "in DetectorInformationSequence (0054,0022) or the dataset"), name)
    spacing = pixel_spacing(require_tag(ds, "PixelSpacing", name), name)
    # Only its size is checked: PS3.3 lets the NM Reconstruction Module (C.8.4.15) give it a sign.
    step = slice_step(number(ds, "SpacingBetweenSlices", name, why="needed to place the slices"), name,
                      "SpacingBetweenSlices")
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
                                *_grid_size(ds, name),
                                require_tag(ds, "FrameOfReferenceUID", name, "needed to match time points and VOIs"))


def nm_time_point(name: str, ds: Dataset, **conversion) -> SpectTimePoint:
    """One multi-frame NM RECON TOMO file; ``conversion``: calibration and duration for counts."""
    types = image_type(ds)
    if len(types) < 3 or types[2] != "RECON TOMO":
        raise DicomError(name, "ImageType", f"is {types}: not a reconstructed SPECT (value 3 must be "
                         "RECON TOMO); planar, whole-body, projection or gated NM cannot be used")
    if len(types) >= 4 and types[3] == "TRANSMISSION":
        raise DicomError(name, "ImageType", f"is {types}: a transmission (attenuation) map, not emission")
    geometry = _nm_geometry(ds, name)
    pixels = pixel_array(ds, name).astype(np.float64).reshape(geometry.shape)
    values, how = to_bq_per_ml(ds, pixels, name, geometry.voxel_volume_ml, **conversion)
    acquired, mode = acquisition_time(ds, name)
    activity, injected = stated_injection(ds, name)
    values = undo_admin_decay(values, mode, acquired, injected, name)
    return SpectTimePoint(values.astype(np.float32), geometry, acquired, "NM", how,
                          str(require_tag(ds, "SeriesInstanceUID", name)),
                          (str(require_tag(ds, "SOPInstanceUID", name)),), name, activity, injected, name)


def _check_one_series(slices: list[tuple[str, Dataset]]) -> None:
    """Refuse slices of one Series Instance UID that differ in grid or units (a mixed series)."""
    first_name, first = slices[0]
    keys = ("Rows", "Columns", "PixelSpacing", "ImageOrientationPatient", "FrameOfReferenceUID", "Units")
    ref = {k: str(first.get(k)) for k in keys}
    for name, ds in slices[1:]:
        for k in keys:
            if str(ds.get(k)) != ref[k]:
                raise DicomError(name, k, f"differs from {first_name} within one series ({ds.get(k)!r} vs "
                                 f"{first.get(k)!r}): a mixed series")


def _pet_geometry(slices: list[tuple[str, Dataset]]) -> tuple[Geometry, list[tuple[str, Dataset]]]:
    """The grid of a PET series and its slices sorted along the slice normal."""
    first_name, first = slices[0]
    orientation = direction_cosines(require_tag(first, "ImageOrientationPatient", first_name), first_name)
    normal = np.cross(orientation[:3], orientation[3:])
    positions = np.array([floats(require_tag(ds, "ImagePositionPatient", n), 3, n, "ImagePositionPatient")
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
        step = slice_step(number(first, "SliceThickness", first_name, why="the thickness of a one-slice series"),
                          first_name, "SliceThickness")
    geometry = geometry_from_planes(positions[0], orientation[:3], orientation[3:],
                                    pixel_spacing(require_tag(first, "PixelSpacing", first_name), first_name),
                                    step, len(slices), *_grid_size(first, first_name),
                                    require_tag(first, "FrameOfReferenceUID", first_name))
    return geometry, slices


def pet_time_point(slices: list[tuple[str, Dataset]], **conversion) -> SpectTimePoint:
    """One PET series (one file per slice); ``conversion``: calibration and duration for counts."""
    first_name, first = slices[0]
    label = first_name if len(slices) == 1 else f"{first_name} (+{len(slices) - 1} files of its series)"
    _check_one_series(slices)
    geometry, slices = _pet_geometry(slices)
    values = np.empty(geometry.shape, dtype=np.float32)
    for k, (name, ds) in enumerate(slices):
        plane, how = to_bq_per_ml(ds, pixel_array(ds, name).astype(np.float64), name,
                                  geometry.voxel_volume_ml, **conversion)
        values[k] = plane
    times = [acquisition_time(ds, name) for name, ds in slices]
    modes = {m for _, m in times}
    if len(modes) > 1:
        raise DicomError(first_name, "DecayCorrection", f"differs between slices of one series: {sorted(modes)}")
    acquired = min(t for t, _ in times)
    if max(t for t, _ in times) - acquired > dt.timedelta(hours=2):
        raise DicomError(first_name, "AcquisitionDateTime", "slices of one series were acquired more than 2 h apart:"
                         " a mixed series")
    activity, injected = stated_injection(first, first_name)
    values = undo_admin_decay(values.astype(np.float64), modes.pop(), acquired, injected, first_name)
    return SpectTimePoint(values.astype(np.float32), geometry, acquired, "PT", how,
                          str(require_tag(first, "SeriesInstanceUID", first_name)),
                          tuple(str(require_tag(ds, "SOPInstanceUID", n)) for n, ds in slices),
                          label, activity, injected, first_name)
