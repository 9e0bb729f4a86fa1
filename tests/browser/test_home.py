"""Home page in a real browser: Chromium via Playwright against ``streamlit run app.py``."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_home_page_renders_demo_cohort_without_exception(app_server, page):
    page.goto(app_server["url"])
    page.get_by_role("heading", name="Salvage PRRT Board").wait_for()
    page.get_by_text("Mean cumulative kidney dose (Gy)").wait_for()
    metrics = page.locator('[data-testid="stMetric"]')
    metrics.nth(4).wait_for()
    text = " ".join(metrics.all_inner_texts())
    assert "Patients" in text and "35" in text
    assert "44.0" in text and "23.8" in text
    assert page.get_by_text("Demo data.").count() == 1
    assert page.locator('[data-testid="stException"]').count() == 0
    assert app_server["db"].exists()
