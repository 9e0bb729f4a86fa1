"""Phantom image writers: multi-frame NM (RECON TOMO), PET (one file per slice) and RTDOSE.

NM values are Bq/mL (Units BQML with Rescale Slope, or a Real World Value Mapping) or counts
(CNTS); PET is Units BQML, optionally decay-corrected to the administration.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from prrt_core import dosimetry
from prrt_core.errors import InputError
from prrt_core.testing.phantom.datasets import new_dataset, save, set_image_pixels
from prrt_core.testing.phantom.model import UID_ROOT, Phantom


def _radiopharmaceutical(phantom: Phantom, with_activity: bool, with_time: bool) -> Sequence:
    item = Dataset()
    item.Radiopharmaceutical = "177Lu-DOTATATE"
    item.RadionuclideHalfLife = f"{dosimetry.LU177_HALF_LIFE_H * 3600:.1f}"
    if with_activity:
        item.RadionuclideTotalDose = f"{phantom.activity_mbq * 1e6:.6g}"  # Bq
    if with_time:
        item.RadiopharmaceuticalStartDateTime = phantom.injection_time.strftime("%Y%m%d%H%M%S")
    item.RadiopharmaceuticalStartTime = phantom.injection_time.strftime("%H%M%S")
    return Sequence([item])


def _quantise(values: np.ndarray) -> tuple[np.ndarray, float]:
    """uint16 stored values and the slope that maps them back (intercept 0)."""
    top = float(values.max())
    slope = top / 65535.0 if top > 0 else 1.0
    return np.clip(np.rint(values / slope), 0, 65535).astype(np.uint16), slope


def write_nm(path: Path, phantom: Phantom, t_h: float, values: np.ndarray, *, quantification: str = "BQML",
             with_activity: bool = True, with_time: bool = True, frame_duration_ms: float = 20000.0,
             views: int = 60, series_uid: str | None = None) -> Path:
    """One multi-frame NM RECON TOMO file (values in Bq/mL, or counts for 'CNTS')."""
    when = phantom.injection_time + dt.timedelta(hours=t_h)
    ds = new_dataset("1.2.840.10008.5.1.4.1.1.20", "NM", series_uid or generate_uid(prefix=UID_ROOT), phantom, when)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"]
    ds.AcquisitionDateTime = when.strftime("%Y%m%d%H%M%S")
    ds.AcquisitionDate, ds.AcquisitionTime = when.strftime("%Y%m%d"), when.strftime("%H%M%S")
    nz, ny, nx = phantom.shape
    set_image_pixels(ds, ny, nx)
    ds.NumberOfFrames = nz
    ds.NumberOfSlices = nz
    ds.FrameIncrementPointer = pydicom.tag.Tag("SliceVector")
    ds.SliceVector = list(range(1, nz + 1))
    ds.PixelSpacing = [phantom.spacing_mm, phantom.spacing_mm]
    ds.SpacingBetweenSlices = phantom.spacing_mm
    ds.SliceThickness = phantom.spacing_mm
    detector = Dataset()
    detector.ImagePositionPatient = [float(v) for v in phantom.origin_mm]
    detector.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.DetectorInformationSequence = Sequence([detector])
    rotation = Dataset()
    rotation.ActualFrameDuration = int(frame_duration_ms)
    rotation.NumberOfFramesInRotation = views
    ds.RotationInformationSequence = Sequence([rotation])
    ds.RadiopharmaceuticalInformationSequence = _radiopharmaceutical(phantom, with_activity, with_time)
    stored, slope = _quantise(values)
    if quantification == "RWVM":
        item = Dataset()
        item.RealWorldValueFirstValueMapped = 0
        item.RealWorldValueLastValueMapped = 65535
        item.RealWorldValueSlope = slope
        item.RealWorldValueIntercept = 0.0
        item.LUTLabel = "BQML"
        unit = Dataset()
        unit.CodeValue, unit.CodingSchemeDesignator, unit.CodeMeaning = "Bq/ml", "UCUM", "Becquerels/milliliter"
        item.MeasurementUnitsCodeSequence = Sequence([unit])
        ds.RealWorldValueMappingSequence = Sequence([item])
    elif quantification in ("BQML", "CNTS"):
        ds.Units = quantification
        ds.RescaleSlope = f"{slope:.10g}"
        ds.RescaleIntercept = "0"
    else:
        raise InputError(f"quantification must be BQML, RWVM or CNTS, got {quantification!r}")
    ds.PixelData = stored.tobytes()
    return save(ds, path)


def write_pt_series(folder: Path, phantom: Phantom, t_h: float, values: np.ndarray, *,
                    decay_correction: str = "NONE") -> list[Path]:
    """One PET Image Storage file per slice (Units BQML, per-slice Rescale Slope)."""
    when = phantom.injection_time + dt.timedelta(hours=t_h)
    series_uid = generate_uid(prefix=UID_ROOT)
    if decay_correction == "ADMIN":
        values = values / dosimetry.decay_factor(t_h)
    paths = []
    nz, ny, nx = phantom.shape
    for k in range(nz):
        ds = new_dataset("1.2.840.10008.5.1.4.1.1.128", "PT", series_uid, phantom, when)
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        ds.AcquisitionDate, ds.AcquisitionTime = when.strftime("%Y%m%d"), when.strftime("%H%M%S")
        ds.InstanceNumber = k + 1
        set_image_pixels(ds, ny, nx)
        ds.PixelSpacing = [phantom.spacing_mm, phantom.spacing_mm]
        ds.SliceThickness = phantom.spacing_mm
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        x0, y0, z0 = phantom.origin_mm
        ds.ImagePositionPatient = [float(x0), float(y0), float(z0 + k * phantom.spacing_mm)]
        ds.Units = "BQML"
        ds.DecayCorrection = decay_correction
        ds.RadiopharmaceuticalInformationSequence = _radiopharmaceutical(phantom, True, True)
        stored, slope = _quantise(values[k])
        ds.RescaleSlope, ds.RescaleIntercept = f"{slope:.10g}", "0"
        ds.PixelData = stored.tobytes()
        paths.append(save(ds, folder / f"pt_{t_h:g}h_{k:03d}"))
    return paths


def write_rtdose(path: Path, phantom: Phantom, dose_gy: np.ndarray, *, units: str = "GY") -> Path:
    """RTDOSE of a dose map on the phantom grid (uint32 x DoseGridScaling)."""
    ds = new_dataset("1.2.840.10008.5.1.4.1.1.481.2", "RTDOSE", generate_uid(prefix=UID_ROOT), phantom,
                     phantom.injection_time)
    nz, ny, nx = phantom.shape
    set_image_pixels(ds, ny, nx, bits=32)
    ds.NumberOfFrames = nz
    ds.FrameIncrementPointer = pydicom.tag.Tag("GridFrameOffsetVector")
    ds.GridFrameOffsetVector = [float(k * phantom.spacing_mm) for k in range(nz)]
    ds.ImagePositionPatient = [float(v) for v in phantom.origin_mm]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [phantom.spacing_mm, phantom.spacing_mm]
    ds.DoseUnits, ds.DoseType, ds.DoseSummationType = units, "PHYSICAL", "PLAN"
    scaling = float(dose_gy.max()) / 4.0e9 if dose_gy.max() > 0 else 1.0
    ds.DoseGridScaling = f"{scaling:.10g}"
    ds.PixelData = np.rint(dose_gy / float(ds.DoseGridScaling)).astype(np.uint32).tobytes()
    return save(ds, path)
