"""VOI sources read from files: DICOM SEG segments, RTSTRUCT ROIs and NIfTI labels (not yet on a grid).

SEG: binary or fractional. RTSTRUCT: closed planar contours in patient mm. NIfTI: label maps
as TotalSegmentator writes them (one binary file per structure named after it, or a
multi-label file with TotalSegmentator's label table in the header extension).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from prrt_core.dicom import geometry as grid
from prrt_core.dicom.geometry import POSITION_TOL_MM, Geometry, geometry_from_planes
from prrt_core.dicom.tags import floats, number, pixel_array, require_tag
from prrt_core.dicom.voi import VoiSource, organ_for_name
from prrt_core.errors import DicomError

# The most work one VOI file may ask for; above it the file is refused before its pixels or
# points are decoded. A SEG: 10,000 frames (a kidney-and-lesion SEG on a 1.25-mm CT has a few
# hundred) and 2**30 pixels (1 GiB once unpacked to a byte per pixel). An RTSTRUCT ROI:
# 1,000,000 contour points (a body outline of 500 slices x 2,000 points; a kidney has a few
# hundred points per slice). Rasterising is then bounded by one slice per VOI (voi.py).
MAX_SEG_FRAMES = 10_000
MAX_SEG_PIXELS = 2**30
MAX_CONTOUR_POINTS_PER_ROI = 1_000_000


def _seg_pixels(name: str, ds: Dataset, seg_type: str) -> np.ndarray:
    """The frames of a SEG as booleans (frames, rows, columns), refused before decoding above the caps."""
    # NumberOfFrames is Type 1 in a SEG, but files without it exist (pydicom's liver_1frame.dcm): read
    # as one frame, as pydicom decodes them; Pixel Data of another size is then refused on reshaping.
    n_frames = int(number(ds, "NumberOfFrames", name, minimum=1, maximum=MAX_SEG_FRAMES, default=1,
                          why="frames in one SEG: larger ones are refused before decoding"))
    rows, columns = int(number(ds, "Rows", name, minimum=1)), int(number(ds, "Columns", name, minimum=1))
    if n_frames * rows * columns > MAX_SEG_PIXELS:
        raise DicomError(name, "NumberOfFrames", f"is {n_frames}: {n_frames} frames of {rows} x {columns} pixels are "
                         f"{n_frames * rows * columns:,} pixels, more than the {MAX_SEG_PIXELS:,} one SEG may hold")
    per_frame = require_tag(ds, "PerFrameFunctionalGroupsSequence", name)
    if len(per_frame) != n_frames:
        raise DicomError(name, "PerFrameFunctionalGroupsSequence", f"has {len(per_frame)} items for {n_frames} "
                         "frame(s) of pixel data")
    pixels = pixel_array(ds, name).reshape(n_frames, rows, columns)
    if seg_type == "FRACTIONAL":
        # Fraction >= 1/2 of MaximumFractionalValue is inside (the usual 50 % rule); FRACTIONAL
        # pixels are 8-bit (PS3.3 C.8.20.2), so the maximum is 1-255.
        return pixels >= 0.5 * number(ds, "MaximumFractionalValue", name, minimum=1, maximum=255)
    # BINARY frames unpack to 0/1 bytes: read them as booleans without a copy.
    return pixels.view(bool) if pixels.dtype == np.uint8 and int(ds.get("BitsAllocated") or 0) == 1 \
        else pixels.astype(bool)


def seg_sources(name: str, ds: Dataset) -> list[VoiSource]:
    """One VoiSource per segment of a DICOM SEG: its frames and where each lies on the SEG's own lattice."""
    seg_type = str(require_tag(ds, "SegmentationType", name)).upper()
    if seg_type not in ("BINARY", "FRACTIONAL"):
        raise DicomError(name, "SegmentationType", f"is {seg_type!r}: only BINARY or FRACTIONAL is supported")
    frame_uid = str(require_tag(ds, "FrameOfReferenceUID", name, "needed to place the segments"))
    shared = (ds.get("SharedFunctionalGroupsSequence") or [Dataset()])[0]
    pixels = _seg_pixels(name, ds, seg_type)
    per_frame = ds.PerFrameFunctionalGroupsSequence

    def find(item, seq_keyword, keyword) -> Dataset | None:
        """The functional group (per-frame, else shared) that holds ``keyword``."""
        for holder in (item, shared):
            seq = holder.get(seq_keyword)
            if seq and keyword in seq[0]:
                return seq[0]
        return None

    def group(item, seq_keyword, keyword) -> Dataset:
        found = find(item, seq_keyword, keyword)
        if found is None:
            raise DicomError(name, keyword, f"missing in {seq_keyword} (per-frame and shared functional groups)")
        return found

    positions, segments, orientations = [], [], []
    for item in per_frame:
        positions.append(floats(group(item, "PlanePositionSequence", "ImagePositionPatient").ImagePositionPatient,
                                3, name, "ImagePositionPatient"))
        segments.append(int(group(item, "SegmentIdentificationSequence",
                                  "ReferencedSegmentNumber").ReferencedSegmentNumber))
        orientations.append(tuple(np.round(floats(group(item, "PlaneOrientationSequence", "ImageOrientationPatient")
                                                  .ImageOrientationPatient, 6, name, "ImageOrientationPatient"), 6)))
    if len(set(orientations)) != 1:
        raise DicomError(name, "ImageOrientationPatient", "frames have different orientations")
    orientation = grid.direction_cosines(orientations[0], name)
    measures_item = per_frame[0]
    spacing = grid.pixel_spacing(group(measures_item, "PixelMeasuresSequence", "PixelSpacing").PixelSpacing, name)
    normal = np.cross(orientation[:3], orientation[3:])
    positions = np.array(positions)
    depth = positions @ normal
    in_plane = positions - depth[:, None] * normal
    if not np.allclose(in_plane, in_plane[0], atol=POSITION_TOL_MM * 10):
        raise DicomError(name, "ImagePositionPatient", "frames are not stacked along the slice normal")
    planes = np.unique(np.round(depth, 3))
    spacing_group = find(measures_item, "PixelMeasuresSequence", "SpacingBetweenSlices")
    if spacing_group is not None:
        step = grid.slice_step(number(spacing_group, "SpacingBetweenSlices", name, above=0), name,
                               "SpacingBetweenSlices")
    elif planes.size > 1:
        step = float(np.min(np.diff(planes)))
    else:
        thickness = group(measures_item, "PixelMeasuresSequence", "SliceThickness")
        step = grid.slice_step(number(thickness, "SliceThickness", name, above=0), name, "SliceThickness")
    index = (depth - planes[0]) / step
    if not np.allclose(index, np.rint(index), atol=0.05):
        raise DicomError(name, "ImagePositionPatient", f"frame positions are not multiples of the slice spacing "
                         f"{step:g} mm")
    index = np.rint(index).astype(np.int64)
    # The lattice only: its slice count spans the frames, but no volume of that size is made.
    geometry = geometry_from_planes(in_plane[0] + planes[0] * normal, orientation[:3], orientation[3:], spacing,
                                    step, int(index.max()) + 1, pixels.shape[1], pixels.shape[2], frame_uid)
    segment_seq = require_tag(ds, "SegmentSequence", name)
    numbers = [int(require_tag(s, "SegmentNumber", name, "in SegmentSequence")) for s in segment_seq]
    labels = {n: str(s.get("SegmentLabel") or f"segment {n}") for n, s in zip(numbers, segment_seq)}
    segments = np.array(segments)
    sources = []
    for segment, label in labels.items():
        chosen = np.flatnonzero(segments == segment)
        contiguous = chosen.size > 0 and chosen[-1] - chosen[0] + 1 == chosen.size
        frames = pixels[chosen[0]:chosen[-1] + 1] if contiguous else pixels[chosen]  # a view when contiguous
        sources.append(VoiSource(label, organ_for_name(label), "SEG", name, str(ds.get("SeriesInstanceUID", "")),
                                 str(ds.get("SOPInstanceUID", "")), frame_uid, volume=frames, geometry=geometry,
                                 frame_slices=index[chosen], item_numbers=tuple(int(i) + 1 for i in chosen)))
    return sources


def _point_count(item: Dataset) -> int:
    """The number of values of ContourData, counted without decoding them (a raw element is bytes)."""
    element = item.get_item("ContourData")
    value = None if element is None else element.value
    if isinstance(value, (bytes, bytearray)):
        return value.count(b"\\") + 1 if value.strip() else 0
    return len(value) if isinstance(value, (list, tuple, MultiValue)) else int(value is not None)


def _contour_points(item: Dataset, name: str, roi_name: str, number_in_roi: int) -> np.ndarray:
    """ContourData as (n, 3) finite mm, parsed from the raw bytes when possible (pydicom's DS objects
    for a million points take seconds and hundreds of MB)."""
    where = f"contour {number_in_roi} of ROI '{roi_name}'"
    element = item.get_item("ContourData")
    value = None if element is None else element.value
    try:
        if isinstance(value, (bytes, bytearray)):
            values = np.array(bytes(value).split(b"\\"), dtype=float) if bytes(value).strip() else np.zeros(0)
        else:
            values = np.array([float(v) for v in ([] if value is None else
                                                  value if isinstance(value, (list, tuple, MultiValue)) else [value])])
    except (TypeError, ValueError):
        raise DicomError(name, "ContourData", f"{where} holds a value that is not a number") from None
    if values.size % 3:
        raise DicomError(name, "ContourData", f"{where} has {values.size} values, not (x, y, z) triplets")
    if not np.isfinite(values).all():
        raise DicomError(name, "ContourData", f"{where} holds a non-finite value "
                         f"({values[~np.isfinite(values)][0]}) at position {int(np.argmin(np.isfinite(values))) + 1}")
    return values.reshape(-1, 3)


def rtstruct_sources(name: str, ds: Dataset) -> list[VoiSource]:
    """One VoiSource per RTSTRUCT ROI with closed planar contours (others enclose no volume).

    An ROI of more than MAX_CONTOUR_POINTS_PER_ROI points is refused before its points are read.
    """
    rois = {int(require_tag(r, "ROINumber", name, "in StructureSetROISequence")): r
            for r in require_tag(ds, "StructureSetROISequence", name)}
    interpreted = {int(require_tag(o, "ReferencedROINumber", name, "in RTROIObservationsSequence")):
                   str(o.get("RTROIInterpretedType", "") or "") for o in ds.get("RTROIObservationsSequence") or []}
    sources = []
    for item in ds.get("ROIContourSequence") or []:
        number_ = int(require_tag(item, "ReferencedROINumber", name, "in ROIContourSequence"))
        if number_ not in rois:
            raise DicomError(name, "ReferencedROINumber", f"{number_} is not in StructureSetROISequence (3006,0020)")
        roi = rois[number_]
        roi_name = str(roi.get("ROIName") or f"ROI {number_}")
        # POINT / OPEN contours enclose no volume; ContourSequence item numbers name a contour.
        closed = [(i, c) for i, c in enumerate(item.get("ContourSequence") or [], start=1)
                  if str(c.get("ContourGeometricType", "")).upper() == "CLOSED_PLANAR"]
        total = sum(_point_count(c) for _, c in closed) // 3
        if total > MAX_CONTOUR_POINTS_PER_ROI:
            raise DicomError(name, "ContourData", f"ROI '{roi_name}' has {total:,} contour points, more than the "
                             f"{MAX_CONTOUR_POINTS_PER_ROI:,} one ROI may have")
        contours, numbers = [], []
        for i, c in closed:
            points = _contour_points(c, name, roi_name, i)
            if len(points) >= 3:
                contours.append(points)
                numbers.append(i)
        if not contours:
            continue
        sources.append(VoiSource(roi_name, organ_for_name(roi_name, interpreted.get(number_)), "RTSTRUCT", name,
                                 str(ds.get("SeriesInstanceUID", "")), str(ds.get("SOPInstanceUID", "")),
                                 str(roi.get("ReferencedFrameOfReferenceUID", "") or "") or None,
                                 contours_mm=tuple(contours), item_numbers=tuple(numbers)))
    return sources


_CARET_LABEL = re.compile(r'<Label\s+Key="(\d+)"[^>]*>\s*<!\[CDATA\[(.*?)\]\]>\s*</Label>', re.S)


def nifti_sources(name: str, raw: bytes) -> list[VoiSource]:
    """One VoiSource per label of an (uncompressed) NIfTI label map, named from the file or its label table."""
    import nibabel as nib

    try:
        img = (nib.Nifti1Image if raw[344:348] in (b"n+1\x00", b"ni1\x00") else nib.Nifti2Image).from_bytes(raw)
        data = np.asanyarray(img.dataobj)
    except Exception as exc:  # noqa: BLE001 - report any nibabel failure as an unreadable file
        raise DicomError(name, None, f"unreadable NIfTI file ({type(exc).__name__}: {exc})") from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise DicomError(name, None, f"NIfTI label map must be 3-D, has shape {data.shape}")
    if not np.all(np.equal(np.mod(data, 1), 0)):
        raise DicomError(name, None, "NIfTI label map must hold integer labels")
    labels = np.rint(data).astype(np.int32).transpose(2, 1, 0)  # (i, j, k) -> (slice, row, column)
    ras = img.affine
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ ras  # NIfTI is RAS+, DICOM patient coordinates LPS
    affine = np.eye(4)
    affine[:3, 0], affine[:3, 1], affine[:3, 2], affine[:3, 3] = lps[:3, 2], lps[:3, 1], lps[:3, 0], lps[:3, 3]
    geometry = Geometry(labels.shape, affine, None)
    table = {}
    for ext in img.header.extensions:
        content = ext.get_content()
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
        table.update({int(k): v.strip() for k, v in _CARET_LABEL.findall(text)})
    present = [int(v) for v in np.unique(labels) if v != 0]
    stem = re.sub(r"\.nii(\.gz)?$", "", Path(name).name, flags=re.I)
    if table:
        names = {v: table.get(v, f"label {v}") for v in present}
    elif set(present) <= {1}:
        names = {1: stem}
    else:
        raise DicomError(name, None, f"label map with labels {present[:8]} but no label names (no "
                         "TotalSegmentator label table in the header extension); save one file per structure "
                         "named after it (e.g. kidney_left.nii.gz)")
    return [VoiSource(label, organ_for_name(label), "NIfTI", name, None, None, None, volume=labels,
                      geometry=geometry, label_value=value) for value, label in names.items()]
