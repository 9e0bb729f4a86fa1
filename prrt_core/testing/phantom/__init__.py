"""Synthetic SPECT/CT dosimetry phantom with a known answer, written as real DICOM files.

Modules
- ``model``: the phantom (two kidneys and a lesion, mono-exponential clearance) and its analytic doses.
- ``datasets``: what every written file shares, including an obviously fake patient name, ID and
  birth date so tests can prove they never leak.
- ``images``: NM (BQML, Real World Value Mapping or counts), PET (one file per slice) and RTDOSE writers.
- ``vois``: DICOM SEG, RTSTRUCT and TotalSegmentator-style NIfTI label map writers.
- ``study``: :func:`write_phantom`, a whole time series and its VOIs in one folder.
- ``demo``: :func:`demo_study_zip`, the default phantom as one zip (the demo SPECT study).
"""
from prrt_core.testing.phantom.datasets import FAKE_BIRTH_DATE, FAKE_PATIENT_ID, FAKE_PATIENT_NAME
from prrt_core.testing.phantom.demo import DEMO_ZIP_NAME, demo_study_zip
from prrt_core.testing.phantom.images import write_nm, write_pt_series, write_rtdose
from prrt_core.testing.phantom.model import UID_ROOT, Phantom, Structure, default_phantom
from prrt_core.testing.phantom.study import WrittenPhantom, write_phantom
from prrt_core.testing.phantom.vois import write_nifti_labels, write_rtstruct, write_seg

__all__ = [
    "DEMO_ZIP_NAME",
    "FAKE_BIRTH_DATE",
    "FAKE_PATIENT_ID",
    "FAKE_PATIENT_NAME",
    "UID_ROOT",
    "Phantom",
    "Structure",
    "WrittenPhantom",
    "default_phantom",
    "demo_study_zip",
    "write_nifti_labels",
    "write_nm",
    "write_phantom",
    "write_pt_series",
    "write_rtdose",
    "write_rtstruct",
    "write_seg",
]
