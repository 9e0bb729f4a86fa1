"""CTCAE toxicity tests that kill the mutation-testing survivors of issue 17 (prrt_core.clinical.toxicity,
prrt_core.clinical.ctcae).

Grades: NCI CTCAE v5.0 (27 Nov 2017) as encoded in pharmaverse admiral's
data-raw/adlb_grading/ncictcaev5.json, with admiral's ``signif(x, 12)`` before every comparison
(R/derive_var_atoxgr.R); chronic kidney disease from the CTCAE v5.0 document. Reference limits:
WHO 2011 (Hb), Dacie and Lewis 12th ed. (blood counts), Ceriotti et al. Clin Chem 2008;54:559
(creatinine), KDIGO 2012 (eGFR). Counts and percentages are worked out by hand in the comments.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from prrt_core.clinical import ctcae
from prrt_core.clinical import toxicity as tox
from prrt_core.clinical.ctcae import LabTest, LowCutoffs, ReferenceLimits, ctcae_grade
from prrt_core.errors import InputError

NaN = np.nan


# --------------------------------------------------------------------------
# published constants
# --------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "published", "source"), [
    (ctcae.LOW_CUTOFFS[LabTest.HEMOGLOBIN], LowCutoffs(10.0, 8.0, None),
     "Anemia <10.0 / <8.0 g/dL, G4 clinical only (CTCAE v5.0; admiral ncictcaev5.json)"),
    (ctcae.LOW_CUTOFFS[LabTest.PLATELETS], LowCutoffs(75.0, 50.0, 25.0), "Platelet count decreased, 10^9/L"),
    (ctcae.LOW_CUTOFFS[LabTest.WBC], LowCutoffs(3.0, 2.0, 1.0), "White blood cell decreased, 10^9/L"),
    (ctcae.LOW_CUTOFFS[LabTest.NEUTROPHILS], LowCutoffs(1.5, 1.0, 0.5), "Neutrophil count decreased, 10^9/L"),
    (ctcae.LOW_CUTOFFS[LabTest.LYMPHOCYTES], LowCutoffs(0.8, 0.5, 0.2), "Lymphocyte count decreased, 10^9/L"),
    (ctcae.LOW_CUTOFFS[LabTest.EGFR], LowCutoffs(60.0, 30.0, 15.0),
     "Chronic kidney disease 59-30, 29-15, <15 mL/min/1.73 m^2 (CTCAE v5.0 document)"),
    (ctcae.CREATININE_G2_ULN_MULTIPLE, 1.5, "Creatinine increased G2 >1.5-3.0 x ULN"),
    (ctcae.CREATININE_G3_ULN_MULTIPLE, 3.0, "Creatinine increased G3 >3.0-6.0 x ULN"),
    (ctcae.CREATININE_G4_ULN_MULTIPLE, 6.0, "Creatinine increased G4 >6.0 x ULN"),
    (ctcae.CREATININE_G2_BASELINE_MULTIPLE, 1.5, "Creatinine increased G2 >1.5-3.0 x baseline"),
    (ctcae.CREATININE_G3_BASELINE_MULTIPLE, 3.0, "Creatinine increased G3 >3.0 x baseline"),
    (ctcae._SIGNIF_DIGITS, 12, "admiral signif(x, 12) before comparing"),
    (ctcae.DEFAULT_REFERENCE_LIMITS.hb_lln_g_dl_male, 13.0, "WHO 2011 anaemia threshold, men"),
    (ctcae.DEFAULT_REFERENCE_LIMITS.hb_lln_g_dl_female, 12.0, "WHO 2011 anaemia threshold, non-pregnant women"),
    (ctcae.DEFAULT_REFERENCE_LIMITS.plt_lln_10e9_l, 150.0, "Dacie and Lewis 12th ed. 150-410"),
    (ctcae.DEFAULT_REFERENCE_LIMITS.wbc_lln_10e9_l, 4.0, "Dacie and Lewis 12th ed. 4.0-10.0"),
    (ctcae.DEFAULT_REFERENCE_LIMITS.neut_lln_10e9_l, 2.0, "Dacie and Lewis 12th ed. 2.0-7.0"),
    (ctcae.DEFAULT_REFERENCE_LIMITS.lymph_lln_10e9_l, 1.0, "Dacie and Lewis 12th ed. 1.0-3.0"),
    # 104 umol/L / 88.42 umol/L per mg/dL = 1.176 -> 1.18; 90 / 88.42 = 1.018 -> 1.02.
    (ctcae.DEFAULT_REFERENCE_LIMITS.creatinine_uln_mg_dl_male, 1.18, "Ceriotti 2008 URL 104 umol/L, men"),
    (ctcae.DEFAULT_REFERENCE_LIMITS.creatinine_uln_mg_dl_female, 1.02, "Ceriotti 2008 URL 90 umol/L, women"),
    (ctcae.DEFAULT_REFERENCE_LIMITS.egfr_lln_ml_min_173m2, 90.0, "KDIGO 2012 category G1 >= 90"),
])
def test_ctcae_constants_are_published_values(value, published, source):
    assert value == published, source


def test_creatinine_reference_limits_match_the_si_values():
    # Ceriotti 2008 URLs in umol/L over 88.42 umol/L per mg/dL (creatinine 113.12 g/mol): 1.18 and 1.02
    # to 2 decimals.
    assert round(104 / 88.42, 2) == ctcae.DEFAULT_REFERENCE_LIMITS.creatinine_uln_mg_dl_male
    assert round(90 / 88.42, 2) == ctcae.DEFAULT_REFERENCE_LIMITS.creatinine_uln_mg_dl_female


def test_terms_units_and_labels():
    assert ctcae.CTCAE_TERM[LabTest.HEMOGLOBIN] == "Anemia"
    assert ctcae.CTCAE_TERM[LabTest.CREATININE] == "Creatinine increased"
    assert ctcae.CTCAE_TERM[LabTest.EGFR] == "Chronic kidney disease"
    assert ctcae.TEST_UNIT[LabTest.HEMOGLOBIN] == "g/dL" and ctcae.TEST_UNIT[LabTest.CREATININE] == "mg/dL"
    assert tox.GRADE_LABELS == ("0", "1", "2", "3", "4", "unknown")
    assert tox.TREATMENT_PHASES == ("before_salvage", "after_salvage")


# --------------------------------------------------------------------------
# 12-significant-digit rounding before comparison (admiral signif(x, 12))
# --------------------------------------------------------------------------

@pytest.mark.parametrize(("test", "value", "lln", "expected"), [
    # 0.7 + 0.1 = 0.7999999999999999 in binary: signif 12 -> 0.8, not < 0.8 -> G1 (LLN 1.0), not G2.
    ("lymphocytes", 0.7 + 0.1, 1.0, 1),
    # 0.8 - 1e-13 differs from 0.8 in the 13th significant digit: rounds to 0.8 -> G1.
    ("lymphocytes", 0.8 - 1e-13, 1.0, 1),
    # 0.8 - 1e-11 differs in the 11th digit: stays below 0.8 -> G2.
    ("lymphocytes", 0.8 - 1e-11, 1.0, 2),
    # Two-digit magnitude: 75 - 1e-12 = 74.999999999999 (14 digits) -> 75 -> G1; 75 - 1e-10 -> G2.
    ("platelets", 75.0 - 1e-12, 150.0, 1),
    ("platelets", 75.0 - 1e-10, 150.0, 2),
    # The LLN is rounded too: 149.9999999999999 vs LLN 150 -> equal after rounding -> G0.
    ("platelets", 149.9999999999999, 150.0, 0),
    ("platelets", 149.9999999, 150.0, 1),
    # An LLN from a unit conversion one ulp above 1.0 (1.0000000000000002) is rounded as well: a
    # lymphocyte count of exactly 1.0 equals the LLN -> G0, not G1.
    ("lymphocytes", 1.0, float(np.nextafter(1.0, 2.0)), 0),
    # eGFR 3-digit magnitude at the G2 cut-off 60: 60 - 1e-11 -> 60 -> G1.
    ("egfr", 60.0 - 1e-11, 90.0, 1),
    # Zero is graded (G4), not broken by log10(0).
    ("neutrophils", 0.0, 2.0, 4),
])
def test_low_side_rounding_to_12_significant_digits(test, value, lln, expected):
    assert ctcae_grade(test, value, lln=lln) == expected


@pytest.mark.parametrize(("value", "uln", "baseline", "expected"), [
    # 3 x 0.7 = 2.0999999999999996 in binary: 2.1 mg/dL is exactly 3.0 x baseline, not above -> G2
    # (> 1.5 x baseline); ULN 1.18 alone would give G2 too (2.1 / 1.18 = 1.78 x ULN).
    (2.1, 1.18, 0.7, 2),
    # 2.1 + 1e-13 rounds to 2.1 -> still G2; 2.1 + 1e-10 is above 3 x baseline -> G3.
    (2.1 + 1e-13, 1.18, 0.7, 2),
    (2.1 + 1e-10, 1.18, 0.7, 3),
    # 1.5 x 0.7 = 1.05: 1.05 is not above it -> x ULN decides: 1.05 < ULN 1.18 -> G0.
    (1.05, 1.18, 0.7, 0),
    # 6 x 1.2 = 7.199999999999999: 7.2 is not above 6 x ULN -> G3.
    (7.2, 1.2, NaN, 3),
    (7.2 + 1e-9, 1.2, NaN, 4),
])
def test_creatinine_rounding_to_12_significant_digits(value, uln, baseline, expected):
    assert ctcae_grade("creatinine", value, uln=uln, baseline=baseline) == expected


def test_anaemia_has_no_lab_grade_4_and_ulns_are_not_lln():
    # CTCAE v5.0 Anemia grade 4 is clinical (life-threatening): Hb 0.5 g/dL is G3 from the lab value alone.
    assert ctcae_grade("hemoglobin", 0.5, lln=12.0) == 3
    # Creatinine with only a ULN: > ULN -> G1; = ULN -> G0; missing value -> NaN.
    np.testing.assert_array_equal(ctcae_grade("creatinine", [1.18, 1.19, NaN], uln=1.18), [0, 1, NaN])


# --------------------------------------------------------------------------
# grade_counts: counts and percentages by hand
# --------------------------------------------------------------------------

def _worst(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["patient_id", "test", "phase", "worst_grade"])


def test_grade_counts_by_hand():
    worst = _worst([
        # platelets, before salvage: grades 0, 2, 2, 4 and one unknown -> 5 patients, 4 graded.
        ("A", "platelets", "before_salvage", 0.0), ("B", "platelets", "before_salvage", 2.0),
        ("C", "platelets", "before_salvage", 2.0), ("D", "platelets", "before_salvage", NaN),
        ("E", "platelets", "before_salvage", 4.0),
        # platelets, baseline: one patient grade 1.
        ("A", "platelets", "baseline", 1.0),
        # hemoglobin, after salvage: two patients, neither graded.
        ("A", "hemoglobin", "after_salvage", NaN), ("B", "hemoglobin", "after_salvage", NaN),
    ])
    counts = tox.grade_counts(worst)
    assert list(counts.columns) == ["test", "group", "phase", "grade", "n_patients", "n_total", "pct",
                                    "pct_of_graded"]
    # Order: test as in LabTest (hemoglobin before platelets), phase baseline -> before -> after,
    # grade 0-4 then unknown; 3 (test, phase) pairs x 6 grades.
    assert len(counts) == 18
    assert counts[["test", "phase"]].drop_duplicates().values.tolist() == [
        ["hemoglobin", "after_salvage"], ["platelets", "baseline"], ["platelets", "before_salvage"]]
    assert counts["grade"].tolist() == list(tox.GRADE_LABELS) * 3
    assert (counts["group"] == "haematological").all()

    before = counts[(counts["test"] == "platelets") & (counts["phase"] == "before_salvage")].set_index("grade")
    # n: 0 -> 1, 1 -> 0, 2 -> 2, 3 -> 0, 4 -> 1, unknown -> 1; total 5.
    assert before["n_patients"].tolist() == [1, 0, 2, 0, 1, 1]
    assert before["n_total"].tolist() == [5] * 6
    # pct of all 5: 20, 0, 40, 0, 20, 20.
    np.testing.assert_allclose(before["pct"], [20.0, 0.0, 40.0, 0.0, 20.0, 20.0])
    # pct of the 4 graded: 25, 0, 50, 0, 25; unknown has none.
    np.testing.assert_allclose(before["pct_of_graded"], [25.0, 0.0, 50.0, 0.0, 25.0, NaN])

    base = counts[(counts["test"] == "platelets") & (counts["phase"] == "baseline")].set_index("grade")
    assert base["n_patients"].tolist() == [0, 1, 0, 0, 0, 0] and base["n_total"].tolist() == [1] * 6
    np.testing.assert_allclose(base["pct"], [0, 100, 0, 0, 0, 0])
    np.testing.assert_allclose(base["pct_of_graded"], [0, 100, 0, 0, 0, NaN])

    hb = counts[counts["test"] == "hemoglobin"].set_index("grade")
    # Nobody graded: 100 % unknown; pct_of_graded undefined everywhere (no division by zero).
    assert hb["n_patients"].tolist() == [0, 0, 0, 0, 0, 2]
    np.testing.assert_allclose(hb["pct"], [0, 0, 0, 0, 0, 100])
    assert hb["pct_of_graded"].isna().all()


def test_grade_counts_of_an_empty_table():
    out = tox.grade_counts(_worst([]))
    assert out.empty
    assert list(out.columns) == ["test", "group", "phase", "grade", "n_patients", "n_total", "pct", "pct_of_graded"]
    with pytest.raises(InputError, match="worst lacks column"):
        tox.grade_counts(pd.DataFrame({"patient_id": ["A"]}))


# --------------------------------------------------------------------------
# grade_labs: phases and creatinine baseline with missing values
# --------------------------------------------------------------------------

def _cycles() -> pd.DataFrame:
    # A: initial start 2020-01-01, salvage 2022-01-01. S: salvage cycle only (2021-06-01).
    return pd.DataFrame({
        "patient_id": ["A", "A", "S"],
        "phase": ["initial", "salvage", "salvage"],
        "cycle_date": pd.to_datetime(["2020-01-01", "2022-01-01", "2021-06-01"]),
    })


def test_creatinine_baseline_skips_missing_values():
    # A's labs: 2019-11-01 creatinine 0.7; 2019-12-31 no creatinine (Hb only); 2020-03-01 creatinine 2.2.
    # Baseline for the 2020-03-01 value = last non-missing creatinine on/before 2020-01-01 = 0.7, not the
    # missing 2019-12-31 one. 2.2 > 3.0 x 0.7 = 2.1 -> G3 (x ULN alone: 2.2/1.18 = 1.86 -> G2).
    # After salvage (2022-02-01, 1.6): baseline = last non-missing creatinine before 2022-01-01. The
    # 2021-12-31 row has none, so 2.2 (2020-03-01) is the baseline: 1.6 < 1.5 x 2.2 -> x ULN: 1.36 -> G1.
    labs = pd.DataFrame({
        "lab_id": [1, 2, 3, 4, 5],
        "patient_id": ["A"] * 5,
        "lab_date": pd.to_datetime(["2019-11-01", "2019-12-31", "2020-03-01", "2021-12-31", "2022-02-01"]),
        "hb_g_dl": [14.0, 13.5, 12.0, 13.0, 13.0],
        "creatinine_mg_dl": [0.7, NaN, 2.2, NaN, 1.6],
    })
    patients = pd.DataFrame({"patient_id": ["A", "S"], "sex": ["M", "F"]})
    graded = tox.grade_labs(labs, patients, _cycles())
    creat = graded[graded["test"] == "creatinine"].set_index("lab_id")
    assert creat["phase"].tolist() == ["baseline", "baseline", "before_salvage", "before_salvage",
                                       "after_salvage"]
    assert creat.loc[3, "baseline_value"] == 0.7
    assert creat.loc[3, "grade"] == 3
    assert creat.loc[5, "baseline_value"] == 2.2
    assert creat.loc[5, "grade"] == 1
    assert np.isnan(creat.loc[4, "grade"])
    # Baseline-phase labs carry no baseline value (x ULN rule only).
    assert creat.loc[[1, 2], "baseline_value"].isna().all()


def test_salvage_baseline_is_strictly_before_the_salvage_start():
    # Creatinine 1.0 on 2021-12-01, 0.5 on the salvage start day 2022-01-01 (already on treatment), 1.6 on
    # 2022-02-01. The after-salvage baseline is the last value strictly before the start: 1.0, so
    # 1.6 > 1.5 x 1.0 -> G2 (with the start-day 0.5 it would be > 3.0 x 0.5 -> G3).
    labs = pd.DataFrame({
        "lab_id": [1, 2, 3],
        "patient_id": ["A"] * 3,
        "lab_date": pd.to_datetime(["2021-12-01", "2022-01-01", "2022-02-01"]),
        "creatinine_mg_dl": [1.0, 0.5, 1.6],
    })
    graded = tox.grade_labs(labs, pd.DataFrame({"patient_id": ["A"], "sex": ["M"]}), _cycles()).set_index("lab_id")
    assert graded["phase"].tolist() == ["before_salvage", "after_salvage", "after_salvage"]
    assert graded.loc[3, "baseline_value"] == 1.0 and graded.loc[3, "grade"] == 2
    assert graded.loc[2, "baseline_value"] == 1.0 and graded.loc[2, "grade"] == 0


def test_lab_on_the_first_cycle_day_is_baseline():
    # Drawn on the day of the first initial cycle (before the infusion): pre-treatment, phase 'baseline';
    # the next day it is on treatment ('before_salvage').
    labs = pd.DataFrame({"patient_id": ["A", "A"], "lab_date": pd.to_datetime(["2020-01-01", "2020-01-02"]),
                         "plt_10e9_l": [100.0, 100.0]})
    graded = tox.grade_labs(labs, pd.DataFrame({"patient_id": ["A"], "sex": ["M"]}), _cycles())
    assert graded["phase"].tolist() == ["baseline", "before_salvage"]


def test_salvage_only_patient_and_unplaced_labs(caplog):
    # S has only a salvage cycle (2021-06-01): a lab before it cannot be placed (no initial cycle),
    # a lab after it is after_salvage with the earlier lab's creatinine (1.0) as baseline:
    # 2.6 > 1.5 x 1.0 -> G2 (x ULN, woman 1.02: 2.55 x -> G2; > 3 x baseline would need > 3.0).
    # X has no cycles at all: its lab cannot be placed either.
    labs = pd.DataFrame({
        "patient_id": ["S", "S", "X"],
        "lab_date": pd.to_datetime(["2021-05-01", "2021-07-01", "2021-07-01"]),
        "creatinine_mg_dl": [1.0, 2.6, 0.9],
    })
    patients = pd.DataFrame({"patient_id": ["S", "X"], "sex": ["F", "M"]})
    with caplog.at_level(logging.WARNING, logger="prrt_core.clinical.toxicity"):
        graded = tox.grade_labs(labs, patients, _cycles())
    assert graded["phase"].tolist() == [None, "after_salvage", None]
    assert graded["lab_id"].isna().all()  # no lab_id column -> <NA>
    assert graded["baseline_value"].tolist()[1] == 1.0
    assert graded["grade"].tolist()[1] == 2
    assert graded["uln"].tolist() == [1.02, 1.02, 1.18]
    assert "2 lab row(s) of 2 patient(s) cannot be placed" in caplog.text
    # Unplaced rows are left out of worst_grades.
    worst = tox.worst_grades(graded)
    assert worst[["patient_id", "phase", "worst_grade"]].values.tolist() == [["S", "after_salvage", 2.0]]


def test_no_creatinine_values_at_all():
    # Creatinine column present but empty: no baseline anywhere; grades NaN (value missing).
    labs = pd.DataFrame({"patient_id": ["A"], "lab_date": pd.to_datetime(["2020-03-01"]),
                         "creatinine_mg_dl": [NaN], "plt_10e9_l": [100.0]})
    graded = tox.grade_labs(labs, pd.DataFrame({"patient_id": ["A"], "sex": ["M"]}), _cycles())
    creat = graded[graded["test"] == "creatinine"]
    assert creat["baseline_value"].isna().all() and creat["grade"].isna().all()
    # Platelets 100 with LLN 150: G1.
    assert graded.loc[graded["test"] == "platelets", "grade"].tolist() == [1.0]


def test_grade_labs_uses_site_limits_and_unknown_sex():
    # Site LLN for platelets 160: 155 is G1 there (G0 with the default 150). Unknown sex: Hb 11 g/dL
    # cannot be graded (G0 or G1 unknown), Hb 9 g/dL is G2 from the absolute cut-off.
    labs = pd.DataFrame({"patient_id": ["A", "A"], "lab_date": pd.to_datetime(["2020-03-01", "2020-04-01"]),
                         "plt_10e9_l": [155.0, 200.0], "hb_g_dl": [11.0, 9.0]})
    patients = pd.DataFrame({"patient_id": ["A"], "sex": [None]})
    graded = tox.grade_labs(labs, patients, _cycles(), limits=ReferenceLimits(plt_lln_10e9_l=160.0))
    plt = graded[graded["test"] == "platelets"]
    assert plt["lln"].tolist() == [160.0, 160.0] and plt["grade"].tolist() == [1.0, 0.0]
    hb = graded[graded["test"] == "hemoglobin"]["grade"].tolist()
    assert np.isnan(hb[0]) and hb[1] == 2.0
    assert graded[graded["test"] == "hemoglobin"]["unit"].unique().tolist() == ["g/dL"]
    with pytest.raises(InputError, match="labs has none of the graded columns"):
        tox.grade_labs(labs[["patient_id", "lab_date"]], patients, _cycles())


# --------------------------------------------------------------------------
# worst_grades, phase_patients, high_grade_events
# --------------------------------------------------------------------------

def _graded_example() -> pd.DataFrame:
    labs = pd.DataFrame({
        "lab_id": [1, 2, 3, 4],
        "patient_id": ["A", "A", "A", "A"],
        "lab_date": pd.to_datetime(["2019-12-01", "2020-02-01", "2020-03-01", "2022-02-01"]),
        "plt_10e9_l": [40.0, 140.0, NaN, 20.0],
        "neut_10e9_l": [2.5, 0.9, 0.4, 1.8],
    })
    return tox.grade_labs(labs, pd.DataFrame({"patient_id": ["A", "S"], "sex": ["M", "F"]}), _cycles())


def test_worst_grades_counts_values_and_grades():
    worst = tox.worst_grades(_graded_example()).set_index(["test", "phase"])
    # Platelets before salvage: 140 (G1) and a missing value -> worst 1, 1 value, 1 grade.
    assert worst.loc[("platelets", "before_salvage"), ["worst_grade", "n_values", "n_graded"]].tolist() == [1, 1, 1]
    # Neutrophils before salvage: 0.9 (G3), 0.4 (G4) -> worst 4 from 2 values.
    assert worst.loc[("neutrophils", "before_salvage"), ["worst_grade", "n_values", "n_graded"]].tolist() == [4, 2, 2]
    # Baseline platelets 40 (G3) is kept as its own phase.
    assert worst.loc[("platelets", "baseline"), "worst_grade"] == 3
    assert (worst["group"] == "haematological").all()


def test_worst_grades_with_cycles_lists_every_treated_patient():
    # phase_patients: A and... initial patients for baseline/before_salvage, A and S for after_salvage.
    assert tox.phase_patients(_cycles()) == {"baseline": ["A"], "before_salvage": ["A"],
                                             "after_salvage": ["A", "S"]}
    worst = tox.worst_grades(_graded_example(), _cycles())
    # 2 tests x (A baseline, A before, A after, S after) = 8 rows, sorted by patient, test, phase.
    assert len(worst) == 8
    assert worst[["patient_id", "test", "phase"]].values.tolist()[:3] == [
        ["A", "neutrophils", "baseline"], ["A", "neutrophils", "before_salvage"], ["A", "neutrophils", "after_salvage"]]
    s = worst[worst["patient_id"] == "S"]
    assert s["phase"].tolist() == ["after_salvage", "after_salvage"]
    assert s["worst_grade"].isna().all() and s["n_values"].tolist() == [0, 0] and s["n_graded"].tolist() == [0, 0]
    counts = tox.grade_counts(worst).set_index(["test", "phase", "grade"])
    # Platelets after salvage: A 20 (G4), S no labs -> 1 of 2 at G4 (50 %), 100 % of graded.
    assert counts.loc[("platelets", "after_salvage", "4"), "n_patients"] == 1
    assert counts.loc[("platelets", "after_salvage", "4"), "pct"] == 50.0
    assert counts.loc[("platelets", "after_salvage", "4"), "pct_of_graded"] == 100.0
    assert counts.loc[("platelets", "after_salvage", "unknown"), "n_patients"] == 1


def test_high_grade_events_thresholds_and_phases():
    graded = _graded_example()
    default = tox.high_grade_events(graded)
    # On treatment, grade >= 3: neutrophils 0.9 (G3, lab 2), 0.4 (G4, lab 3), platelets 20 (G4, lab 4).
    assert default[["lab_id", "test", "grade"]].values.tolist() == [
        [2, "neutrophils", 3.0], [3, "neutrophils", 4.0], [4, "platelets", 4.0]]
    # min_grade 4 drops the G3; including the baseline phase adds the pre-treatment platelets 40 (G3).
    assert tox.high_grade_events(graded, min_grade=4)["lab_id"].tolist() == [3, 4]
    with_base = tox.high_grade_events(graded, phases=("baseline", "before_salvage", "after_salvage"))
    assert with_base["lab_id"].tolist() == [1, 2, 3, 4]
    # min_grade 1 adds platelets 140 (G1, lab 2) and neutrophils 1.8 (< LLN 2.0: G1, lab 4); sorted by
    # date then test.
    g1 = tox.high_grade_events(graded, min_grade=1)
    assert g1[["lab_id", "test"]].values.tolist() == [[2, "neutrophils"], [2, "platelets"], [3, "neutrophils"],
                                                     [4, "neutrophils"], [4, "platelets"]]
    for bad in (0, 5, 2.5):
        with pytest.raises(InputError, match="min_grade"):
            tox.high_grade_events(graded, min_grade=bad)
    with pytest.raises(ValueError):
        tox.high_grade_events(graded, phases=("on_treatment",))
