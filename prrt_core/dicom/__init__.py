"""Reading quantitative SPECT/PET, VOIs and RTDOSE from DICOM (and NIfTI VOIs); errors name the file and the tag.

Modules
- ``study``: :func:`read_study` -> :class:`DicomStudy`, the cross-file checks (one grid, one patient, times).
- ``files``: folders, zips, paths and uploads -> ``(name, bytes)``; DICOM and NIfTI recognised by content.
- ``tags``: low-level element readers (required tags, numbers, date-times, pixel data, Image Type).
- ``geometry``: voxel grids in patient LPS mm, grid comparison, nearest-neighbour resampling.
- ``spect``: quantitative NM/PET time points; ``activity``: pixel values -> Bq/mL at acquisition.
- ``injection``: injected Lu-177 activity and time, stated in the files or entered.
- ``voi``: organ names, VOIs placed on the image grid; ``voi_sources``: SEG, RTSTRUCT and NIfTI readers.
- ``rtdose``: RTDOSE dose maps; ``identity``: one patient per upload, compared transiently.
- ``study_dose``: dosimetry of a read study (imported on its own: it imports this package).
- ``pacs``: SPECT/PET from a PACS over DICOMweb, search and retrieval (imported on its own: it needs
  dicomweb-client and requests).
"""
from prrt_core.dicom.files import Source, collect_files, read_dataset
from prrt_core.dicom.geometry import Geometry, geometry_from_planes, resample_nearest
from prrt_core.dicom.injection import Injection
from prrt_core.dicom.rtdose import DoseMap, read_rtdose
from prrt_core.dicom.spect import SpectTimePoint
from prrt_core.dicom.study import DicomStudy, Progress, read_study
from prrt_core.dicom.voi import ORGANS, Voi, VoiSource, organ_for_name, voi_mask
from prrt_core.errors import DicomError

__all__ = [
    "ORGANS",
    "DicomError",
    "DicomStudy",
    "DoseMap",
    "Geometry",
    "Injection",
    "Progress",
    "Source",
    "SpectTimePoint",
    "Voi",
    "VoiSource",
    "collect_files",
    "geometry_from_planes",
    "organ_for_name",
    "read_dataset",
    "read_rtdose",
    "read_study",
    "resample_nearest",
    "voi_mask",
]
