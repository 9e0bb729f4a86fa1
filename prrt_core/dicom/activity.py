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
from prrt_core.dicom.injection import MAX_ACTIVITY_BQ
from prrt_core.dicom.tags import date_time, number, require_tag
from prrt_core.errors import DicomError, InputError, tag_label

# What one stored pixel value may stand for, Bq/mL. At most the largest administration accepted
# (injection.MAX_ACTIVITY_BQ, 30 GBq) in one millilitre: no voxel can hold more. At least 1e-6:
# below it a 16-bit image cannot reach 0.07 Bq/mL, far below what quantitative Lu-177 SPECT
# measures (kBq/mL to MBq/mL; Ljungberg et al., MIRD Pamphlet 26, J Nucl Med 2016;57:151-62).
# An intercept (an offset added to every voxel) is bounded by the same maximum.
MAX_BQ_PER_ML = MAX_ACTIVITY_BQ / 1.0  # Bq in 1 mL
MIN_BQ_PER_ML_PER_VALUE = 1.0e-6
# The longest acquisition accepted: a day. Lu-177 SPECT takes 15-45 min (MIRD Pamphlet 26); a
# longer frame duration is a unit error (ActualFrameDuration is in ms).
MAX_ACQUISITION_S = 24 * 3600.0


def _slope_and_intercept(holder: Dataset, name: str, slope_keyword: str, intercept_keyword: str,
                         bq_per_ml_per_unit: float, unit: str, *, default: bool) -> tuple[float, float]:
    """(slope, intercept) of a linear mapping checked against MIN/MAX_BQ_PER_ML; ``bq_per_ml_per_unit``
    turns the mapping's output unit into Bq/mL. ``default``: both absent means slope 1, intercept 0."""
    present = [k for k in (slope_keyword, intercept_keyword) if k in holder]
    if not present and default:
        return 1.0, 0.0
    if len(present) < 2:
        missing = intercept_keyword if present == [slope_keyword] else slope_keyword
        other = f" while {tag_label(present[0])} is present" if present else ""
        raise DicomError(name, missing, f"missing{other}: the stored values cannot be converted to {unit}")
    top = MAX_BQ_PER_ML / bq_per_ml_per_unit
    slope = number(holder, slope_keyword, name, minimum=MIN_BQ_PER_ML_PER_VALUE / bq_per_ml_per_unit, maximum=top,
                   why=f"{unit} per stored value; 30 GBq in 1 mL at most")
    intercept = number(holder, intercept_keyword, name, minimum=-top, maximum=top,
                       why=f"{unit}; 30 GBq in 1 mL at most")
    return slope, intercept


def _rescale(ds: Dataset, name: str, bq_per_ml_per_unit: float, unit: str) -> tuple[float, float]:
    """RescaleSlope and RescaleIntercept. The PET Image Module (PS3.3 C.8.9.4) makes both Type 1.
    The NM Image Module (C.8.4.9) does not define them: absent, the stored values are the values
    (slope 1, intercept 0). Where one is present so must the other be (Type 1C together in the
    Modality LUT Module, C.11.1)."""
    if ds.get("Modality") == "PT":
        for keyword in ("RescaleSlope", "RescaleIntercept"):
            require_tag(ds, keyword, name, "Type 1 in PET images, PS3.3 C.8.9.4")
    return _slope_and_intercept(ds, name, "RescaleSlope", "RescaleIntercept", bq_per_ml_per_unit, unit,
                                default=True)


def _real_world_bq_per_ml(ds: Dataset, name: str) -> tuple[float, float, str] | None:
    """(slope, intercept, unit) to Bq/mL from a Real World Value Mapping with activity-concentration units.

    Real World Value Slope and Intercept are Type 1C together (required without LUT Data; Real
    World Value Mapping Item Macro, PS3.3 C.7.6.16.2.11): a slope without an intercept is refused.
    """
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
                slope, intercept = _slope_and_intercept(item, name, "RealWorldValueSlope", "RealWorldValueIntercept",
                                                        f, str(units[0].CodeValue), default=False)
                return slope * f, intercept * f, f"{units[0].CodeValue} from RealWorldValueMapping"
    return None


def _scan_duration_s(ds: Dataset, name: str) -> float:
    """Acquisition duration for counts: PET ActualFrameDuration, NM views x frame duration."""
    ms = {"above": 0, "maximum": MAX_ACQUISITION_S * 1000.0, "why": "ms, at most a day"}
    if ds.get("Modality") == "PT":
        return number(ds, "ActualFrameDuration", name, **ms) / 1000.0
    rotations = ds.get("RotationInformationSequence")
    if not rotations:
        raise DicomError(name, "RotationInformationSequence", "missing (needed for the scan duration of counts); "
                         "give the acquisition duration")
    total = 0.0
    for item in rotations:
        frame_ms = number(item, "ActualFrameDuration", name, **ms)
        views = number(item, "NumberOfFramesInRotation", name, minimum=1, why="views in RotationInformationSequence")
        total += frame_ms * views / 1000.0
    if total > MAX_ACQUISITION_S:
        raise DicomError(name, "RotationInformationSequence", f"gives a scan duration of {total:g} s: more than a "
                         "day (ActualFrameDuration (0018,1242) x NumberOfFramesInRotation (0054,0053))")
    return total


def to_bq_per_ml(ds: Dataset, pixels: np.ndarray, name: str, voxel_ml: float, *,
                 calibration_cps_per_mbq: float | None, acquisition_duration_s: float | None):
    """Stored pixel values -> Bq/mL (float64) and a description of how."""
    rwvm = _real_world_bq_per_ml(ds, name)
    if rwvm is not None:
        slope, intercept, how = rwvm
        return pixels * slope + intercept, how
    units = str(ds.get("Units", "") or "").upper()
    if units == "BQML":
        slope, intercept = _rescale(ds, name, 1.0, "Bq/mL")
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
        # counts / s / (cps/MBq) = MBq in the voxel; / mL -> MBq/mL; x 1e6 -> Bq/mL.
        factor = 1.0e6 / (duration * calibration_cps_per_mbq * voxel_ml)
        slope, intercept = _rescale(ds, name, factor, "counts")
        counts = pixels * slope + intercept
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
