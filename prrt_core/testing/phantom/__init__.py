"""Synthetic SPECT/CT dosimetry phantom with a known answer, written as real DICOM files.

Modules
- ``model``: the phantom (two kidneys and a lesion, mono-exponential clearance) and its analytic doses.
- ``datasets``: what every written file shares, including an obviously fake patient name, ID and
  birth date so tests can prove they never leak.
- ``images``: NM (BQML, Real World Value Mapping or counts), PET (one file per slice) and RTDOSE writers.
- ``vois``: DICOM SEG, RTSTRUCT and TotalSegmentator-style NIfTI label map writers.
- ``study``: :func:`write_phantom`, a whole time series and its VOIs in one folder.
"""
from prrt_core.testing.phantom.datasets import FAKE_BIRTH_DATE, FAKE_PATIENT_ID, FAKE_PATIENT_NAME
from prrt_core.testing.phantom.images import write_nm, write_pt_series, write_rtdose
from prrt_core.testing.phantom.model import UID_ROOT, Phantom, Structure, default_phantom
from prrt_core.testing.phantom.study import WrittenPhantom, write_phantom
from prrt_core.testing.phantom.vois import write_nifti_labels, write_rtstruct, write_seg

__all__ = [
    "FAKE_BIRTH_DATE",
    "FAKE_PATIENT_ID",
    "FAKE_PATIENT_NAME",
    "UID_ROOT",
    "Phantom",
    "Structure",
    "WrittenPhantom",
    "default_phantom",
    "write_nifti_labels",
    "write_nm",
    "write_phantom",
    "write_pt_series",
    "write_rtdose",
    "write_rtstruct",
    "write_seg",
]
