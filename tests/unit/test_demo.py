"""The demo cohort against the published study.

Reference: Rudisile et al., BMC Cancer 2019;19:788, abstract and aggregates in
data/published_cohort.json (a copy of shared/reference/published_cohort.json).
Counts must match exactly; continuous figures within the tolerance stated beside
each assertion. Every figure is computed through the product's own path
(store -> prrt_core.toxicity / response / survival), not read back from the generator.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from prrt_core import cli, cohort
from prrt_core.clinical import response, survival, toxicity
from prrt_core.datasets import demo
from prrt_core.store import Store

PUB = demo.published()


@pytest.fixture(scope="module")
def per_patient(demo_tables):
    return cohort.cumulative_per_patient(demo_tables.cycles, demo_tables.dosimetry)


@pytest.fixture(scope="module")
def ends(demo_tables):
    return survival.endpoints(demo_tables.cycles, demo_tables.events,
                              demo_tables.assessments)


# ---- exact ---------------------------------------------------------------
def test_patients_sex_and_primary_sites_exact(demo_tables):
    patients = demo_tables.patients
    assert len(patients) == PUB["patients"] == 35
    assert patients["sex"].value_counts().to_dict() == PUB["sex"] == {"M": 25, "F": 10}
    assert patients["primary_site"].value_counts().to_dict() == PUB["primary_site"]
    assert patients["patient_id"].str.fullmatch(r"NET-\d{3}").all()  # pseudonyms only


def test_four_initial_cycles_each_all_with_initial_response(demo_tables):
    cycles = demo_tables.cycles
    initial = cycles[cycles["phase"] == "initial"].groupby("patient_id").size()
    assert (initial == PUB["initial_prrt_cycles"]).all() and len(initial) == 35
    bor = response.response_by_patient(demo_tables.assessments, cycles, "initial")
    # Initial response = disease control (PR or SD) after the four cycles, then progression.
    assert set(bor["best_overall_response"]) <= {"CR", "PR", "SD"}
    assert bor["has_follow_up_imaging"].all()


def test_best_response_after_salvage_exact(demo_tables):
    bor = response.response_by_patient(demo_tables.assessments, demo_tables.cycles, "salvage")
    imaged = bor[bor["has_follow_up_imaging"]]
    published = PUB["best_response_after_salvage_recist11"]
    assert len(imaged) == published["evaluable"] == 32
    counts = imaged["best_overall_response"].value_counts().to_dict()
    assert counts == {"PR": 1, "SD": 26, "PD": 5}
    assert counts.get("CR", 0) == published["CR"] == 0
    # Percentages as published (rounded half up): PR 3.1 %, SD 81.3 %, PD 15.6 %.
    assert [100 * counts[k] / 32 for k in ("PR", "SD", "PD")] == pytest.approx([3.1, 81.3, 15.6], abs=0.05)


def test_recorded_recist_agrees_with_the_rules_at_every_time_point(demo_tables):
    for phase in ("initial", "salvage"):
        tp = response.timepoint_responses(demo_tables.assessments, demo_tables.cycles, phase)
        recorded = tp["assessment_id"].map(
            demo_tables.assessments.set_index("assessment_id")["recist_recorded"])
        assert (tp["response"].to_numpy() == recorded.to_numpy()).all(), phase


def test_one_patient_with_grade3_haematological_value_and_no_grade3_renal(demo_tables):
    graded = toxicity.grade_labs(demo_tables.labs, demo_tables.patients, demo_tables.cycles)
    severe = toxicity.high_grade_events(graded, min_grade=3)
    haem = severe[severe["test"].isin(["hemoglobin", "platelets", "wbc", "neutrophils", "lymphocytes"])]
    assert haem["patient_id"].nunique() == PUB["toxicity"]["grade3_hematotoxicity_patients"] == 1
    assert haem["grade"].max() == 3  # grade 3, not 4
    renal = severe[severe["test"].isin(["creatinine", "egfr"])]
    assert len(renal) == PUB["toxicity"]["grade3_4_nephrotoxicity_patients"] == 0


# ---- close ---------------------------------------------------------------
def test_age_close_to_published(demo_tables):
    age = demo_tables.patients["age_at_first_prrt_years"]
    assert age.mean() == pytest.approx(63, abs=0.5)  # published 63 +- 9 years
    assert age.std() == pytest.approx(9, abs=0.5)


def test_cumulative_activity_and_cycles(per_patient):
    act = PUB["cumulative_activity_gbq_incl_salvage"]
    assert per_patient["cumulative_activity_gbq"].mean() == pytest.approx(act["mean"], abs=0.1)
    assert per_patient["cumulative_activity_gbq"].min() == pytest.approx(act["min"], abs=0.01)
    assert per_patient["cumulative_activity_gbq"].max() == pytest.approx(act["max"], abs=0.01)
    assert per_patient["n_cycles"].median() == PUB["total_cycles"]["median"] == 6
    assert (per_patient["n_salvage_cycles"] >= 1).all()


def test_mean_cumulative_kidney_dose(per_patient):
    # Published 23.8 Gy; tolerance 0.2 Gy (per-cycle doses are rounded to 0.01 Gy).
    assert per_patient["cumulative_kidney_dose_gy"].notna().all()
    assert per_patient["cumulative_kidney_dose_gy"].mean() == pytest.approx(
        PUB["cumulative_kidney_dose_gy"]["mean"], abs=0.2)


def test_pfs_medians(ends):
    pfs1 = survival.km_summary(ends["pfs_initial_months"], ends["pfs_initial_event"])
    assert pfs1["median"] == pytest.approx(PUB["pfs_months"]["after_initial_prrt"]["median"], abs=1.0)
    assert pfs1["censored"] == 0  # every patient progressed before salvage
    salvage = PUB["pfs_months"]["after_salvage"]
    pfs2 = survival.km_summary(ends["pfs_salvage_months"], ends["pfs_salvage_event"])
    assert pfs2["median"] == pytest.approx(salvage["median"], abs=0.5)
    assert pfs2["censored"] == salvage["censored"] == 8


def test_os_restricted_means_and_medians_not_reached(ends):
    for column, key in (("os_initial", "after_initial_prrt"), ("os_salvage", "after_salvage")):
        summary = survival.km_summary(ends[f"{column}_months"], ends[f"{column}_event"])
        published = PUB["os_months"][key]
        # "Mean OS" = restricted mean to the largest observed time (SPSS); tolerance 3 months.
        assert summary["rmst"] == pytest.approx(published["mean"], abs=3.0), column
        assert math.isinf(summary["median"]) and published["median"] == "not reached"


def test_follow_up_after_initial_prrt_close_to_published(ends):
    # Published: median OS not reached within a follow-up of 71 months; tolerance 6 months.
    assert ends["os_initial_months"].median() == pytest.approx(
        PUB["os_months"]["after_initial_prrt"]["follow_up"], abs=6.0)


# ---- plausible detail ----------------------------------------------------
def test_cycle_dates_eight_to_ten_weeks_apart_within_each_phase(demo_tables):
    cycles = demo_tables.cycles.sort_values(["patient_id", "cycle_number"])
    gaps = cycles.groupby(["patient_id", "phase"])["cycle_date"].diff().dropna().dt.days
    assert gaps.between(56, 70).all()
    assert cycles.groupby("patient_id")["cycle_date"].is_monotonic_increasing.all()
    assert cycles["activity_gbq"].between(3.5, 8.5).all()


def test_kidney_dose_per_gbq_varies_more_between_than_within_patients(demo_tables):
    d, c = demo_tables.dosimetry, demo_tables.cycles
    kid = d[d["organ"] == "kidneys"].merge(c, on="cycle_id")
    log_gy_gbq = np.log(kid["dose_gy"] / kid["activity_gbq"])
    assert np.exp(log_gy_gbq).mean() == pytest.approx(0.54, abs=0.05)  # ~0.5 Gy/GBq
    within = log_gy_gbq.groupby(kid["patient_id"]).std().mean()
    between = log_gy_gbq.groupby(kid["patient_id"]).mean().std()
    assert 0.05 < within < between < 0.5
    t_eff = kid["t_eff_h"]
    assert 0.02 < t_eff.isna().mean() < 0.2  # single-time-point cycles have no T_eff
    assert t_eff.dropna().between(30, 100).all()


def test_tumour_dose_falls_over_cycles(demo_tables):
    d, c = demo_tables.dosimetry, demo_tables.cycles
    tumour = d[d["organ"] == "tumour"].merge(c, on="cycle_id")
    by_cycle = tumour.groupby("cycle_number")["dose_gy"].mean()
    assert by_cycle.loc[1] > by_cycle.loc[4] > by_cycle.loc[6]


def test_labs_before_every_cycle_and_renal_function_plausible(demo_tables):
    labs, cycles = demo_tables.labs, demo_tables.cycles
    merged = cycles.merge(labs, on="patient_id")
    before = merged[(merged["lab_date"] <= merged["cycle_date"])
                    & (merged["lab_date"] >= merged["cycle_date"] - pd.Timedelta(days=7))]
    assert before["cycle_id"].nunique() == len(cycles)
    assert labs["egfr_ml_min_173m2"].between(30, 130).all()
    assert labs["mag3_ter_ml_min_173m2"].dropna().mean() == pytest.approx(234, abs=30)  # Werner 2016
    patients = demo_tables.patients
    assert 0 < patients["hypertension"].sum() < 35 and 0 < patients["diabetes"].sum() < 35


def test_no_record_after_death_or_last_contact(demo_tables):
    ev = demo_tables.events
    end = ev[ev["event_type"].isin(["death", "last_contact"])].set_index("patient_id")["event_date"]
    assert end.index.is_unique and len(end) == 35
    for table, column in (("cycles", "cycle_date"), ("labs", "lab_date"),
                          ("assessments", "assessment_date")):
        frame = demo_tables.table(table)
        assert (frame[column] <= frame["patient_id"].map(end)).all(), table
    assert (ev["event_date"] <= pd.Timestamp(demo.DATA_CUTOFF)).all()


def test_deterministic_and_seed_dependent():
    a, b = demo.generate(seed=7), demo.generate(seed=7)
    for name in a.tables.NAMES:
        pd.testing.assert_frame_equal(a.tables.table(name), b.tables.table(name))
    c = demo.generate(seed=8)
    assert not a.tables.labs["hb_g_dl"].equals(c.tables.labs["hb_g_dl"])
    # Exact counts hold for any seed; sizes other than 35 keep the proportions.
    assert c.tables.patients["sex"].value_counts().to_dict() == {"M": 25, "F": 10}
    big = demo.generate(n_patients=140, seed=1).tables.patients
    assert big["sex"].value_counts().to_dict() == {"M": 100, "F": 40}


def test_cli_demo_writes_the_cohort_once(tmp_path, capsys):
    db = tmp_path / "cli.sqlite"
    assert cli.main(["--db", str(db), "demo"]) == 0
    assert "35 patients" in capsys.readouterr().out
    with Store(db) as store:
        assert store.is_demo and len(store.read("patients")) == 35
    assert cli.main(["--db", str(db), "demo"]) == 1
    assert "already holds patients" in capsys.readouterr().err
    assert cli.main(["--db", str(db), "export", str(tmp_path / "csv")]) == 0
    exported = pd.read_csv(tmp_path / "csv" / "cycles.csv")
    assert len(exported) == 222 and exported["cycle_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
