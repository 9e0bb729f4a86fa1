"""SPECT from a PACS in a real browser (issue 14): the Dosimetry page searches a real Orthanc over
DICOMweb (tests/orthanc.py), retrieves the phantom's time points and VOIs, computes and saves the
kidney dose to a cycle; refusals (wrong credentials, PACS unreachable, another radionuclide, one
time point only) each show a clear message and store nothing.

The phantom's left kidney receives 0.60 MBq/mL x 45 h / ln2 x 0.085335 Gy g/(MBq h) / 1.04 g/mL
= 3.20 Gy (prrt_core.testing.phantom; derivation in tests/unit/test_voxel.py).
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from prrt_core.dosimetry.voxel import TISSUE_DENSITY_G_PER_ML
from prrt_core.store import Store
from tests.browser.test_decisions import enter
from tests.support import editor, free_port, streamlit_app, visit

pytestmark = pytest.mark.browser

PATIENT = {"patient_id": "NET-PACS", "sex": "F", "primary_site": "pancreas", "hypertension": 0, "diabetes": 0}
CYCLE = {"patient_id": "NET-PACS", "cycle_number": 1, "phase": "initial", "cycle_date": "2024-03-04",
         "activity_gbq": 7.4}


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "pacs.sqlite"
    with Store(path) as store:
        store.insert({"patients": [PATIENT], "cycles": [CYCLE]}, actor=editor("test"))
    return path


def dosimetry_rows(db) -> list:
    with Store(db) as store:
        return store.read_all().dosimetry.to_dict("records")


def open_pacs(page, url: str) -> None:
    visit(page, f"{url}/dosimetry", "Dosimetry")
    page.get_by_text("PACS (DICOMweb)", exact=True).click()
    page.get_by_role("button", name="Search the PACS").wait_for()


def set_date(page, label: str, year: int, month: int, day: int) -> None:
    """Type a date into Streamlit's date field, segment by segment (year, month, day spinbuttons)."""
    for part, value in (("year", year), ("month", month), ("day", day)):
        segment = page.get_by_role("spinbutton", name=f"{part}, {label}", exact=True)
        for _ in range(5):
            segment.click()
            page.keyboard.type(f"{value:02d}")
            if segment.get_attribute("aria-valuenow") == str(value):
                break
            page.wait_for_timeout(300)
        expect(segment).to_have_attribute("aria-valuenow", str(value))


def search(page, patient_id: str) -> None:
    """Type the PACS patient ID and the study dates of the phantom (March 2024), then search."""
    enter(page.get_by_label("PACS patient ID", exact=True), patient_id)
    for label, day in (("Study date from", 1), ("Study date to", 31)):
        set_date(page, label, 2024, 3, day)
    page.get_by_role("button", name="Search the PACS").click()
    page.wait_for_timeout(500)


def pick(page, *fragments: str) -> None:
    """Choose the series whose labels contain each of ``fragments`` in the multiselect."""
    box = page.get_by_test_id("stMultiSelect")
    for fragment in fragments:
        for attempt in range(3):  # a rerun may redraw the open list under the click: pick again
            box.locator("input").click()
            page.get_by_role("option", name=re.compile(re.escape(fragment))).first.click()
            try:
                expect(box).to_contain_text(fragment, timeout=5000)
                break
            except AssertionError:
                page.keyboard.press("Escape")
                if attempt == 2:
                    raise
    page.keyboard.press("Escape")


def retrieve_and_compute(page, n_files: int) -> None:
    page.get_by_role("button", name="Retrieve", exact=True).click()
    page.get_by_text(f"Retrieved {n_files} file(s)").wait_for()
    page.get_by_role("button", name="Read and compute dosimetry").click()


@pytest.fixture
def debug_log(monkeypatch):
    """The app server logs at debug level (streamlit's logger.level as STREAMLIT_LOGGER_LEVEL, which
    `streamlit run` reads as its option's environment variable): ui/pacs.py then routes the HTTP
    libraries' request lines, with their PatientID redacted, to the server's log."""
    monkeypatch.setenv("STREAMLIT_LOGGER_LEVEL", "debug")


def test_search_retrieve_compute_and_save_the_kidney_dose(pacs, db, tmp_path, page, debug_log):
    with streamlit_app(db, tmp_path, secrets={"prrt": {"pacs": pacs.server.pacs_table()}}) as url:
        open_pacs(page, url)
        search(page, pacs.lu177_patient_id)
        page.get_by_test_id("stMultiSelect").wait_for()
        pick(page, "4.0 h p.i.", "24.0 h p.i.", "48.0 h p.i.", "96.0 h p.i.", "168.0 h p.i.", "SEG")
        retrieve_and_compute(page, 6)
        metric = page.locator('[data-testid="stMetric"]').filter(has_text="Left kidney (Gy)")
        metric.wait_for(timeout=60_000)
        assert "3.20" in metric.inner_text()
        box = page.get_by_role("combobox", name="Patient (pseudonymous ID)")  # none preselected: chosen
        box.click()
        box.fill("NET-PACS")
        box.press("Enter")
        page.get_by_role("button", name="Save to cycle 1 of patient NET-PACS").click()
        page.get_by_text(re.compile(r"Saved \d+ dosimetry rows to cycle 1")).wait_for()
        assert page.locator('[data-testid="stException"]').count() == 0
        body = page.locator("body").inner_text()
    kidney = [row["dose_gy"] for row in dosimetry_rows(db) if row["organ"] == "kidney_left"]
    assert kidney == pytest.approx([pacs.phantom.expected_dose_gy("Kidney left", TISSUE_DENSITY_G_PER_ML)], rel=0.02)
    # The PACS patient ID is neither on screen nor in the server's log, though the log holds the
    # QIDO-RS request lines (so this check can fail) and who searched and retrieved what.
    log = "".join(p.read_text() for p in tmp_path.glob("streamlit-*.log"))
    assert re.search(r"GET /dicom-web/studies\?\S*PatientID=<not shown>", log), log[-3000:]
    assert re.search(r"PACS search by local user on http://127\.0\.0\.1:\d+/dicom-web, study dates 2024-03-01 to "
                     r"2024-03-31: 1 studies, 6 series", log)
    assert re.search(r"PACS retrieval by local user from \S+: 6 series, 6 instances, \d+ bytes", log)
    assert pacs.lu177_patient_id not in body and pacs.lu177_patient_id not in log


def test_refusals_show_a_clear_message_and_store_nothing(pacs, db, tmp_path, page):
    before = dosimetry_rows(db)
    wrong = {"prrt": {"pacs": pacs.server.pacs_table(password="not-the-password")}}
    with streamlit_app(db, tmp_path, secrets=wrong) as url:
        open_pacs(page, url)
        search(page, pacs.lu177_patient_id)
        page.get_by_text("HTTP 401: the credentials were refused").wait_for()
    unreachable = {"prrt": {"pacs": pacs.server.pacs_table(url=f"http://127.0.0.1:{free_port()}/dicom-web")}}
    with streamlit_app(db, tmp_path, secrets=unreachable) as url:
        open_pacs(page, url)
        search(page, pacs.lu177_patient_id)
        page.get_by_text(re.compile(r"unreachable \(connection refused")).wait_for()
    with streamlit_app(db, tmp_path, secrets={"prrt": {"pacs": pacs.server.pacs_table()}}) as url:
        open_pacs(page, url)
        search(page, pacs.ga68_patient_id)
        pick(page, "4.0 h p.i.", "24.0 h p.i.", "SEG")
        expect(page.get_by_test_id("stMultiSelect")).to_contain_text("not Lu-177")  # flagged when picked
        retrieve_and_compute(page, 3)
        page.get_by_text(re.compile(r"Nothing was computed or stored\..*RadionuclideHalfLife")).wait_for()
        page.get_by_role("button", name="Remove the loaded files").click()
        page.get_by_text("No files yet.").wait_for()
        search(page, pacs.lu177_patient_id)
        page.get_by_test_id("stMultiSelect").wait_for()
        pick(page, "24.0 h p.i.", "SEG")
        retrieve_and_compute(page, 2)
        # One time point: read, and single-time-point dosimetry offered (issue 16); nothing stored unless saved.
        page.get_by_text(re.compile(r"One SPECT time point \(24\.0 h after injection\)")).wait_for()
        assert page.locator('[data-testid="stException"]').count() == 0
    assert dosimetry_rows(db) == before == []
