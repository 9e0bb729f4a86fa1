"""The published study beside the loaded cohort (prrt_core.published)."""

from __future__ import annotations

import math

import pytest

from prrt_core import cohort
from prrt_core.clinical import response, survival
from prrt_core.cohort import published
from prrt_core.datasets import demo

PUB = demo.published()


@pytest.fixture(scope="module")
def comparison(demo_tables):
    # The page's path (pages/cohort.py, _published): every patient of the store.
    t = demo_tables
    return published.cohort_comparison(
        PUB, cohort.patient_attributes(t), cohort.high_grade_events(t),
        response.response_by_patient(t.assessments, t.cycles, "initial"),
        response.response_by_patient(t.assessments, t.cycles, "salvage"),
        survival.endpoints(t.cycles, t.events, t.assessments)).set_index("Figure")


def test_demo_cohort_agrees_with_every_compared_figure(comparison):
    compared = comparison[comparison["Agrees"] != "not compared"]
    assert len(compared) == 33
    assert (compared["Agrees"] == "yes").all(), compared[compared["Agrees"] != "yes"]
    # Only intervals and the follow-up after salvage lack a tolerance in tests/unit/test_demo.py.
    not_compared = comparison.index[comparison["Agrees"] == "not compared"].tolist()
    assert len(not_compared) == 5
    assert all("95 % CI" in f or f.startswith("Follow-up after salvage") for f in not_compared)


def test_rows_show_published_and_computed_values(comparison):
    # Published values: data/published_cohort.json (Rudisile 2019).
    assert comparison.loc["Patients (n)", ["Published", "This cohort", "Tolerance"]].tolist() == ["35", "35", "exact"]
    assert comparison.loc["Cumulative kidney absorbed dose, mean (Gy)", "Published"] == "23.8"
    assert comparison.loc["Cumulative kidney absorbed dose, mean (Gy)", "Tolerance"] == "± 0.2"
    assert comparison.loc["Best response after salvage: SD (n)", ["Published", "This cohort"]].tolist() == ["26", "26"]
    assert comparison.loc["OS after initial PRRT, median (months)", "This cohort"] == "not reached"
    assert comparison.loc["PFS after initial PRRT, median 95 % CI (months)", "Published"] == "30.0 – 36.0"
    assert not comparison.apply(lambda c: c.astype(str).str.contains("inf")).any().any()


def test_tolerances_are_those_of_test_demo():
    tolerance = {f.key: f.tolerance for f in published.published_figures(PUB)}
    # tests/unit/test_demo.py: counts exact; age 0.5 y; activity mean 0.1, extremes 0.01 GBq; kidney dose
    # 0.2 Gy; PFS medians 1.0 and 0.5 months; restricted mean OS 3 months; follow-up 6 months.
    assert tolerance["patients"] == tolerance["bor_SD"] == tolerance["grade3_haem"] == 0
    assert (tolerance["age_mean"], tolerance["age_sd"]) == (0.5, 0.5)
    assert (tolerance["activity_mean"], tolerance["activity_min"], tolerance["activity_max"]) == (0.1, 0.01, 0.01)
    assert tolerance["kidney_dose_mean"] == 0.2
    assert (tolerance["pfs_initial_median"], tolerance["pfs_salvage_median"]) == (1.0, 0.5)
    assert (tolerance["os_initial_mean"], tolerance["os_salvage_mean"]) == (3.0, 3.0)
    assert tolerance["follow_up_initial"] == 6.0 and tolerance["follow_up_salvage"] is None


def test_agreement_rules_at_the_tolerance_edge():
    figures = (published.Figure("age", "Age, mean (years)", 63, 0.5, 1),
               published.Figure("n", "Patients (n)", 35, 0),
               published.Figure("med", "OS, median (months)", "not reached", 0, 1),
               published.Figure("ci", "CI (months)", (30, 36), None, 1),
               published.Figure("range", "Initial cycles (min–max)", 4, 0))
    table = published.compare(figures, {"age": 63.5, "n": 34, "med": 40.2, "ci": (29.0, math.inf),
                                        "range": (4.0, 5.0)}).set_index("Figure")
    assert table["Agrees"].tolist() == ["yes", "no", "no", "not compared", "no"]
    assert table.loc["CI (months)", "This cohort"] == "29.0 – not reached"
    assert table.loc["Initial cycles (min–max)", "This cohort"] == "4 – 5"
    table = published.compare(figures, {"age": 63.6, "med": math.inf}).set_index("Figure")
    assert table["Agrees"].tolist() == ["no", "no", "yes", "not compared", "no"]
    assert table.loc["Patients (n)", "This cohort"] == "—"  # missing figure: shown, never agrees


def test_agreement_counts(comparison):
    assert published.agreement(comparison.reset_index()) == (33, 33)
    table = published.compare(published.published_figures(PUB), {"patients": 34})
    agree, compared = published.agreement(table)
    assert compared == 33 and agree == 0  # every other figure is missing, so none agrees
