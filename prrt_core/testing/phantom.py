"""Synthetic SPECT/CT dosimetry phantom with a known answer, written as real DICOM files.

Two kidneys (ellipsoids) and a lesion (sphere) in a body of low background uptake, each
with a uniform activity concentration that clears mono-exponentially,
C(t) = C0 exp(-ln2 t / T_eff). Every voxel whose centre lies inside a structure belongs to it
(a structure listed later wins). The expected local-deposition dose of a structure is then
analytic: D = C0 T_eff / ln2 x Delta / rho (dosimetry.DELTA_LOCAL_GY_G_PER_MBQ_H), and the
organ-level S-value dose is TIA x S(m) with TIA = C0 V T_eff / ln2 and m = V rho.

The phantom has no resolution loss (no partial-volume effect): it checks the arithmetic,
units, times and geometry of the pipeline, not recovery coefficients.

Writers: multi-frame NM (RECON TOMO, Units BQML with Rescale Slope, or a Real World Value
Mapping, or counts), PET (one file per slice, optional decay correction), DICOM SEG,
RTSTRUCT, RTDOSE and TotalSegmentator-style NIfTI label maps. The files carry an
obviously fake patient name, ID and birth date so tests can prove they never leak.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import pack_bits
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from prrt_core import dicom
from prrt_core import dosimetry

FAKE_PATIENT_NAME = "PHANTOM^SECRETNAME"
FAKE_PATIENT_ID = "SECRET-ID-4711"
FAKE_BIRTH_DATE = "19450704"
UID_ROOT = "1.2.826.0.1.3680043.10.1456."  # prefix for generated UIDs (pydicom's generate_uid)


@dataclass(frozen=True)
class Structure:
    """An ellipsoid (a sphere when the semi-axes are equal) of uniform uptake, LPS mm."""

    name: str
    organ: str
    centre_mm: tuple[float, float, float]
    semi_axes_mm: tuple[float, float, float]
    c0_mbq_per_ml: float  # concentration extrapolated to injection
    t_eff_h: float

    @property
    def lambda_per_h(self) -> float:
        return math.log(2.0) / self.t_eff_h


@dataclass(frozen=True)
class Phantom:
    """Grid, structures, times and injection of the synthetic series."""

    shape: tuple[int, int, int] = (40, 64, 64)  # slices, rows, columns
    spacing_mm: float = 4.8
    structures: tuple[Structure, ...] = (
        # Patient left is +x in DICOM LPS: the left kidney sits at x > 0. The two kidneys differ
        # in concentration and T_eff so that a left/right swap cannot pass unnoticed.
        Structure("Kidney left", "kidney_left", (72.0, 40.0, 0.0), (28.0, 24.0, 50.0), 0.60, 45.0),
        Structure("Kidney right", "kidney_right", (-72.0, 40.0, 0.0), (28.0, 24.0, 50.0), 0.75, 55.0),
        Structure("Lesion 1", "tumour", (-10.0, -20.0, 40.0), (15.0, 15.0, 15.0), 2.5, 80.0),
    )
    body_semi_axes_mm: tuple[float, float] = (140.0, 100.0)
    background_c0_mbq_per_ml: float = 0.01
    background_t_eff_h: float = 30.0
    times_h: tuple[float, ...] = (4.0, 24.0, 48.0, 96.0, 168.0)
    injection_time: dt.datetime = dt.datetime(2024, 3, 4, 9, 30, 0)
    activity_mbq: float = 7400.0
    frame_of_reference_uid: str = UID_ROOT + "1"
    study_uid: str = UID_ROOT + "2"

    # --- geometry and truth ------------------------------------------------------
    @property
    def origin_mm(self) -> np.ndarray:
        """Centre of voxel (0, 0, 0): the grid is centred on the patient origin."""
        return -0.5 * (np.array(self.shape[::-1], dtype=float) - 1.0) * self.spacing_mm  # (x, y, z)

    def geometry(self) -> dicom.Geometry:
        x0, y0, z0 = self.origin_mm
        return dicom.geometry_from_planes((x0, y0, z0), (1, 0, 0), (0, 1, 0), (self.spacing_mm,) * 2,
                                             self.spacing_mm, *self.shape, self.frame_of_reference_uid)

    def _axes_mm(self, zoom: int = 1):
        """Voxel-centre coordinates along x, y, z of the grid refined ``zoom`` times (odd)."""
        step = self.spacing_mm / zoom
        off = (zoom - 1) // 2
        return [o - off * step + step * np.arange(n * zoom) for o, n in zip(self.origin_mm, self.shape[::-1])]

    def labels(self, zoom: int = 1) -> np.ndarray:
        """0 outside the body, 1 body background, 2 + i inside structure i; (z, y, x) array."""
        x, y, z = self._axes_mm(zoom)
        zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
        out = np.where((xx / self.body_semi_axes_mm[0]) ** 2 + (yy / self.body_semi_axes_mm[1]) ** 2 <= 1.0, 1, 0)
        for i, s in enumerate(self.structures):
            (cx, cy, cz), (ax, ay, az) = s.centre_mm, s.semi_axes_mm
            inside = ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 + ((zz - cz) / az) ** 2 <= 1.0
            out = np.where(inside, 2 + i, out)
        return out.astype(np.int16)

    def masks(self) -> dict[str, np.ndarray]:
        labels = self.labels()
        return {s.name: labels == 2 + i for i, s in enumerate(self.structures)}

    def _parameters(self):
        c0 = np.array([0.0, self.background_c0_mbq_per_ml] + [s.c0_mbq_per_ml for s in self.structures])
        lam = np.array([1.0, math.log(2.0) / self.background_t_eff_h] + [s.lambda_per_h for s in self.structures])
        return c0, lam

    def activity_bq_per_ml(self, t_h: float) -> np.ndarray:
        """Activity concentration at t_h after injection, Bq/mL, (z, y, x) float64."""
        c0, lam = self._parameters()
        return (c0 * np.exp(-lam * t_h) * 1.0e6)[self.labels()]

    def structure(self, name: str) -> Structure:
        return next(s for s in self.structures if s.name == name)

    def expected_dose_gy(self, name: str, density_g_per_ml: float) -> float:
        """Local-deposition dose of a uniform structure: C0 / lambda x Delta / rho, Gy."""
        s = self.structure(name)
        return s.c0_mbq_per_ml / s.lambda_per_h * dosimetry.DELTA_LOCAL_GY_G_PER_MBQ_H / density_g_per_ml

    def expected_dose_map_gy(self, density_g_per_ml: float) -> np.ndarray:
        c0, lam = self._parameters()
        return (c0 / lam * dosimetry.DELTA_LOCAL_GY_G_PER_MBQ_H / density_g_per_ml)[self.labels()]

    def expected_kidney_s_value_dose_gy(self, name: str, density_g_per_ml: float) -> float:
        """Organ-level kidney dose TIA x S(m) with the voxelised volume V: TIA = C0 V / lambda, m = V rho."""
        s = self.structure(name)
        volume_ml = float(self.masks()[name].sum()) * (self.spacing_mm / 10.0) ** 3
        tia = s.c0_mbq_per_ml * volume_ml / s.lambda_per_h
        return float(dosimetry.kidney_dose_s_value_gy(tia, volume_ml * density_g_per_ml))


def default_phantom(**changes) -> Phantom:
    return replace(Phantom(), **changes)


# --- DICOM writing -----------------------------------------------------------------------
def _base(sop_class: str, modality: str, series_uid: str, phantom: Phantom, when: dt.datetime) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid(prefix=UID_ROOT)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientName = FAKE_PATIENT_NAME
    ds.PatientID = FAKE_PATIENT_ID
    ds.PatientBirthDate = FAKE_BIRTH_DATE
    ds.PatientSex = "O"
    ds.StudyInstanceUID = phantom.study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = phantom.frame_of_reference_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = when.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = when.strftime("%H%M%S")
    ds.Manufacturer = "prrt_core.phantom"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    return ds


def _image_pixels(ds: Dataset, rows: int, columns: int, bits: int = 16) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0


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
    ds = _base("1.2.840.10008.5.1.4.1.1.20", "NM", series_uid or generate_uid(prefix=UID_ROOT), phantom, when)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"]
    ds.AcquisitionDateTime = when.strftime("%Y%m%d%H%M%S")
    ds.AcquisitionDate, ds.AcquisitionTime = when.strftime("%Y%m%d"), when.strftime("%H%M%S")
    nz, ny, nx = phantom.shape
    _image_pixels(ds, ny, nx)
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
        raise ValueError(f"quantification must be BQML, RWVM or CNTS, got {quantification!r}")
    ds.PixelData = stored.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


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
        ds = _base("1.2.840.10008.5.1.4.1.1.128", "PT", series_uid, phantom, when)
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        ds.AcquisitionDate, ds.AcquisitionTime = when.strftime("%Y%m%d"), when.strftime("%H%M%S")
        ds.InstanceNumber = k + 1
        _image_pixels(ds, ny, nx)
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
        path = folder / f"pt_{t_h:g}h_{k:03d}"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def write_seg(path: Path, phantom: Phantom, names: list[str] | None = None, *, empty: tuple[str, ...] = ()) -> Path:
    """Binary DICOM SEG on the SPECT grid: one segment per structure, a frame per non-empty slice."""
    masks = phantom.masks()
    names = names or list(masks)
    ds = _base("1.2.840.10008.5.1.4.1.1.66.4", "SEG", generate_uid(prefix=UID_ROOT), phantom, phantom.injection_time)
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.SegmentationType = "BINARY"
    nz, ny, nx = phantom.shape
    _image_pixels(ds, ny, nx, bits=1)
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
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def _ellipse_contours(phantom: Phantom, s: Structure, n_vertices: int = 96) -> list[np.ndarray]:
    """Inscribed polygons of the structure's cross-section at every slice centre it cuts."""
    _, _, z = phantom._axes_mm()
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
    ds = _base("1.2.840.10008.5.1.4.1.1.481.3", "RTSTRUCT", generate_uid(prefix=UID_ROOT), phantom,
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
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_rtdose(path: Path, phantom: Phantom, dose_gy: np.ndarray, *, units: str = "GY") -> Path:
    """RTDOSE of a dose map on the phantom grid (uint32 x DoseGridScaling)."""
    ds = _base("1.2.840.10008.5.1.4.1.1.481.2", "RTDOSE", generate_uid(prefix=UID_ROOT), phantom,
               phantom.injection_time)
    nz, ny, nx = phantom.shape
    _image_pixels(ds, ny, nx, bits=32)
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
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


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
        raise ValueError("zoom must be an odd integer >= 1 so that fine voxel centres include the coarse ones")
    names = names or {"Kidney left": "kidney_left", "Kidney right": "kidney_right"}
    total_ids = {"spleen": 1, "kidney_right": 2, "kidney_left": 3, "liver": 5}
    labels_zyx = phantom.labels(zoom)
    x, y, z = phantom._axes_mm(zoom)
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


@dataclass(frozen=True)
class WrittenPhantom:
    folder: Path
    phantom: Phantom
    spect: tuple[Path, ...]
    vois: tuple[Path, ...]
    extra: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def files(self) -> list[Path]:
        return [*self.spect, *self.vois, *self.extra]


def write_phantom(folder: str | Path, phantom: Phantom | None = None, *, modality: str = "NM",
                  quantification: str = "BQML", voi_format: str = "SEG", with_activity: bool = True,
                  with_time: bool = True, calibration_cps_per_mbq: float = 12.0, noise: float = 0.0,
                  seed: int = 0, decay_correction: str = "NONE", extensionless: bool = True) -> WrittenPhantom:
    """Write the phantom's time series and VOIs into ``folder``; returns what was written.

    modality NM (one multi-frame file per time point) or PT (one file per slice).
    quantification (NM): BQML, RWVM or CNTS (counts = Bq/mL x 1e-6 x mL x cps/MBq x scan s).
    voi_format: SEG, RTSTRUCT, both or none. noise: relative Gaussian noise per voxel (seeded).
    extensionless: NM/SEG/RTSTRUCT files without a '.dcm' suffix, as PACS exports often are.
    """
    phantom = phantom or default_phantom()
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    suffix = "" if extensionless else ".dcm"
    spect: list[Path] = []
    voxel_ml = (phantom.spacing_mm / 10.0) ** 3
    for i, t_h in enumerate(phantom.times_h, start=1):
        values = phantom.activity_bq_per_ml(t_h)
        if noise:
            values = values * (1.0 + noise * rng.standard_normal(values.shape))
            values = np.clip(values, 0.0, None)
        if modality == "NM":
            if quantification == "CNTS":
                duration_s = 20.0 * 60  # 60 views x 20 s, written as RotationInformationSequence
                values = values / 1.0e6 * voxel_ml * calibration_cps_per_mbq * duration_s
            spect.append(write_nm(folder / f"spect_tp{i}{suffix}", phantom, t_h, values,
                                  quantification=quantification, with_activity=with_activity, with_time=with_time))
        elif modality == "PT":
            spect.extend(write_pt_series(folder / f"pet_tp{i}", phantom, t_h, values,
                                         decay_correction=decay_correction))
        else:
            raise ValueError(f"modality must be NM or PT, got {modality!r}")
    vois: list[Path] = []
    if voi_format in ("SEG", "both"):
        vois.append(write_seg(folder / f"vois_seg{suffix}", phantom))
    if voi_format in ("RTSTRUCT", "both"):
        vois.append(write_rtstruct(folder / f"vois_rtstruct{suffix}", phantom))
    if voi_format not in ("SEG", "RTSTRUCT", "both", "none"):
        raise ValueError(f"voi_format must be SEG, RTSTRUCT, both or none, got {voi_format!r}")
    return WrittenPhantom(folder, phantom, tuple(spect), tuple(vois))
