"""One patient's view for the tumour board: cycles, header, timeline, labs, status and the planner.

Expected values are derived independently from the store's tables (hand sums, the BED
formula of DESIGN.md §5, CTCAE v5.0 cut-offs of clinical_reference.md §1) or, for the
planner, from the prrt_core functions the view promises to agree with.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from prrt_core.clinical import eligibility
from prrt_core import views as pv
from prrt_core import projection
from prrt_core.clinical import response
from prrt_core.clinical import toxicity

CONFIG = eligibility.load_config()


def kidney_rows(tables, patient_id):
    d, c = tables.dosimetry, tables.cycles
    rows = d[d["organ"] == "kidneys"].merge(c[c["patient_id"] == patient_id], on="cycle_id")
    return rows.sort_values("cycle_date")


# ---------------------------------------------------------------- cycles and header

def test_cycle_table_sums_and_bed_by_hand(demo_tables):
    cycles = pv.cycle_table(demo_tables, "NET-004")
    own = kidney_rows(demo_tables, "NET-004")
    assert len(cycles) == 5 and list(cycles["phase"]) == ["initial"] * 4 + ["salvage"]
    assert cycles["cumulative_kidney_dose_gy"].iat[-1] == pytest.approx(own["dose_gy"].sum(), abs=1e-12)
    assert cycles["cumulative_activity_gbq"].iat[-1] == pytest.approx(own["activity_gbq"].sum(), abs=1e-12)
    # BED per cycle, DESIGN.md §5: D (1 + D/(a/b) T_rep/(T_rep + T_eff)), a/b 2.6 Gy, T_rep 2.8 h.
    d, t = own["dose_gy"].to_numpy(), own["t_eff_h"].to_numpy()
    assert np.all(np.isfinite(t))  # every NET-004 cycle has a measured T_eff
    np.testing.assert_allclose(cycles["kidney_bed_gy"], d * (1 + d / 2.6 * 2.8 / (2.8 + t)), rtol=1e-12)
    np.testing.assert_allclose(cycles["kidney_gy_per_gbq"], d / own["activity_gbq"].to_numpy(), rtol=1e-12)
    tumour = demo_tables.dosimetry.query("organ == 'tumour'").set_index("cycle_id")["dose_gy"]
    np.testing.assert_allclose(cycles["tumour_dose_gy"], tumour.loc[cycles["cycle_id"]].to_numpy())


def test_missing_t_eff_uses_the_patients_mean_like_the_projection(demo_tables):
    # NET-008 has two single-time-point cycles (no T_eff): BED uses its mean measured T_eff,
    # the rule of projection.py, so the cumulative BED equals the projection's bed_now_gy.
    cycles = pv.cycle_table(demo_tables, "NET-008")
    own = kidney_rows(demo_tables, "NET-008")
    assert own["t_eff_h"].isna().sum() == 2
    mean_t = own["t_eff_h"].mean()
    missing = cycles["kidney_t_eff_h"].isna()
    assert (cycles.loc[missing, "bed_t_eff_h"] == mean_t).all()
    assert set(cycles.loc[missing, "bed_t_eff_source"]) == {"patient mean"}
    history, patients = projection.inputs_from_tables(demo_tables)
    row = projection.project(history, 1, 7.4, patients=patients, patient_ids=["NET-008"]).iloc[0]
    assert cycles["cumulative_kidney_bed_gy"].iat[-1] == pytest.approx(row["bed_now_gy"], rel=1e-12)


def test_header_limits_follow_renal_risk(demo_tables):
    risk = pv.header(demo_tables, "NET-004")  # hypertension recorded
    assert risk.renal_risk_factors == ("hypertension",)
    assert (risk.kidney_dose.limit_gy, risk.kidney_bed.limit_gy) == (23.0, 28.0)  # Bodei 2008
    assert risk.kidney_dose.value_gy == pytest.approx(kidney_rows(demo_tables, "NET-004")["dose_gy"].sum())
    assert risk.kidney_dose.status == "below" and risk.kidney_dose.complete
    assert (risk.n_cycles, risk.n_initial_cycles, risk.n_salvage_cycles) == (5, 4, 1)
    assert risk.phase == "salvage"  # last record (death) 9.3 weeks after the last cycle
    none = pv.header(demo_tables, "NET-005")  # neither hypertension nor diabetes
    assert none.renal_risk_factors == () and none.kidney_bed.limit_gy == 40.0
    facts = pv.header_facts(risk)
    assert facts["Renal risk factors"] == "hypertension" and facts["Sex"] == "male"
    assert facts["Cumulative kidney dose (Gy)"] == "12.3 of 23 Gy (54 %)"  # 12.31 / 23 = 53.5 %


def limit_case(doses):
    return pv._limit_status(pd.Series(doses, dtype=float), 23.0)


def test_limit_status_below_near_over_unknown():
    assert limit_case([5.0, 5.0]).status == "below"  # 13 Gy headroom > 5 Gy per cycle
    assert limit_case([6.0, 6.0, 6.0]).status == "near"  # 5 Gy headroom < 6 Gy per cycle
    assert limit_case([12.0, 11.0]).status == "over"  # exactly 23 Gy is at the limit
    partial = limit_case([5.0, np.nan])
    assert partial.value_gy == 5.0 and not partial.complete
    assert limit_case([np.nan]).status == "unknown"
    assert pv.limit_text(partial) == "5.0 of 23 Gy (22 %), some cycles without dosimetry"


def test_phase_ends_sixteen_weeks_after_the_last_cycle():
    cycles = pd.DataFrame({"cycle_date": pd.to_datetime(["2024-01-01", "2024-03-01"]),
                           "phase": ["initial", "salvage"]})
    assert pv.current_phase(cycles, dt.date(2024, 6, 20)) == "salvage"  # 15.9 weeks
    assert pv.current_phase(cycles, dt.date(2024, 6, 21)) == "follow-up"  # 16.0 weeks
    assert pv.current_phase(cycles.iloc[:0], None) == "no treatment"


# ---------------------------------------------------------------- timeline, imaging

def test_timeline_holds_every_cycle_scan_and_event_in_date_order(demo_tables):
    tl = pv.timeline(demo_tables, "NET-004")
    counts = tl["kind"].value_counts()
    for kind, table in (("cycle", "cycles"), ("imaging", "assessments"), ("event", "events")):
        frame = demo_tables.table(table)
        assert counts[kind] == (frame["patient_id"] == "NET-004").sum()
    assert tl["date"].is_monotonic_increasing
    assert tl["what"].iat[-1] == "Death" and "Cycle 5 (salvage): 4.39 GBq" in set(tl["what"])


def test_imaging_response_is_the_computed_recist(demo_tables):
    scans = pv.imaging(demo_tables, "NET-004")
    t = demo_tables.for_patient("NET-004")
    expected = response.timepoint_responses(t.assessments, t.cycles, "initial")["response"].tolist()
    follow = scans[(scans["phase"] == "initial") & (scans["role"] == "follow-up")]
    assert follow["response"].tolist() == expected == ["SD", "SD", "SD", "SD", "PD"]
    assert (scans.loc[scans["role"] == "baseline", "response"] == "").all()


# ---------------------------------------------------------------- labs and grade bands

@pytest.mark.parametrize("test", [t for t in toxicity.LabTest])
@pytest.mark.parametrize("sex", ["M", "F"])
def test_grade_bands_are_the_grades_ctcae_grade_applies(test, sex):
    """Every band's interior and its edges grade as the band says (toxicity.ctcae_grade)."""
    lln, uln = (float(x[0]) for x in toxicity.DEFAULT_REFERENCE_LIMITS.limits(test, np.array([sex], dtype=object)))
    bands = pv.grade_bands(test, [0.01, 1000.0], lln=lln, uln=uln)  # values spanning every band
    assert list(bands["grade"]) == (["0", "1", "2", "3", "4"] if test != "hemoglobin" else ["0", "1", "2", "3"])
    kwargs = {"uln": uln} if test == "creatinine" else {"lln": lln}
    mid = (bands["lower"] + bands["upper"]) / 2
    assert toxicity.ctcae_grade(test, mid, **kwargs).tolist() == bands["grade"].astype(float).tolist()
    inner = bands.iloc[1:-1]  # clipped outer edges are the chart range, not grade boundaries
    # Low-side tests: grade g while value < upper, so the lower edge belongs to the band;
    # creatinine: grade g while value > lower, so the upper edge belongs to it.
    edge = inner["upper"] if test == "creatinine" else inner["lower"]
    assert toxicity.ctcae_grade(test, edge, **kwargs).tolist() == inner["grade"].astype(float).tolist()


def test_grade_band_range_shows_grades_0_to_2_and_follows_the_values(demo_tables):
    # Platelets, LLN 150, grade 2 below 75 (CTCAE v5.0): range 0.9 x 75 to 1.1 x 250.
    bands = pv.grade_bands("platelets", [180.0, 250.0], lln=150.0, uln=np.nan)
    assert (bands["y_min"].iat[0], bands["y_max"].iat[0]) == pytest.approx((67.5, 275.0))
    assert list(bands["grade"]) == ["0", "1", "2"]
    low = pv.grade_bands("platelets", [42.0], lln=150.0, uln=np.nan)  # the demo's grade-3 nadir adds band 3
    assert list(low["grade"]) == ["0", "1", "2", "3"] and low["y_min"].iat[0] == pytest.approx(37.8)
    unknown = pv.grade_bands("hemoglobin", [12.0], lln=np.nan, uln=np.nan)  # sex unknown: no Hb LLN
    assert list(unknown["grade"]) == ["0-1", "2"]
    # The review draws each test with the patient's own limits (NET-004 is male: Hb LLN 13.0).
    bands = pv.review(demo_tables, "NET-004").bands
    hb = bands[bands["test"] == "hemoglobin"].set_index("grade")
    assert hb.loc["1", "upper"] == hb.loc["0", "lower"] == 13.0


def test_status_worst_grades_best_response_and_endpoints(demo_tables):
    # NET-001 has the demo's one grade-3 value: platelets 42 x 10^9/L (CTCAE v5.0: <50-25 = grade 3).
    state = pv.status(demo_tables, "NET-001")
    worst = state.worst_grades.set_index("test")
    assert worst.loc["platelets", "after_salvage"] == 3.0
    graded = toxicity.grade_labs(demo_tables.labs, demo_tables.patients, demo_tables.cycles)
    direct = toxicity.worst_grades(graded[graded["patient_id"] == "NET-001"])
    direct = direct.set_index(["test", "phase"])["worst_grade"]
    for test in worst.index:
        for phase in ("before_salvage", "after_salvage"):
            expected, got = direct.get((test, phase), np.nan), worst.loc[test, phase]
            assert (np.isnan(expected) and np.isnan(got)) or expected == got, (test, phase)
    table = pv.worst_grade_table(state)
    assert table.set_index("Test").loc["Platelets (10⁹/L)", "After salvage start"] == "3"
    four = pv.status(demo_tables, "NET-004")
    assert four.best_response == {"initial": "SD", "salvage": "NE"}  # died before restaging
    ends = {e.name: e for e in four.endpoints}
    death = dt.date(2025, 5, 23)  # NET-004's death event in the demo store
    assert not four.alive and four.death_date == death
    assert ends["OS after salvage start"].event and ends["OS after salvage start"].end_date == death
    assert ends["PFS after initial PRRT"].end_date == dt.date(2024, 11, 24)  # initial progression
    assert ends["PFS after initial PRRT"].months == pytest.approx((dt.date(2024, 11, 24)
                                                                   - dt.date(2022, 11, 8)).days / 30.4375)


def test_mag3_trend_is_the_least_squares_slope_per_year():
    mag3 = pd.DataFrame({"lab_date": pd.to_datetime(["2021-01-01", "2022-01-01", "2023-01-01"]),
                         "mag3_ter_ml_min_173m2": [240.0, 230.0, 220.0]})
    trend = pv.mag3_trend(mag3)
    # Collinear points, -10 mL/min/1.73 m² per 365 days = -10 / (365 / 365.25) per year.
    assert trend.slope_per_year == pytest.approx(-10.0 / (365 / 365.25), rel=1e-9)
    assert (trend.n_values, trend.first_value, trend.last_value) == (3, 240.0, 220.0)
    assert np.isnan(pv.mag3_trend(mag3.iloc[:1]).slope_per_year)


def test_unknown_patient_is_named(demo_tables):
    with pytest.raises(ValueError, match="'NET-999' is not in the store"):
        pv.header(demo_tables, "NET-999")


# ---------------------------------------------------------------- planner

def test_decision_dates(demo_tables):
    dates = pv.decision_dates(demo_tables, "NET-004")
    first_salvage = demo_tables.cycles.query("patient_id == 'NET-004' and phase == 'salvage'")["cycle_date"].min()
    assert dates["before_salvage"] == (first_salvage - pd.Timedelta(days=1)).date() == dt.date(2025, 3, 17)
    assert dates["latest"] == dates["death"] == dt.date(2025, 5, 23)


def test_plan_uses_what_was_known_and_agrees_with_assess_and_project_path(demo_tables):
    as_of = pv.decision_dates(demo_tables, "NET-004")["before_salvage"]
    scenario = pv.Scenario(n_cycles=2, activity_gbq=7.4, tolerance=0.05)
    result = pv.plan(demo_tables, "NET-004", as_of, scenario, config=CONFIG)
    checklist, row = eligibility.assess(demo_tables, "NET-004", as_of=as_of, n_cycles=2, activity_gbq=7.4,
                                        config=CONFIG)
    assert result.checklist.verdict == checklist.verdict == "eligible"
    pd.testing.assert_series_equal(result.projection, row)
    assert len(result.history) == 4  # the salvage cycle lies after the evaluation date
    fan = result.fan.set_index(["source", "quantity", "cycle"])
    # projection.project_path: the last future cycle equals project()'s quantiles.
    assert fan.loc[("projection", "Kidney dose", 6), "p50_gy"] == pytest.approx(row["dose_p50_gy"], rel=1e-12)
    assert fan.loc[("projection", "Kidney BED", 6), "p95_gy"] == pytest.approx(row["bed_p95_gy"], rel=1e-12)
    assert fan.loc[("history", "Kidney dose", 4), "value_gy"] == pytest.approx(row["dose_now_gy"], rel=1e-12)
    assert fan.loc[("projection", "Kidney dose", 4), "limit_gy"] == 23.0
    facts = pv.projection_facts(result)
    assert facts["P(kidney dose > 23 Gy)"] == f"{100 * row['p_exceed_dose']:.1f} %"
    assert facts["Projected kidney dose, median (Gy)"] == f"{row['dose_p50_gy']:.1f}"
    assert facts["Largest safe number of cycles at 7.4 GBq"] == str(int(row["max_safe_cycles"]))


def test_plan_without_cycles_by_the_evaluation_date_has_no_projection(demo_tables):
    result = pv.plan(demo_tables, "NET-004", dt.date(2020, 1, 1), pv.Scenario(), config=CONFIG)
    assert result.projection is None and result.path.empty and result.history.empty
    assert pv.projection_facts(result) == {}
    assert result.checklist.verdict == "caution"  # unknowns are never a pass


def test_compare_scenarios_matches_project(demo_tables):
    as_of = dt.date(2025, 3, 17)
    out = pv.compare_scenarios(demo_tables, "NET-004", as_of, pv.DEFAULT_SCENARIOS, pv.Scenario())
    history, patients = projection.inputs_from_tables(demo_tables.as_of(as_of))
    for (n, a), (_, got) in zip(pv.DEFAULT_SCENARIOS, out.iterrows()):
        row = projection.project(history, n, a, patients=patients, patient_ids=["NET-004"]).iloc[0]
        assert got["dose_p50_gy"] == row["dose_p50_gy"] and got["total_activity_gbq"] == pytest.approx(n * a)
        assert got["p_exceed_bed_pct"] == 100 * row["p_exceed_bed"]
        assert got["max_safe_activity_gbq"] == row["max_safe_activity_gbq"]
    shown = pv.scenario_display(out)
    assert list(shown.columns) == ["Quantity", "2 x 7.4 GBq", "3 x 5.5 GBq", "4 x 3.7 GBq"]
    with pytest.raises(ValueError, match="between 1 and 3 scenarios"):
        pv.compare_scenarios(demo_tables, "NET-004", as_of, [(1, 7.4)] * 4, pv.Scenario())
    with pytest.raises(ValueError, match="no cycle recorded by 2020-01-01"):
        pv.compare_scenarios(demo_tables, "NET-004", dt.date(2020, 1, 1), [(1, 7.4)], pv.Scenario())


def test_not_eligible_demo_patient_at_its_salvage_decision(demo_tables):
    # NET-005: 19.3 Gy after four initial cycles; two more of 7.4 GBq cross 23 Gy.
    as_of = pv.decision_dates(demo_tables, "NET-005")["before_salvage"]
    result = pv.plan(demo_tables, "NET-005", as_of, pv.Scenario(), config=CONFIG)
    assert result.checklist.verdict == "not eligible"
    assert result.projection["p_exceed_dose"] > 0.05
    assert result.projection["max_safe_activity_gbq"] < 7.4


def test_endpoint_table_states_event_or_censoring_with_its_date(demo_tables):
    table = pv.endpoint_table(pv.status(demo_tables, "NET-004")).set_index("Endpoint")
    assert table.loc["PFS after initial PRRT", "Status"] == "event on 2024-11-24"  # initial progression
    months = (dt.date(2025, 5, 23) - dt.date(2025, 3, 18)).days / 30.4375  # death - salvage start
    assert table.loc["OS after salvage start", "Duration (months)"] == f"{months:.1f}"
    assert table.loc["OS after salvage start", "Status"] == "event on 2025-05-23"
