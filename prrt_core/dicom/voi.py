"""VOIs: organs recognised by name, and a VOI source placed on the image grid as a boolean mask.

RTSTRUCT closed planar contours are rasterised onto the target grid, one slice at a time
(memory of one slice, whatever the number of vertices); SEG frames and NIfTI masks on another
grid are resampled (nearest neighbour at the target voxel centres) and the resampling is
reported. A contour or a SEG frame that reaches outside the target grid is refused: the VOI
would be cut short without a word. Reading the sources is :mod:`prrt_core.dicom.voi_sources`.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from prrt_core.dicom.geometry import Geometry, resample_nearest
from prrt_core.errors import DicomError

# Organ names accepted by the store (schema.dosimetry.organ) that VOIs map to.
ORGANS = ("kidneys", "kidney_left", "kidney_right", "tumour", "liver", "spleen")
_FILLER_TOKENS = {"", "voi", "roi", "seg", "mask", "whole", "organ", "ct", "spect"}
_LESION_PREFIXES = ("lesion", "tumour", "tumor", "gtv", "metasta", "met")
# How each kind of source calls one structure, in messages.
_ITEM = {"SEG": "segment", "RTSTRUCT": "ROI", "NIfTI": "label"}
# Edge crossings computed at once while filling a slice: bounds the rasteriser's memory (~40 MB).
_CROSSINGS_PER_CHUNK = 1 << 20
# A contour vertex or a SEG pixel centre may lie this far (in voxels) beyond the outermost voxel
# centres of the target grid: half a voxel is the grid's own edge; the rest absorbs rounding.
_EDGE_VOXELS = 0.5 + 1e-6


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
    volume: np.ndarray | None = None  # NIfTI: label volume; SEG: the segment's frames (frames, rows, columns)
    geometry: Geometry | None = None
    label_value: int | None = None  # NIfTI multi-label value
    contours_mm: tuple[np.ndarray, ...] = ()  # RTSTRUCT closed planar contours, (n, 3) each
    frame_slices: np.ndarray | None = None  # SEG: the slice of ``geometry`` each frame lies on
    item_numbers: tuple[int, ...] = ()  # SEG: frame number of each frame; RTSTRUCT: ContourSequence item number

    def describe(self) -> str:
        return f"{self.kind} {self.source} {_ITEM[self.kind]} '{self.name}'"

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


def _placed(number: int, index: np.ndarray, shape: tuple[int, ...]) -> tuple[int, np.ndarray, np.ndarray, str]:
    """(number, lowest and highest voxel index per axis, placement) of an item's (n, 3) voxel indices.
    Placement: 'inside' the grid (at most half a voxel past the outer centres), 'disjoint' (its
    bounding box misses the grid) or 'reaching out' (partly outside)."""
    low, high = index.min(axis=0), index.max(axis=0)
    edge_low, edge_high = -_EDGE_VOXELS, np.array(shape) - 1 + _EDGE_VOXELS
    if (low >= edge_low).all() and (high <= edge_high).all():
        where = "inside"
    else:
        where = "disjoint" if ((high < edge_low) | (low > edge_high)).any() else "reaching out"
    return number, low, high, where


def _refuse_cut_short(placed: list[tuple[int, np.ndarray, np.ndarray, str]], source: VoiSource, target: Geometry,
                      keyword: str, what: Callable[[int], str]) -> bool:
    """Refuse a VOI that lies partly outside ``target`` (it would be cut short), naming the first item
    (contour or frame; ``what(number)``) that reaches out. True when every item lies wholly outside:
    the VOI is then empty on the grid and refused as such by :func:`voi_mask`."""
    out = [(number, low, high) for number, low, high, where in placed if where != "inside"]
    if not out:
        return False
    if all(where == "disjoint" for *_, where in placed):
        return True
    number, low, high = out[0]
    extent = ", ".join(f"{axis} {a:.1f} to {b:.1f}" for axis, a, b in zip(("slice", "row", "column"), low, high))
    raise DicomError(source.source, keyword, f"{what(number)} lies outside the image grid, so the VOI would be cut "
                     f"short (voxel index {extent}; the grid has {target.shape[0]} slices of {target.shape[1]} rows "
                     f"x {target.shape[2]} columns)")


def _fill_slice(polygons: Sequence[np.ndarray], rows: int, columns: int) -> np.ndarray:
    """Even-odd fill of closed polygons, (n, 2) (row, column) indices, at the voxel centres of one slice.

    A centre is inside when a ray towards increasing column crosses the edges an odd number of
    times, so holes and overlapping polygons XOR. Each edge adds one crossing per pixel row it
    spans (half-open in row); the crossings are counted per (row, column) in chunks, so memory
    is one slice plus _CROSSINGS_PER_CHUNK, whatever the number of vertices.
    """
    r1 = np.concatenate([p[:, 0] for p in polygons])
    c1 = np.concatenate([p[:, 1] for p in polygons])
    r2 = np.concatenate([np.roll(p[:, 0], -1) for p in polygons])
    c2 = np.concatenate([np.roll(p[:, 1], -1) for p in polygons])
    # Pixel rows r with min(r1, r2) <= r < max(r1, r2), i.e. (r1 > r) != (r2 > r).
    lo = np.clip(np.ceil(np.minimum(r1, r2)), 0, rows).astype(np.int64)
    hi = np.clip(np.ceil(np.maximum(r1, r2)), 0, rows).astype(np.int64)
    keep = hi > lo
    r1, c1, r2, c2, lo, counts = r1[keep], c1[keep], r2[keep], c2[keep], lo[keep], (hi - lo)[keep]
    ends = np.cumsum(counts)
    hist = np.zeros(rows * (columns + 1), dtype=np.int64)
    start = 0
    while start < counts.size:
        before = int(ends[start - 1]) if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, before + _CROSSINGS_PER_CHUNK, side="right")))
        n = counts[start:stop]
        edge = np.repeat(np.arange(start, stop), n)
        row = lo[edge] + (np.arange(edge.size) - np.repeat(np.cumsum(n) - n, n))
        col = (c2[edge] - c1[edge]) * (row - r1[edge]) / (r2[edge] - r1[edge]) + c1[edge]
        # Voxel columns cc < col are 0 .. ceil(col) - 1: the crossing toggles those.
        right_of = np.clip(np.ceil(col), 0, columns).astype(np.int64)
        hist += np.bincount(row * (columns + 1) + right_of, minlength=hist.size)
        start = stop
    # crossings[:, k]: crossings that toggle column k - 1 and all left of it (right_of >= k).
    crossings = np.cumsum(hist.reshape(rows, columns + 1)[:, ::-1], axis=1)[:, ::-1]
    return (crossings[:, 1:] % 2).astype(bool)


def _rasterise_contours(source: VoiSource, target: Geometry) -> np.ndarray:
    """Closed planar contours (patient mm) -> mask on ``target``: on each slice the contour plane
    nearest the slice centre (within half a slice) is filled with the even-odd rule (holes).
    A contour not parallel to the slices, or reaching outside the grid, is refused."""
    to_index = np.linalg.inv(target.affine)
    numbers = source.item_numbers or tuple(range(1, len(source.contours_mm) + 1))
    placed, polygons = [], []
    for item, points in zip(numbers, source.contours_mm):
        idx = (np.c_[points, np.ones(len(points))] @ to_index.T)[:, :3]
        if np.ptp(idx[:, 0]) > 0.1:
            raise DicomError(source.source, "ContourData", f"a contour of ROI '{source.name}' is not parallel to the "
                             "target slices (oblique contours are not supported)")
        placed.append(_placed(item, idx, target.shape))
        polygons.append(idx)
    mask = np.zeros(target.shape, dtype=bool)
    if _refuse_cut_short(placed, source, target, "ContourData",
                         lambda number: f"contour {number} of ROI '{source.name}'"):
        return mask
    by_slice: dict[int, list[tuple[float, np.ndarray]]] = {}
    for idx in polygons:
        k_mean = float(idx[:, 0].mean())
        slice_k = int(np.clip(np.rint(k_mean), 0, target.shape[0] - 1))
        by_slice.setdefault(slice_k, []).append((abs(k_mean - slice_k), idx[:, 1:3]))
    for slice_k, items in by_slice.items():
        nearest = min(d for d, _ in items)
        mask[slice_k] = _fill_slice([poly for d, poly in items if d - nearest <= 1e-3], *target.shape[1:])
    return mask


def _seg_on_grid(source: VoiSource, target: Geometry) -> np.ndarray:
    """A SEG segment's frames resampled onto ``target``; a frame with a pixel set outside it is refused."""
    frames, slices = source.volume, np.asarray(source.frame_slices, dtype=np.int64)
    to_index = np.linalg.inv(target.affine) @ source.geometry.affine
    numbers = source.item_numbers or tuple(range(1, frames.shape[0] + 1))
    placed = []
    for f in range(frames.shape[0]):  # one frame at a time: memory of one frame's set pixels
        r, c = np.nonzero(frames[f])
        if r.size:
            idx = (np.c_[np.full(r.size, slices[f]), r, c, np.ones(r.size)] @ to_index.T)[:, :3]
            placed.append(_placed(numbers[f], idx, target.shape))
    if _refuse_cut_short(placed, source, target, "ImagePositionPatient",
                         lambda number: f"frame {number} of segment '{source.name}' (its PlanePositionSequence)"):
        return np.zeros(target.shape, dtype=bool)
    held, where = np.unique(slices, return_inverse=True)
    stack = np.zeros((held.size, *frames.shape[1:]), dtype=bool)
    for f, at in enumerate(where):  # frames of one segment on one plane are OR-ed
        stack[at] |= frames[f]
    return resample_nearest(stack, source.geometry, target, fill=False, source_slices=held)


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
        mask = _rasterise_contours(source, target)
        note = "contours rasterised at the voxel centres"
    else:
        if source.kind == "SEG":
            mask = _seg_on_grid(source, target)
        else:
            volume = source.volume if source.label_value is None else source.volume == source.label_value
            mask = resample_nearest(volume.astype(bool), source.geometry, target, fill=False)
        note = ("on the image grid" if source.geometry.same_lattice(target)
                else f"resampled (nearest neighbour) from {source.geometry.describe()}")
        if source.kind == "NIfTI":
            note += "; NIfTI has no Frame of Reference: assumed to be from this SPECT/CT"
    if not mask.any():
        raise DicomError(source.source, None, f"{_ITEM[source.kind]} '{source.name}' is empty on the image grid "
                         "(outside the field of view, or an empty mask)")
    return mask, note
