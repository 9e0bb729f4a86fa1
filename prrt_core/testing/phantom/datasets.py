"""The common part of every phantom DICOM file: SOP and UIDs, an obviously fake patient, saving.

The fake patient name, ID and birth date let tests prove they never leak.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from prrt_core.testing.phantom.model import UID_ROOT, Phantom

FAKE_PATIENT_NAME = "PHANTOM^SECRETNAME"
FAKE_PATIENT_ID = "SECRET-ID-4711"
FAKE_BIRTH_DATE = "19450704"


def new_dataset(sop_class: str, modality: str, series_uid: str, phantom: Phantom, when: dt.datetime) -> Dataset:
    """A dataset with file meta, SOP, patient, study, series and frame of reference filled in."""
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


def set_image_pixels(ds: Dataset, rows: int, columns: int, bits: int = 16) -> None:
    """Image Pixel attributes of an unsigned monochrome image."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0


def save(ds: Dataset, path: Path) -> Path:
    """Write ``ds`` as a DICOM file (creating its folder); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
