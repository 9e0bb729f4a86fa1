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
from prrt_core.views import format as fm
from prrt_core.views import outcome, patient
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
    partial = limit_case([5.0, np.nan])
    assert partial.value_gy == 5.0 and not partial.complete
    assert limit_case([np.nan]).status is LimitLevel.UNKNOWN
    assert fm.limit_text(partial) == "5.0 of 23 Gy (22 %), some cycles without dosimetry"


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
