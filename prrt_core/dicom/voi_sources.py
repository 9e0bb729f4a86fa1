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

from prrt_core.dicom.geometry import POSITION_TOL_MM, Geometry, geometry_from_planes
from prrt_core.dicom.tags import floats, pixel_array, require_tag
from prrt_core.dicom.voi import VoiSource, organ_for_name
from prrt_core.errors import DicomError


def seg_sources(name: str, ds: Dataset) -> list[VoiSource]:
    """One VoiSource per segment of a DICOM SEG, each a boolean volume on the SEG's own grid."""
    seg_type = str(require_tag(ds, "SegmentationType", name)).upper()
    if seg_type not in ("BINARY", "FRACTIONAL"):
        raise DicomError(name, "SegmentationType", f"is {seg_type!r}: only BINARY or FRACTIONAL is supported")
    frame_uid = str(require_tag(ds, "FrameOfReferenceUID", name, "needed to place the segments"))
    shared = (ds.get("SharedFunctionalGroupsSequence") or [Dataset()])[0]
    per_frame = require_tag(ds, "PerFrameFunctionalGroupsSequence", name)
    pixels = pixel_array(ds, name)
    n_frames = int(ds.get("NumberOfFrames") or 1)
    pixels = pixels.reshape(n_frames, int(ds.Rows), int(ds.Columns))
    if len(per_frame) != n_frames:
        raise DicomError(name, "PerFrameFunctionalGroupsSequence", f"has {len(per_frame)} items for {n_frames} "
                         "frame(s) of pixel data")
    if seg_type == "FRACTIONAL":
        # Fraction >= 1/2 of MaximumFractionalValue is inside (the usual 50 % rule).
        pixels = pixels >= 0.5 * float(require_tag(ds, "MaximumFractionalValue", name))
    else:
        pixels = pixels.astype(bool)

    def group(item, seq_keyword, keyword):
        for holder in (item, shared):
            seq = holder.get(seq_keyword)
            if seq and keyword in seq[0]:
                return seq[0].get(keyword)
        raise DicomError(name, keyword, f"missing in {seq_keyword} (per-frame and shared functional groups)")

    positions, segments, orientations = [], [], []
    for item in per_frame:
        positions.append(floats(group(item, "PlanePositionSequence", "ImagePositionPatient"), 3, name,
                                "ImagePositionPatient"))
        segments.append(int(group(item, "SegmentIdentificationSequence", "ReferencedSegmentNumber")))
        orientations.append(tuple(np.round(floats(group(item, "PlaneOrientationSequence",
                                                        "ImageOrientationPatient"), 6, name,
                                                  "ImageOrientationPatient"), 6)))
    if len(set(orientations)) != 1:
        raise DicomError(name, "ImageOrientationPatient", "frames have different orientations")
    orientation = np.array(orientations[0])
    measures_item = per_frame[0]
    spacing = floats(group(measures_item, "PixelMeasuresSequence", "PixelSpacing"), 2, name, "PixelSpacing")
    normal = np.cross(orientation[:3], orientation[3:])
    positions = np.array(positions)
    depth = positions @ normal
    in_plane = positions - depth[:, None] * normal
    if not np.allclose(in_plane, in_plane[0], atol=POSITION_TOL_MM * 10):
        raise DicomError(name, "ImagePositionPatient", "frames are not stacked along the slice normal")
    planes = np.unique(np.round(depth, 3))
    try:
        step = float(group(measures_item, "PixelMeasuresSequence", "SpacingBetweenSlices"))
    except DicomError:
        step = float(np.min(np.diff(planes))) if planes.size > 1 else float(
            group(measures_item, "PixelMeasuresSequence", "SliceThickness"))
    index = (depth - planes[0]) / step
    if not np.allclose(index, np.rint(index), atol=0.05):
        raise DicomError(name, "ImagePositionPatient", f"frame positions are not multiples of the slice spacing "
                         f"{step:g} mm")
    index = np.rint(index).astype(int)
    geometry = geometry_from_planes(in_plane[0] + planes[0] * normal, orientation[:3], orientation[3:], spacing,
                                    step, int(index.max()) + 1, int(ds.Rows), int(ds.Columns), frame_uid)
    segment_seq = require_tag(ds, "SegmentSequence", name)
    labels = {int(s.SegmentNumber): str(s.get("SegmentLabel") or f"segment {int(s.SegmentNumber)}")
              for s in segment_seq}
    sources = []
    for number, label in labels.items():
        volume = np.zeros(geometry.shape, dtype=bool)
        frames = [i for i, s in enumerate(segments) if s == number]
        for i in frames:
            volume[index[i]] |= pixels[i]
        sources.append(VoiSource(label, organ_for_name(label), "SEG", name, str(ds.get("SeriesInstanceUID", "")),
                                 str(ds.get("SOPInstanceUID", "")), frame_uid, volume=volume, geometry=geometry))
    return sources


def rtstruct_sources(name: str, ds: Dataset) -> list[VoiSource]:
    """One VoiSource per RTSTRUCT ROI with closed planar contours (others enclose no volume)."""
    rois = {int(r.ROINumber): r for r in require_tag(ds, "StructureSetROISequence", name)}
    interpreted = {int(o.ReferencedROINumber): str(o.get("RTROIInterpretedType", "") or "")
                   for o in ds.get("RTROIObservationsSequence") or []}
    sources = []
    for item in ds.get("ROIContourSequence") or []:
        number = int(item.ReferencedROINumber)
        if number not in rois:
            raise DicomError(name, "ReferencedROINumber", f"{number} is not in StructureSetROISequence (3006,0020)")
        roi = rois[number]
        contours = []
        for c in item.get("ContourSequence") or []:
            if str(c.get("ContourGeometricType", "")).upper() != "CLOSED_PLANAR":
                continue  # POINT / OPEN contours enclose no volume
            points = np.array([float(v) for v in c.ContourData]).reshape(-1, 3)
            if len(points) >= 3:
                contours.append(points)
        if not contours:
            continue
        roi_name = str(roi.get("ROIName") or f"ROI {number}")
        sources.append(VoiSource(roi_name, organ_for_name(roi_name, interpreted.get(number)), "RTSTRUCT", name,
                                 str(ds.get("SeriesInstanceUID", "")), str(ds.get("SOPInstanceUID", "")),
                                 str(roi.get("ReferencedFrameOfReferenceUID", "") or "") or None,
                                 contours_mm=tuple(contours)))
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
