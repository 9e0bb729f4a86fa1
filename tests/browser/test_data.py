"""Data page in a real browser: template download, an upload with a bad row, the fix, the import.

Runs its own server on a private copy of the demo database (the test writes).
"""

from __future__ import annotations

import io
import re

import openpyxl
import pytest
from playwright.sync_api import expect

from prrt_core import importer
from prrt_core.store import Store

pytestmark = pytest.mark.browser


def fill(template: bytes, sex: str) -> bytes:
    """The downloaded template with one new patient (and no example rows)."""
    book = openpyxl.load_workbook(io.BytesIO(template))
    for name in importer.TABLES:
        book[name].delete_rows(2)
    book["patients"].append(["NEW-1", sex, 58, "pancreas", "G2", 3.0, 0, 1, None, "surgery"])
    book["cycles"].append(["NEW-1", 1, "initial", "2024-02-01", 7.4])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(page, name: str, data: bytes) -> None:
    """Replace whatever the import uploader holds by one file."""
    uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text="Files to import")
    remove = uploader.get_by_role("button", name=re.compile(r"^Remove "))
    for left in range(remove.count(), 0, -1):
        remove.first.click()
        expect(remove).to_have_count(left - 1)
    # The rerun after the removal must finish (its result gone) before the next upload.
    expect(page.get_by_text("problem(s) found")).to_have_count(0)
    uploader.locator('input[type="file"]').set_input_files(
        files=[{"name": name, "mimeType": "application/octet-stream", "buffer": data}])


def test_upload_bad_row_see_error_table_fix_import_and_count_on_home(fresh_demo_db, page, private_app):
    with private_app(fresh_demo_db) as url:
        page.goto(url)  # through app.py's navigation, as a user would
        page.get_by_role("heading", name="Salvage PRRT Board").wait_for()
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Data").click()
        page.get_by_role("heading", name="Data").wait_for()
        page.get_by_text("Single-user mode").wait_for()
        with page.expect_download() as info:
            page.get_by_role("button", name="Download the import template (.xlsx)").click()
        template = info.value.path().read_bytes()
        assert openpyxl.load_workbook(io.BytesIO(template)).sheetnames[-1] == "columns"

        upload(page, "clinic.xlsx", fill(template, sex="X"))
        page.get_by_text("1 problem(s) found; nothing was written").wait_for()
        grid = page.locator('[data-testid="stDataFrame"]').filter(has_text="Reason")
        grid.wait_for()
        with Store(fresh_demo_db) as store:
            assert "NEW-1" not in set(store.read("patients")["patient_id"])

        upload(page, "clinic.xlsx", fill(template, sex="F"))
        button = page.get_by_role("button", name="Import 2 row(s)")
        button.wait_for()
        button.click()
        page.get_by_text("Imported.").wait_for()
        page.get_by_text("Nothing to import: every row is already in the database.").wait_for()
        assert page.locator('[data-testid="stException"]').count() == 0

        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Home").click()
        page.get_by_text("Mean cumulative kidney dose (Gy)").wait_for()
        patients = page.locator('[data-testid="stMetric"]').filter(has_text="Patients").first
        patients.wait_for()
        assert re.search(r"\b36\b", patients.inner_text())  # 35 demo patients + NEW-1
    with Store(fresh_demo_db) as store:
        audit = store.read("audit")
        assert audit.iloc[-1]["user"] == "local user"
        assert set(audit.iloc[-2:]["row_key"]) == {"patient_id=NEW-1", "cycle_id=223"}
