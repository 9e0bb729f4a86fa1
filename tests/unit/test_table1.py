"""Table 1 and the per-patient figures behind it, against hand calculations on a tiny cohort.

Four hand-made patients (values chosen so every figure can be worked out on paper):

| id | sex | age | site            | risk          | cycles (GBq)                          | kidney Gy (T_eff h)          |
|----|-----|-----|-----------------|---------------|---------------------------------------|------------------------------|
| P1 | M   | 60  | small intestine | hypertension  | 7.0, 7.0 initial; 5.0 salvage          | 10 (50), 10 (—), 5 (40)      |
| P2 | F   | 70  | lung            | none          | 7.4, 7.4 initial; 3.7, 3.7 salvage     | 4, 4, 2, 2 (all 60)          |
| P3 | M   | 50  | small intestine | none          | 6.0, 6.0 initial                       | 3, 3 (both 50)               |
| P4 | F   | —   | pancreas        | diabetes      | 7.4 initial                            | none                         |
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from prrt_core import cohort
from prrt_core.cohort import table1
from prrt_core.tables import Tables


def bed_by_hand(dose_gy: float, t_eff_h: float) -> float:
    # Dale/Barone kidney BED per cycle: D (1 + D/(a/b) * T_rep/(T_rep + T_eff)), a/b 2.6 Gy, T_rep 2.8 h
    # (clinical_reference.md; Barone JNM 2005, Bodei EJNMMI 2008).
    return dose_gy * (1 + dose_gy / 2.6 * 2.8 / (2.8 + t_eff_h))


def hand_tables() -> Tables:
    patients = pd.DataFrame({
        "patient_id": ["P1", "P2", "P3", "P4"], "sex": ["M", "F", "M", "F"],
        "age_at_first_prrt_years": [60, 70, 50, None],
        "primary_site": ["small intestine", "lung", "small intestine", "pancreas"],
        "tumour_grade": ["G1", "G2", "G1", "G2"], "ki67_pct": [1.0, 5.0, 2.0, 4.0],
        "hypertension": [True, False, False, False], "diabetes": [False, False, False, True],
        "other_renal_risk": [None, None, "", None], "prior_therapies": [None] * 4})
    rows = [("P1", 1, "initial", "2020-01-10", 7.0), ("P1", 2, "initial", "2020-03-10", 7.0),
            ("P1", 3, "salvage", "2022-01-10", 5.0),
            ("P2", 1, "initial", "2019-05-01", 7.4), ("P2", 2, "initial", "2019-07-01", 7.4),
            ("P2", 3, "salvage", "2021-05-01", 3.7), ("P2", 4, "salvage", "2021-07-01", 3.7),
            ("P3", 1, "initial", "2021-02-01", 6.0), ("P3", 2, "initial", "2021-04-01", 6.0),
            ("P4", 1, "initial", "2022-06-01", 7.4)]
    cycles = pd.DataFrame(rows, columns=["patient_id", "cycle_number", "phase", "cycle_date", "activity_gbq"])
    cycles.insert(0, "cycle_id", range(1, len(cycles) + 1))
    cycles["cycle_date"] = pd.to_datetime(cycles["cycle_date"])
    kidney = [(1, 10.0, 50.0), (2, 10.0, np.nan), (3, 5.0, 40.0), (4, 4.0, 60.0), (5, 4.0, 60.0),
              (6, 2.0, 60.0), (7, 2.0, 60.0), (8, 3.0, 50.0), (9, 3.0, 50.0)]
    dosimetry = pd.DataFrame(kidney, columns=["cycle_id", "dose_gy", "t_eff_h"])
    dosimetry["organ"] = "kidneys"
    # A tumour dose must not enter the kidney sums.
    dosimetry = pd.concat([dosimetry, pd.DataFrame({"cycle_id": [1], "dose_gy": [99.0], "t_eff_h": [80.0],
                                                    "organ": ["tumour"]})], ignore_index=True)
    labs = pd.DataFrame({"patient_id": ["P1", "P1", "P2"],
                         "lab_date": pd.to_datetime(["2020-01-01", "2021-01-01", "2019-04-20"]),
                         "egfr_ml_min_173m2": [90.0, 80.0, 75.0]})
    none = pd.DataFrame()  # tables Table 1 does not read
    return Tables(patients=patients, cycles=cycles, dosimetry=dosimetry, labs=labs, assessments=none, events=none,
                  performance_status=none, ssa_administrations=none, findings=none, board_decisions=none)


@pytest.fixture(scope="module")
def attributes():
    return cohort.patient_attributes(hand_tables()).set_index("patient_id")


@pytest.fixture(scope="module")
def numbers(attributes):
    # The numbers of each row as the page exports them (its CSV of Table1.rows).
    return table1.table1(attributes.reset_index()).rows.set_index("Characteristic")


def test_per_patient_counts_activity_and_dose(attributes):
    a = attributes
    assert a["n_cycles"].to_dict() == {"P1": 3, "P2": 4, "P3": 2, "P4": 1}
    assert a["n_salvage_cycles"].to_dict() == {"P1": 1, "P2": 2, "P3": 0, "P4": 0}
    assert a["cumulative_activity_gbq"].to_dict() == pytest.approx({"P1": 19.0, "P2": 22.2, "P3": 12.0, "P4": 7.4})
    # P4 has no kidney dose: unknown, not 0 (a partial sum would understate the dose).
    assert a["cumulative_kidney_dose_gy"].iloc[:3].tolist() == [25.0, 12.0, 6.0]
    assert math.isnan(a.loc["P4", "cumulative_kidney_dose_gy"])
    assert a["renal_risk"].to_dict() == {"P1": True, "P2": False, "P3": False, "P4": True}
    assert a["bed_limit_gy"].to_dict() == {"P1": 28.0, "P2": 40.0, "P3": 40.0, "P4": 28.0}


def test_bed_uses_measured_t_eff_and_the_cohort_median_where_missing(attributes):
    # Measured T_eff of dosed cycles: 50, 40, 60, 60, 60, 60, 50, 50 -> median (50 + 60) / 2 = 55 h.
    assert attributes["t_eff_fallback_h"].iloc[0] == 55.0
    assert attributes["n_cycles_t_eff_imputed"].to_dict() == {"P1": 1, "P2": 0, "P3": 0, "P4": 0}
    p1 = bed_by_hand(10, 50) + bed_by_hand(10, 55) + bed_by_hand(5, 40)
    p2 = 2 * bed_by_hand(4, 60) + 2 * bed_by_hand(2, 60)
    p3 = 2 * bed_by_hand(3, 50)
    assert attributes["cumulative_kidney_bed_gy"].iloc[:3].tolist() == pytest.approx([p1, p2, p3], rel=1e-12)
    assert p1 == pytest.approx(29.532, abs=1e-3)  # over P1's 28 Gy limit (hypertension)
    assert attributes["over_bed_limit"].iloc[:3].tolist() == [True, False, False]
    assert attributes["over_dose_limit"].iloc[:3].tolist() == [True, False, False]  # 25 > 23 Gy
    assert pd.isna(attributes.loc["P4", "over_dose_limit"]) and pd.isna(attributes.loc["P4", "over_bed_limit"])


def test_egfr_change_last_minus_first_and_per_year(attributes):
    # P1: 90 -> 80 mL/min/1.73 m2 over 366 days (2020 is a leap year).
    assert attributes.loc["P1", "egfr_change_ml_min_173m2"] == -10.0
    assert attributes.loc["P1", "egfr_change_pct_per_year"] == pytest.approx(-10 / 90 * 100 / (366 / 365.25))
    # One value only: no change can be computed.
    assert math.isnan(attributes.loc["P2", "egfr_change_ml_min_173m2"])
    assert math.isnan(attributes.loc["P3", "egfr_change_ml_min_173m2"])


def test_table1_demographics_by_hand(numbers):
    assert numbers.loc["Patients, n", "n"] == 4
    assert numbers.loc["Sex, male, n (%)", ["n", "%"]].tolist() == [2, 50.0]
    assert numbers.loc["Sex, female, n (%)", ["n", "%"]].tolist() == [2, 50.0]
    # Ages 60, 70, 50 (P4 unknown): mean 60, sample SD 10, range 50-70.
    age = numbers.loc["Age at first PRRT (years), mean ± SD"]
    assert (age["n"], age["mean"], age["SD"]) == (3, 60.0, pytest.approx(10.0))
    assert numbers.loc["Age at first PRRT (years), range", ["min", "max"]].tolist() == [50, 70]
    assert numbers.loc["Primary site, small intestine, n (%)", ["n", "%"]].tolist() == [2, 50.0]
    assert numbers.loc["Primary site, lung, n (%)", ["n", "%"]].tolist() == [1, 25.0]
    assert numbers.loc["Primary site, pancreas, n (%)", ["n", "%"]].tolist() == [1, 25.0]
    assert numbers.loc["Renal risk factors (hypertension, diabetes or other), n (%)", "n"] == 2


def test_table1_treatment_dose_and_limits_by_hand(numbers):
    cycles = numbers.loc["PRRT cycles per patient, median (range)"]
    assert cycles[["median", "min", "max"]].tolist() == [2.5, 1, 4]  # 1, 2, 3, 4 cycles
    assert numbers.loc["Salvage cycles per patient, median (range)", ["median", "min", "max"]].tolist() == [0.5, 0, 2]
    activity = numbers.loc["Cumulative activity (GBq), mean (range)"]
    assert activity[["mean", "min", "max"]].tolist() == pytest.approx([(19 + 22.2 + 12 + 7.4) / 4, 7.4, 22.2])
    assert numbers.loc["Patients with a kidney dose for every cycle, n (%)", ["n", "%"]].tolist() == [3, 75.0]
    dose = numbers.loc["Cumulative kidney absorbed dose (Gy), mean ± SD"]
    # 25, 12, 6 Gy: mean 43/3; SD sqrt(((25-m)^2 + (12-m)^2 + (6-m)^2) / 2) = sqrt(94.333) = 9.7125.
    assert dose[["n", "mean", "SD"]].tolist() == pytest.approx([3, 43 / 3, 9.71253], abs=1e-4)
    assert numbers.loc["Cumulative kidney absorbed dose (Gy), range", ["min", "max"]].tolist() == [6, 25]
    over = numbers.loc["Cumulative kidney dose > 23 Gy, n (%)"]
    assert over[["n", "%"]].tolist() == pytest.approx([1, 100 / 3])  # of the 3 with complete dose
    bed_row = [r for r in numbers.index if r.startswith("Cumulative kidney BED over")][0]
    assert numbers.loc[bed_row, ["n", "%"]].tolist() == pytest.approx([1, 100 / 3])


def test_table1_text_and_footnotes(attributes):
    t = table1.table1(attributes.reset_index())
    text = dict(zip(t.rows["Characteristic"], t.rows["Value"]))
    assert text["PRRT cycles per patient, median (range)"] == "2.5 (1–4)"
    assert text["Sex, male, n (%)"] == "2 (50.0 %)"
    assert text["Age at first PRRT (years), mean ± SD"] == "60.0 ± 10.0"
    assert text["Cumulative activity (GBq), mean (range)"] == "15.2 (7.4–22.2)"
    notes = " ".join(t.footnotes)
    assert "1 cycle(s) without a measured T_eff used the cohort median T_eff of 55.0 h" in notes
    assert "Age not recorded for 1 patient(s)" in notes
    assert list(table1.display(t).columns) == ["Characteristic", "Value"]


def test_table1_of_no_patients_shows_dashes_not_errors(attributes):
    t = table1.table1(attributes.reset_index().iloc[0:0])
    text = dict(zip(t.rows["Characteristic"], t.rows["Value"]))
    assert text["Patients, n"] == "0"
    assert text["Cumulative kidney absorbed dose (Gy), mean ± SD"] == "— ± —"


def test_cumulative_per_patient_unchanged_for_home(attributes):
    # Home's figures: the kidney sum is NaN for a patient with a cycle lacking a kidney dose.
    t = hand_tables()
    per = cohort.cumulative_per_patient(t.cycles, t.dosimetry)
    assert per["n_cycles"].to_dict() == {"P1": 3, "P2": 4, "P3": 2, "P4": 1}
    assert per["n_salvage_cycles"].to_dict() == {"P1": 1, "P2": 2, "P3": 0, "P4": 0}
    assert per["cumulative_kidney_dose_gy"].iloc[:3].tolist() == [25.0, 12.0, 6.0]
    assert math.isnan(per.loc["P4", "cumulative_kidney_dose_gy"])
    o = cohort.overview(t.patients, t.cycles, t.dosimetry)
    assert (o.n_patients, o.n_cycles, o.n_salvage_patients) == (4, 10, 2)
    assert o.mean_cumulative_kidney_dose_gy == pytest.approx(43 / 3)
    assert o.n_patients_with_complete_kidney_dosimetry == 3


def test_bed_unknown_when_no_cycle_has_a_measured_t_eff():
    # No measured T_eff anywhere: no cohort median, so the BED is unknown, never a partial sum.
    t = hand_tables()
    t = t.replace(dosimetry=t.dosimetry.assign(t_eff_h=np.nan))
    a = cohort.patient_attributes(t).set_index("patient_id")
    assert a["cumulative_kidney_dose_gy"].iloc[:3].tolist() == [25.0, 12.0, 6.0]
    assert a["cumulative_kidney_bed_gy"].isna().all() and a["over_bed_limit"].isna().all()
    notes = " ".join(table1.table1(a.reset_index()).footnotes)
    assert "no cohort median exists: BED unknown" in notes and "BED unknown for 3 patient(s)" in notes
