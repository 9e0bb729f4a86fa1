"""The board's decision in a real browser (issue 13 §4): recorded on the Planner page with the
scenario pre-filled, signed, superseded by a second record, exported from the Data page and
re-imported into an empty database, where both records, their signer and what supersedes what
are as they were."""
from __future__ import annotations

import dataclasses
import io
import re
import zipfile

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from prrt_core.decisions import current, records
from prrt_core.store import Store
from tests.browser.test_data import upload
from tests.support import navigate, visit

pytestmark = pytest.mark.browser


def enter(field, text: str) -> None:
    """Type ``text`` and commit it (Tab). While a rerun redraws the form, its stale copy of the field
    may still be on the page (two matches) or a value typed then may be lost: type again."""
    for _ in range(10):
        try:
            field.fill(text, timeout=5000)
            field.press("Tab", timeout=5000)
            expect(field).to_have_value(text, timeout=3000)
            return
        except (AssertionError, PlaywrightError):
            field.page.wait_for_timeout(300)
    expect(field).to_have_value(text)


def settle(section) -> None:
    """Wait until a rerun has redrawn the form: its stale copies of the fields have left the page."""
    for label, exact in (("Attendees", False), ("Rationale", True), ("Signed by (your name)", True)):
        expect(section.get_by_label(label, exact=exact)).to_have_count(1)


def record(page, *, kind: str, attendees: str, rationale: str) -> None:
    section = page.get_by_test_id("stExpander").filter(has_text="Record the board's decision")
    if not section.get_by_label("Attendees").is_visible():
        section.get_by_text("Record the board's decision").click()
    expect(section.get_by_label("Attendees")).to_have_value("")  # emptied after the previous record
    section.get_by_text(kind, exact=True).click()
    settle(section)
    if kind == "salvage":  # NET-010's verdict is "cannot assess": the board acknowledges it
        section.get_by_text("The board decides salvage although the verdict is").click()
        expect(section.get_by_role("checkbox", name=re.compile("The board decides salvage"))).to_be_checked()
        settle(section)
    enter(section.get_by_label("Attendees"), attendees)
    enter(section.get_by_label("Rationale", exact=True), rationale)
    enter(section.get_by_label("Signed by (your name)"), "Dr A. Chair")
    sign = section.get_by_role("button", name="Sign and record")
    expect(sign).to_be_enabled()
    sign.click()


def test_record_sign_supersede_export_and_reimport(fresh_demo_db, tmp_path, page, private_app):
    with private_app(fresh_demo_db) as url:
        visit(page, f"{url}/planner?patient=NET-010", "Salvage planner")
        record(page, kind="salvage", attendees="oncology; nuclear medicine", rationale="Long PFS; BED within limits")
        page.get_by_text("Record 1 signed: salvage: 2 x 7.4 GBq").wait_for()
        record(page, kind="no salvage", attendees="oncology", rationale="Patient declines <b>further</b> cycles")
        page.get_by_text("Record 2 signed: no salvage").wait_for()
        assert page.locator('[data-testid="stException"]').count() == 0

        navigate(page, "Data", "Data")
        page.get_by_role("tab", name="Export and backup").click()
        with page.expect_download() as info:
            page.get_by_role("button", name="Export every table (CSV, zip)").click()
        exported = info.value.path().read_bytes()

    with Store(fresh_demo_db) as store:
        before = records(store.read("board_decisions"), "NET-010")
    assert [(r.record_number, r.decision.value, r.supersedes_record, r.signed_by) for r in before] == [
        (1, "salvage", None, "Dr A. Chair (local user)"), (2, "no salvage", 1, "Dr A. Chair (local user)")]
    assert not any(r.imported for r in before)
    assert before[1].rationale == "Patient declines <b>further</b> cycles"  # stored as typed, shown escaped

    with zipfile.ZipFile(io.BytesIO(exported)) as archive:
        assert "board_decisions.csv" in archive.namelist()
    empty = tmp_path / "empty.sqlite"
    Store(empty).close()  # an existing, empty clinic database: no demo cohort is loaded into it
    with private_app(empty) as url:
        visit(page, url, "Salvage PRRT Board")
        navigate(page, "Data", "Data")
        upload(page, "export.zip", exported)
        button = page.get_by_role("button", name=re.compile(r"^Import \d+ row\(s\)"))
        button.wait_for()
        button.click()
        page.get_by_text("Imported.").wait_for()
        assert page.locator('[data-testid="stException"]').count() == 0
    with Store(empty) as copy:
        after = records(copy.read("board_decisions"), "NET-010")
        assert current(copy.read("board_decisions"), "NET-010").record_number == 2
    # Re-imported: the same records, marked as imported (their signature is the file's word).
    assert after == [dataclasses.replace(r, imported=True) for r in before]
