"""VOIs: organs recognised by name, and a VOI source placed on the image grid as a boolean mask.

RTSTRUCT closed planar contours are rasterised onto the target grid; SEG and NIfTI masks on
another grid are resampled (nearest neighbour at the target voxel centres) and the
resampling is reported. Reading the sources is :mod:`prrt_core.dicom.voi_sources`.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
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
    volume: np.ndarray | None = None  # bool or label volume (SEG, NIfTI)
    geometry: Geometry | None = None
    label_value: int | None = None  # NIfTI multi-label value
    contours_mm: tuple[np.ndarray, ...] = ()  # RTSTRUCT closed planar contours, (n, 3) each

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
        raise DicomError(source.source, None, f"{_ITEM[source.kind]} '{source.name}' is empty on the image grid "
                         "(outside the field of view, or an empty mask)")
    return mask, note
