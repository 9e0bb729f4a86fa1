"""RTDOSE dose maps computed by other software: pixel data x DoseGridScaling, Gy when DoseUnits is GY."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from prrt_core.dicom.geometry import Geometry, geometry_from_planes
from prrt_core.dicom.tags import floats, pixel_array, require_tag
from prrt_core.errors import DicomError


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


def read_rtdose(name: str, ds: Dataset) -> DoseMap:
    """An RTDOSE grid: pixel data x DoseGridScaling (Gy when DoseUnits is GY)."""
    scaling = float(require_tag(ds, "DoseGridScaling", name, "needed to scale the pixel data"))
    units = str(require_tag(ds, "DoseUnits", name)).upper()
    orientation = floats(require_tag(ds, "ImageOrientationPatient", name), 6, name, "ImageOrientationPatient")
    position = floats(require_tag(ds, "ImagePositionPatient", name), 3, name, "ImagePositionPatient")
    n_frames = int(ds.get("NumberOfFrames") or 1)
    if n_frames > 1:
        offsets = np.array([float(v) for v in require_tag(ds, "GridFrameOffsetVector", name)])
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
                                    floats(require_tag(ds, "PixelSpacing", name), 2, name, "PixelSpacing"), step,
                                    n_frames, int(ds.Rows), int(ds.Columns), ds.get("FrameOfReferenceUID"))
    values = pixel_array(ds, name).astype(np.float64).reshape(geometry.shape) * scaling
    return DoseMap(values, units, str(ds.get("DoseType", "") or "").upper(),
                   str(ds.get("DoseSummationType", "") or ""), geometry, str(ds.get("SeriesInstanceUID", "")),
                   str(ds.get("SOPInstanceUID", "")), name)
