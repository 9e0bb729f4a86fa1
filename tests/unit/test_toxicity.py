"""CTCAE v5.0 laboratory grading (prrt_core.toxicity).

Expected grades come from the CTCAE v5.0 criteria as encoded in pharmaverse
admiral's data-raw/adlb_grading/ncictcaev5.json (blood counts, creatinine) and
the CTCAE v5.0 document (chronic kidney disease); reference limits from the
sources in ReferenceLimits' docstring.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import prrt_core
from prrt_core.clinical import ctcae
from prrt_core.clinical import toxicity as tox
from prrt_core.clinical.ctcae import LabTest, ReferenceLimits, ctcae_grade

NaN = np.nan

# (value, expected grade) at each side of every boundary.
BOUNDARIES = {
    # Anemia: G1 <LLN-10.0, G2 <10.0-8.0, G3 <8.0 g/dL; G4 clinical only (admiral: no lab G4). LLN 13.0.
    ("hemoglobin", 13.0): [(13.0, 0), (12.9, 1), (10.0, 1), (9.99, 2), (8.0, 2), (7.99, 3), (3.0, 3)],
    # Platelet count decreased: G1 <LLN-75.0, G2 <75.0-50.0, G3 <50.0-25.0, G4 <25.0. LLN 150.
    ("platelets", 150.0): [(150.0, 0), (149.9, 1), (75.0, 1), (74.9, 2), (50.0, 2), (49.9, 3),
                           (25.0, 3), (24.9, 4), (0.0, 4)],
    # White blood cell decreased: G1 <LLN-3.0, G2 <3.0-2.0, G3 <2.0-1.0, G4 <1.0. LLN 4.0.
    ("wbc", 4.0): [(4.0, 0), (3.99, 1), (3.0, 1), (2.99, 2), (2.0, 2), (1.99, 3), (1.0, 3), (0.99, 4)],
    # Neutrophil count decreased: G1 <LLN-1.5, G2 <1.5-1.0, G3 <1.0-0.5, G4 <0.5. LLN 2.0.
    ("neutrophils", 2.0): [(2.0, 0), (1.99, 1), (1.5, 1), (1.49, 2), (1.0, 2), (0.99, 3),
                           (0.5, 3), (0.49, 4)],
    # Lymphocyte count decreased: G1 <LLN-0.8, G2 <0.8-0.5, G3 <0.5-0.2, G4 <0.2. LLN 1.0.
    ("lymphocytes", 1.0): [(1.0, 0), (0.99, 1), (0.8, 1), (0.79, 2), (0.5, 2), (0.49, 3),
                           (0.2, 3), (0.19, 4)],
    # Chronic kidney disease (eGFR): G1 <LLN-60, G2 59-30 (30 <= x < 60), G3 29-15, G4 <15. LLN 90.
    ("egfr", 90.0): [(90.0, 0), (89.9, 1), (60.0, 1), (59.9, 2), (30.0, 2), (29.9, 3), (15.0, 3), (14.9, 4)],
}


@pytest.mark.parametrize(
    ("test", "lln", "value", "expected"),
    [(test, lln, v, g) for (test, lln), cases in BOUNDARIES.items() for v, g in cases],
)
def test_low_side_boundaries(test, lln, value, expected):
    assert ctcae_grade(test, value, lln=lln) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    # Creatinine increased, ULN 1.2 mg/dL: G1 >ULN-1.5xULN (1.8), G2 >1.5-3.0xULN (3.6),
    # G3 >3.0-6.0xULN (7.2), G4 >6.0xULN. 1.8 = 1.5 x 1.2 exactly although 1.5*1.2 is
    # 1.7999999999999998 in binary: it must stay grade 1.
    [(1.2, 0), (1.21, 1), (1.8, 1), (1.81, 2), (3.6, 2), (3.61, 3), (7.2, 3), (7.21, 4)],
)
def test_creatinine_uln_boundaries(value, expected):
    assert ctcae_grade("creatinine", value, uln=1.2) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    # ULN 1.2, baseline 0.6: x baseline gives G2 >0.9-1.8, G3 >1.8; x ULN gives G1 >1.2-1.8.
    # The worse applies (admiral). 0.9 = 1.5 x baseline is not "> 1.5 x baseline" -> 0.
    [(0.9, 0), (0.91, 2), (1.8, 2), (1.81, 3), (7.21, 4)],
)
def test_creatinine_worse_of_baseline_and_uln(value, expected):
    assert ctcae_grade("creatinine", value, uln=1.2, baseline=0.6) == expected


def test_creatinine_v5_has_no_baseline_grade_1():
    # v4's ">1-1.5 x baseline" grade 1 was removed in v5: 1.25 x baseline, below ULN -> 0.
    assert ctcae_grade("creatinine", 1.0, uln=1.2, baseline=0.8) == 0


def test_creatinine_without_uln_uses_baseline_only():
    # admiral: G2/G3 by x baseline need no ULN; G4 and G0/G1 do -> NaN where undecidable.
    grades = ctcae_grade("creatinine", [1.0, 1.6, 3.1, 10.0], baseline=1.0)
    np.testing.assert_array_equal(grades, [NaN, 2, 3, 3])


def test_unknown_is_never_grade_zero():
    # Without LLN a value above the grade-2 cut-off is grade 0 or 1: unknown (admiral).
    np.testing.assert_array_equal(ctcae_grade("platelets", [200.0, 80.0, 74.9]), [NaN, NaN, 2])
    np.testing.assert_array_equal(ctcae_grade("hemoglobin", [14.0, 9.0]), [NaN, 2])
    # Without ULN and baseline, creatinine cannot be graded at all.
    assert np.isnan(ctcae_grade("creatinine", 0.8))


def test_nan_values_and_limits_propagate():
    grades = ctcae_grade("neutrophils", [NaN, 1.8, 1.8, 0.4], lln=[2.0, 2.0, NaN, NaN])
    np.testing.assert_array_equal(grades, [NaN, 1, NaN, 4])
    grades = ctcae_grade("creatinine", [NaN, 1.3, 1.3], uln=[1.2, 1.2, NaN])
    np.testing.assert_array_equal(grades, [NaN, 1, NaN])


def test_broadcasting_and_shape():
    grades = ctcae_grade(LabTest.WBC, np.array([[3.5, 2.5], [1.5, 0.5]]), lln=4.0)
    assert grades.shape == (2, 2)
    np.testing.assert_array_equal(grades, [[1, 2], [3, 4]])
    assert ctcae_grade("WBC ", 3.5, lln=4.0) == 1  # plain names, case and spaces tolerated


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(test="sodium", values=1.0), "test must be one of"),
        (dict(test="platelets", values=-1.0, lln=150), "values must be >= 0"),
        (dict(test="platelets", values="low", lln=150), "values must be numeric"),
        (dict(test="platelets", values=100.0, lln=0.0), "lln must be > 0"),
        (dict(test="platelets", values=100.0, uln=400.0), "uln is not used for platelets"),
        (dict(test="platelets", values=100.0, baseline=200.0), "baseline is not used for platelets"),
        (dict(test="creatinine", values=1.0, lln=0.5), "lln is not used for creatinine"),
        (dict(test="creatinine", values=1.0, uln=1.2, baseline=0.0), "baseline must be > 0"),
    ],
)
def test_errors(kwargs, message):
    kwargs = dict(kwargs)  # the parametrize dict is shared between runs: never mutate it
    with pytest.raises(ValueError, match=message):
        ctcae_grade(kwargs.pop("test"), kwargs.pop("values"), **kwargs)


def test_sex_specific_defaults():
    # WHO 2011 Hb anaemia thresholds 13.0 (men) / 12.0 (women) g/dL; Ceriotti 2008 creatinine
    # URL 104 / 90 umol/L = 1.18 / 1.02 mg/dL. Unknown sex -> NaN, never a guess.
    lln, uln = tox.reference_limits("hemoglobin", ["M", "F", None, "f"])
    np.testing.assert_array_equal(lln, [13.0, 12.0, NaN, 12.0])
    assert np.isnan(uln).all()
    lln, uln = tox.reference_limits("creatinine", np.array(["M", "F"], dtype=object))
    np.testing.assert_array_equal(uln, [1.18, 1.02])
    # Platelets (Dacie & Lewis 150 x 10^9/L) and eGFR (KDIGO G1 >= 90) are not sex-specific.
    assert tox.reference_limits("platelets", ["M", "F"])[0].tolist() == [150.0, 150.0]
    assert tox.reference_limits("egfr", "F")[0] == 90.0
    # Hb 12.5 g/dL: below the male LLN (grade 1), normal for a woman (grade 0).
    lln, _ = tox.reference_limits("hemoglobin", ["M", "F"])
    np.testing.assert_array_equal(ctcae_grade("hemoglobin", [12.5, 12.5], lln=lln), [1, 0])


def test_reference_limits_are_overridable_and_validated():
    site = ReferenceLimits(hb_lln_g_dl_male=13.5)
    assert site.limits("hemoglobin", "M")[0] == 13.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        site.plt_lln_10e9_l = 140.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="plt_lln_10e9_l must be a positive number"):
        ReferenceLimits(plt_lln_10e9_l=0.0)
    with pytest.raises(ValueError, match="sex must be 'M', 'F' or missing"):
        tox.reference_limits("hemoglobin", ["X"])


def test_toxicity_re_exports_the_ctcae_grading():
    # Public API: prrt_core.toxicity keeps the CTCAE names that live in prrt_core.clinical.ctcae.
    assert prrt_core.toxicity is tox
    moved = [name for name in tox.__all__ if hasattr(ctcae, name)]
    assert {"LabTest", "ReferenceLimits", "DEFAULT_REFERENCE_LIMITS", "LOW_CUTOFFS", "TEST_UNIT", "CTCAE_TERM",
            "ctcae_grade", "reference_limits"} <= set(moved)
    assert all(getattr(tox, name) is getattr(ctcae, name) for name in moved)
    assert all(hasattr(tox, name) for name in tox.__all__)


def test_lab_column_mapping_and_groups():
    assert tox.LAB_COLUMN_TESTS["hb_g_dl"] is LabTest.HEMOGLOBIN
    assert tox.LAB_COLUMN_TESTS["egfr_ml_min_173m2"] is LabTest.EGFR
    assert set(tox.LAB_COLUMN_TESTS.values()) == set(LabTest)
    assert set(tox.HAEMATOLOGICAL) | set(tox.RENAL) == set(LabTest)
    assert not set(tox.HAEMATOLOGICAL) & set(tox.RENAL)


# --------------------------------------------------------------------------
# cohort tables on a hand-made data set
# --------------------------------------------------------------------------

@pytest.fixture
def cohort():
    # A (man): initial start 2020-01-01, salvage start 2022-01-01.
    # B (woman): initial only, start 2020-06-01. C (man): cycles, no labs.
    cycles = pd.DataFrame({
        "cycle_id": [1, 2, 3, 4, 5],
        "patient_id": ["A", "A", "A", "B", "C"],
        "cycle_number": [1, 2, 3, 1, 1],
        "phase": ["initial", "initial", "salvage", "initial", "initial"],
        "cycle_date": pd.to_datetime(["2020-01-01", "2020-03-01", "2022-01-01", "2020-06-01", "2020-02-01"]),
        "activity_gbq": 7.4,
    })
    patients = pd.DataFrame({"patient_id": ["A", "B", "C"], "sex": ["M", "F", "M"]})
    labs = pd.DataFrame({
        "lab_id": [1, 2, 3, 4, 5, 6, 7, 8],
        "patient_id": ["A", "A", "A", "A", "A", "B", "B", "B"],
        "lab_date": pd.to_datetime(["2019-12-01", "2020-01-01", "2020-05-01", "2021-12-01",
                                    "2022-01-01", "2020-05-20", "2020-08-01", "2020-10-01"]),
        "hb_g_dl": [14.0, 12.0, 9.5, 11.0, 7.9, 12.5, 11.9, NaN],
        "plt_10e9_l": [250.0, 240.0, 74.0, 150.0, 49.0, 300.0, 140.0, 160.0],
        "creatinine_mg_dl": [0.9, 0.6, 1.9, 0.8, 1.5, 0.7, 0.9, NaN],
        "egfr_ml_min_173m2": [85.0, 95.0, 35.0, 80.0, 55.0, 92.0, 80.0, 75.0],
    })
    return labs, patients, cycles


def test_grade_labs_phases_and_creatinine_baseline(cohort):
    labs, patients, cycles = cohort
    graded = tox.grade_labs(labs, patients, cycles)
    assert list(graded.columns) == ["lab_id", "patient_id", "lab_date", "phase", "test", "group",
                                    "lab_column", "value", "unit", "lln", "uln", "baseline_value", "grade"]
    assert len(graded) == 8 * 4  # one row per lab row and graded column
    creat = graded[graded["test"] == "creatinine"].set_index("lab_id")
    # Lab on the first initial cycle day is baseline (pre-treatment); on salvage day, after_salvage.
    assert creat["phase"].to_dict() == {1: "baseline", 2: "baseline", 3: "before_salvage",
                                        4: "before_salvage", 5: "after_salvage", 6: "baseline",
                                        7: "before_salvage", 8: "before_salvage"}
    # Baseline for before_salvage = last creatinine on/before 2020-01-01 (0.6, same day);
    # for after_salvage = last creatinine strictly before 2022-01-01 (0.8 on 2021-12-01).
    assert creat.loc[3, "baseline_value"] == 0.6
    assert creat.loc[5, "baseline_value"] == 0.8
    assert np.isnan(creat.loc[1, "baseline_value"])
    # Lab 3: 1.9 mg/dL > 3.0 x 0.6 (1.8) -> grade 3 although only 1.6 x ULN 1.18 (grade 2).
    assert creat.loc[3, "grade"] == 3
    # Lab 5: 1.5 = 1.875 x baseline 0.8 -> grade 2 (x ULN alone: 1.27 x 1.18 -> grade 1).
    assert creat.loc[5, "grade"] == 2
    # Lab 6 (woman, ULN 1.02): 0.7 -> grade 0; lab 8 missing -> NaN.
    assert creat.loc[6, "grade"] == 0 and np.isnan(creat.loc[8, "grade"])
    hb = graded[graded["test"] == "hemoglobin"].set_index("lab_id")
    # Hb 12.0 in a man (LLN 13.0) -> grade 1; 11.9 in a woman (LLN 12.0) -> grade 1; 12.5 woman -> 0.
    assert hb.loc[2, "grade"] == 1 and hb.loc[7, "grade"] == 1 and hb.loc[6, "grade"] == 0
    assert hb.loc[5, "grade"] == 3  # 7.9 < 8.0


def test_worst_grades_and_counts(cohort):
    labs, patients, cycles = cohort
    graded = tox.grade_labs(labs, patients, cycles)
    worst = tox.worst_grades(graded, cycles)
    plt = worst[worst["test"] == "platelets"].set_index(["patient_id", "phase"])["worst_grade"]
    # A: baseline 250/240 -> 0; before salvage 74 (G2) and 150 (G0) -> 2; after salvage 49 -> 3.
    assert plt[("A", "baseline")] == 0
    assert plt[("A", "before_salvage")] == 2
    assert plt[("A", "after_salvage")] == 3
    # B: 140 (G1) and 160 (G0) -> 1; B and C have no salvage phase rows; C has no labs -> NaN.
    assert plt[("B", "before_salvage")] == 1
    assert ("B", "after_salvage") not in plt.index
    assert np.isnan(plt[("C", "before_salvage")])

    counts = tox.grade_counts(worst).set_index(["test", "phase", "grade"]).sort_index()
    before = counts.loc[("platelets", "before_salvage")]
    # 3 treated patients: A grade 2, B grade 1, C unknown.
    assert before["n_patients"].to_dict() == {"0": 0, "1": 1, "2": 1, "3": 0, "4": 0, "unknown": 1}
    assert before["n_total"].unique().tolist() == [3]
    assert before.loc["2", "pct"] == pytest.approx(100 / 3)
    assert before.loc["2", "pct_of_graded"] == pytest.approx(50.0)
    after = counts.loc[("platelets", "after_salvage")]
    assert after.loc["3", "n_patients"] == 1 and after["n_total"].iloc[0] == 1


def test_high_grade_events_exclude_pretreatment(cohort):
    labs, patients, cycles = cohort
    graded = tox.grade_labs(labs, patients, cycles)
    events = tox.high_grade_events(graded)
    got = set(zip(events["patient_id"], events["test"], events["lab_id"], events["grade"]))
    # Lab 3: creatinine G3 (vs baseline); lab 5: Hb 7.9 G3 and platelets 49 G3. eGFR 35 is G2.
    assert got == {("A", "creatinine", 3, 3.0), ("A", "hemoglobin", 5, 3.0), ("A", "platelets", 5, 3.0)}
    assert list(events.columns) == ["patient_id", "test", "phase", "grade", "value", "unit",
                                    "lab_date", "lab_id"]
    with pytest.raises(ValueError, match="min_grade"):
        tox.high_grade_events(graded, min_grade=5)
