"""Reading quantitative SPECT/PET, VOIs and RTDOSE from DICOM; errors name the file and the tag."""
from prrt_core.dicom.dicom_io import *  # noqa: F401,F403  (split in progress)
from prrt_core.dicom.dicom_io import LU177_HALF_LIFE_S, _rtstruct_sources, _seg_sources  # noqa: F401
from prrt_core.errors import DicomError  # noqa: F401
