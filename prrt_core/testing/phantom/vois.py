"""Phantom VOI writers: binary DICOM SEG, RTSTRUCT closed planar contours, TotalSegmentator-style NIfTI."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import pack_bits
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from prrt_core.errors import InputError
from prrt_core.testing.phantom.datasets import new_dataset, save, set_image_pixels
from prrt_core.testing.phantom.model import UID_ROOT, Phantom, Structure


def write_seg(path: Path, phantom: Phantom, names: list[str] | None = None, *, empty: tuple[str, ...] = ()) -> Path:
    """Binary DICOM SEG on the SPECT grid: one segment per structure, a frame per non-empty slice."""
    masks = phantom.masks()
    names = names or list(masks)
    ds = new_dataset("1.2.840.10008.5.1.4.1.1.66.4", "SEG", generate_uid(prefix=UID_ROOT), phantom,
                     phantom.injection_time)
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.SegmentationType = "BINARY"
    nz, ny, nx = phantom.shape
    set_image_pixels(ds, ny, nx, bits=1)
    segments, frames, per_frame = [], [], []
    x0, y0, z0 = phantom.origin_mm
    for number, name in enumerate(names, start=1):
        seg = Dataset()
        seg.SegmentNumber = number
        seg.SegmentLabel = name
        seg.SegmentAlgorithmType = "MANUAL"
        segments.append(seg)
        mask = np.zeros(phantom.shape, bool) if name in empty else masks[name]
        for k in (np.flatnonzero(mask.any(axis=(1, 2))) if mask.any() else [nz // 2]):
            frames.append(mask[k])
            item = Dataset()
            position = Dataset()
            position.ImagePositionPatient = [float(x0), float(y0), float(z0 + k * phantom.spacing_mm)]
            item.PlanePositionSequence = Sequence([position])
            ident = Dataset()
            ident.ReferencedSegmentNumber = number
            item.SegmentIdentificationSequence = Sequence([ident])
            per_frame.append(item)
    ds.SegmentSequence = Sequence(segments)
    shared = Dataset()
    orientation = Dataset()
    orientation.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    measures = Dataset()
    measures.PixelSpacing = [phantom.spacing_mm, phantom.spacing_mm]
    measures.SliceThickness = phantom.spacing_mm
    measures.SpacingBetweenSlices = phantom.spacing_mm
    shared.PlaneOrientationSequence = Sequence([orientation])
    shared.PixelMeasuresSequence = Sequence([measures])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    ds.NumberOfFrames = len(frames)
    ds.PixelData = pack_bits(np.stack(frames).astype(np.uint8))
    return save(ds, path)


def _ellipse_contours(phantom: Phantom, s: Structure, n_vertices: int = 96) -> list[np.ndarray]:
    """Inscribed polygons of the structure's cross-section at every slice centre it cuts."""
    _, _, z = phantom.axes_mm()
    contours = []
    angle = np.linspace(0.0, 2 * np.pi, n_vertices, endpoint=False)
    (cx, cy, cz), (ax, ay, az) = s.centre_mm, s.semi_axes_mm
    for zk in z:
        f = 1.0 - ((zk - cz) / az) ** 2
        if f <= 0:
            continue
        r = math.sqrt(f)
        contours.append(np.c_[cx + ax * r * np.cos(angle), cy + ay * r * np.sin(angle), np.full(n_vertices, zk)])
    return contours


def write_rtstruct(path: Path, phantom: Phantom, names: list[str] | None = None, *,
                   frame_of_reference_uid: str | None = None) -> Path:
    """RTSTRUCT with closed planar contours of each structure on every slice it cuts."""
    names = names or [s.name for s in phantom.structures]
    ds = new_dataset("1.2.840.10008.5.1.4.1.1.481.3", "RTSTRUCT", generate_uid(prefix=UID_ROOT), phantom,
                     phantom.injection_time)
    frame_uid = frame_of_reference_uid or phantom.frame_of_reference_uid
    ds.StructureSetLabel = "phantom"
    ref = Dataset()
    ref.FrameOfReferenceUID = frame_uid
    ds.ReferencedFrameOfReferenceSequence = Sequence([ref])
    rois, roi_contours, observations = [], [], []
    for number, name in enumerate(names, start=1):
        s = phantom.structure(name)
        roi = Dataset()
        roi.ROINumber, roi.ROIName, roi.ReferencedFrameOfReferenceUID = number, name, frame_uid
        roi.ROIGenerationAlgorithm = "MANUAL"
        rois.append(roi)
        contour_items = []
        for points in _ellipse_contours(phantom, s):
            c = Dataset()
            c.ContourGeometricType = "CLOSED_PLANAR"
            c.NumberOfContourPoints = len(points)
            c.ContourData = [f"{v:.4f}" for v in points.ravel()]
            contour_items.append(c)
        rc = Dataset()
        rc.ReferencedROINumber = number
        rc.ContourSequence = Sequence(contour_items)
        roi_contours.append(rc)
        obs = Dataset()
        obs.ObservationNumber, obs.ReferencedROINumber = number, number
        obs.RTROIInterpretedType = "GTV" if s.organ == "tumour" else "ORGAN"
        observations.append(obs)
    ds.StructureSetROISequence = Sequence(rois)
    ds.ROIContourSequence = Sequence(roi_contours)
    ds.RTROIObservationsSequence = Sequence(observations)
    return save(ds, path)


def write_nifti_labels(path: Path, phantom: Phantom, *, zoom: int = 1, multilabel: bool = True,
                       names: dict[str, str] | None = None) -> list[Path]:
    """TotalSegmentator-style NIfTI in RAS+ orientation on a grid refined ``zoom`` times (odd).

    multilabel: one file with the label table in a header extension as TotalSegmentator's
    ``--ml`` output does (kidney_right 2, kidney_left 3 of its 'total' class map); otherwise
    one binary file per structure named after it in ``path`` (a folder).
    names: phantom structure name -> NIfTI label name (default: TotalSegmentator names).
    """
    import nibabel as nib

    if zoom < 1 or zoom % 2 == 0:
        raise InputError("zoom must be an odd integer >= 1 so that fine voxel centres include the coarse ones")
    names = names or {"Kidney left": "kidney_left", "Kidney right": "kidney_right"}
    total_ids = {"spleen": 1, "kidney_right": 2, "kidney_left": 3, "liver": 5}
    labels_zyx = phantom.labels(zoom)
    x, y, z = phantom.axes_mm(zoom)
    # RAS+ canonical: i increases to patient right (x_RAS = -x_LPS), j anterior (-y_LPS), k superior.
    step = phantom.spacing_mm / zoom
    affine = np.diag([step, step, step, 1.0])
    affine[:3, 3] = [-x[-1], -y[-1], z[0]]

    def to_ras(volume_zyx):
        return np.ascontiguousarray(volume_zyx[:, ::-1, ::-1].transpose(2, 1, 0))

    paths = []
    if multilabel:
        out = np.zeros_like(labels_zyx, dtype=np.uint8)
        table = {}
        for i, s in enumerate(phantom.structures):
            if s.name in names:
                value = total_ids.get(names[s.name], 100 + i)
                out[labels_zyx == 2 + i] = value
                table[value] = names[s.name]
        img = nib.Nifti1Image(to_ras(out), affine)
        body = "".join(f'<Label Key="{k}" Red="1" Green="0" Blue="0" Alpha="1"><![CDATA[{v}]]></Label>\n'
                       for k, v in sorted(table.items()))
        xml = ('<?xml version="1.0" encoding="UTF-8"?> <CaretExtension> <VolumeInformation Index="0"> <LabelTable>'
               f"\n{body}</LabelTable> <VolumeType><![CDATA[Label]]></VolumeType> </VolumeInformation>"
               "</CaretExtension>\n")
        img.header.extensions.append(nib.nifti1.Nifti1Extension(0, xml.encode("utf-8")))
        path.parent.mkdir(parents=True, exist_ok=True)
        nib.save(img, path)
        paths.append(path)
    else:
        path.mkdir(parents=True, exist_ok=True)
        for i, s in enumerate(phantom.structures):
            if s.name in names:
                target = path / f"{names[s.name]}.nii.gz"
                nib.save(nib.Nifti1Image(to_ras((labels_zyx == 2 + i).astype(np.uint8)), affine), target)
                paths.append(target)
    return paths
