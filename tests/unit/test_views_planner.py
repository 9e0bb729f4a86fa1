"""The salvage planner: a scenario judged at an evaluation date, and scenarios side by side.

Expected values come from the prrt_core functions the planner promises to agree with
(eligibility.assess, projection.project and project_path).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from prrt_core import projection
from prrt_core.clinical import eligibility
from prrt_core.projection import KidneyModelSettings
from prrt_core.views import format as fm
from prrt_core.views import patient, planner

CONFIG = eligibility.load_config()


def test_plan_uses_what_was_known_and_agrees_with_assess_and_project_path(demo_tables):
    as_of = patient.decision_dates(demo_tables, "NET-004").before_salvage
    scenario = planner.Scenario(n_cycles=2, activity_gbq=7.4, settings=KidneyModelSettings(tolerance=0.05))
    result = planner.plan(demo_tables, "NET-004", as_of, scenario, config=CONFIG)
    checklist, row = eligibility.assess(demo_tables, "NET-004", as_of=as_of, n_cycles=2, activity_gbq=7.4,
                                        config=CONFIG, settings=KidneyModelSettings())
    assert result.checklist.verdict == checklist.verdict == "eligible"
    pd.testing.assert_series_equal(result.projection, row)
    assert len(result.history) == 4  # the salvage cycle lies after the evaluation date
    fan = result.fan.set_index(["source", "quantity", "cycle"])
    # projection.project_path: the last future cycle equals project()'s quantiles.
    assert fan.loc[("projection", "Kidney dose", 6), "p50_gy"] == pytest.approx(row["dose_p50_gy"], rel=1e-12)
    assert fan.loc[("projection", "Kidney BED", 6), "p95_gy"] == pytest.approx(row["bed_p95_gy"], rel=1e-12)
    assert fan.loc[("history", "Kidney dose", 4), "value_gy"] == pytest.approx(row["dose_now_gy"], rel=1e-12)
    assert fan.loc[("projection", "Kidney dose", 4), "limit_gy"] == 23.0
    facts = fm.projection_facts(result)
    assert facts.p_exceed_dose_pct == f"{100 * row['p_exceed_dose']:.1f} %"
    assert facts.label("p_exceed_dose_pct") == "P(kidney dose > 23 Gy)"
    assert facts.dose_median_gy == f"{row['dose_p50_gy']:.1f}"
    assert facts.label("dose_median_gy") == "Projected kidney dose, median (Gy)"
    assert facts.max_safe_cycles == str(int(row["max_safe_cycles"]))
    assert facts.label("max_safe_cycles") == "Largest safe number of cycles at 7.4 GBq"


def test_plan_without_cycles_by_the_evaluation_date_has_no_projection(demo_tables):
    result = planner.plan(demo_tables, "NET-004", dt.date(2020, 1, 1), planner.Scenario(), config=CONFIG)
    assert result.projection is None and result.path.empty and result.history.empty
    assert fm.projection_facts(result) is None
    assert result.checklist.verdict == "caution"  # unknowns are never a pass


def test_compare_scenarios_matches_project(demo_tables):
    as_of = dt.date(2025, 3, 17)
    out = planner.compare_scenarios(demo_tables, "NET-004", as_of, planner.DEFAULT_SCENARIOS,
                                    projection.DEFAULT_SETTINGS)
    history, patients = projection.inputs_from_tables(demo_tables.as_of(as_of))
    for (n, a), (_, got) in zip(planner.DEFAULT_SCENARIOS, out.iterrows()):
        row = projection.project(history, n, a, patients=patients, patient_ids=["NET-004"]).iloc[0]
        assert got["dose_p50_gy"] == row["dose_p50_gy"] and got["total_activity_gbq"] == pytest.approx(n * a)
        assert got["p_exceed_bed_pct"] == 100 * row["p_exceed_bed"]
        assert got["max_safe_activity_gbq"] == row["max_safe_activity_gbq"]
    shown = fm.scenario_display(out)
    assert list(shown.columns) == ["Quantity", "2 x 7.4 GBq", "3 x 5.5 GBq", "4 x 3.7 GBq"]
    with pytest.raises(ValueError, match="between 1 and 3 scenarios"):
        planner.compare_scenarios(demo_tables, "NET-004", as_of, [(1, 7.4)] * 4, projection.DEFAULT_SETTINGS)
    with pytest.raises(ValueError, match="no cycle recorded by 2020-01-01"):
        planner.compare_scenarios(demo_tables, "NET-004", dt.date(2020, 1, 1), [(1, 7.4)], projection.DEFAULT_SETTINGS)


def test_not_eligible_demo_patient_at_its_salvage_decision(demo_tables):
    # NET-005: 19.3 Gy after four initial cycles; two more of 7.4 GBq cross 23 Gy.
    as_of = patient.decision_dates(demo_tables, "NET-005").before_salvage
    result = planner.plan(demo_tables, "NET-005", as_of, planner.Scenario(), config=CONFIG)
    assert result.checklist.verdict == "not eligible"
    assert result.projection["p_exceed_dose"] > 0.05
    assert result.projection["max_safe_activity_gbq"] < 7.4


