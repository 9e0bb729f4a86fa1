"""Dosimetry page in a real browser: upload the phantom's extension-less DICOM files, see the kidney dose.

The phantom's left kidney receives 0.60 MBq/mL x 45 h / ln2 x 0.085335 Gy g/(MBq h) / 1.04 g/mL
= 3.20 Gy (prrt_core.testing.phantom; derivation in tests/unit/test_voxel.py).
"""
from __future__ import annotations

import pytest

from prrt_core.testing import phantom

pytestmark = pytest.mark.browser


def test_upload_phantom_and_see_kidney_dose(app_server, page, tmp_path):
    written = phantom.write_phantom(tmp_path / "series")
    page.goto(f"{app_server['url']}/dosimetry")
    page.get_by_role("heading", name="Dosimetry").wait_for()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        [str(p) for p in written.files])
    page.get_by_text("spect_tp5").wait_for()  # the last file is listed once uploaded
    button = page.get_by_role("button", name="Read and compute dosimetry")
    button.wait_for()
    page.wait_for_function("() => { const b = [...document.querySelectorAll('button')].find("
                           "x => x.innerText.includes('Read and compute dosimetry')); return b && !b.disabled; }")
    button.click()
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Left kidney (Gy)")
    metric.wait_for(timeout=60_000)
    assert "3.20" in metric.inner_text()
    assert "23.68" in page.locator('[data-testid="stMetric"]').filter(has_text="Tumour Lesion 1").inner_text()
    page.get_by_text("Slice view").wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
    # The fake patient name and ID written into the files never appear on screen.
    body = page.locator("body").inner_text()
    assert phantom.FAKE_PATIENT_NAME not in body and phantom.FAKE_PATIENT_ID not in body
