"""Cohort statistics page in a real browser: Chromium via Playwright against ``streamlit run app.py``."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from playwright.sync_api import expect

from prrt_core import cohort
from prrt_core.clinical import survival
from prrt_core.store import Store
from tests.support import navigate, visit

pytestmark = pytest.mark.browser


def open_cohort_page(page, url: str) -> None:
    """Home first (the app's entry point), then the page through the navigation menu."""
    visit(page, url, "Salvage PRRT Board")
    navigate(page, "Cohort statistics", "Cohort statistics")


def pfs_salvage_medians(db) -> tuple[str, str]:
    """Expected PFS-after-salvage medians (months) for all patients and for women."""
    with Store(db) as store:
        tables = store.read_all()
    ends = survival.endpoints(tables.cycles, tables.events, tables.assessments)
    sex = ends["patient_id"].map(tables.patients.set_index("patient_id")["sex"])
    everyone = survival.km_summary(ends["pfs_salvage_months"], ends["pfs_salvage_event"])["median"]
    women = ends[sex == "F"]
    female = survival.km_summary(women["pfs_salvage_months"], women["pfs_salvage_event"])["median"]
    return cohort.format_months(everyone), cohort.format_months(female)


def test_cohort_page_renders_table1(app_server, page):
    open_cohort_page(page, app_server["url"])
    table = page.get_by_test_id("stTable").first
    expect(table).to_contain_text("Patients, n")
    expect(table.locator("tr", has_text="Sex, male, n (%)")).to_contain_text("25 (71.4 %)")
    expect(page.get_by_test_id("stSidebar")).to_contain_text("Patients selected")
    assert page.get_by_text("Demo data.").count() == 1
    assert page.locator('[data-testid="stException"]').count() == 0


def test_a_filter_changes_the_km_median_shown(app_server, page):
    everyone, female = pfs_salvage_medians(app_server["db"])
    assert everyone != female  # the filter must have a visible effect to be tested
    open_cohort_page(page, app_server["url"])
    page.get_by_role("tab", name="Survival").click()
    summary = page.locator(".st-key-km_summary_pfs_salvage").get_by_test_id("stTable")
    median_row = summary.locator("tr", has_text="Median (months)")
    expect(median_row).to_contain_text(everyone)
    page.get_by_test_id("stSidebar").get_by_text("Female", exact=True).click()
    expect(page.get_by_test_id("stMetricValue")).to_have_text("10")
    expect(median_row).to_contain_text(female)
    expect(page.locator('[data-testid="stVegaLiteChart"]')).to_have_count(4)  # waits for the redraw
    assert page.locator('[data-testid="stException"]').count() == 0


def test_table1_csv_download(app_server, page):
    open_cohort_page(page, app_server["url"])
    with page.expect_download() as info:
        page.locator(".st-key-csv_cohort_table1 button").click()
    download = info.value
    assert download.suggested_filename == "cohort_table1.csv"
    frame = pd.read_csv(io.BytesIO(open(download.path(), "rb").read()))
    rows = frame.set_index("Characteristic")
    assert rows.loc["Patients, n", "n"] == 35
    # Rudisile 2019: mean cumulative activity 44.0 GBq (33.5-47.0).
    assert rows.loc["Cumulative activity (GBq), mean (range)", "mean"] == pytest.approx(44.0, abs=0.05)
