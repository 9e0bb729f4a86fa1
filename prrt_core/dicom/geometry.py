"""Voxel grids in patient coordinates (DICOM LPS, mm): built from plane tags, compared, resampled.

Time points must share one grid; VOIs on another grid are resampled explicitly (nearest
neighbour at the target voxel centres). This module does not register images.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prrt_core.dicom.tags import floats
from prrt_core.errors import DicomError

# Geometry tolerances for "the same grid": positions in mm, cosines, relative spacing.
POSITION_TOL_MM = 0.05
COSINE_TOL = 1e-4
SPACING_RTOL = 1e-4
# Voxel sizes accepted, mm. Clinical CT, SPECT and PET voxels are 0.3-10 mm (Lu-177 SPECT about
# 4-5 mm, MIRD Pamphlet 26, J Nucl Med 2016;57:151-62); outside 0.01-100 mm a spacing is a unit
# error (m or um written as mm) and would make voxel volumes, and so Bq and Gy, wrong.
MIN_VOXEL_MM, MAX_VOXEL_MM = 0.01, 100.0
# ImageOrientationPatient holds two unit vectors at right angles (PS3.3 C.7.6.2.1.1); files
# round them to about six decimals, so 1e-3 is generous.
ORIENTATION_TOL = 1e-3


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

    def differences(self, other: Geometry) -> list[tuple[str, str, str]]:
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

    def same_grid(self, other: Geometry, *, check_frame: bool = True) -> bool:
        diffs = self.differences(other)
        return not [d for d in diffs if check_frame or d[0] != "FrameOfReferenceUID"]

    def same_lattice(self, other: Geometry) -> bool:
        """Same steps and orientation, voxel centres on one lattice (an integer index offset)."""
        if not np.allclose(self.affine[:3, :3], other.affine[:3, :3], atol=1e-4):
            return False
        offset = np.linalg.solve(self.affine[:3, :3], other.affine[:3, 3] - self.affine[:3, 3])
        return bool(np.allclose(offset, np.rint(offset), atol=1e-3))


def direction_cosines(value, name: str, keyword: str = "ImageOrientationPatient") -> np.ndarray:
    """The six direction cosines of ``value``: finite, two unit vectors at right angles, else DicomError."""
    cosines = floats(value, 6, name, keyword)
    row, column = cosines[:3], cosines[3:]
    if (abs(np.linalg.norm(row) - 1.0) > ORIENTATION_TOL or abs(np.linalg.norm(column) - 1.0) > ORIENTATION_TOL
            or abs(float(row @ column)) > ORIENTATION_TOL):
        raise DicomError(name, keyword, f"is {_fmt(cosines)}: not two unit vectors at right angles (row and column "
                         "direction cosines, PS3.3 C.7.6.2.1.1)")
    return cosines


def pixel_spacing(value, name: str, keyword: str = "PixelSpacing") -> np.ndarray:
    """(row spacing, column spacing) of ``value``, mm, each within MIN_VOXEL_MM-MAX_VOXEL_MM."""
    return floats(value, 2, name, keyword, minimum=MIN_VOXEL_MM, maximum=MAX_VOXEL_MM, why="mm")


def slice_step(step_mm: float, name: str, keyword: str) -> float:
    """A signed step between slices whose size is within MIN_VOXEL_MM-MAX_VOXEL_MM, else DicomError."""
    if not MIN_VOXEL_MM <= abs(step_mm) <= MAX_VOXEL_MM:
        raise DicomError(name, keyword, f"gives a step of {step_mm:g} mm between slices: its size must be "
                         f">= {MIN_VOXEL_MM:g} and <= {MAX_VOXEL_MM:g} mm")
    return float(step_mm)


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


def resample_nearest(volume: np.ndarray, source: Geometry, target: Geometry, fill=0,
                     source_slices: np.ndarray | None = None) -> np.ndarray:
    """Values of ``volume`` (on ``source``) at the voxel centres of ``target``, nearest neighbour.

    Target voxels whose centre falls outside the source grid get ``fill``. The same grid
    returns a copy. ``source_slices``: the slice index on ``source`` of each slice of ``volume``
    (sorted, unique), for a volume that holds only some slices of its grid (a SEG's frames);
    centres nearest a slice not held get ``fill``.
    """
    if source_slices is None and source.same_grid(target, check_frame=False) and volume.shape == target.shape:
        return volume.copy()
    held = np.arange(volume.shape[0]) if source_slices is None else np.asarray(source_slices, dtype=np.int64)
    to_source = np.linalg.inv(source.affine) @ target.affine
    out = np.full(target.shape, fill, dtype=volume.dtype)
    if held.size == 0:
        return out
    r, c = np.meshgrid(np.arange(target.shape[1]), np.arange(target.shape[2]), indexing="ij")
    plane = np.stack([np.zeros_like(r), r, c, np.ones_like(r)], axis=-1).reshape(-1, 4).astype(float)
    for k in range(target.shape[0]):  # one slice at a time keeps memory at one plane of indices
        plane[:, 0] = k
        idx = np.rint(plane @ to_source.T)[:, :3].astype(np.int64)
        at = np.clip(np.searchsorted(held, idx[:, 0]), 0, held.size - 1)
        inside = ((held[at] == idx[:, 0]) & (idx[:, 1] >= 0) & (idx[:, 1] < volume.shape[1])
                  & (idx[:, 2] >= 0) & (idx[:, 2] < volume.shape[2]))
        values = out[k].reshape(-1)
        values[inside] = volume[at[inside], idx[inside, 1], idx[inside, 2]]
    return out
