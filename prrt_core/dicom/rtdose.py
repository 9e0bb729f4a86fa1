"""RTDOSE dose maps computed by other software: pixel data x DoseGridScaling, Gy when DoseUnits is GY."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from prrt_core.dicom.geometry import Geometry, direction_cosines, geometry_from_planes, pixel_spacing, slice_step
from prrt_core.dicom.tags import floats, number, pixel_array, require_tag
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
    # Gy (or the DoseUnits) per stored value; Type 1C, required with Pixel Data (RT Dose Module, PS3.3 C.8.8.3).
    scaling = number(ds, "DoseGridScaling", name, above=0, why="needed to scale the pixel data")
    units = str(require_tag(ds, "DoseUnits", name)).upper()
    orientation = direction_cosines(require_tag(ds, "ImageOrientationPatient", name), name)
    position = floats(require_tag(ds, "ImagePositionPatient", name), 3, name, "ImagePositionPatient")
    # NumberOfFrames is required only for multi-frame pixel data (RT Dose IOD, Multi-frame Module).
    n_frames = int(number(ds, "NumberOfFrames", name, minimum=1, default=1))
    if n_frames > 1:
        vector = require_tag(ds, "GridFrameOffsetVector", name)
        count = len(vector) if isinstance(vector, (list, MultiValue)) else 1
        if count != n_frames:
            raise DicomError(name, "GridFrameOffsetVector", f"has {count} values for {n_frames} frames")
        offsets = floats(vector, n_frames, name, "GridFrameOffsetVector")
        # PS3.3 C.8.8.3.2: relative offsets when the first is 0, else absolute positions along the normal.
        normal = np.cross(orientation[:3], orientation[3:])
        if offsets[0] != 0:
            offsets = offsets - float(position @ normal)
        steps = np.diff(offsets)
        if not np.allclose(steps, steps[0], rtol=1e-4, atol=1e-4) or steps[0] == 0:
            raise DicomError(name, "GridFrameOffsetVector", "frames are not evenly spaced")
        step = slice_step(float(steps[0]), name, "GridFrameOffsetVector")
        position = position + offsets[0] * normal
    else:
        # One frame: its thickness gives the voxel volume (organ volumes of an RTDOSE-only study).
        step = slice_step(number(ds, "SliceThickness", name, why="the thickness of a one-frame dose grid"), name,
                          "SliceThickness")
    geometry = geometry_from_planes(position, orientation[:3], orientation[3:],
                                    pixel_spacing(require_tag(ds, "PixelSpacing", name), name), step, n_frames,
                                    int(number(ds, "Rows", name, minimum=1)),
                                    int(number(ds, "Columns", name, minimum=1)),
                                    ds.get("FrameOfReferenceUID"))
    values = pixel_array(ds, name).astype(np.float64).reshape(geometry.shape) * scaling
    return DoseMap(values, units, str(ds.get("DoseType", "") or "").upper(),
                   str(ds.get("DoseSummationType", "") or ""), geometry, str(ds.get("SeriesInstanceUID", "")),
                   str(ds.get("SOPInstanceUID", "")), name)
