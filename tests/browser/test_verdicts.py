"""The planner's verdicts in a real browser, for patients built through the Data page's import.

Issue 13's acceptance: a patient without renal risk factors, 20.7 Gy so far, projected to ~31 Gy
absorbed and ~35 Gy BED after 2 x 7.4 GBq, is "caution" (23 Gy absorbed is a caution limit, BED
40 Gy excludes); the same patient with hypertension (BED limit 28 Gy) is "not eligible"; an
evaluation date before any record is "cannot assess"; a deceased patient gets no projection.
Expected values come from prrt_core called directly on the server's database after the import.

The patients: 4 initial cycles of 7.4 GBq (2021-01-04 .. 2021-07-05) at 0.70, 0.735, 0.665 and
0.70 Gy/GBq (kidney T_eff 50 h): 4 x 7.4 x 0.70 = 20.72 Gy so far; partial response, progression
2023-06-01 (PFS 29 months); a complete work-up on 2024-05-25 (the default evaluation date, the
most recent record): labs, SSTR PET Krenning 3, ECOG 1, lanreotide last 2024-04-01 (7.7 weeks),
FDG PET and urinary history checked and absent.
"""

from __future__ import annotations

import datetime as dt
import io
import re

import openpyxl
import pytest
from playwright.sync_api import expect

from prrt_core import importer
from prrt_core.clinical import eligibility
from prrt_core.store import Store
from prrt_core.views import planner
from tests.browser.test_data import upload
from tests.support import navigate

pytestmark = pytest.mark.browser

CYCLE_DATES = ("2021-01-04", "2021-03-01", "2021-05-03", "2021-07-05")
GY_PER_GBQ = (0.70, 0.735, 0.665, 0.70)
WORK_UP = "2024-05-25"


def rows_of(patient_id: str, *, hypertension: int = 0, death: str | None = None) -> dict[str, list[list]]:
    """The import rows of one patient, per sheet, in the template's column order."""
    rows = {
        "patients": [[patient_id, "M", 57, "pancreas", "G2", 8, hypertension, 0, None, "surgery", 70, 170, None]],
        "cycles": [[patient_id, i, "initial", d, 7.4] for i, d in enumerate(CYCLE_DATES, start=1)],
        "dosimetry": [[patient_id, i, "kidneys", None, round(7.4 * g, 4), 50, "SPECT/CT 3 time points", None]
                      for i, g in enumerate(GY_PER_GBQ, start=1)],
        "labs": [[patient_id, WORK_UP, 12.0, 200, 5.0, 3.0, 1.2, 0.9, 80, "CKD-EPI 2021", None, 0.6, 4.0]],
        "assessments": [[patient_id, "2020-12-20", "initial", "baseline", "CT", 100, 0, None, None, None],
                        [patient_id, "2021-10-01", "initial", "follow-up", "CT", 60, 0, "non-CR/non-PD", None, None],
                        [patient_id, "2024-05-10", "salvage", "baseline", "Ga-68 DOTATATE PET/CT", 90, 0, None,
                         None, 3]],
        "events": [[patient_id, "2023-06-01", "progression", "initial"]],
        "performance_status": [[patient_id, "2024-05-20", 1, 80]],
        "ssa_administrations": [[patient_id, "2024-04-01", "lanreotide", 120]],
        "findings": [[patient_id, "2024-05-10", "FDG-positive SSTR-negative disease", 0],
                     [patient_id, "2024-05-10", "urinary obstruction", 0],
                     [patient_id, "2024-05-10", "urinary incontinence", 0]],
    }
    if death:
        rows["events"].append([patient_id, death, "death", None])
    return rows


PATIENTS = {"VER-NR": rows_of("VER-NR"), "VER-HT": rows_of("VER-HT", hypertension=1),
            "VER-DEAD": rows_of("VER-DEAD", death="2024-05-30")}


def workbook(template: bytes) -> tuple[bytes, int]:
    """The downloaded template with the example rows replaced by the patients' rows; and the row count."""
    book = openpyxl.load_workbook(io.BytesIO(template))
    for name in importer.TABLES:
        book[name].delete_rows(2)
    n = 0
    for sheets in PATIENTS.values():
        for name, rows in sheets.items():
            for row in rows:
                book[name].append(row)
                n += 1
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), n


def verdict_alert(page, as_of: str):
    return page.locator('[data-testid="stAlert"]').filter(has_text=f"Verdict on {as_of}")


def open_planner(page, url: str, patient_id: str) -> None:
    page.goto(f"{url}/planner?patient={patient_id}")
    page.get_by_role("heading", name="Salvage planner").wait_for()


def test_verdicts_of_imported_patients(fresh_demo_db, page, private_app):
    with private_app(fresh_demo_db) as url:
        page.goto(url)
        page.get_by_role("heading", name="Salvage PRRT Board").wait_for()
        navigate(page, "Data", "Data")
        with page.expect_download() as info:
            page.get_by_role("button", name="Download the import template (.xlsx)").click()
        data, n_rows = workbook(info.value.path().read_bytes())
        upload(page, "verdicts.xlsx", data)
        page.get_by_role("button", name=f"Import {n_rows} row(s)").click()
        page.get_by_text("Imported.").wait_for()

        with Store(fresh_demo_db) as store:
            tables = store.read_all()
        config = eligibility.load_config()
        as_of = dt.date.fromisoformat(WORK_UP)

        # No renal risk factors: ~31 Gy absorbed (over 23 Gy, a caution), ~35 Gy BED (under 40 Gy).
        result = planner.plan(tables, "VER-NR", as_of, planner.default_scenario(config), config=config)
        row = result.projection
        assert row["dose_now_gy"] == pytest.approx(20.72, abs=0.01)
        assert row["dose_p50_gy"] == pytest.approx(31.1, abs=1.0) and row["bed_p50_gy"] == pytest.approx(34.5, abs=1.5)
        assert row["p_exceed_dose"] > 0.05 and row["p_exceed_bed"] <= 0.05
        assert result.checklist.verdict == "caution"
        open_planner(page, url, "VER-NR")
        alert = verdict_alert(page, WORK_UP)
        alert.filter(has_text="caution").wait_for()
        expect(alert).to_contain_text("Kidney limits: BED 28/40 Gy exclude; absorbed dose 23 Gy caution")
        expect(alert).to_contain_text("exceeds 23 Gy with probability")
        page.get_by_text(f"{row['dose_p50_gy']:.1f}", exact=True).first.wait_for()
        page.get_by_text("Options within the excluding limits").wait_for()

        # The same patient with hypertension: BED limit 28 Gy, crossed: not eligible.
        result = planner.plan(tables, "VER-HT", as_of, planner.default_scenario(config), config=config)
        assert result.projection["bed_limit_gy"] == 28.0 and result.checklist.verdict == "not eligible"
        open_planner(page, url, "VER-HT")
        alert = verdict_alert(page, WORK_UP)
        alert.filter(has_text="not eligible").wait_for()
        expect(alert).to_contain_text("exceeds 28 Gy with probability")

        # An evaluation date before any record of the patient: cannot assess.
        open_planner(page, url, "VER-NR")
        verdict_alert(page, WORK_UP).wait_for()
        for part, typed in (("year", "2020"), ("month", "06"), ("day", "01")):  # the date field's segments
            page.get_by_role("spinbutton", name=f"{part}, Evaluation date").click()
            page.keyboard.type(typed)
        page.keyboard.press("Escape")  # close the calendar; leaving the field commits the date
        page.get_by_role("heading", name="Salvage planner").click()
        alert = verdict_alert(page, "2020-06-01")
        alert.filter(has_text="cannot assess").wait_for()
        expect(alert).to_contain_text("Nothing recorded for VER")
        page.get_by_text(re.compile("no cycle recorded by the evaluation date")).first.wait_for()
        assert planner.plan(tables, "VER-NR", dt.date(2020, 6, 1), planner.Scenario(),
                            config=config).checklist.verdict == "cannot assess"

        # Deceased on 2024-05-30 (the most recent record, the default date): no projection, no verdict.
        open_planner(page, url, "VER-DEAD")
        page.get_by_text("died on 2024-05-30").wait_for()
        expect(page.get_by_text("no projection and no verdict")).to_be_visible()
        expect(page.locator('[data-testid="stAlert"]').filter(has_text="Verdict on")).to_have_count(0)
        expect(page.get_by_test_id("stMetric")).to_have_count(0)
        expect(page.get_by_test_id("stDataFrame")).to_have_count(1)  # the cycles recorded by then
        expect(page.get_by_test_id("stVegaLiteChart")).to_have_count(0)
        expect(page.get_by_role("heading", name="Eligibility checklist")).to_have_count(0)
        assert page.locator('[data-testid="stException"]').count() == 0
