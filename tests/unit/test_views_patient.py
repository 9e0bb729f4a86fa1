"""One patient's review for the tumour board: cycles, header, timeline, imaging, status and dates.

Expected values are derived independently from the store's tables (hand sums, the BED
formula in the README, "Kidney dosimetry and projection") or from the prrt_core functions the view promises to agree with.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from prrt_core import projection
from prrt_core.clinical import response, toxicity
from prrt_core.clinical.response import Response
from prrt_core.views import board, outcome, patient, record
from prrt_core.views import format as fm
from prrt_core.views.patient import CoursePhase, LimitLevel


def kidney_rows(tables, patient_id):
    d, c = tables.dosimetry, tables.cycles
    rows = d[d["organ"] == "kidneys"].merge(c[c["patient_id"] == patient_id], on="cycle_id")
    return rows.sort_values("cycle_date")


# ---------------------------------------------------------------- cycles and header

def test_cycle_table_sums_and_bed_by_hand(demo_tables):
    cycles = patient.cycle_table(demo_tables, "NET-004")
    own = kidney_rows(demo_tables, "NET-004")
    assert len(cycles) == 5 and list(cycles["phase"]) == ["initial"] * 4 + ["salvage"]
    assert cycles["cumulative_kidney_dose_gy"].iat[-1] == pytest.approx(own["dose_gy"].sum(), abs=1e-12)
    assert cycles["cumulative_activity_gbq"].iat[-1] == pytest.approx(own["activity_gbq"].sum(), abs=1e-12)
    # BED per cycle (README, "Kidney dosimetry and projection"): D (1 + D/(a/b) T_rep/(T_rep + T_eff)), a/b 2.6 Gy, T_rep 2.8 h.
    d, t = own["dose_gy"].to_numpy(), own["t_eff_h"].to_numpy()
    assert np.all(np.isfinite(t))  # every NET-004 cycle has a measured T_eff
    np.testing.assert_allclose(cycles["kidney_bed_gy"], d * (1 + d / 2.6 * 2.8 / (2.8 + t)), rtol=1e-12)
    np.testing.assert_allclose(cycles["kidney_gy_per_gbq"], d / own["activity_gbq"].to_numpy(), rtol=1e-12)
    tumour = demo_tables.dosimetry.query("organ == 'tumour'").set_index("cycle_id")["dose_gy"]
    np.testing.assert_allclose(cycles["tumour_dose_gy"], tumour.loc[cycles["cycle_id"]].to_numpy())


def test_missing_t_eff_uses_the_patients_mean_like_the_projection(demo_tables):
    # NET-008 has two single-time-point cycles (no T_eff): BED uses its mean measured T_eff,
    # the rule of projection.py, so the cumulative BED equals the projection's bed_now_gy.
    cycles = patient.cycle_table(demo_tables, "NET-008")
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
    risk = patient.header(demo_tables, "NET-004")  # hypertension recorded
    assert risk.renal_risk_factors == ("hypertension",)
    assert (risk.kidney_dose.limit_gy, risk.kidney_bed.limit_gy) == (23.0, 28.0)  # Bodei 2008
    assert risk.kidney_dose.value_gy == pytest.approx(kidney_rows(demo_tables, "NET-004")["dose_gy"].sum())
    assert risk.kidney_dose.status is LimitLevel.BELOW and risk.kidney_dose.complete
    assert (risk.n_cycles, risk.n_initial_cycles, risk.n_salvage_cycles) == (5, 4, 1)
    assert risk.phase is CoursePhase.SALVAGE  # last record (death) 9.3 weeks after the last cycle
    none = patient.header(demo_tables, "NET-005")  # neither hypertension nor diabetes
    assert none.renal_risk_factors == () and none.kidney_bed.limit_gy == 40.0
    facts = fm.header_facts(risk)
    assert facts.renal_risk_factors == "hypertension" and facts.sex == "male"
    assert facts.cumulative_kidney_dose_gy == "12.3 of 23 Gy (54 %)"  # 12.31 / 23 = 53.5 %
    assert facts.label("cumulative_kidney_dose_gy") == "Cumulative kidney dose (Gy)"


def limit_case(doses):
    return patient.limit_status(pd.Series(doses, dtype=float), 23.0)


def test_limit_status_below_near_over_unknown():
    assert limit_case([5.0, 5.0]).status is LimitLevel.BELOW  # 13 Gy headroom > 5 Gy per cycle
    assert limit_case([6.0, 6.0, 6.0]).status is LimitLevel.NEAR  # 5 Gy headroom < 6 Gy per cycle
    assert limit_case([12.0, 11.0]).status is LimitLevel.OVER  # exactly 23 Gy is at the limit
    # A cycle with neither a dose nor an estimate is not 0 Gy: the rest is a lower bound.
    partial = limit_case([5.0, np.nan])
    assert (partial.value_gy, partial.status, partial.n_missing, partial.complete) == (5.0, LimitLevel.UNKNOWN, 1,
                                                                                        False)
    assert fm.limit_text(partial) == "at least 5.0 of 23 Gy, 1 cycle without dosimetry or estimate"
    assert limit_case([12.0, 11.5, np.nan]).status is LimitLevel.OVER  # the lower bound alone crosses
    assert limit_case([np.nan]).status is LimitLevel.UNKNOWN
    # At the limit, never rounded across it: 22.96 Gy is 99.8 % of 23 Gy, not "23.0 ... (100 %)".
    assert fm.limit_text(limit_case([12.0, 10.96])) == "22.96 of 23 Gy (99.8 %)"
    # With estimated cycles: the median and its 90 % interval; the 95th percentile at the limit is NEAR.
    est = patient.limit_status(pd.Series([5.0, 4.0]), 23.0, total_q_gy=(7.5, 9.0, 23.0), n_estimated=1)
    assert (est.value_gy, est.p05_gy, est.p95_gy, est.status, est.complete) == (9.0, 7.5, 23.0, LimitLevel.NEAR,
                                                                                False)
    assert fm.limit_text(est) == "median 9.0 of 23 Gy (39 %), 90 % interval 7.5–23.0 Gy, incl. 1 estimated cycle"


def test_phase_ends_sixteen_weeks_after_the_last_cycle():
    cycles = pd.DataFrame({"cycle_date": pd.to_datetime(["2024-01-01", "2024-03-01"]),
                           "phase": ["initial", "salvage"]})
    assert patient.current_phase(cycles, dt.date(2024, 6, 20)) is CoursePhase.SALVAGE  # 15.9 weeks
    assert patient.current_phase(cycles, dt.date(2024, 6, 21)) is CoursePhase.FOLLOW_UP  # 16.0 weeks
    assert patient.current_phase(cycles.iloc[:0], None) is CoursePhase.NO_TREATMENT


# ---------------------------------------------------------------- timeline, imaging

def test_timeline_holds_every_cycle_scan_and_event_in_date_order(demo_tables):
    tl = patient.timeline(demo_tables, "NET-004")
    counts = tl["kind"].value_counts()
    for kind, table in (("cycle", "cycles"), ("imaging", "assessments"), ("event", "events")):
        frame = demo_tables.table(table)
        assert counts[kind] == (frame["patient_id"] == "NET-004").sum()
    assert tl["date"].is_monotonic_increasing
    assert tl["what"].iat[-1] == "Death" and "Cycle 5 (salvage): 4.39 GBq" in set(tl["what"])


def test_imaging_response_is_the_computed_recist(demo_tables):
    scans = patient.imaging(demo_tables, "NET-004")
    t = demo_tables.for_patient("NET-004")
    expected = response.timepoint_responses(t.assessments, t.cycles, "initial")["response"].tolist()
    follow = scans[(scans["phase"] == "initial") & (scans["role"] == "follow-up")]
    assert follow["response"].tolist() == expected == ["SD", "SD", "SD", "SD", "PD"]
    assert (scans.loc[scans["role"] == "baseline", "response"] == "").all()


# ---------------------------------------------------------------- status

def test_status_worst_grades_best_response_and_endpoints(demo_tables):
    # NET-001 has the demo's one grade-3 value: platelets 42 x 10^9/L (CTCAE v5.0: <50-25 = grade 3).
    state = outcome.status(demo_tables, "NET-001")
    worst = state.worst_grades.set_index("test")
    assert worst.loc["platelets", "after_salvage"] == 3.0
    graded = toxicity.grade_labs(demo_tables.labs, demo_tables.patients, demo_tables.cycles)
    direct = toxicity.worst_grades(graded[graded["patient_id"] == "NET-001"])
    direct = direct.set_index(["test", "phase"])["worst_grade"]
    for test in worst.index:
        for phase in ("before_salvage", "after_salvage"):
            expected, got = direct.get((test, phase), np.nan), worst.loc[test, phase]
            assert (np.isnan(expected) and np.isnan(got)) or expected == got, (test, phase)
    table = fm.worst_grade_table(state)
    assert table.set_index("Test").loc["Platelets (10⁹/L)", "After salvage start"] == "3"
    four = outcome.status(demo_tables, "NET-004")
    assert four.best_response == {"initial": Response.SD, "salvage": Response.NE}  # died before restaging
    ends = {e.name: e for e in four.endpoints}
    death = dt.date(2025, 5, 23)  # NET-004's death event in the demo store
    assert not four.alive and four.death_date == death
    assert ends["OS after salvage start"].event and ends["OS after salvage start"].end_date == death
    assert ends["PFS after initial PRRT"].end_date == dt.date(2024, 11, 24)  # initial progression
    assert ends["PFS after initial PRRT"].months == pytest.approx((dt.date(2024, 11, 24)
                                                                   - dt.date(2022, 11, 8)).days / 30.4375)


def test_unknown_patient_is_named(demo_tables):
    with pytest.raises(ValueError, match="'NET-999' is not in the store"):
        patient.header(demo_tables, "NET-999")


# ---------------------------------------------------------------- dates

def test_decision_dates(demo_tables):
    dates = patient.decision_dates(demo_tables, "NET-004")
    first_salvage = demo_tables.cycles.query("patient_id == 'NET-004' and phase == 'salvage'")["cycle_date"].min()
    assert dates.before_salvage == (first_salvage - pd.Timedelta(days=1)).date() == dt.date(2025, 3, 17)
    assert dates.latest == dates.death == dt.date(2025, 5, 23)


def test_endpoint_table_states_event_or_censoring_with_its_date(demo_tables):
    table = fm.endpoint_table(outcome.status(demo_tables, "NET-004")).set_index("Endpoint")
    assert table.loc["PFS after initial PRRT", "Status"] == "event on 2024-11-24"  # initial progression
    months = (dt.date(2025, 5, 23) - dt.date(2025, 3, 18)).days / 30.4375  # death - salvage start
    assert table.loc["OS after salvage start", "Duration (months)"] == f"{months:.1f}"
    assert table.loc["OS after salvage start", "Status"] == "event on 2025-05-23"


# ---------------------------------------------------------------- cycles without kidney dosimetry

Z95 = 1.6448536269514722  # standard normal 95th percentile (the 90 % interval's upper end)


def without_kidney_dose(tables, patient_id, cycle_numbers=None):
    """``tables`` without the 'kidneys' dosimetry rows of the patient's cycles (all, or those numbers)."""
    cycles = tables.cycles[tables.cycles["patient_id"] == patient_id]
    if cycle_numbers is not None:
        cycles = cycles[cycles["cycle_number"].isin(cycle_numbers)]
    d = tables.dosimetry
    return tables.replace(dosimetry=d[~(d["cycle_id"].isin(cycles["cycle_id"]) & (d["organ"] == "kidneys"))])


def cohort_fit_by_hand(tables):
    """mu, tau^2, sigma^2 and Var(mu) of ln(kidney Gy/GBq), re-derived from the model's formulas
    (projection/model.py: ANOVA / Henderson method I for unbalanced one-way data, Searle, Casella &
    McCulloch 1992, ch. 3; mu by GLS) over every measured cycle, one patient at a time."""
    kidney = tables.dosimetry[tables.dosimetry["organ"] == "kidneys"].drop_duplicates("cycle_id")
    rows = kidney.merge(tables.cycles, on="cycle_id")
    y = np.log(rows["dose_gy"] / rows["activity_gbq"])
    groups = [g.to_numpy() for _, g in y.groupby(rows["patient_id"])]
    n_obs, k = sum(len(g) for g in groups), len(groups)
    n = np.array([len(g) for g in groups], dtype=float)
    means = np.array([g.mean() for g in groups])
    sigma2 = sum(((g - g.mean()) ** 2).sum() for g in groups) / (n_obs - k)
    msb = (n * (means - y.mean()) ** 2).sum() / (k - 1)
    n0 = (n_obs - (n ** 2).sum() / n_obs) / (k - 1)
    tau2 = max(0.0, (msb - sigma2) / n0)
    w = 1.0 / (tau2 + sigma2 / n)
    return (w * means).sum() / w.sum(), tau2, sigma2, 1.0 / w.sum()


def test_estimated_cycle_is_activity_times_the_cohort_median_with_its_interval(demo_tables):
    # NET-005 without any kidney dosimetry borrows wholly from the cohort (shrinkage B = 0): its
    # ln(Gy/GBq) is N(mu, tau^2 + Var(mu)) and a cycle's e ~ N(0, sigma^2), so a cycle of A GBq has the
    # median A exp(mu) and the 90 % interval A exp(mu -+ z95 sqrt(tau^2 + Var(mu) + sigma^2)).
    # With tau^2 and sigma^2 taken as known (PLUG_IN), exactly that. By default (POSTERIOR) they are
    # drawn from their posterior: with 35 patients that changes the interval by a few per cent at most
    # (the small-cohort widening is tests/unit/test_projection_coverage.py's).
    tables = without_kidney_dose(demo_tables, "NET-005")
    mu, tau2, sigma2, var_mu = cohort_fit_by_hand(tables)
    plug_in = projection.KidneyModelSettings(variance_components=projection.VarianceComponents.PLUG_IN)
    cycles = patient.cycle_table(tables, "NET-005", settings=plug_in)
    a = cycles["activity_gbq"].to_numpy()
    sd = np.sqrt(tau2 + var_mu + sigma2)
    assert (cycles["kidney_dose_source"] == patient.DoseSource.ESTIMATED).all()
    assert cycles["kidney_dose_gy"].isna().all()  # the measured column stays measured only
    np.testing.assert_allclose(cycles["kidney_dose_p50_gy"], a * np.exp(mu), rtol=1e-9)
    np.testing.assert_allclose(cycles["kidney_dose_p05_gy"], a * np.exp(mu - Z95 * sd), rtol=1e-9)
    np.testing.assert_allclose(cycles["kidney_dose_p95_gy"], a * np.exp(mu + Z95 * sd), rtol=1e-9)
    default = patient.cycle_table(tables, "NET-005")
    for column in ("kidney_dose_p05_gy", "kidney_dose_p50_gy", "kidney_dose_p95_gy"):
        np.testing.assert_allclose(default[column], cycles[column], rtol=0.05)
    # BED of the estimate: D (1 + D/(a/b) T_rep/(T_rep + T_eff)) with the cohort median T_eff (no own T_eff).
    d, t = cycles["kidney_dose_p50_gy"], cycles["bed_t_eff_h"]
    assert set(cycles["bed_t_eff_source"]) == {"cohort median"}
    np.testing.assert_allclose(cycles["kidney_bed_p50_gy"], d * (1 + d / 2.6 * 2.8 / (2.8 + t)), rtol=1e-9)
    # Never 0 Gy: every per-cycle and cumulative value is positive and the totals grow.
    assert (cycles[["kidney_dose_p05_gy", "cumulative_kidney_dose_p05_gy"]] > 0).all().all()
    assert cycles["cumulative_kidney_dose_gy"].is_monotonic_increasing


def test_cumulative_with_one_estimated_cycle_is_measured_sum_plus_that_cycle(demo_tables):
    # NET-004's third cycle without kidney dosimetry: before it the totals are exact sums; from it on,
    # the total is the measured sum plus one log-normal cycle, so its Monte-Carlo quantiles (2000
    # samples) lie near the measured sum plus the cycle's analytic quantiles.
    full = patient.cycle_table(demo_tables, "NET-004")
    cycles = patient.cycle_table(without_kidney_dose(demo_tables, "NET-004", [3]), "NET-004")
    assert list(cycles["kidney_dose_source"]) == ["measured", "measured", "estimated", "measured", "measured"]
    exact = full["kidney_dose_gy"].iloc[:2].cumsum()
    np.testing.assert_allclose(cycles["cumulative_kidney_dose_gy"].iloc[:2], exact, rtol=1e-12)
    np.testing.assert_allclose(cycles["cumulative_kidney_dose_p95_gy"].iloc[:2], exact, rtol=1e-12)
    measured_sum = full["kidney_dose_gy"].drop(index=2).sum()
    est = cycles.iloc[2]
    total = cycles.iloc[-1]
    assert measured_sum + est["kidney_dose_p05_gy"] < total["cumulative_kidney_dose_gy"] \
        < measured_sum + est["kidney_dose_p95_gy"]
    for q in ("_p05", "", "_p95"):
        by_hand = measured_sum + est[f"kidney_dose{q or '_p50'}_gy"]
        assert total[f"cumulative_kidney_dose{q}_gy"] == pytest.approx(by_hand, rel=0.04), q
    head = patient.header(without_kidney_dose(demo_tables, "NET-004", [3]), "NET-004")
    assert (head.kidney_dose.n_estimated, head.kidney_dose.complete) == (1, False)
    assert head.kidney_dose.value_gy == total["cumulative_kidney_dose_gy"]
    assert head.kidney_dose.p05_gy < head.kidney_dose.value_gy < head.kidney_dose.p95_gy
    text = fm.header_facts(head).cumulative_kidney_dose_gy
    assert text.startswith("median ") and text.endswith("incl. 1 estimated cycle")


def test_cumulative_total_is_the_projections_dose_now(demo_tables):
    # The same Monte Carlo (fit, seed, draws): the total after the last past cycle has the quantiles
    # of project_path's future_cycle 0, where the fan chart's projection starts.
    tables = without_kidney_dose(demo_tables, "NET-005", [2, 4])
    cycles = patient.cycle_table(tables, "NET-005")
    history, patients = projection.inputs_from_tables(tables)
    start = projection.project_path(history, 2, 7.4, patients=patients, patient_ids=["NET-005"]).iloc[0]
    last = cycles.iloc[-1]
    for q, column in (("p05", "cumulative_kidney_dose_p05_gy"), ("p50", "cumulative_kidney_dose_gy"),
                      ("p95", "cumulative_kidney_dose_p95_gy")):
        assert last[column] == pytest.approx(start[f"dose_{q}_gy"], rel=1e-12)
    assert last["cumulative_kidney_bed_gy"] == pytest.approx(start["bed_p50_gy"], rel=1e-12)


def test_without_a_cohort_there_is_no_estimate_and_no_zero(demo_tables):
    # Only NET-004's own rows: the cohort model cannot be fitted (one patient), so the cycle without
    # dosimetry has no estimate; totals stop there instead of counting it as 0 Gy.
    own = without_kidney_dose(demo_tables, "NET-004", [3]).for_patient("NET-004")
    cycles = patient.cycle_table(own, "NET-004")
    assert cycles["kidney_dose_source"].iat[2] == patient.DoseSource.NO_ESTIMATE
    assert cycles["kidney_dose_p50_gy"].isna().iat[2]
    assert cycles["cumulative_kidney_dose_gy"].iloc[2:].isna().all()
    head = patient.header(own, "NET-004", cycles=cycles)
    assert head.kidney_dose.n_missing == 1 and head.kidney_dose.status is LimitLevel.UNKNOWN
    assert head.kidney_dose.value_gy == pytest.approx(cycles["kidney_dose_gy"].sum())  # the lower bound


# ---------------------------------------------------------------- header additions, timeline labels

def test_header_prior_therapies_weight_and_performance(demo_tables):
    head = patient.header(demo_tables, "NET-004")
    recorded = demo_tables.patients.set_index("patient_id").loc["NET-004", "prior_therapies"]
    assert "; ".join(head.prior_therapies) == recorded and len(head.prior_therapies) >= 2
    rv = patient.review(demo_tables, "NET-004")
    ps = demo_tables.performance_status.query("patient_id == 'NET-004'").sort_values("status_date")
    assert rv.performance["ecog"].tolist() == ps["ecog"].tolist()
    last = ps.iloc[-1]
    assert record.performance_text(rv.performance) == (
        f"ECOG {last['ecog']}, Karnofsky {last['karnofsky_pct']} % ({last['status_date'].date().isoformat()})")
    with_size = demo_tables.replace(patients=demo_tables.patients.assign(weight_kg=71.5, height_cm=168.0))
    facts = dict(board.more_facts(patient.review(with_size, "NET-004")))
    assert facts["Weight / height"] == "72 kg / 168 cm"  # 71.5 rounds half to even: 72
    without = demo_tables.replace(patients=demo_tables.patients.assign(weight_kg=np.nan, height_cm=np.nan))
    assert dict(board.more_facts(patient.review(without, "NET-004")))["Weight / height"] == "not recorded"


def test_timeline_labels_each_event(demo_tables):
    tl = patient.timeline(demo_tables, "NET-004")
    cycles = tl[tl["kind"] == "cycle"]
    assert cycles["label"].tolist() == [f"C{n}" for n in range(1, 6)]
    scans = patient.imaging(demo_tables, "NET-004")
    expected = [r if r else "baseline" for r in scans["response"]]  # NET-004: every non-response scan is a baseline
    assert tl.loc[tl["kind"] == "imaging", "label"].tolist() == expected
    assert tl["label"].iat[-1] == "Death"
