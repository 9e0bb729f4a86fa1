"""The cohort filter, restriction of tables, and the toxicity / response / Kaplan–Meier tables."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from prrt_core import cohort
from prrt_core.clinical import response, survival, toxicity
from prrt_core.cohort import CohortFilter


@pytest.fixture(scope="module")
def attributes(demo_tables):
    return cohort.patient_attributes(demo_tables)


def test_filter_settings_are_validated_and_normalised():
    f = CohortFilter(primary_sites=["lung", "CUP", "lung"], sexes={"F"})
    assert f.primary_sites == ("CUP", "lung") and f.sexes == ("F",)
    assert hash(f) == hash(CohortFilter(primary_sites=("lung", "CUP"), sexes=("F",)))  # a cache key
    with pytest.raises(ValueError, match="sexes"):
        CohortFilter(sexes=("X",))
    with pytest.raises(ValueError, match="age_min_years"):
        CohortFilter(age_min_years=70, age_max_years=60)
    with pytest.raises(ValueError, match="first_cycle_from"):
        CohortFilter(first_cycle_from=dt.date(2022, 1, 1), first_cycle_to=dt.date(2021, 1, 1))
    with pytest.raises(ValueError, match="primary_sites"):
        CohortFilter(primary_sites="lung")  # a string is not a set of sites
    with pytest.raises(ValueError, match="salvage_cycles"):
        CohortFilter(salvage_cycles=(-1,))
    assert CohortFilter().describe() == "all patients"
    assert CohortFilter(sexes=("F",), renal_risk=True).describe() == "sex F; with renal risk factors"


def test_each_criterion_on_the_demo_cohort(attributes, demo_tables):
    patients = demo_tables.patients
    ids = lambda **kw: set(cohort.select_patients(attributes, CohortFilter(**kw)))  # noqa: E731
    assert len(ids()) == 35
    # Counts from the published cohort (Rudisile 2019): 10 women, 5 lung primaries.
    assert len(ids(sexes=("F",))) == 10
    assert len(ids(primary_sites=("lung",))) == 5
    assert len(ids(primary_sites=("lung", "CUP"))) == 9
    expected = set(patients.loc[patients["age_at_first_prrt_years"].between(60, 65), "patient_id"])
    assert ids(age_min_years=60, age_max_years=65) == expected and 0 < len(expected) < 35
    risk = patients["hypertension"] | patients["diabetes"]
    assert ids(renal_risk=True) == set(patients.loc[risk, "patient_id"])
    assert ids(renal_risk=False) == set(patients.loc[~risk, "patient_id"])
    salvage = demo_tables.cycles.query("phase == 'salvage'").groupby("patient_id").size()
    assert ids(salvage_cycles=(3, 4)) == set(salvage[salvage >= 3].index)
    first = demo_tables.cycles.groupby("patient_id")["cycle_date"].min()
    cut = dt.date(2019, 1, 1)
    assert ids(first_cycle_from=cut) == set(first[first >= pd.Timestamp(cut)].index)
    assert ids(first_cycle_to=cut) == set(first[first <= pd.Timestamp(cut)].index)
    assert ids(sexes=("F",), primary_sites=("small intestine",)) == (
        ids(sexes=("F",)) & ids(primary_sites=("small intestine",)))


def test_missing_age_or_cycles_are_excluded_only_when_that_bound_is_set(attributes):
    extra = pd.DataFrame([{"patient_id": "NEW", "sex": "F", "age_years": np.nan, "primary_site": "lung",
                           "renal_risk": False, "first_cycle_date": pd.NaT, "n_salvage_cycles": 0}])
    a = pd.concat([attributes, extra], ignore_index=True)
    assert "NEW" in set(cohort.select_patients(a, CohortFilter()))
    assert "NEW" not in set(cohort.select_patients(a, CohortFilter(age_max_years=90)))
    assert "NEW" not in set(cohort.select_patients(a, CohortFilter(first_cycle_to=dt.date(2030, 1, 1))))


def test_tables_for_the_filtered_patients_restricts_every_table(demo_tables):
    chosen = cohort.select_patients(cohort.patient_attributes(demo_tables), CohortFilter(primary_sites=("lung",)))
    out = demo_tables.for_patients(chosen)
    kept = set(out.patients["patient_id"])
    assert len(kept) == 5
    for name in ("cycles", "labs", "assessments", "events", "performance_status"):
        assert set(out.table(name)["patient_id"]) <= kept and len(out.table(name)) > 0, name
        full = demo_tables.table(name)
        assert len(out.table(name)) == int(full["patient_id"].isin(kept).sum()), name
    # dosimetry has no patient_id: restricted through the kept cycles.
    assert set(out.dosimetry["cycle_id"]) == set(out.cycles["cycle_id"])
    assert len(out.dosimetry) == int(demo_tables.dosimetry["cycle_id"].isin(out.cycles["cycle_id"]).sum())


def test_filter_options(attributes, demo_tables):
    o = cohort.filter_options(attributes)
    assert o.primary_sites[0] == "small intestine" and len(o.primary_sites) == 6
    assert o.salvage_cycles == (1, 2, 3, 4)  # SALVAGE_CYCLES_35 in prrt_core/demo.py
    ages = demo_tables.patients["age_at_first_prrt_years"]
    assert o.age_range_years == (ages.min(), ages.max())
    assert o.first_cycle_range[0] == demo_tables.cycles["cycle_date"].min().date()


def test_toxicity_per_patient_equals_the_toxicity_module(demo_tables):
    # The per-sex limit lookup must grade exactly as toxicity.grade_labs with the default limits.
    t = demo_tables
    graded = toxicity.grade_labs(t.labs, t.patients, t.cycles)
    worst = toxicity.worst_grades(graded, t.cycles)
    worst = worst[worst["phase"] != "baseline"].reset_index(drop=True)
    tox = cohort.toxicity_per_patient(t)
    pd.testing.assert_frame_equal(tox.worst_grades, worst)
    pd.testing.assert_frame_equal(tox.high_grade, toxicity.high_grade_events(graded, min_grade=3))
    # Demo cohort (Rudisile 2019): one patient with a grade-3 haematological value.
    assert tox.high_grade["patient_id"].nunique() == 1


def test_toxicity_table_counts(demo_tables):
    tox = cohort.toxicity_per_patient(demo_tables)
    table = cohort.toxicity_table(tox.worst_grades)
    assert len(table) == 14  # 7 tests x 2 treatment phases
    row = table[(table["Lab test (CTCAE v5.0 term, unit)"] == "Platelet count decreased (platelets, 10^9/L)")
                & (table["Phase"] == "After salvage start")].iloc[0]
    assert row["Patients (n)"] == 35
    w = tox.worst_grades.query("test == 'platelets' and phase == 'after_salvage'")["worst_grade"]
    assert row["Grade 3, n (%)"] == f"{int((w == 3).sum())} ({100 * (w == 3).sum() / 35:.1f} %)" == "1 (2.9 %)"
    high = cohort.high_grade_table(tox.high_grade)
    assert list(high.columns[:4]) == ["Patient", "Lab test (CTCAE v5.0 term, unit)", "Phase", "CTCAE grade"]
    assert (high["CTCAE grade"] >= 3).all()


def test_response_table_matches_published_counts(demo_tables):
    responses = response.response_by_patient(demo_tables.assessments, demo_tables.cycles, "salvage")
    table = cohort.response_table(responses).set_index("Best overall response")
    # Rudisile 2019: of 32 evaluable, PR 1 (3.1 %), SD 26 (81.3 %), PD 5 (15.6 %), CR 0.
    assert table["Patients (n)"].to_dict() == {"CR": 0, "PR": 1, "SD": 26, "PD": 5, "NE": 0}
    # 1/32, 26/32, 5/32 = 3.125, 81.25, 15.625 %, rounded half up as published: 3.1, 81.3, 15.6.
    assert table["% of evaluable"].tolist() == [0.0, 3.1, 81.3, 15.6, 0.0]


def test_kaplan_meier_matches_survival_module_and_counts_at_risk(demo_tables, attributes):
    ends = survival.endpoints(demo_tables.cycles, demo_tables.events, demo_tables.assessments)
    km = cohort.kaplan_meier(ends, attributes, cohort.Endpoint.PFS_SALVAGE)
    direct = survival.km_summary(ends["pfs_salvage_months"], ends["pfs_salvage_event"])
    row = km.summary.iloc[0]
    assert row["Median (months)"] == f"{direct['median']:.1f}"
    assert row["Censored (n)"] == 8  # Rudisile 2019: 8 censored after salvage
    assert math.isnan(km.logrank_p)
    # At risk = #(T >= t), counted here independently.
    t = ends["pfs_salvage_months"].to_numpy()
    for tick, n in zip(km.at_risk["time_months"], km.at_risk["at_risk"]):
        assert n == int((t >= tick).sum())
    assert km.at_risk["time_months"].diff().dropna().eq(12.0).all()


def test_kaplan_meier_by_sex_reports_logrank_and_not_reached(demo_tables, attributes):
    ends = survival.endpoints(demo_tables.cycles, demo_tables.events, demo_tables.assessments)
    km = cohort.kaplan_meier(ends, attributes, cohort.Endpoint.OS_INITIAL, cohort.Stratum.SEX)
    assert list(km.summary["Group"]) == ["Female", "Male"]
    sex = attributes.set_index("patient_id")["sex"].reindex(ends["patient_id"]).to_numpy()
    direct = survival.compare_groups(ends["os_initial_months"], ends["os_initial_event"], sex)
    assert km.logrank_p == pytest.approx(direct["logrank_p"])
    # OS medians are not reached in the demo cohort: shown as words, never as inf.
    assert set(km.summary["Median (months)"]) == {"not reached"}
    assert not km.summary.astype(str).apply(lambda c: c.str.contains("inf")).any().any()


def test_filtered_kaplan_meier_is_that_of_the_selected_patients(demo_tables, attributes):
    # The page's survival tab: the filter's patients only, the same curves and summary as restricting by hand.
    ends = survival.endpoints(demo_tables.cycles, demo_tables.events, demo_tables.assessments)
    f = CohortFilter(sexes=("F",))
    km = cohort.filtered_kaplan_meier(ends, attributes, f, cohort.Endpoint.OS_SALVAGE, cohort.Stratum.PRIMARY_SITE)
    ids = cohort.select_patients(attributes, f)
    direct = cohort.kaplan_meier(cohort.restrict_frame(ends, ids), cohort.restrict_frame(attributes, ids),
                                 cohort.Endpoint.OS_SALVAGE, cohort.Stratum.PRIMARY_SITE)
    assert km.n_patients == direct.n_patients == 10  # the demo cohort's 10 women
    pd.testing.assert_frame_equal(km.summary, direct.summary)
    pd.testing.assert_frame_equal(km.curves, direct.curves)


def test_kaplan_meier_without_patients_is_empty(attributes):
    empty = pd.DataFrame({"patient_id": [], "pfs_salvage_months": [], "pfs_salvage_event": []})
    km = cohort.kaplan_meier(empty, attributes, cohort.Endpoint.PFS_SALVAGE)
    assert km.n_patients == 0 and km.summary.empty


def test_formatting_helpers():
    assert cohort.round_half_up(81.25) == 81.3 and cohort.round_half_up(3.125) == 3.1
    assert cohort.round_half_up(0.15) == 0.2 and cohort.round_half_up(-2.25) == -2.3
    assert cohort.format_months(math.inf) == "not reached"
    assert cohort.format_months(math.nan) == "—"
    assert cohort.format_months(5.94) == "5.9"
    assert cohort.format_p(0.0004) == "< 0.001" and cohort.format_p(0.0456) == "0.046"
    assert cohort.at_risk_step_months(40) == 6.0 and cohort.at_risk_step_months(130) == 24.0


def test_widget_choices_map_to_a_filter(attributes):
    o = cohort.filter_options(attributes)
    lo, hi = o.age_range_years
    first, last = o.first_cycle_range
    # Nothing chosen and the full ranges restrict nothing (patients without an age stay in).
    assert cohort.filter_from_choices(o, age_years=(lo, hi), first_cycle_dates=(first, last)) == CohortFilter()
    f = cohort.filter_from_choices(o, primary_sites=["lung"], sex="Female", age_years=(lo, 70),
                                   salvage_cycles=[2], renal_risk="Without",
                                   first_cycle_dates=(dt.date(2018, 1, 1), last))
    assert f == CohortFilter(primary_sites=("lung",), sexes=("F",), age_max_years=70, salvage_cycles=(2,),
                             renal_risk=False, first_cycle_from=dt.date(2018, 1, 1))
    # The widgets offer the choices' labels and return the members.
    assert [c.value for c in cohort.SexChoice] == ["All", "Male", "Female"]
    assert [c.value for c in cohort.RenalRiskChoice] == ["All", "With", "Without"]
    f = cohort.filter_from_choices(o, sex=cohort.SexChoice.FEMALE, renal_risk=cohort.RenalRiskChoice.WITHOUT)
    assert f == CohortFilter(sexes=("F",), renal_risk=False)
    # While a date range is being picked the input holds one date: only the start applies.
    assert cohort.filter_from_choices(o, first_cycle_dates=(dt.date(2018, 1, 1),)).first_cycle_to is None
