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


def test_demo_study_in_one_click_report_download_and_save_with_replace_confirmation(fresh_demo_db, page, private_app):
    """Issue 16: the demo SPECT study in one click, computed; the physicist's report downloaded; saved to
    NET-005's cycle 1, whose stored kidney dose is replaced only after the old -> new confirmation."""
    from prrt_core.store import Store

    with private_app(fresh_demo_db) as url:  # single-user mode: the local user is an editor
        page.goto(f"{url}/dosimetry")
        page.get_by_role("heading", name="Dosimetry").wait_for()
        page.get_by_role("button", name="Load the demo SPECT study (phantom)").click()
        page.get_by_text("demo_spect_phantom.zip").wait_for()
        page.wait_for_function("() => { const b = [...document.querySelectorAll('button')].find("
                               "x => x.innerText.includes('Read and compute dosimetry')); return b && !b.disabled; }")
        page.get_by_role("button", name="Read and compute dosimetry").click()
        metric = page.locator('[data-testid="stMetric"]').filter(has_text="Left kidney (Gy)")
        metric.wait_for(timeout=90_000)
        assert "3.20" in metric.inner_text()  # the phantom's LDM left-kidney dose, 3.1962 Gy

        with page.expect_download() as info:
            page.get_by_role("button", name="Download the dosimetry report (HTML)").click()
        report = open(info.value.path(), encoding="utf-8").read()
        assert "Dosimetry report" in report and "3.20 ±" in report and report.count("<svg") == 2
        assert phantom.FAKE_PATIENT_NAME not in report and phantom.FAKE_PATIENT_ID not in report

        box = page.get_by_role("combobox", name="Patient (pseudonymous ID)")
        box.click()
        box.fill("NET-005")
        box.press("Enter")
        save = page.get_by_role("button", name="Save to cycle 1 of patient NET-005")
        save.wait_for()
        page.get_by_text("Saving replaces them (old → new)").wait_for()
        with Store(fresh_demo_db) as store:
            old = store.read("dosimetry", patient_id="NET-005")
            cycle_id = int(store.read("cycles", patient_id="NET-005").query("cycle_number == 1")["cycle_id"].iloc[0])
        old_kidneys = old[(old["cycle_id"] == cycle_id) & (old["organ"] == "kidneys")]["dose_gy"].iloc[0]
        listing = page.locator('[data-testid="stMarkdownContainer"] li').filter(has_text="→").first
        text = listing.inner_text()
        # old -> new: the demo record, then the phantom's both-kidney LDM dose 4.04 Gy with its 1 sigma
        assert text.startswith(f"kidneys: {old_kidneys:.2f} Gy") and "→ 4.04 ± 0.01 Gy (voxel mean (LDM)" in text
        assert save.is_disabled()
        page.get_by_text("Replace the stored doses (old → new above)").click()
        # NET-005's cycle 1 was given on 2018-12-11, the study on 2024-03-04: said, and confirmed.
        page.get_by_text("Save to cycle 1 although its date or activity differs (above)").click()
        page.wait_for_function("() => { const b = [...document.querySelectorAll('button')].find("
                               "x => x.innerText.includes('Save to cycle 1')); return b && !b.disabled; }")
        save.click()
        page.get_by_text("Saved 4 dosimetry rows to cycle 1 of patient NET-005 (1 replaced).").wait_for()
        assert page.locator('[data-testid="stException"]').count() == 0
    with Store(fresh_demo_db) as store:
        rows = store.read("dosimetry", patient_id="NET-005")
        audit = store.read("audit").query("table_name == 'dosimetry' and action == 'update'")
    kidneys = rows[(rows["cycle_id"] == cycle_id) & (rows["organ"] == "kidneys")].iloc[0]
    assert kidneys["dose_gy"] == pytest.approx(4.0396, abs=1e-3) and kidneys["method"].startswith("voxel mean (LDM)")
    assert len(audit) == 1 and f'"dose_gy": {old_kidneys}' in audit["before_json"].iloc[0]
