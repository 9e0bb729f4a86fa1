"""The demo SPECT study: the phantom's five time points and VOIs as one zip (in memory), so a new
user sees the dosimetry pipeline without their own data (Dosimetry page, ``python -m prrt_core demo-spect``)."""
from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

from prrt_core.testing.phantom.study import write_phantom

DEMO_ZIP_NAME = "demo_spect_phantom.zip"


def demo_study_zip() -> bytes:
    """A zip of the default phantom (NM in Bq/mL, 5 time points, DICOM SEG of both kidneys and a lesion),
    files under ``demo_spect_phantom/``; its known answer is in ``phantom.model`` (left kidney 3.20 Gy
    voxel mean at 1.04 g/mL). The patient name and ID in the files are the phantom's fake ones."""
    with tempfile.TemporaryDirectory(prefix="prrt_demo_spect_") as folder:
        written = write_phantom(Path(folder) / "demo_spect_phantom")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in written.files:
                archive.write(path, f"demo_spect_phantom/{path.name}")
    return buffer.getvalue()
