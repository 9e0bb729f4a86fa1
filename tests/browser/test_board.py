"""Tumour-board pages in a real browser: Chromium via Playwright against ``streamlit run app.py``.

Expected numbers come from prrt_core called directly on the server's database.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile

import pypdf
import pytest

from prrt_core.clinical import eligibility
from prrt_core.datasets import demo
from prrt_core.store import Store
from prrt_core.views import patient, planner
from tests.browser.test_data import upload
from tests.support import editor, navigate, visit

pytestmark = pytest.mark.browser


def tables_of(app_server) -> dict:
    """The server's tables; call after a page load (the server creates the demo database on
    first start: opening the missing file here first would create an empty one)."""
    assert app_server["db"].exists()
    with Store(app_server["db"]) as store:
        return store.read_all()


def test_deep_link_as_first_request_opens_the_patient(tmp_path, page, private_app):
    # Until st.navigation has run once, Streamlit would serve /patient from its legacy
    # pages/-folder mode (every file of pages/ in the sidebar); ui/navigation.py reroutes it.
    with private_app(tmp_path / "fresh.sqlite") as url:
        page.goto(f"{url}/patient?patient=NET-007")
        page.get_by_role("heading", name="Patient review").wait_for()
        page.get_by_text("Cumulative kidney dose (Gy)").wait_for()
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Salvage planner" in nav and "common" not in nav and "app" not in nav.split()
        assert page.get_by_role("combobox", name="Patient").input_value() == "NET-007" \
            or page.locator('[data-testid="stSelectbox"]').first.inner_text().find("NET-007") >= 0


def choose_patient(page, patient_id: str) -> None:
    box = page.get_by_role("combobox", name="Patient")
    box.click()
    box.fill(patient_id)
    box.press("Enter")
    page.wait_for_url(f"**patient={patient_id}**")


def metric(page, label: str):
    return page.locator('[data-testid="stMetric"]').filter(has_text=label).first


def no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def test_patient_review_choose_patient_and_download_summary(app_server, page):
    visit(page, app_server["url"] + "/patient?patient=NET-004", "Patient review")
    tables = tables_of(app_server)
    head = patient.header(tables, "NET-004")
    metric(page, "Cumulative kidney dose (Gy)").get_by_text(f"{head.kidney_dose.value_gy:.1f}", exact=True).wait_for()
    charts = page.locator('[data-testid="stVegaLiteChart"]')
    charts.nth(11).wait_for()
    assert page.get_by_text("BED limit 28 Gy").count() == 1  # NET-004: hypertension

    choose_patient(page, "NET-005")
    head = patient.header(tables, "NET-005")
    metric(page, "Cumulative kidney dose (Gy)").get_by_text(f"{head.kidney_dose.value_gy:.1f}", exact=True).wait_for()
    page.get_by_text("BED limit 40 Gy").wait_for()  # the chart follows: no renal risk factor
    assert page.get_by_text("BED limit 28 Gy").count() == 0
    no_exception(page)

    with page.expect_download() as info:
        page.get_by_role("button", name="Download tumour-board summary (HTML)").click()
    download = info.value
    assert download.suggested_filename == "NET-005_board_summary.html"
    text = open(download.path(), encoding="utf-8").read()
    assert "<h1>Tumour board summary: NET-005</h1>" in text and text.count("<svg") == 2  # the fan charts
    # The planner's default scenario at the most recent record, computed directly.
    as_of = patient.decision_dates(tables, "NET-005").latest
    result = planner.plan(tables, "NET-005", as_of, planner.Scenario(), config=eligibility.load_config())
    assert f"Evaluated on {as_of.isoformat()}" in text and "2 x 7.4 GBq" in text
    assert re.search(rf"<th>Projected kidney dose, median \(Gy[^<]*</th><td>{result.projection['dose_p50_gy']:.1f}</td>",
                     text)
    with page.expect_download() as info:  # the same summary as PDF: at most two A4 pages
        page.get_by_role("button", name="Download tumour-board summary (PDF)").click()
    assert info.value.suggested_filename == "NET-005_board_summary.pdf"
    printed = pypdf.PdfReader(info.value.path())
    assert 1 <= len(printed.pages) <= 2 and "Tumour board summary: NET-005" in printed.pages[0].extract_text()


def test_planner_decision_point_scenario_and_verdict(app_server, page):
    visit(page, app_server["url"] + "/planner?patient=NET-004", "Salvage planner")
    tables = tables_of(app_server)
    choose_patient(page, "NET-005")
    page.get_by_role("button", name="Day before first salvage cycle: 2021-10-17").click()
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="Verdict on 2021-10-17")
    alert.filter(has_text="caution").wait_for()  # over 23 Gy absorbed (a caution), within the BED limit
    page.get_by_text("Dose limit 23 Gy").first.wait_for()  # the fan chart
    as_of, config = dt.date(2021, 10, 17), eligibility.load_config()
    before = planner.plan(tables, "NET-005", as_of, planner.Scenario(), config=config).projection
    median = metric(page, "Projected kidney dose, median (Gy)")
    median.get_by_text(f"{before['dose_p50_gy']:.1f}", exact=True).wait_for()

    activity = page.get_by_role("spinbutton", name="Activity per cycle (GBq)")
    activity.fill("2.0")
    activity.press("Enter")
    after = planner.plan(tables, "NET-005", as_of, planner.Scenario(activity_gbq=2.0), config=config)
    assert after.checklist.verdict == "eligible"  # 2 x 2.0 GBq stays under 23 Gy (P = 0 %)
    alert.filter(has_text="eligible").filter(has_not_text="not eligible").wait_for()
    median.get_by_text(f"{after.projection['dose_p50_gy']:.1f}", exact=True).wait_for()
    no_exception(page)


def zipped(files: dict[str, bytes]) -> bytes:
    with zipfile.ZipFile(buffer := io.BytesIO(), "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_patient_without_dosimetry_shows_estimates_and_no_zero(tmp_path, page, private_app):
    # NEW-2: three cycles of 7.4 GBq and no dosimetry. Every kidney dose is the cohort model's
    # estimate, labelled so in the header, the per-cycle table and the charts; none is drawn as 0 Gy.
    db = tmp_path / "clinic.sqlite"
    with Store(db) as store:
        demo.load(store, actor=editor("demo"))
    patients_csv = b"patient_id,sex,primary_site,hypertension,diabetes\r\nNEW-2,M,pancreas,0,0\r\n"
    cycles_csv = ("patient_id,cycle_number,phase,cycle_date,activity (GBq)\r\n" + "".join(
        f"NEW-2,{n},initial,2024-0{2 * n - 1}-10,7.4\r\n" for n in (1, 2, 3))).encode()
    with private_app(db) as url:  # built through the Data page's import, as a user would
        visit(page, url, "Salvage PRRT Board")
        navigate(page, "Data", "Data")
        upload(page, "new2.zip", zipped({"patients.csv": patients_csv, "cycles.csv": cycles_csv}))
        page.get_by_role("button", name="Import 4 row(s)").click()
        page.get_by_text("Imported.").wait_for()
    with Store(db) as store:
        tables = store.read_all()
    cycles = patient.cycle_table(tables, "NEW-2")
    dose = patient.header(tables, "NEW-2", cycles=cycles).kidney_dose
    with private_app(db) as url:
        visit(page, f"{url}/patient?patient=NEW-2", "Patient review")
        shown = f"{dose.value_gy:.1f} ({dose.p05_gy:.1f}–{dose.p95_gy:.1f})"
        metric(page, "Cumulative kidney dose (Gy)").get_by_text(shown, exact=True).wait_for()
        metric(page, "Cumulative kidney dose (Gy)").get_by_text("incl. 3 estimated cycles").wait_for()
        page.get_by_text("Kidney dose source 'estimated'").wait_for()
        charts = page.locator('[data-testid="stVegaLiteChart"]')
        dose_chart = charts.filter(has_text="Kidney and tumour dose per cycle")
        dose_chart.get_by_text("estimated (cohort model)").first.wait_for()  # the legend
        # Vega's SVG marks carry their data as ARIA labels: the kidney bars are the estimates, none 0 Gy.
        bars = [label for label in dose_chart.locator("path[aria-label]").evaluate_all(
            "nodes => nodes.map(n => n.getAttribute('aria-label'))") if "Organ: Kidneys" in label]
        assert len(bars) == 3 and all("Source: estimated (cohort model)" in b for b in bars)
        heights = [float(re.search(r"Absorbed dose per cycle \(Gy\): ([0-9.]+)", b).group(1)) for b in bars]
        assert heights == pytest.approx(cycles["kidney_dose_p50_gy"].tolist(), rel=1e-6) and min(heights) > 0
        cumulative = charts.filter(has_text="Cumulative kidney dose and BED")
        cumulative.get_by_text("estimated (cohort model)").first.wait_for()
        points = [label for label in cumulative.locator("path[aria-label]").evaluate_all(
            "nodes => nodes.map(n => n.getAttribute('aria-label'))") if "Quantity: Kidney dose;" in label]
        totals = [float(re.search(r"Cumulative kidney dose and BED \(Gy\): ([0-9.]+)", p).group(1)) for p in points]
        assert totals == pytest.approx(cycles["cumulative_kidney_dose_gy"].tolist(), rel=1e-6) and min(totals) > 0
        no_exception(page)
