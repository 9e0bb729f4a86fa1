"""The salvage planner: a scenario judged at an evaluation date, the activity options, and scenarios side by side.

Expected values come from the prrt_core functions the planner promises to agree with
(eligibility.assess, projection.project and project_path), or are derived by hand.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from prrt_core import projection
from prrt_core.clinical import eligibility
from prrt_core.projection import KidneyModelSettings
from prrt_core.views import format as fm
from prrt_core.views import patient, planner

CONFIG = eligibility.load_config()
POLICY = eligibility.policy(CONFIG, KidneyModelSettings())  # BED excludes, absorbed dose is a caution


def test_plan_uses_what_was_known_and_agrees_with_assess_and_project_path(demo_tables):
    as_of = patient.decision_dates(demo_tables, "NET-004").before_salvage
    scenario = planner.default_scenario(CONFIG)
    assert scenario == planner.Scenario(2, 7.4, KidneyModelSettings())
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
    assert facts.label("p_exceed_dose_pct") == "P(kidney dose > 23 Gy), caution limit"
    assert facts.label("p_exceed_bed_pct") == f"P(kidney BED > {row['bed_limit_gy']:g} Gy), exclude limit"
    assert facts.policy == "Kidney limits: BED 28/40 Gy exclude; absorbed dose 23 Gy caution"
    assert facts.dose_median_gy == f"{row['dose_p50_gy']:.1f}" and abs(row["dose_p50_gy"] - 23) > 0.1
    assert facts.label("dose_median_gy") == "Projected kidney dose, median (Gy)"
    assert facts.max_safe_cycles == str(int(row["max_safe_cycles"]))
    assert facts.options == result.options.text and "0.0 GBq" not in facts.options


def test_plan_without_cycles_by_the_evaluation_date_cannot_assess(demo_tables):
    result = planner.plan(demo_tables, "NET-004", dt.date(2020, 1, 1), planner.Scenario(), config=CONFIG)
    assert result.projection is None and result.path.empty and result.history.empty and result.options is None
    assert fm.projection_facts(result) is None
    assert result.checklist.verdict == "cannot assess"  # unknowns are never a pass
    assert result.no_projection_reason == ("Projected kidney dose: no projection (no cycle recorded by the "
                                           "evaluation date)")
    # Looked up by the criterion's key, not its display label.
    relabelled = dataclasses.replace(result, checklist=dataclasses.replace(
        result.checklist, items=result.checklist.items.assign(criterion=lambda f: "renamed " + f["criterion"])))
    assert relabelled.no_projection_reason == result.no_projection_reason


def test_plan_of_a_deceased_patient_has_only_the_history(demo_tables):
    died = patient.decision_dates(demo_tables, "NET-004").death  # 2025-05-23
    result = planner.plan(demo_tables, "NET-004", died, planner.Scenario(), config=CONFIG)
    assert result.deceased_on == died and result.checklist.verdict is None
    assert result.projection is None and result.options is None and result.path.empty
    assert len(result.history) == 5 and (result.fan["source"] == "history").all()
    assert result.no_projection_reason == "NET-004 died on 2025-05-23: no projection and no verdict."
    day_before = planner.plan(demo_tables, "NET-004", died - dt.timedelta(days=1), planner.Scenario(), config=CONFIG)
    assert day_before.deceased_on is None and day_before.checklist.verdict is not None


def row(n: int, bed_gbq: float, dose_gbq: float) -> pd.Series:
    """A projection row with the largest activity per cycle of each limit alone (GBq)."""
    return pd.Series({"n_cycles": n, "max_safe_activity_bed_gbq": bed_gbq, "max_safe_activity_dose_gbq": dose_gbq,
                      "dose_limit_gy": 23.0, "bed_limit_gy": 40.0})


def test_option_is_rounded_down_clipped_and_never_zero():
    a = CONFIG.activity  # 1.0-7.4 GBq, reduced at or below 3.7 GBq
    assert planner.option_for(row(2, 9.87, 99.0), POLICY, a).text == "2 x 7.4 GBq"  # clipped to the label's 7.4
    assert planner.option_for(row(3, 5.59, 99.0), POLICY, a).text == "3 x 5.5 GBq"  # 5.59 rounded DOWN
    assert planner.option_for(row(2, 3.7, 99.0), POLICY, a).text == "reduced: 2 x 3.7 GBq"
    assert planner.option_for(row(4, 3.79, 99.0), POLICY, a).text == "reduced: 4 x 3.7 GBq"
    assert planner.option_for(row(1, 0.99, 99.0), POLICY, a) is None  # below the 1.0 GBq minimum: dropped
    assert planner.option_for(row(1, 0.0, 99.0), POLICY, a) is None  # already over: no "0.0 GBq"
    # Within BED 40 Gy (exclude) but above the 23 Gy absorbed-dose caution limit:
    crossing = planner.option_for(row(2, 7.4, 5.2), POLICY, a)
    assert crossing.text == "2 x 7.4 GBq (caution: above absorbed dose 23 Gy)"
    # With the absorbed dose made an excluding limit too, the smaller of the two binds.
    both = dataclasses.replace(POLICY, dose_severity=eligibility.Severity.EXCLUDE)
    assert planner.option_for(row(2, 7.4, 5.26), both, a).text == "2 x 5.2 GBq"
    assert planner.ActivityOptions((), "BED 40 Gy", a).text == planner.NO_FURTHER_CYCLE
    assert planner.ActivityOptions((), "BED 40 Gy", a).lines == ("no further cycle within the limits",)


def test_activity_options_match_project_per_number_of_cycles(demo_tables):
    as_of = patient.decision_dates(demo_tables, "NET-005").before_salvage
    result = planner.plan(demo_tables, "NET-005", as_of, planner.Scenario(), config=CONFIG)
    history, patients = projection.inputs_from_tables(demo_tables.as_of(as_of))
    shown = {o.n_cycles: o for o in result.options.options}
    for n in (1, 2, 3, 4):
        r = projection.project(history, n, 7.4, patients=patients, patient_ids=["NET-005"]).iloc[0]
        expected = min(math.floor(r["max_safe_activity_bed_gbq"] * 10) / 10, 7.4)
        if expected < 1.0:
            assert n not in shown
            continue
        assert shown[n].activity_gbq == expected
        # Above the caution limit exactly when P(dose > 23 Gy) > 5 % at that activity.
        at = projection.project(history, n, expected, patients=patients, patient_ids=["NET-005"]).iloc[0]
        assert bool(shown[n].caution_crossed) == bool(at["p_exceed_dose"] > 0.05)
        assert at["p_exceed_bed"] <= 0.05
    assert result.options.within == f"BED {result.projection['bed_limit_gy']:g} Gy"
    assert result.options.title(0.05) == (f"Options within the excluding limits ({result.options.within}; "
                                          "P(> limit) ≤ 5 %, 1–7.4 GBq per cycle, rounded down to 0.1 GBq)")


def test_compare_scenarios_matches_project(demo_tables):
    as_of = dt.date(2025, 3, 17)
    out = planner.compare_scenarios(demo_tables, "NET-004", as_of, planner.DEFAULT_SCENARIOS,
                                    projection.DEFAULT_SETTINGS, config=CONFIG)
    history, patients = projection.inputs_from_tables(demo_tables.as_of(as_of))
    for (n, a), (_, got) in zip(planner.DEFAULT_SCENARIOS, out.iterrows()):
        r = projection.project(history, n, a, patients=patients, patient_ids=["NET-004"]).iloc[0]
        assert got["dose_p50_gy"] == r["dose_p50_gy"] and got["total_activity_gbq"] == pytest.approx(n * a)
        assert got["p_exceed_bed_pct"] == 100 * r["p_exceed_bed"]
        expected = min(math.floor(r["max_safe_activity_bed_gbq"] * 10) / 10, 7.4)
        assert got["largest_activity_gbq"] == f"{expected:.1f}"
    shown = fm.scenario_display(out)
    assert list(shown.columns) == ["Quantity", "2 x 7.4 GBq", "3 x 5.5 GBq", "4 x 3.7 GBq"]
    with pytest.raises(ValueError, match="between 1 and 3 scenarios"):
        planner.compare_scenarios(demo_tables, "NET-004", as_of, [(1, 7.4)] * 4, projection.DEFAULT_SETTINGS,
                                  config=CONFIG)
    with pytest.raises(ValueError, match="no cycle recorded by 2020-01-01"):
        planner.compare_scenarios(demo_tables, "NET-004", dt.date(2020, 1, 1), [(1, 7.4)],
                                  projection.DEFAULT_SETTINGS, config=CONFIG)


def test_caution_demo_patient_at_its_salvage_decision(demo_tables):
    # NET-005: 19.3 Gy after four initial cycles; two more of 7.4 GBq cross 23 Gy absorbed (a caution)
    # but stay within its BED limit (which excludes): caution, not "not eligible".
    as_of = patient.decision_dates(demo_tables, "NET-005").before_salvage
    result = planner.plan(demo_tables, "NET-005", as_of, planner.Scenario(), config=CONFIG)
    assert result.projection["p_exceed_dose"] > 0.05 and result.projection["p_exceed_bed"] <= 0.05
    assert result.checklist.verdict == "caution"


def test_values_at_a_limit_read_as_at_the_limit():
    assert fm.gy_of_limit(22.95, 23) == "22.95 of 23 Gy"  # not "23.0 of 23 Gy"
    assert fm.gy_of_limit(23.04, 23) == "23.04 of 23 Gy"  # not "23.0": over the limit reads over
    assert fm.gy_of_limit(12.34, 23) == "12.3 of 23 Gy"  # far from the limit: one decimal
    assert fm.gy_of_limit(23.0, 23) == "23.0 of 23 Gy"
    assert fm.gy_of_limit(39.96, 40) == "39.96 of 40 Gy"
    assert fm.gy_of_limit(float("nan"), 23) == "—"
    assert fm.number_beside_limit(4.96, 5.0) == "4.96"  # a probability in % beside a 5 % tolerance


def test_history_with_cycles_without_dosimetry_is_estimated_in_the_fan_and_never_zero(demo_tables):
    """Issue 13 §2: NET-010 with the kidney dosimetry of its first two cycles removed. The fan's
    history marks every total from cycle 1 on as estimated, with a 90 % interval around a median
    that is never 0 Gy; the last history total is the projection's start (future cycle 0), and the
    planner's "so far" text is that median with its interval, not a log-normal mean."""
    config = eligibility.load_config()
    first_two = demo_tables.cycles[demo_tables.cycles["patient_id"] == "NET-010"].nsmallest(2, "cycle_number")
    tables = demo_tables.replace(dosimetry=demo_tables.dosimetry[~demo_tables.dosimetry["cycle_id"].isin(
        first_two["cycle_id"])])
    as_of = patient.decision_dates(tables, "NET-010").before_salvage
    result = planner.plan(tables, "NET-010", as_of, planner.default_scenario(config), config=config)
    hist = result.fan[(result.fan["source"] == "history") & (result.fan["quantity"] == "Kidney dose")]
    assert hist["estimated"].all()
    assert (hist["value_gy"] > 0).all() and (hist["p05_gy"] < hist["value_gy"]).all()
    assert (hist["value_gy"] < hist["p95_gy"]).all()
    start = result.path.loc[result.path["future_cycle"] == 0, "dose_p50_gy"].iat[0]
    assert hist["value_gy"].iat[-1] == pytest.approx(start, rel=1e-9)
    facts = fm.projection_facts(result)
    last = result.history.iloc[-1]
    assert facts.dose_so_far == (f"median {last['cumulative_kidney_dose_gy']:.1f} Gy (90 % interval "
                                 f"{last['cumulative_kidney_dose_p05_gy']:.1f}–{last['cumulative_kidney_dose_p95_gy']:.1f}"
                                 " Gy), incl. 2 estimated cycles")
    # With every cycle measured the history is exact: no estimate, no interval.
    measured = planner.plan(demo_tables, "NET-010", as_of, planner.default_scenario(config), config=config)
    exact = measured.fan[measured.fan["source"] == "history"]
    assert not exact["estimated"].any() and exact["p05_gy"].isna().all()


def near_limit(result: planner.PlannerResult) -> planner.PlannerResult:
    """``result`` with a constructed projection row whose 95th percentiles lie just over (dose: 23.04 of
    23 Gy) and just under (BED: 39.96 of 40 Gy) their limits."""
    row = result.projection.copy()
    row[["dose_limit_gy", "dose_p05_gy", "dose_p50_gy", "dose_p95_gy"]] = [23.0, 20.61, 21.9, 23.04]
    row[["bed_limit_gy", "bed_p05_gy", "bed_p50_gy", "bed_p95_gy"]] = [40.0, 22.0, 23.5, 39.96]
    return dataclasses.replace(result, projection=row)


def test_interval_bounds_read_beside_their_limit(demo_tables):
    """Review C5: ':.1f' would print the 95th percentile 23.04 Gy as '23.0' (on the limit) and 39.96 as
    '40.0' (on it); beside the limit they read '23.04' and '39.96'."""
    as_of = patient.decision_dates(demo_tables, "NET-004").before_salvage
    result = near_limit(planner.plan(demo_tables, "NET-004", as_of, planner.default_scenario(CONFIG), config=CONFIG))
    facts = fm.projection_facts(result)
    assert facts.dose_interval_90_gy == "20.6–23.04" and facts.bed_interval_90_gy == "22.0–39.96"
    assert fm.interval_beside_limit(22.96, 23.04, 23.0) == "22.96–23.04"
    # "So far" with an estimated cycle: the cumulative interval beside the limit too.
    history = pd.DataFrame({"kidney_dose_source": ["measured", "estimated"],
                            "cumulative_kidney_dose_gy": [11.0, 21.0], "cumulative_kidney_dose_p05_gy": [np.nan, 18.96],
                            "cumulative_kidney_dose_p95_gy": [np.nan, 23.04]})
    assert fm.so_far_text(history, "dose", 23.0) == ("median 21.0 Gy (90 % interval 19.0–23.04 Gy), "
                                                      "incl. 1 estimated cycle")
    # The scenario table: medians and 95th percentiles beside their limits, probabilities beside the tolerance.
    compared = pd.DataFrame([{"scenario": "2 x 7.4 GBq", "n_cycles": 2, "activity_gbq": 7.4, "total_activity_gbq": 14.8,
                              "dose_p50_gy": 21.9, "dose_p95_gy": 23.04, "p_exceed_dose_pct": 5.04,
                              "bed_p50_gy": 23.5, "bed_p95_gy": 39.96, "p_exceed_bed_pct": 4.96,
                              "largest_activity_gbq": "7.4", "limits_crossed": "absorbed dose 23 Gy (caution)",
                              "dose_limit_gy": 23.0, "bed_limit_gy": 40.0, "tolerance_pct": 5.0}])
    shown = fm.scenario_display(compared).set_index("Quantity")["2 x 7.4 GBq"]
    assert (shown["Cumulative kidney dose, 95th pct (Gy)"], shown["Cumulative kidney BED, 95th pct (Gy)"]) == (
        "23.04", "39.96")
    assert (shown["P(dose > limit) (%)"], shown["P(BED > limit) (%)"]) == ("5.04", "4.96")


def test_limit_inputs_help_comes_from_the_config():
    helps = planner.limit_help(CONFIG)
    assert helps.dose == f"Default 23 Gy, caution limit (data/eligibility.toml). Source: {CONFIG.kidney_dose.source}"
    assert helps.bed_risk.startswith("Default 28 Gy with renal risk factors, exclude limit (data/eligibility.toml)")
    assert helps.bed_no_risk.startswith("Default 40 Gy without renal risk factors, exclude limit")
    assert "Bodei, EJNMMI 2008;35:1847" in helps.bed_no_risk
    changed = dataclasses.replace(CONFIG, kidney_dose=dataclasses.replace(
        CONFIG.kidney_dose, limit_gy=25.0, severity=eligibility.Severity.EXCLUDE))
    assert planner.limit_help(changed).dose.startswith("Default 25 Gy, exclude limit")
