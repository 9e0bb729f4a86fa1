"""Stored NM/PET pixel values -> activity concentration (Bq/mL) at the time of acquisition.

Units, in order: a Real World Value Mapping with Bq/ml units; ``Units`` (0054,1001)
``BQML`` with Rescale Slope/Intercept; counts (``CNTS``) with a calibration factor (cps/MBq)
that the user gives and the scan duration. PET values decay-corrected to administration
(``DecayCorrection`` ADMIN) are converted back to activity at acquisition; ``START`` values
refer to the series time. Decay during an acquisition (< 0.3 % for a 30-min Lu-177 scan)
is ignored.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
from pydicom.dataset import Dataset

from prrt_core import dosimetry
from prrt_core.dicom.tags import date_time, require_tag
from prrt_core.errors import DicomError, InputError


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
        return float(require_tag(ds, "ActualFrameDuration", name, "needed to turn counts into a count rate")) / 1000.0
    rotations = ds.get("RotationInformationSequence")
    if not rotations:
        raise DicomError(name, "RotationInformationSequence", "missing (needed for the scan duration of counts); "
                         "give the acquisition duration")
    total = 0.0
    for item in rotations:
        frame_ms = require_tag(item, "ActualFrameDuration", name, "in RotationInformationSequence")
        views = require_tag(item, "NumberOfFramesInRotation", name, "in RotationInformationSequence")
        total += float(frame_ms) * float(views) / 1000.0
    return total


def to_bq_per_ml(ds: Dataset, pixels: np.ndarray, name: str, voxel_ml: float, *,
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
            raise InputError(f"calibration_cps_per_mbq must be > 0, got {calibration_cps_per_mbq}")
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


def acquisition_time(ds: Dataset, name: str) -> tuple[dt.datetime, str]:
    """(time the pixel values refer to, decay-correction mode) for an NM or PET object."""
    mode = str(ds.get("DecayCorrection", "NONE") or "NONE").upper()
    if mode == "START":
        return date_time(ds, name, None, "SeriesDate", "SeriesTime"), mode
    return date_time(ds, name, "AcquisitionDateTime", "AcquisitionDate", "AcquisitionTime"), mode


def undo_admin_decay(values: np.ndarray, mode: str, acquired: dt.datetime, injected: dt.datetime | None,
                     name: str) -> np.ndarray:
    """Activity at acquisition from values decay-corrected to the administration (mode ADMIN)."""
    if mode in ("NONE", "START"):
        return values
    if mode == "ADMIN":
        if injected is None:
            raise DicomError(name, "RadiopharmaceuticalStartDateTime",
                             "missing, but DecayCorrection (0054,1102) is ADMIN: cannot undo the decay correction")
        dt_h = (acquired - injected).total_seconds() / 3600.0
        return values * dosimetry.decay_factor(dt_h)
    raise DicomError(name, "DecayCorrection", f"is {mode!r}: expected NONE, START or ADMIN")
