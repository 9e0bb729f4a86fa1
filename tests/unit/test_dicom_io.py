"""Reading DICOM (and NIfTI) for dosimetry: units, times, geometry, VOIs, refusals, privacy.

Phantom files are written by prrt_core.testing.phantom with known activity; pydicom's own sample
files (pydicom.data) are read and compared with pydicom's decoding of the same file.
"""
from __future__ import annotations

import datetime as dt
import io
import logging
import math
import pickle
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from prrt_core import dicom, dosimetry
from prrt_core.dicom import DicomError, study_dose
from prrt_core.dicom.injection import LU177_HALF_LIFE_S
from prrt_core.dicom.voi_sources import rtstruct_sources, seg_sources
from prrt_core.importer import dosimetry_results
from prrt_core.testing import phantom
from prrt_core.views import dosimetry as dose_view
from tests.support import editor

PH = phantom.default_phantom()
# Whole, distinctive values only: a bare "4711" turns up by chance among stored dose digits.
SECRETS = (phantom.FAKE_PATIENT_NAME, "SECRETNAME", phantom.FAKE_PATIENT_ID, phantom.FAKE_BIRTH_DATE)


@pytest.fixture(scope="module")
def nm_folder(tmp_path_factory) -> Path:
    return phantom.write_phantom(tmp_path_factory.mktemp("nm") / "series").folder


def _edit(path: Path, change) -> None:
    ds = pydicom.dcmread(path)
    change(ds)
    ds.save_as(path, enforce_file_format=True)


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def _expected_bq_per_ml(structure: str, t_h: float) -> float:
    s = PH.structure(structure)
    return s.c0_mbq_per_ml * 1e6 * math.exp(-math.log(2) * t_h / s.t_eff_h)


# --- units and times -------------------------------------------------------------------
def test_nm_bqml_series_reads_activity_times_and_injection(nm_folder):
    study = dicom.read_study(nm_folder)
    assert len(study.time_points) == 5
    np.testing.assert_allclose(study.times_h, PH.times_h, atol=1e-9)
    # RadionuclideTotalDose is in Bq (PS3.3 C.8.9.1): 7.4e9 Bq -> 7400 MBq.
    assert study.injection.activity_mbq == pytest.approx(7400.0)
    assert study.injection.activity_origin == "RadionuclideTotalDose (0018,1074)"
    assert study.injection.time == PH.injection_time
    tp = study.time_points[0]
    assert tp.units == "Bq/mL from Units BQML and Rescale Slope" and tp.modality == "NM"
    # Left kidney at 4 h: 0.60 MBq/mL x 2^(-4/45) (phantom truth), stored as uint16 x RescaleSlope.
    voxel_value = tp.activity_bq_per_ml[PH.masks()["Kidney left"]]
    np.testing.assert_allclose(voxel_value, _expected_bq_per_ml("Kidney left", 4.0), rtol=2e-4)
    assert tp.geometry.same_grid(PH.geometry())
    assert [v.organ for v in study.vois] == ["kidney_left", "kidney_right", "tumour"]
    assert all(v.note == "on the image grid" for v in study.vois)


@pytest.mark.parametrize("quantification, kwargs", [
    ("RWVM", {}),
    ("CNTS", {"calibration_cps_per_mbq": 12.0}),
])
def test_real_world_value_mapping_and_calibrated_counts_give_the_same_bq_per_ml(tmp_path, quantification, kwargs):
    folder = phantom.write_phantom(tmp_path / "s", quantification=quantification).folder
    study = dicom.read_study(folder, **kwargs)
    tp = study.time_points[1]
    # Counts were written as Bq/mL x 1e-6 x 0.1106 mL x 12 cps/MBq x (60 views x 20 s); reading divides it back.
    np.testing.assert_allclose(tp.activity_bq_per_ml[PH.masks()["Kidney right"]],
                               _expected_bq_per_ml("Kidney right", 24.0), rtol=2e-4)
    assert ("RealWorldValueMapping" in tp.units) if quantification == "RWVM" else ("12 cps/MBq × 1200 s" in tp.units)


def test_counts_without_calibration_factor_are_refused_naming_units(tmp_path):
    folder = phantom.write_phantom(tmp_path / "s", quantification="CNTS").folder
    with pytest.raises(DicomError, match=r"spect_tp1: Units \(0054,1001\): is CNTS.*calibration factor"):
        dicom.read_study(folder)


def test_counts_scan_duration_override_scales_activity(tmp_path):
    folder = phantom.write_phantom(tmp_path / "s", quantification="CNTS").folder
    # The files say 1200 s; a user-entered 2400 s halves the count rate and so the activity.
    study = dicom.read_study(folder, calibration_cps_per_mbq=12.0, acquisition_duration_s=2400.0)
    np.testing.assert_allclose(study.time_points[0].activity_bq_per_ml[PH.masks()["Lesion 1"]],
                               0.5 * _expected_bq_per_ml("Lesion 1", 4.0), rtol=2e-4)


@pytest.mark.parametrize("mode", ["NONE", "START", "ADMIN"])
def test_pet_series_one_file_per_slice_and_decay_correction(tmp_path, mode):
    folder = phantom.write_phantom(tmp_path / "pt", modality="PT", decay_correction=mode).folder
    study = dicom.read_study(folder)
    assert [tp.modality for tp in study.time_points] == ["PT"] * 5
    assert len(study.time_points[2].sop_instance_uids) == PH.shape[0]
    # ADMIN: the files hold activity decay-corrected to injection (x 2^(48/159.5)); reading undoes it.
    np.testing.assert_allclose(study.time_points[2].activity_bq_per_ml[PH.masks()["Kidney left"]],
                               _expected_bq_per_ml("Kidney left", 48.0), rtol=2e-4)
    assert study.time_points[0].geometry.same_grid(PH.geometry())


def test_missing_injected_activity_is_an_error_naming_file_and_tag_unless_entered(tmp_path):
    folder = phantom.write_phantom(tmp_path / "s", with_activity=False).folder
    with pytest.raises(DicomError, match=r"spect_tp1: RadionuclideTotalDose \(0018,1074\): missing.*enter the "
                                         r"injected activity"):
        dicom.read_study(folder)
    study = dicom.read_study(folder, activity_mbq=7000.0)
    assert study.injection.activity_mbq == 7000.0 and study.injection.activity_origin == "entered"


def test_injection_time_without_date_is_refused_and_can_be_entered(tmp_path):
    folder = phantom.write_phantom(tmp_path / "s", with_time=False).folder  # only RadiopharmaceuticalStartTime
    with pytest.raises(DicomError, match=r"RadiopharmaceuticalStartDateTime \(0018,1078\): missing in every time "
                                         r"point"):
        dicom.read_study(folder)
    entered = PH.injection_time - dt.timedelta(hours=2)
    study = dicom.read_study(folder, injection_time=entered)
    np.testing.assert_allclose(study.times_h, np.array(PH.times_h) + 2.0)


def test_entered_activity_overrides_the_files_and_says_so(nm_folder, caplog):
    study = dicom.read_study(nm_folder, activity_mbq=7000.0)
    assert study.injection.activity_mbq == 7000.0
    assert study.injection.activity_origin == "entered (files state 7400.0 MBq)"
    assert "differs from the files" in caplog.text


def test_acquisition_before_injection_is_inconsistent(nm_folder):
    late = PH.injection_time + dt.timedelta(hours=10)  # after the 4 h scan
    with pytest.raises(DicomError, match=r"spect_tp1: AcquisitionDateTime \(0008,002A\): .* is not after the "
                                         r"injection"):
        dicom.read_study(nm_folder, injection_time=late)


def test_two_series_at_the_same_time_are_refused(tmp_path, nm_folder):
    folder = _copy(nm_folder, tmp_path / "s")
    phantom.write_nm(folder / "spect_again", PH, 24.0, PH.activity_bq_per_ml(24.0))
    with pytest.raises(DicomError, match=r"AcquisitionDateTime \(0008,002A\): .* within 15 min of"):
        dicom.read_study(folder)


def test_injection_stated_differently_in_two_files_is_refused(tmp_path, nm_folder):
    folder = _copy(nm_folder, tmp_path / "s")

    def other_activity(ds):
        ds.RadiopharmaceuticalInformationSequence[0].RadionuclideTotalDose = "5.0e9"
    _edit(folder / "spect_tp3", other_activity)
    with pytest.raises(DicomError, match=r"spect_tp3: RadionuclideTotalDose \(0018,1074\): is 5000.0 but"):
        dicom.read_study(folder)


def test_series_of_another_radionuclide_is_refused(tmp_path, nm_folder):
    folder = _copy(nm_folder, tmp_path / "s")

    def gallium(ds):
        ds.RadiopharmaceuticalInformationSequence[0].RadionuclideHalfLife = "4062.6"  # Ga-68, 67.71 min
    _edit(folder / "spect_tp2", gallium)
    with pytest.raises(DicomError, match=r"spect_tp2: RadionuclideHalfLife \(0018,1075\): .* not Lu-177"):
        dicom.read_study(folder)


# --- geometry ----------------------------------------------------------------------------
@pytest.mark.parametrize("change, tag", [
    (lambda ds: setattr(ds, "PixelSpacing", [4.0, 4.0]), r"PixelSpacing \(0028,0030\)"),
    (lambda ds: setattr(ds, "FrameOfReferenceUID", "1.2.3.4.5"), r"FrameOfReferenceUID \(0020,0052\)"),
    (lambda ds: setattr(ds, "SpacingBetweenSlices", 5.0), r"SpacingBetweenSlices \(0018,0088\)"),
    (lambda ds: setattr(ds.DetectorInformationSequence[0], "ImagePositionPatient", [0.0, 0.0, 0.0]),
     r"ImagePositionPatient \(0020,0032\)"),
    (lambda ds: setattr(ds.DetectorInformationSequence[0], "ImageOrientationPatient", [0, 1, 0, 1, 0, 0]),
     r"ImageOrientationPatient \(0020,0037\)"),
])
def test_time_point_on_another_grid_is_refused_naming_file_and_tag(tmp_path, nm_folder, change, tag):
    folder = _copy(nm_folder, tmp_path / "s")
    _edit(folder / "spect_tp4", change)
    with pytest.raises(DicomError, match=rf"spect_tp4: {tag}: .*not on one voxel grid"):
        dicom.read_study(folder)


def test_rtstruct_of_another_frame_of_reference_is_refused(tmp_path, nm_folder):
    folder = _copy(nm_folder, tmp_path / "s")
    (folder / "vois_seg").unlink()
    phantom.write_rtstruct(folder / "rt", PH, frame_of_reference_uid="1.2.3.999")
    with pytest.raises(DicomError, match=r"rt: ReferencedFrameOfReferenceUID \(3006,0024\): of 'Kidney left' is "
                                         r"1.2.3.999"):
        dicom.read_study(folder)


def test_empty_segment_is_refused_naming_file_and_segment(tmp_path, nm_folder):
    folder = _copy(nm_folder, tmp_path / "s")
    phantom.write_seg(folder / "vois_seg", PH, empty=("Lesion 1",))
    with pytest.raises(DicomError, match=r"vois_seg: segment 'Lesion 1' is empty on the image grid"):
        dicom.read_study(folder)


def test_rtstruct_contours_are_rasterised_at_voxel_centres(tmp_path, nm_folder):
    folder = _copy(nm_folder, tmp_path / "s")
    (folder / "vois_seg").unlink()
    phantom.write_rtstruct(folder / "rt", PH)
    study = dicom.read_study(folder)
    truth = PH.masks()
    for voi in study.vois:
        # The contours are polygons inscribed in each ellipse cross-section: a subset of the
        # voxel-centre mask, missing at most a few boundary voxels.
        assert not (voi.mask & ~truth[voi.name]).any()
        assert voi.mask.sum() >= 0.97 * truth[voi.name].sum()


def test_totalsegmentator_nifti_on_a_finer_ras_grid_maps_left_and_right_correctly(tmp_path, nm_folder):
    folder = _copy(nm_folder, tmp_path / "s")
    (folder / "vois_seg").unlink()
    phantom.write_nifti_labels(folder / "segmentations.nii.gz", PH, zoom=3)
    study = dicom.read_study(folder)
    masks = {v.name: v.mask for v in study.vois}
    truth = PH.masks()
    # NIfTI is RAS+: patient left is -x; the label table says 3 = kidney_left (TotalSegmentator 'total').
    # The 3x finer grid holds every SPECT voxel centre, so nearest-neighbour resampling is exact.
    np.testing.assert_array_equal(masks["kidney_left"], truth["Kidney left"])
    np.testing.assert_array_equal(masks["kidney_right"], truth["Kidney right"])
    assert "resampled (nearest neighbour) from 192×192×120" in study.vois[0].note


def test_per_structure_nifti_files_are_named_by_file(tmp_path, nm_folder):
    folder = _copy(nm_folder, tmp_path / "s")
    (folder / "vois_seg").unlink()
    phantom.write_nifti_labels(folder / "ts", PH, multilabel=False)
    study = dicom.read_study(folder)
    assert sorted(v.name for v in study.vois) == ["kidney_left", "kidney_right"]
    np.testing.assert_array_equal(next(v.mask for v in study.vois if v.organ == "kidney_left"),
                                  PH.masks()["Kidney left"])


def test_multilabel_nifti_without_label_names_is_refused(tmp_path, nm_folder):
    import nibabel as nib

    folder = _copy(nm_folder, tmp_path / "s")
    nib.save(nib.Nifti1Image(np.array([[[0, 2], [3, 0]]], dtype=np.uint8), np.eye(4)), folder / "labels.nii")
    with pytest.raises(DicomError, match=r"labels.nii: label map with labels \[2, 3\] but no label names"):
        dicom.read_study(folder)


# --- bad inputs ---------------------------------------------------------------------------
def test_non_dicom_file_is_skipped_and_named(tmp_path, nm_folder):
    # Issue 14: a file neither DICOM nor NIfTI (a PACS export's README) is skipped and named, not
    # refused (tests/unit/test_dicom_export_zip.py); read_dataset on its own still refuses it.
    folder = _copy(nm_folder, tmp_path / "s")
    (folder / "notes").write_text("patient called, scan at 24 h")
    study = dicom.read_study(folder)
    assert study.skipped == ("s/notes",) and "s/notes: not DICOM or NIfTI, skipped" in study.notes
    with pytest.raises(DicomError, match=r"^notes: not a DICOM file \(no 'DICM' preamble and no valid "
                                         r"SOPClassUID \(0008,0016\)\)$"):
        dicom.read_dataset("notes", (folder / "notes").read_bytes())


def test_a_malformed_number_is_refused_naming_the_file_not_a_traceback(tmp_path, nm_folder):
    # RescaleSlope (DS) "36.84810898" (the phantom's) rewritten in place as "36.8481089x": pydicom
    # keeps the invalid string (with a warning); the study must be refused naming the file and the
    # tag (tags.number), never a traceback.
    folder = _copy(nm_folder, tmp_path / "s")
    target = folder / "spect_tp1"
    raw = target.read_bytes()
    assert raw.count(b"36.84810898") == 1
    target.write_bytes(raw.replace(b"36.84810898", b"36.8481089x"))
    with pytest.raises(DicomError, match=r"s/spect_tp1: RescaleSlope \(0028,1053\): is '36.8481089x': not a number$"):
        dicom.read_study(folder)


def test_planar_nm_sample_from_pydicom_is_refused_naming_image_type():
    path = Path(get_testdata_file("JPEG2000.dcm"))  # GE whole-body bone scan, a planar NM image
    with pytest.raises(DicomError, match=r"JPEG2000.dcm: ImageType \(0008,0008\): is \['DERIVED', 'PRIMARY', "
                                         r"'WHOLE BODY', 'EMISSION'\].*planar"):
        dicom.read_study(path)


def test_projection_data_are_not_reconstructed_spect(tmp_path, nm_folder):
    folder = _copy(nm_folder, tmp_path / "s")
    _edit(folder / "spect_tp2", lambda ds: setattr(ds, "ImageType", ["ORIGINAL", "PRIMARY", "TOMO", "EMISSION"]))
    with pytest.raises(DicomError, match=r"spect_tp2: ImageType \(0008,0008\): .*RECON TOMO"):
        dicom.read_study(folder)


def test_missing_units_tag_is_named(tmp_path, nm_folder):
    folder = _copy(nm_folder, tmp_path / "s")
    _edit(folder / "spect_tp5", lambda ds: delattr(ds, "Units"))
    with pytest.raises(DicomError, match=r"spect_tp5: Units \(0054,1001\): missing and no "
                                         r"RealWorldValueMappingSequence"):
        dicom.read_study(folder)


def test_missing_spacing_between_slices_is_named(tmp_path, nm_folder):
    folder = _copy(nm_folder, tmp_path / "s")
    _edit(folder / "spect_tp1", lambda ds: delattr(ds, "SpacingBetweenSlices"))
    with pytest.raises(DicomError, match=r"spect_tp1: SpacingBetweenSlices \(0018,0088\): missing"):
        dicom.read_study(folder)


def test_several_energy_windows_in_one_file_is_a_mixed_series(tmp_path, nm_folder):
    folder = _copy(nm_folder, tmp_path / "s")
    _edit(folder / "spect_tp3", lambda ds: setattr(ds, "FrameIncrementPointer",
                                                   [pydicom.tag.Tag("EnergyWindowVector"),
                                                    pydicom.tag.Tag("SliceVector")]))
    with pytest.raises(DicomError, match=r"spect_tp3: FrameIncrementPointer \(0028,0009\): frames vary by "
                                         r"EnergyWindowVector"):
        dicom.read_study(folder)


def test_two_nm_files_in_one_series_are_a_mixed_series(tmp_path, nm_folder):
    folder = _copy(nm_folder, tmp_path / "s")
    uid = pydicom.dcmread(folder / "spect_tp1").SeriesInstanceUID
    _edit(folder / "spect_tp2", lambda ds: setattr(ds, "SeriesInstanceUID", uid))
    with pytest.raises(DicomError, match=r"SeriesInstanceUID \(0020,000E\): is shared with"):
        dicom.read_study(folder)


def test_pet_slice_repeated_in_a_series_is_a_mixed_series(tmp_path):
    folder = phantom.write_phantom(tmp_path / "pt", modality="PT", voi_format="SEG").folder
    slices = sorted((folder / "pet_tp2").iterdir())
    position = pydicom.dcmread(slices[0]).ImagePositionPatient
    _edit(slices[1], lambda ds: setattr(ds, "ImagePositionPatient", position))
    with pytest.raises(DicomError, match=r"pt_24h_00[01]: ImagePositionPatient \(0020,0032\): repeats another "
                                         r"slice"):
        dicom.read_study(folder)


def test_files_of_two_patients_are_refused_without_showing_identifiers(tmp_path, nm_folder):
    folder = _copy(nm_folder, tmp_path / "s")
    _edit(folder / "spect_tp3", lambda ds: setattr(ds, "PatientID", "OTHER-PATIENT-99"))
    with pytest.raises(DicomError) as err:
        dicom.read_study(folder)
    assert "PatientID (0010,0020): differs from" in str(err.value)
    assert "OTHER-PATIENT-99" not in str(err.value) and phantom.FAKE_PATIENT_ID not in str(err.value)


def test_one_time_point_is_read_but_not_enough_for_voxel_dosimetry(tmp_path, nm_folder):
    # read_study accepts one time point (single-time-point dosimetry, dicom.study_stp); the voxel
    # pipeline (study_dose.compute) refuses it, naming the file and the tag.
    study = dicom.read_study([nm_folder / "spect_tp1", nm_folder / "vois_seg"])
    assert len(study.time_points) == 1 and study.times_h == pytest.approx([4.0])
    with pytest.raises(DicomError, match=r"spect_tp1: AcquisitionDateTime \(0008,002A\): only one SPECT time point: "
                                         r"voxel dosimetry needs two or more; with one, use single-time-point"):
        study_dose.compute(study)


def test_no_voi_is_an_error(nm_folder):
    with pytest.raises(DicomError, match=r"no kidney or lesion VOI found"):
        dicom.read_study([nm_folder / f"spect_tp{i}" for i in (1, 2, 3)])


def test_duplicate_vois_from_seg_and_rtstruct_are_refused(tmp_path):
    folder = phantom.write_phantom(tmp_path / "s", voi_format="both").folder
    with pytest.raises(DicomError, match=r"are both kidney_left: keep one VOI per organ"):
        dicom.read_study(folder)


# --- inputs: zip and uploads --------------------------------------------------------------------
def test_zip_archive_and_uploaded_bytes_read_the_same(nm_folder):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for f in sorted(nm_folder.iterdir()):
            archive.write(f, f"export/{f.name}")
        archive.writestr("__MACOSX/._spect_tp1", b"resource fork")  # skipped, as are hidden files
    from_zip = dicom.read_study([("upload.zip", buffer.getvalue())])
    from_uploads = dicom.read_study([(f.name, f.read_bytes()) for f in sorted(nm_folder.iterdir())])
    assert from_zip.time_points[0].source == "upload.zip/export/spect_tp1"
    for a, b in zip(from_zip.time_points, from_uploads.time_points):
        np.testing.assert_array_equal(a.activity_bq_per_ml, b.activity_bq_per_ml)
        assert a.sop_instance_uids == b.sop_instance_uids


# --- pydicom's sample files ----------------------------------------------------------------------
def test_rtdose_sample_matches_pydicom_decoding_and_relative_dose_is_refused():
    path = get_testdata_file("rtdose.dcm")
    ds = pydicom.dcmread(path)
    dose = dicom.read_rtdose("rtdose.dcm", dicom.read_dataset("rtdose.dcm", Path(path).read_bytes()))
    np.testing.assert_array_equal(dose.values, ds.pixel_array * float(ds.DoseGridScaling))
    # GridFrameOffsetVector 0, 5, ..., 70 mm (relative, first value 0): slice k at IPP + (0, 0, 5k).
    np.testing.assert_allclose(dose.geometry.affine @ [3, 2, 1, 1],
                               [189.43125 + 10.0, 199.43125 + 20.0, -761.87 + 15.0, 1.0])
    assert dose.geometry.shape == (15, 10, 10) and dose.dose_units == "RELATIVE"
    with pytest.raises(DicomError, match=r"rtdose.dcm: DoseUnits \(3004,0002\): is 'RELATIVE'"):
        _ = dose.dose_gy


def test_rtstruct_sample_without_preamble_is_read_with_force_and_rasterised():
    path = Path(get_testdata_file("rtstruct.dcm"))
    assert path.read_bytes()[128:132] != b"DICM"
    ds = dicom.read_dataset("rtstruct.dcm", path.read_bytes())
    sources = rtstruct_sources("rtstruct.dcm", ds)
    # ROIs per pydicom: 'patient' (3 closed contours) and two isocenter POINTs (no volume, skipped).
    assert [s.name for s in sources] == ["patient"]
    assert [len(c) for c in sources[0].contours_mm] == [len(c.ContourData) // 3
                                                       for c in ds.ROIContourSequence[0].ContourSequence]
    frame = sources[0].frame_of_reference_uid
    # 10 mm grid, slices at z = -200, -190, -180: the 400 x 300 mm rectangle (shoelace area 120,000
    # mm^2) covers 40 x 30 = 1200 voxel centres on each slice.
    grid = dicom.geometry_from_planes((-245.0, -195.0, -200.0), (1, 0, 0), (0, 1, 0), (10.0, 10.0), 10.0,
                                         3, 40, 50, frame)
    mask, _ = dicom.voi_mask(sources[0], grid)
    assert mask.sum(axis=(1, 2)).tolist() == [1200, 1200, 1200]


def test_seg_sample_matches_pydicom_pixel_data():
    path = Path(get_testdata_file("liver_1frame.dcm"))
    ds = pydicom.dcmread(path)
    # pydicom's sample keeps 3 per-frame items for its 1 frame of pixel data: refused as inconsistent.
    with pytest.raises(DicomError, match=r"PerFrameFunctionalGroupsSequence \(5200,9230\): has 3 items for 1 frame"):
        seg_sources("liver_1frame.dcm", ds)
    ds.PerFrameFunctionalGroupsSequence = ds.PerFrameFunctionalGroupsSequence[:1]
    sources = seg_sources("liver_1frame.dcm", ds)
    assert [(s.name, s.organ) for s in sources] == [("Liver", "liver")]
    np.testing.assert_array_equal(sources[0].volume[0], ds.pixel_array.astype(bool))
    assert sources[0].volume.sum() == 36233  # pydicom's pixel_array.sum() of the 1-bit frame
    position = [float(v) for v in ds.PerFrameFunctionalGroupsSequence[0].PlanePositionSequence[0]
                .ImagePositionPatient]
    np.testing.assert_allclose(sources[0].geometry.affine[:3, 3], position)
    np.testing.assert_allclose(sources[0].geometry.spacing_mm[1:], [0.810547, 0.810547])


def test_ct_sample_is_read_as_dicom_and_set_aside(tmp_path, nm_folder):
    ct = Path(get_testdata_file("CT_small.dcm"))
    ds = dicom.read_dataset("CT_small", ct.read_bytes())
    reference = pydicom.dcmread(ct)
    np.testing.assert_array_equal(ds.pixel_array, reference.pixel_array)
    assert ds.RescaleIntercept == reference.RescaleIntercept == -1024
    # CT_small belongs to another (sample) patient: refused next to the phantom series.
    with pytest.raises(DicomError, match=r"CT_small.dcm: PatientID \(0010,0020\): differs from"):
        dicom.read_study([nm_folder, ct])
    for keyword, value in (("PatientName", phantom.FAKE_PATIENT_NAME), ("PatientID", phantom.FAKE_PATIENT_ID),
                           ("PatientBirthDate", phantom.FAKE_BIRTH_DATE)):
        setattr(reference, keyword, value)
    reference.save_as(tmp_path / "CT_small.dcm")
    study = dicom.read_study([nm_folder, tmp_path / "CT_small.dcm"])
    assert any("CT_small.dcm: CT (SOP Class 1.2.840.10008.5.1.4.1.1.2) not used" in n for n in study.notes)


# --- names ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, organ", [
    ("kidney_left", "kidney_left"), ("Kidney L", "kidney_left"), ("Left Kidney VOI", "kidney_left"),
    ("kidney_right", "kidney_right"), ("KIDNEY-RT", "kidney_right"), ("Kidneys", "kidneys"),
    ("Lesion 1", "tumour"), ("tumor_liver_seg3", "tumour"), ("GTV", "tumour"), ("Liver", "liver"),
    ("kidney_cyst_left", None), ("spleen", "spleen"), ("vertebrae_L1", None), ("patient", None),
])
def test_organ_names(name, organ):
    assert dicom.organ_for_name(name) == organ


def test_rtstruct_interpreted_type_gtv_marks_a_lesion():
    assert dicom.organ_for_name("Target A", "GTV") == "tumour"


# --- privacy --------------------------------------------------------------------------------------
def test_patient_identifiers_never_reach_results_logs_or_store(tmp_path, nm_folder, caplog, fresh_demo_db):
    from prrt_core.store import Store

    caplog.set_level(logging.DEBUG)
    result = study_dose.analyse(nm_folder)
    with Store(fresh_demo_db) as store:
        dosimetry_results.save_to_cycle(store, result, "NET-001", 1, actor=editor("test"), replace=True)
        dump = "\n".join(store.conn.iterdump())
    blobs = [caplog.text, pickle.dumps(result).decode("latin-1"), repr(result.study.summary().to_dict()),
             dose_view.organ_table(result).to_csv(), dosimetry_results.dosimetry_rows(result, 1).to_csv(), dump]
    for blob in blobs:
        for secret in SECRETS:
            assert secret not in blob
    # File names are not stored either: provenance carries UIDs only.
    assert "spect_tp" not in dump and "vois_seg" not in dump
    assert result.study.time_points[0].series_instance_uid in dump


def test_lu177_half_life_constant_used_for_the_check():
    # dosimetry.LU177_HALF_LIFE_H = 159.528 h = 574,300.8 s (EJNMMI Phys 2020 Table 1).
    assert LU177_HALF_LIFE_S == pytest.approx(574300.8)
    assert dosimetry.LU177_HALF_LIFE_H * 3600 == LU177_HALF_LIFE_S


@pytest.mark.filterwarnings("ignore:Invalid value for VR DA")
def test_invalid_identity_values_are_compared_raw_and_never_logged(tmp_path, nm_folder, caplog):
    folder = _copy(nm_folder, tmp_path / "s")
    for f in folder.iterdir():
        # An invalid DA value: pydicom's validation quotes such values in its log and warnings
        # ("Invalid value for VR DA: ..."), as it did while this edit was saved.
        _edit(f, lambda ds: ds.__setitem__("PatientBirthDate",
                                           pydicom.DataElement("PatientBirthDate", "DA", "SECRET45")))
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study = dicom.read_study(folder)
    assert len(study.time_points) == 5
    assert "SECRET45" not in caplog.text
    assert not [w for w in caught if "SECRET45" in str(w.message)]


def test_undecodable_pixel_data_names_the_transfer_syntax(tmp_path, nm_folder):
    folder = _copy(nm_folder, tmp_path / "s")
    _edit(folder / "spect_tp2", lambda ds: setattr(ds, "PixelData", ds.PixelData[:100]))  # truncated
    with pytest.raises(DicomError, match=r"spect_tp2: PixelData \(7FE0,0010\): cannot be decoded \(.*transfer "
                                         r"syntax 1.2.840.10008.1.2.1\)"):
        dicom.read_study(folder)
