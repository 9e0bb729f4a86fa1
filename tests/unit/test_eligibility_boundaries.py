"""Eligibility at every boundary (issue 17): each threshold of data/eligibility.toml just below, at
and just above; every age limit of a record (28 / 180 / 60 / 7 days) at the limit, a day over it and
on the evaluation day; every branch of the verdict; the shipped thresholds pinned to their sources.

The sources are the ``source`` of each section of data/eligibility.toml, quoted per test. Patient P1
and the tables come from tests/unit/test_eligibility.py (``make_tables``): evaluated on 2024-06-01,
4 initial cycles 2021-01-04 .. 2021-07-05, labs 2024-05-25, SSTR PET 2024-05-10, ECOG 1 / KPS 80 on
2024-05-20, lanreotide 2024-04-01, progression 2023-06-01. Checklists come from ``evaluate`` with
P1's real kidney projection (``assess``, 2 x 7.4 GBq: ~13 Gy, ~14 Gy BED, P(> limit) = 0) unless the
kidney criteria are under test.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math

import numpy as np
import pandas as pd
import pytest

from prrt_core.clinical import eligibility
from prrt_core.clinical.dates import DAYS_PER_MONTH
from prrt_core.clinical.eligibility import criteria, renal
from prrt_core.clinical.eligibility.items import Item, Severity, Status, frame
from prrt_core.clinical.eligibility.kidney import kidney_items
from prrt_core.errors import ConfigError, InputError
from prrt_core.projection import KidneyModelSettings
from prrt_core.tables import DATE_COLUMN
from tests.unit.test_eligibility import (
    AS_OF,
    CONFIG,
    FIRST_CYCLE,
    item,
    make_tables,
    run,
    salvage_cycle_tables,
    status,
)

NOW = pd.Timestamp(AS_OF)
LAST_INITIAL_CYCLE = pd.Timestamp("2021-07-05")


def before(days: int) -> str:
    """The ISO date ``days`` before the evaluation date (negative: after it)."""
    return (NOW - pd.Timedelta(days=days)).date().isoformat()


@functools.cache
def projected() -> pd.Series:
    """P1's kidney projection from ``assess`` (2 further cycles of 7.4 GBq): far under both limits."""
    row = run()[1]
    assert row["p_exceed_dose"] == 0.0 and row["p_exceed_bed"] == 0.0
    return row


def judge(tables=None, *, as_of=AS_OF, config=CONFIG, row=True, note=None):
    """The checklist of P1 from ``evaluate`` (row=True: P1's projection; None: no projection)."""
    return eligibility.evaluate("P1", tables or make_tables(), projected() if row is True else row, as_of=as_of,
                                settings=KidneyModelSettings(), config=config, projection_note=note)


def with_events(*events) -> eligibility.Checklist:
    """P1 with only the given (date, type, phase) events."""
    tables = make_tables()
    return judge(tables.replace(events=pd.DataFrame([{"patient_id": "P1", "event_date": pd.Timestamp(d),
                                                      "event_type": kind, "phase": phase}
                                                     for d, kind, phase in events])))


# --- The shipped thresholds, pinned to their published values ---------------------------------------

@pytest.mark.parametrize("section, field, value, cited", [
    # NETTER-1 (Strosberg NEJM 2017;376:125) and EANM 2013 (Bodei EJNMMI 2013;40:800) laboratory limits.
    ("hemoglobin", "min", 8.0, "Hb >= 8.0 g/dL: NETTER-1"),
    ("platelets", "min", 75.0, "Platelets >= 75 x10^9/L: NETTER-1"),
    ("wbc", "min", 2.0, "WBC >= 2.0 x10^9/L: NETTER-1"),
    ("neutrophils", "min", 1.0, "grade >= 3 neutropenia (< 1.0 x10^9/L)"),
    ("bilirubin", "max_x_uln", 3.0, "Bilirubin <= 3 x ULN: NETTER-1"),
    ("bilirubin", "uln_mg_dl", 1.2, "ULN 1.2 mg/dL"),
    ("albumin", "min_exclusive", 3.0, "Albumin > 3.0 g/dL: NETTER-1"),
    ("renal_function", "min_ml_min", 50.0, "Creatinine clearance >= 50 mL/min by Cockcroft-Gault"),
    ("performance", "max_ecog", 2, "ECOG/WHO 0-2: HEPAR PLUS"),
    ("performance", "min_karnofsky_pct", 60, "Karnofsky >= 60: NETTER-1"),
    ("pfs_after_initial", "min_months", 12.0, "Severi 2015 EJNMMI 42:1955 (>= 12 months)"),
    ("sstr_expression", "min_krenning_score", 2, "Krenning >= 2"),
    ("tumour_grade", "max_ki67_pct", 20.0, "NETTER-1 enrolled Ki-67 <= 20 %"),
    ("tumour_grade", "caution_grades", ("G3",), "Ki-67 > 20 % is G3 by the WHO rule"),
    ("initial_response", "accepted", ("CR", "PR", "SD"), "disease control after initial PRRT"),
    ("pregnancy", "max_age_days", 7, "8.3 (verify pregnancy status"),
    ("interval", "min_weeks_since_last_cycle", 7.0, "Every 8 +- 1 weeks: NETTER-1 protocol"),
    ("ssa_washout", "min_weeks_since_long_acting", 4.0, "discontinued at least 4 weeks before each dose"),
    ("kidney_dose", "limit_gy", 23.0, "Kidney absorbed dose 23 Gy: EBRT TD5/5"),
    ("kidney_bed", "limit_renal_risk_gy", 28.0, "Kidney BED 28 Gy with renal risk factors"),
    ("kidney_bed", "limit_no_renal_risk_gy", 40.0, "40 Gy without: Bodei, EJNMMI 2008;35:1847"),
])
def test_shipped_threshold_is_the_published_value(section, field, value, cited):
    rule = getattr(CONFIG, section)
    assert getattr(rule, field) == value and type(getattr(rule, field)) is type(value)
    assert cited in rule.source


@pytest.mark.parametrize("section, severity", [
    # "exclude": a fail makes the patient not eligible; "caution": the board weighs it (eligibility.toml header).
    ("initial_response", "exclude"), ("pfs_after_initial", "exclude"), ("sstr_expression", "exclude"),
    ("tumour_grade", "caution"), ("fdg_mismatch", "caution"), ("hemoglobin", "exclude"),
    ("platelets", "exclude"), ("wbc", "exclude"), ("neutrophils", "exclude"), ("renal_function", "exclude"),
    ("bilirubin", "exclude"), ("albumin", "caution"), ("performance", "exclude"), ("pregnancy", "exclude"),
    ("urinary", "caution"), ("interval", "caution"), ("ssa_washout", "caution"), ("kidney_dose", "caution"),
    ("kidney_bed", "exclude"),
])
def test_shipped_severity(section, severity):
    assert getattr(CONFIG, section).severity == severity


def test_shipped_record_ages_verdict_lists_and_module_constants():
    # The clinic's settings (eligibility.toml [evaluation]): work-up within 4 weeks, SSTR imaging
    # within 6 months, performance status within 60 days.
    assert (CONFIG.lab_max_age_days, CONFIG.pet_max_age_days, CONFIG.performance_max_age_days) == (28, 180, 60)
    assert CONFIG.blocking_unknowns == (
        "initial_response", "pfs_after_initial", "sstr_expression", "hemoglobin", "platelets", "wbc",
        "neutrophils", "renal_function", "bilirubin", "performance", "kidney_bed")
    assert CONFIG.checked_when_recorded == ("fdg_mismatch", "urinary")
    # Lutathera US PI: 7.4 GBq (200 mCi) per cycle, 3.7 GBq (100 mCi) reduced; 1.0 GBq the clinic's floor.
    assert (CONFIG.activity.min_gbq, CONFIG.activity.max_gbq, CONFIG.activity.reduced_gbq) == (1.0, 7.4, 3.7)
    assert "Lutathera US PI" in CONFIG.activity.source
    # Cockcroft & Gault, Nephron 1976;16:31: (140 - age) x weight / (72 x creatinine), x 0.85 for women.
    assert (renal.CG_AGE_OFFSET_YEARS, renal.CG_DIVISOR, renal.CG_FEMALE_FACTOR) == (140.0, 72.0, 0.85)
    # Mosteller, NEJM 1987;317:1098: sqrt(height x weight / 3600); eGFR per 1.73 m2 (Levey 2009).
    assert (renal.MOSTELLER_DIVISOR, renal.REFERENCE_BSA_M2, renal.DAYS_PER_YEAR) == (3600.0, 1.73, 365.25)
    # Lutathera US PI, "Premedication and Concomitant Medications": long-acting SSA stopped >= 4 weeks.
    assert criteria.LONG_ACTING_SSA == ("octreotide LAR", "lanreotide") and criteria.DAYS_PER_WEEK == 7.0


# --- Response to initial PRRT and PFS after it ------------------------------------------------------

@pytest.mark.parametrize("follow_up_mm, non_target, bor, verdict", [
    # RECIST 1.1 against the baseline sum of 100 mm; accepted CR/PR/SD: Rudisile 2019 BMC Cancer 19:788,
    # van der Zwan 2019 EJNMMI 46:704 (disease control after initial PRRT).
    (0.0, "CR", "CR", "eligible"),
    (60.0, "non-CR/non-PD", "PR", "eligible"),  # -40 %
    (90.0, "non-CR/non-PD", "SD", "eligible"),  # -10 %
    (130.0, "non-CR/non-PD", "PD", "not eligible"),  # +30 %, +30 mm
])
def test_best_response_to_initial_prrt(follow_up_mm, non_target, bor, verdict):
    tables = make_tables()
    follow = tables.assessments.copy()
    follow.loc[1, ["target_sum_mm", "non_target"]] = [follow_up_mm, non_target]
    checklist = judge(tables.replace(assessments=follow))
    response = item(checklist, "Response to initial PRRT")
    assert (response["status"], response["value"], checklist.verdict) == (
        "fail" if bor == "PD" else "pass", bor, verdict)
    assert response["threshold"] == "CR/PR/SD"
    if bor == "PD":
        assert checklist.reasons == ("Best response to initial PRRT PD, not one of CR/PR/SD",)


def test_response_without_follow_up_imaging_is_a_blocking_unknown():
    tables = make_tables()
    checklist = judge(tables.replace(assessments=tables.assessments.drop(index=1)))
    response = item(checklist, "Response to initial PRRT")
    assert (response["status"], response["value"]) == ("unknown", "not evaluable")
    assert checklist.verdict == "cannot assess"
    assert checklist.reasons == ("Response to initial PRRT: no evaluable follow-up imaging",)


def test_no_initial_cycles_leaves_response_and_pfs_unknown():
    tables = make_tables()
    checklist = judge(tables.replace(cycles=tables.cycles.assign(phase="salvage")))
    assert status(checklist, "Response to initial PRRT") == "unknown"
    pfs = item(checklist, "PFS after initial PRRT")
    assert (pfs["status"], pfs["value"]) == ("unknown", "not recorded")
    assert checklist.verdict == "cannot assess"
    assert checklist.reasons == ("Response to initial PRRT: no evaluable follow-up imaging",
                                 "PFS after initial PRRT: no initial cycles recorded")


# 12 months = 365.25 days (months = days / 30.4375, clinical.dates): 365 days after the first cycle
# (2021-01-04) is 11.99 months, 366 days 12.02 months.
DAY_365, DAY_366 = "2022-01-04", "2022-01-05"


@pytest.mark.parametrize("end, progressed, expected, verdict", [
    # Severi 2015 EJNMMI 42:1955: PFS >= 12 months after initial PRRT.
    (DAY_365, True, "fail", "not eligible"),  # progressed before 12 months: excluded
    (DAY_366, True, "pass", "eligible"),
    # Followed 11.99 months without progression: PFS may still reach 12 months, so unknown (blocking),
    # never a fail (issue 17: "FAIL if event else UNKNOWN" -> always FAIL survived).
    (DAY_365, False, "unknown", "cannot assess"),
    (DAY_366, False, "pass", "eligible"),
])
def test_pfs_twelve_months_each_side(end, progressed, expected, verdict):
    event = ("progression", "initial") if progressed else ("last_contact", None)
    checklist = with_events((end, *event))
    pfs = item(checklist, "PFS after initial PRRT")
    assert (pfs["status"], checklist.verdict) == (expected, verdict)
    months = (pd.Timestamp(end) - FIRST_CYCLE).days / DAYS_PER_MONTH
    assert pfs["value"] == (f"{eligibility.beside_limit(months, 12.0)} months"
                            + ("" if progressed else " (no progression recorded)"))
    assert pfs["value"].startswith("11.99" if end == DAY_365 else "12.0")
    if expected != "pass":
        assert checklist.reasons == (f"PFS after initial PRRT {pfs['value']}, threshold >= 12 months",)


@pytest.mark.parametrize("progressed", [True, False])
def test_pfs_exactly_at_the_threshold_passes(progressed):
    """PFS >= min_months (Severi 2015: ">= 12 months"): a PFS equal to the threshold passes, one day less does
    not. 12 months is not a whole number of days, so the threshold is set to 365 days in months."""
    at = dataclasses.replace(CONFIG, pfs_after_initial=dataclasses.replace(
        CONFIG.pfs_after_initial, min_months=365 / DAYS_PER_MONTH))
    event = ("progression", "initial") if progressed else ("last_contact", None)
    tables = make_tables()
    for end, expected in (("2022-01-04", "pass"), ("2022-01-03", "fail" if progressed else "unknown")):
        events = pd.DataFrame([{"patient_id": "P1", "event_date": pd.Timestamp(end), "event_type": event[0],
                                "phase": event[1]}])
        assert status(judge(tables.replace(events=events), config=at), "PFS after initial PRRT") == expected


# --- SSTR expression ----------------------------------------------------------------------------------

@pytest.mark.parametrize("score, expected, verdict, reason", [
    # Krenning >= 2 (uptake at least that of normal liver): NETTER-1, Strosberg NEJM 2017;376:125;
    # EANM/IAEA/SNMMI 2013, Bodei EJNMMI 2013;40:800.
    (1, "fail", "not eligible", "SSTR uptake Krenning 1 is below 2"),
    (2, "pass", "eligible", "SSTR uptake Krenning 2 meets 2"),
    (3, "pass", "eligible", "SSTR uptake Krenning 3 meets 2"),
])
def test_krenning_score_each_side(score, expected, verdict, reason):
    checklist = judge(make_tables(pet_score=score))
    sstr = item(checklist, "SSTR expression")
    assert (sstr["status"], sstr["reason"], checklist.verdict) == (expected, reason, verdict)


@pytest.mark.parametrize("days_old, expected", [(0, "pass"), (179, "pass"), (180, "pass"), (181, "unknown")])
def test_sstr_pet_age_limit_180_days(days_old, expected):
    """SSTR imaging within 6 months (eligibility.toml [evaluation] pet_max_age_days = 180, the clinic's
    setting); a PET dated on the evaluation day counts."""
    checklist = judge(make_tables(pet_date=before(days_old)))
    sstr = item(checklist, "SSTR expression")
    assert sstr["status"] == expected
    if expected == "unknown":
        assert checklist.verdict == "cannot assess"
        assert checklist.reasons == ("SSTR expression: latest SSTR PET is 181 days old (limit 180)",)
        assert sstr["value"] == f"Krenning 3 on Ga-68 DOTATATE PET/CT ({before(181)})"
    else:
        assert checklist.verdict == "eligible"


def test_sstr_pet_after_the_evaluation_date_is_not_known_yet():
    sstr = item(judge(make_tables(pet_date=before(-1))), "SSTR expression")
    assert (sstr["status"], sstr["value"]) == ("unknown", "not recorded")
    assert sstr["reason"] == "SSTR expression: no SSTR PET with a Krenning score"


@pytest.mark.parametrize("older, newer, expected", [(4, 1, "fail"), (1, 3, "pass")])
def test_the_latest_sstr_pet_counts(older, newer, expected):
    tables = make_tables(pet_score=newer)
    old_pet = tables.assessments.iloc[[2]].assign(assessment_id=4, assessment_date=pd.Timestamp(before(60)),
                                                  sstr_krenning_score=float(older))
    assessments = pd.concat([tables.assessments, old_pet], ignore_index=True)
    assert status(judge(tables.replace(assessments=assessments)), "SSTR expression") == expected


# --- Tumour grade ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("grade, ki67, expected, value", [
    # WHO 2019: Ki-67 > 20 % is G3; NETTER-1 enrolled Ki-67 <= 20 % (Strosberg NEJM 2017;376:125). A caution.
    ("G2", 19.9, "pass", "G2, Ki-67 19.9 %"),
    ("G2", 20.0, "pass", "G2, Ki-67 20 %"),
    ("G2", 20.1, "fail", "G2, Ki-67 20.1 %"),
    ("G3", 5.0, "fail", "G3, Ki-67 5 %"),
    ("G1", np.nan, "pass", "G1, Ki-67 not recorded"),
    (None, 25.0, "fail", "grade not recorded, Ki-67 25 %"),
    ("", 10.0, "pass", "grade not recorded, Ki-67 10 %"),
    ("", np.nan, "unknown", "not recorded"),
])
def test_tumour_grade_and_ki67_each_side(grade, ki67, expected, value):
    checklist = judge(make_tables(patient={"tumour_grade": grade, "ki67_pct": ki67}))
    grade_item = item(checklist, "Tumour grade / Ki-67")
    assert (grade_item["status"], grade_item["value"], grade_item["severity"]) == (expected, value, "caution")
    assert grade_item["threshold"] == "not G3 and Ki-67 <= 20 %"
    assert checklist.verdict == ("eligible" if expected == "pass" else "caution")
    if expected == "fail":
        assert checklist.reasons == (f"Tumour {value}: high grade (threshold: not G3 and Ki-67 <= 20 %)",)


# --- Blood counts, liver function, albumin -------------------------------------------------------------

LAB_UNITS = {"hb_g_dl": "g/dL", "plt_10e9_l": "x10^9/L", "wbc_10e9_l": "x10^9/L", "neut_10e9_l": "x10^9/L",
             "bilirubin_mg_dl": "mg/dL", "albumin_g_dl": "g/dL"}


@pytest.mark.parametrize("column, criterion, value, expected, threshold", [
    # Hb >= 8.0 g/dL: NETTER-1; EANM 2013; Lutathera US PI (grade >= 3 anaemia < 8.0 g/dL).
    ("hb_g_dl", "Haemoglobin", 7.99, "fail", ">= 8 g/dL"),
    ("hb_g_dl", "Haemoglobin", 8.0, "pass", ">= 8 g/dL"),
    ("hb_g_dl", "Haemoglobin", 8.01, "pass", ">= 8 g/dL"),
    # Platelets >= 75 x10^9/L: NETTER-1 / EANM 2013; Lutathera US PI (grade >= 2 < 75).
    ("plt_10e9_l", "Platelets", 74.9, "fail", ">= 75 x10^9/L"),
    ("plt_10e9_l", "Platelets", 75.0, "pass", ">= 75 x10^9/L"),
    ("plt_10e9_l", "Platelets", 75.1, "pass", ">= 75 x10^9/L"),
    # WBC >= 2.0 x10^9/L: NETTER-1.
    ("wbc_10e9_l", "White blood cells", 1.99, "fail", ">= 2 x10^9/L"),
    ("wbc_10e9_l", "White blood cells", 2.0, "pass", ">= 2 x10^9/L"),
    ("wbc_10e9_l", "White blood cells", 2.01, "pass", ">= 2 x10^9/L"),
    # Neutrophils >= 1.0 x10^9/L: Lutathera US PI (grade >= 3 neutropenia < 1.0).
    ("neut_10e9_l", "Neutrophils", 0.99, "fail", ">= 1 x10^9/L"),
    ("neut_10e9_l", "Neutrophils", 1.0, "pass", ">= 1 x10^9/L"),
    ("neut_10e9_l", "Neutrophils", 1.01, "pass", ">= 1 x10^9/L"),
    # Bilirubin <= 3 x ULN, ULN 1.2 mg/dL (NETTER-1; Mayo Clinic Laboratories): 3.6 mg/dL.
    ("bilirubin_mg_dl", "Bilirubin", 3.59, "pass", "<= 3 x ULN (3.6 mg/dL)"),
    ("bilirubin_mg_dl", "Bilirubin", 3.6, "pass", "<= 3 x ULN (3.6 mg/dL)"),
    ("bilirubin_mg_dl", "Bilirubin", 3.61, "fail", "<= 3 x ULN (3.6 mg/dL)"),
    # Albumin > 3.0 g/dL (NETTER-1, strictly above; a caution).
    ("albumin_g_dl", "Albumin", 2.99, "fail", "> 3 g/dL"),
    ("albumin_g_dl", "Albumin", 3.0, "fail", "> 3 g/dL"),
    ("albumin_g_dl", "Albumin", 3.01, "pass", "> 3 g/dL"),
])
def test_lab_threshold_below_at_above(column, criterion, value, expected, threshold):
    checklist = judge(make_tables(lab={column: value}))
    lab = item(checklist, criterion)
    assert (lab["status"], lab["threshold"], lab["value"]) == (expected, threshold,
                                                               f"{value:g} {LAB_UNITS[column]} (2024-05-25)")
    if expected == "pass":
        assert checklist.verdict == "eligible"
    else:
        assert checklist.verdict == ("caution" if criterion == "Albumin" else "not eligible")
        assert checklist.reasons == (f"{criterion} {lab['value'].rsplit(' (', 1)[0]} fails {threshold}",)


@pytest.mark.parametrize("days_old, expected", [(0, "pass"), (27, "pass"), (28, "pass"), (29, "unknown")])
def test_lab_age_limit_28_days(days_old, expected):
    """A work-up within 4 weeks (eligibility.toml [evaluation] lab_max_age_days = 28, the clinic's setting):
    labs 28 days old count, 29 days old are unknown; labs drawn on the evaluation day count."""
    checklist = judge(make_tables(lab_date=before(days_old)))
    labs = ["Haemoglobin", "Platelets", "White blood cells", "Neutrophils", "Renal function", "Bilirubin",
            "Albumin"]
    assert [status(checklist, lab) for lab in labs] == [expected] * 7
    if expected == "pass":
        assert checklist.verdict == "eligible"
        return
    assert checklist.verdict == "cannot assess"
    assert item(checklist, "Haemoglobin")["reason"] == "Haemoglobin: latest value is 29 days old (limit 28 days)"
    assert item(checklist, "Renal function")["reason"] == (
        "Renal function: Cockcroft-Gault not possible: creatinine 29 days old (limit 28 days); "
        "eGFR 29 days old (limit 28 days)")
    assert len(checklist.reasons) == 6 and not any(r.startswith("Albumin") for r in checklist.reasons)


@pytest.mark.parametrize("older_hb, newer_hb, expected", [
    (7.0, 12.0, "pass"),  # the latest value counts, not the worst
    (12.0, 7.0, "fail"),
    (7.0, np.nan, "fail"),  # a later row without Hb leaves the earlier Hb the latest one
])
def test_the_latest_lab_value_counts(older_hb, newer_hb, expected):
    tables = make_tables()
    older = tables.labs.assign(lab_id=2, lab_date=pd.Timestamp(before(20)), hb_g_dl=older_hb)
    newer = tables.labs.assign(lab_date=pd.Timestamp(before(3)), hb_g_dl=newer_hb)
    checklist = judge(tables.replace(labs=pd.concat([newer, older], ignore_index=True)))
    hb = item(checklist, "Haemoglobin")
    assert hb["status"] == expected
    assert hb["value"].endswith(f"({before(20) if np.isnan(newer_hb) else before(3)})")


# --- Renal function ---------------------------------------------------------------------------------------

AGE_YEARS = 57 + (NOW - FIRST_CYCLE).days / 365.25  # 57 at first PRRT, 1245 days before the evaluation


def renal_limit(limit_ml_min: float):
    return dataclasses.replace(CONFIG, renal_function=dataclasses.replace(CONFIG.renal_function,
                                                                          min_ml_min=limit_ml_min))


def test_creatinine_clearance_exactly_at_the_threshold_passes():
    """CrCl >= 50 mL/min (NETTER-1 protocol; Cockcroft & Gault 1976): with the threshold set to P1's own
    clearance (creatinine 0.9 mg/dL, 70 kg, male) the patient passes; the next float above fails."""
    crcl = float(eligibility.cockcroft_gault_ml_min(AGE_YEARS, 70.0, 0.9, False))
    assert crcl == pytest.approx((140 - AGE_YEARS) * 70 / (72 * 0.9))  # 77.8 mL/min
    at = judge(config=renal_limit(crcl))
    assert status(at, "Renal function") == "pass" and at.verdict == "eligible"
    above = judge(config=renal_limit(math.nextafter(crcl, math.inf)))
    assert status(above, "Renal function") == "fail" and above.verdict == "not eligible"


def test_deindexed_egfr_exactly_at_the_threshold_passes():
    """Without age, the eGFR de-indexed by Mosteller BSA (NEJM 1987;317:1098) against >= 50 mL/min."""
    clearance = float(eligibility.deindexed_egfr_ml_min(80.0, eligibility.bsa_mosteller_m2(170.0, 70.0)))
    tables = make_tables(patient={"age_at_first_prrt_years": np.nan})
    at = judge(tables, config=renal_limit(clearance))
    assert status(at, "Renal function") == "pass"
    assert item(at, "Renal function")["reason"] == (f"Renal function (de-indexed eGFR) "
                                                    f"{eligibility.beside_limit(clearance, clearance)} mL/min "
                                                    f"meets {clearance:g}")
    above = judge(tables, config=renal_limit(math.nextafter(clearance, math.inf)))
    assert status(above, "Renal function") == "fail" and above.verdict == "not eligible"


@pytest.mark.parametrize("days_old, expected", [(28, "pass"), (29, "unknown")])
def test_creatinine_age_limit(days_old, expected):
    """Creatinine 28 days old still gives Cockcroft-Gault; a day older (no eGFR either) is unknown."""
    tables = make_tables(lab={"egfr_ml_min_173m2": np.nan})
    fresh = tables.labs.assign(lab_id=2, lab_date=pd.Timestamp(before(1)), creatinine_mg_dl=np.nan)
    old = tables.labs.assign(lab_date=pd.Timestamp(before(days_old)))
    checklist = judge(tables.replace(labs=pd.concat([old, fresh], ignore_index=True)))
    renal_item = item(checklist, "Renal function")
    assert renal_item["status"] == expected
    if expected == "unknown":
        assert renal_item["reason"] == ("Renal function: Cockcroft-Gault not possible: creatinine 29 days old "
                                        "(limit 28 days); no eGFR recorded")
    else:
        assert renal_item["value"].startswith("CrCl ") and f"on {before(28)}" in renal_item["value"]


def test_age_needs_a_recorded_cycle():
    patient = pd.Series({"age_at_first_prrt_years": 57})
    assert math.isnan(renal.age_at(patient, make_tables().cycles.iloc[:0], NOW))
    assert math.isnan(renal.age_at(pd.Series({"age_at_first_prrt_years": np.nan}), make_tables().cycles, NOW))
    assert renal.age_at(patient, make_tables().cycles, NOW) == pytest.approx(AGE_YEARS, abs=1e-12)


# --- Performance status -------------------------------------------------------------------------------------

@pytest.mark.parametrize("ecog, kps, expected, shown", [
    # ECOG/WHO 0-2: HEPAR PLUS; Karnofsky >= 60: NETTER-1 (Strosberg, Lancet Oncol 2021).
    (1, np.nan, "pass", "ECOG 1"),
    (2, np.nan, "pass", "ECOG 2"),  # at the maximum
    (3, np.nan, "fail", "ECOG 3"),
    (np.nan, 59, "fail", "Karnofsky 59 %"),
    (np.nan, 60, "pass", "Karnofsky 60 %"),
    (np.nan, 61, "pass", "Karnofsky 61 %"),
    (3, 90, "fail", "ECOG 3"),  # ECOG preferred when both are recorded
    (2, 40, "pass", "ECOG 2"),
])
def test_performance_status_each_side(ecog, kps, expected, shown):
    checklist = judge(make_tables(ecog=ecog, kps=kps))
    performance = item(checklist, "Performance status")
    assert (performance["status"], performance["value"]) == (expected, f"{shown} (2024-05-20)")
    threshold = "ECOG <= 2 or Karnofsky >= 60 %"
    assert performance["threshold"] == threshold
    verb = "meets" if expected == "pass" else "fails"
    assert performance["reason"] == f"{shown} (2024-05-20) {verb} {threshold}"
    assert checklist.verdict == ("eligible" if expected == "pass" else "not eligible")


@pytest.mark.parametrize("days_old, expected", [(0, "pass"), (59, "pass"), (60, "pass"), (61, "unknown")])
def test_performance_age_limit_60_days(days_old, expected):
    """eligibility.toml [evaluation] performance_max_age_days = 60 (the clinic's setting)."""
    tables = make_tables()
    checklist = judge(tables.replace(performance_status=tables.performance_status.assign(
        status_date=pd.Timestamp(before(days_old)))))
    assert status(checklist, "Performance status") == expected
    if expected == "unknown":
        assert checklist.verdict == "cannot assess"
        assert checklist.reasons == ("Performance status: none in the last 60 days",)


def test_a_fresh_karnofsky_is_used_when_the_ecog_is_too_old():
    rows = pd.DataFrame({"patient_id": "P1", "status_date": pd.to_datetime([before(61), before(10)]),
                         "ecog": [1.0, np.nan], "karnofsky_pct": [np.nan, 50.0]})
    performance = item(judge(make_tables().replace(performance_status=rows)), "Performance status")
    assert (performance["status"], performance["value"]) == ("fail", f"Karnofsky 50 % ({before(10)})")


# --- Pregnancy, findings checked when recorded ---------------------------------------------------------------

POTENTIAL = {"sex": "F", "childbearing_potential": True}


@pytest.mark.parametrize("days_old, expected", [(0, "pass"), (6, "pass"), (7, "pass"), (8, "unknown")])
def test_negative_pregnancy_test_within_7_days(days_old, expected):
    """A negative test within max_age_days = 7 passes (Lutathera US PI 8.3; the window is the clinic's)."""
    checklist = judge(make_tables(patient=POTENTIAL, findings=[(before(days_old), "pregnancy", False)]))
    pregnancy = item(checklist, "Pregnancy / breast-feeding")
    assert pregnancy["status"] == expected
    assert checklist.verdict == ("eligible" if expected == "pass" else "caution")  # not blocking
    if expected == "pass":
        assert pregnancy["value"] == f"pregnancy test negative ({before(days_old)}); breast-feeding not recorded"


def test_a_later_negative_test_ends_a_recorded_pregnancy():
    findings = [(before(40), "pregnancy", True), (before(2), "pregnancy", False),
                (before(2), "breast-feeding", False)]
    pregnancy = item(judge(make_tables(patient=POTENTIAL, findings=findings)), "Pregnancy / breast-feeding")
    assert (pregnancy["status"], pregnancy["value"]) == (
        "pass", f"pregnancy test negative ({before(2)}); not breast-feeding ({before(2)})")
    recorded = judge(make_tables(patient=POTENTIAL, findings=[(before(400), "pregnancy", True)]))
    assert recorded.verdict == "not eligible"  # a pregnancy holds until a later record, however old
    assert recorded.reasons == (f"Pregnancy / breast-feeding: pregnant ({before(400)})",)


@pytest.mark.parametrize("days_old, expected", [(0, "fail"), (180, "fail"), (181, "unknown")])
def test_fdg_mismatch_within_the_pet_age_limit(days_old, expected):
    """FDG-positive SSTR-negative disease (Bodei EJNMMI 2013;40:800; Chan Theranostics 2017;7:1149) is read
    from PET within pet_max_age_days = 180; an older finding is not recorded, which is checked only when
    recorded: the verdict stays eligible."""
    checklist = judge(make_tables(findings=[(before(days_old), "FDG-positive SSTR-negative disease", True)]))
    fdg = item(checklist, "FDG-positive SSTR-negative disease")
    assert (fdg["status"], fdg["severity"]) == (expected, "caution")
    if expected == "fail":
        assert fdg["value"] == f"present: FDG-positive SSTR-negative disease ({before(days_old)})"
        assert checklist.verdict == "caution"
    else:
        assert fdg["value"] == "not recorded within 180 days" and checklist.verdict == "eligible"


@pytest.mark.parametrize("records, expected, value", [
    # Urinary obstruction or incontinence (Bodei EJNMMI 2013;40:800): a caution, no age limit.
    ([("2010-01-01", "urinary obstruction", False)], "pass", "checked, absent: urinary obstruction (2010-01-01)"),
    ([("2024-05-10", "urinary obstruction", False), ("2024-05-10", "urinary incontinence", True)], "fail",
     "present: urinary incontinence (2024-05-10)"),
    ([("2023-01-01", "urinary incontinence", True), ("2024-01-01", "urinary incontinence", False)], "pass",
     "checked, absent: urinary incontinence (2024-01-01)"),
    ([("2024-05-10", "urinary obstruction", True)], "fail", "present: urinary obstruction (2024-05-10)"),
])
def test_urinary_findings(records, expected, value):
    checklist = judge(make_tables(findings=[("2024-05-10", "FDG-positive SSTR-negative disease", False), *records]))
    urinary = item(checklist, "Urinary obstruction / incontinence")
    assert (urinary["status"], urinary["value"]) == (expected, value)
    assert checklist.verdict == ("eligible" if expected == "pass" else "caution")


# --- Timing of the next dose: interval since the last cycle, SSA washout ---------------------------------------

@pytest.mark.parametrize("days, expected", [(0, "fail"), (48, "fail"), (49, "pass"), (50, "pass"), (56, "pass")])
def test_interval_seven_weeks_each_side_and_eight_weeks(days, expected):
    """Every 8 +- 1 weeks (NETTER-1 protocol; Lutathera US PI): 7 weeks (49 days) after the last cycle is the
    earliest next dose, 8 weeks the scheduled one; a cycle given on the evaluation day fails. A caution."""
    checklist = run(salvage_cycle_tables(days))[0]
    interval = item(checklist, "Interval since last cycle")
    last = before(days)
    assert (interval["status"], interval["severity"]) == (expected, "caution")
    assert interval["value"] == f"{eligibility.beside_limit(days / 7, 7.0)} weeks (last {last})"
    assert checklist.verdict == ("eligible" if expected == "pass" else "caution")
    if expected == "fail":
        earliest = (pd.Timestamp(last) + pd.Timedelta(days=49)).date().isoformat()
        assert interval["reason"] == (f"Interval since last cycle: earliest cycle date: {earliest} (7 weeks after "
                                      f"the last cycle on {last}); {interval['value'].split(' (')[0]} on 2024-06-01")


def test_interval_without_cycles_is_unknown_and_earliest_day_rounds_up():
    rule = CONFIG.interval
    none = criteria.interval_item(make_tables().cycles.iloc[:0], NOW, rule)
    assert (none.status, none.value, none.reason) == ("unknown", "no cycle", "Interval since last cycle: no cycle "
                                                                              "recorded")
    # A limit of 7.5 weeks is 52.5 days: the earliest dose is 53 whole days after the last cycle.
    half = dataclasses.replace(rule, min_weeks_since_last_cycle=7.5)
    cycles = make_tables().cycles
    assert criteria.earliest_dose(LAST_INITIAL_CYCLE, 7.5) == LAST_INITIAL_CYCLE + pd.Timedelta(days=53)
    assert criteria.interval_item(cycles, LAST_INITIAL_CYCLE + pd.Timedelta(days=52), half).status == "fail"
    assert criteria.interval_item(cycles, LAST_INITIAL_CYCLE + pd.Timedelta(days=53), half).status == "pass"
    # The latest cycle counts, not the first.
    assert criteria.interval_item(cycles, LAST_INITIAL_CYCLE + pd.Timedelta(days=48), rule).status == "fail"


@pytest.mark.parametrize("ssa, expected", [
    # Long-acting SSA stopped >= 4 weeks (28 days) before each dose: Lutathera US PI, Dosage and
    # Administration, "Premedication and Concomitant Medications". A caution.
    ([(before(0), "lanreotide")], "fail"),
    ([(before(27), "octreotide LAR")], "fail"),
    ([(before(28), "octreotide LAR")], "pass"),
    ([(before(29), "lanreotide")], "pass"),
    ([(before(40), "lanreotide"), (before(12), "octreotide LAR")], "fail"),  # the latest long-acting injection
    ([(before(12), "lanreotide"), (before(1), "octreotide s.c.")], "fail"),  # short-acting does not reset it
    ([(before(40), "lanreotide"), (before(1), "octreotide s.c.")], "pass"),
    ([(before(1), "octreotide s.c.")], "pass"),  # short-acting octreotide: up to 24 h before
])
def test_ssa_washout_four_weeks(ssa, expected):
    checklist = judge(make_tables(ssa=ssa))
    washout = item(checklist, "Long-acting SSA stopped")
    assert (washout["status"], washout["severity"]) == (expected, "caution")
    assert checklist.verdict == ("eligible" if expected == "pass" else "caution")
    if ssa == [(before(0), "lanreotide")]:
        assert checklist.reasons == ("Long-acting SSA stopped: earliest cycle date: 2024-06-29 (4 weeks after the "
                                     "last long-acting injection on 2024-06-01); 0.0 weeks since lanreotide "
                                     "(2024-06-01) on 2024-06-01",)
    if ssa == [(before(1), "octreotide s.c.")]:
        assert washout["value"] == f"no long-acting SSA recorded; octreotide s.c. last on {before(1)}"


# --- Kidney criteria -------------------------------------------------------------------------------------------

def kidney_row(p_dose: float, p_bed: float, *, risk_known=True, risk=False) -> pd.Series:
    """A projection row as ``projection.project`` returns it (the columns the kidney criteria read)."""
    return pd.Series({"dose_limit_gy": 23.0, "p_exceed_dose": p_dose, "dose_p05_gy": 20.0, "dose_p50_gy": 21.0,
                      "dose_p95_gy": 22.0, "bed_limit_gy": 28.0 if risk or not risk_known else 40.0,
                      "p_exceed_bed": p_bed, "bed_p05_gy": 25.0, "bed_p50_gy": 26.0, "bed_p95_gy": 27.0,
                      "renal_risk_known": risk_known, "renal_risk": risk})


@pytest.mark.parametrize("p, expected", [(0.0499, "pass"), (0.05, "pass"), (0.0501, "fail")])
def test_kidney_probability_tolerance_each_side(p, expected):
    """A projected limit passes while P(> limit) <= tolerance (KidneyModelSettings.tolerance = 5 %)."""
    dose, bed = kidney_items(kidney_row(p, p), KidneyModelSettings(), CONFIG, None)
    assert (dose.status, bed.status) == (expected, expected)
    # Crossing the BED limit excludes (Bodei EJNMMI 2008;35:1847); the 23 Gy dose limit is a caution.
    only_dose = judge(row=kidney_row(p, 0.0))
    only_bed = judge(row=kidney_row(0.0, p))
    assert (only_dose.verdict, only_bed.verdict) == (("eligible", "eligible") if expected == "pass"
                                                     else ("caution", "not eligible"))
    if expected == "fail":
        shown = eligibility.beside_limit(100 * p, 5.0)  # 5.010: never read as "5.0" beside the 5 % tolerance
        assert shown.startswith("5.01")
        assert only_bed.reasons == (f"Cumulative kidney BED exceeds 40 Gy with probability {shown} % (exclude limit)",)
        assert only_dose.reasons == (f"Cumulative kidney absorbed dose exceeds 23 Gy with probability {shown} % "
                                     "(caution limit)",)


@pytest.mark.parametrize("risk_known, risk, threshold", [
    # BED 28 Gy with renal risk factors, 40 Gy without (Bodei 2008); unknown risk: the stricter limit.
    (True, False, "P(> 40 Gy (no renal risk factors)) <= 5 %"),
    (True, True, "P(> 28 Gy (renal risk factors)) <= 5 %"),
    (False, False, "P(> 28 Gy (renal risk not recorded: the stricter limit)) <= 5 %"),
])
def test_bed_threshold_names_its_basis(risk_known, risk, threshold):
    dose, bed = kidney_items(kidney_row(0.0, 0.0, risk_known=risk_known, risk=risk), KidneyModelSettings(),
                             CONFIG, None)
    assert bed.threshold == threshold and dose.threshold == "P(> 23 Gy) <= 5 %"


@pytest.mark.parametrize("note, reason", [(None, "not computed"), ("no dosimetry in the cohort", None)])
def test_no_projection_keeps_both_kidney_criteria_and_blocks(note, reason):
    """Issue 17: `continue` -> `break` dropped the BED criterion when there is no projection. Both kidney
    criteria stay, unknown; the BED one (exclude) blocks the verdict, the dose one (caution) alone would not."""
    checklist = judge(row=None, note=note)
    assert len(checklist.items) == 19
    why = reason or note
    dose, bed = item(checklist, "Projected kidney dose"), item(checklist, "Projected kidney BED")
    assert (dose["status"], dose["value"], dose["reason"]) == (
        "unknown", "no projection", f"Projected kidney dose: no projection ({why})")
    assert (bed["status"], bed["value"], bed["reason"], bed["key"]) == (
        "unknown", "no projection", f"Projected kidney BED: no projection ({why})", "kidney_bed")
    assert bed["threshold"] == "P(> limit) <= 5 %"
    assert checklist.verdict == "cannot assess"
    assert checklist.reasons == (f"Projected kidney BED: no projection ({why})",)


def test_limit_policy_words():
    shipped = eligibility.policy(CONFIG, KidneyModelSettings())
    assert shipped.excluding() == ("bed",)
    assert (shipped.severity_of("bed"), shipped.severity_of("dose")) == ("exclude", "caution")
    assert shipped.description == ("Crossing the kidney BED limit (28 Gy with renal risk factors, 40 Gy without) "
                                   "makes the patient not eligible; crossing the absorbed-dose limit (23 Gy) is "
                                   "a caution.")
    strict = dataclasses.replace(CONFIG, kidney_dose=dataclasses.replace(CONFIG.kidney_dose,
                                                                         severity=Severity.EXCLUDE))
    assert eligibility.policy(strict, KidneyModelSettings()).excluding() == ("bed", "dose")


# --- The verdict's branches ---------------------------------------------------------------------------------------

def verdict_of(*entries: tuple[str, str, str]):
    """``decide`` over items given as (key, status, severity); each reason is '<key> <status>'."""
    items = [Item(key, key.replace("_", " "), Status(s), "v", "t", Severity(sev), "source", f"{key} {s}")
             for key, s, sev in entries]
    return eligibility.decide(frame(items), CONFIG)


def test_decide_every_branch():
    """Precedence of data/eligibility.toml: exclude fail > blocking unknown > any fail or unknown (not checked
    only when recorded) > eligible; the reasons are only the items of the deciding branch."""
    assert verdict_of(("hemoglobin", "pass", "exclude"), ("albumin", "pass", "caution")) == (
        "eligible", ("All criteria met",))
    assert verdict_of(("hemoglobin", "fail", "exclude"), ("bilirubin", "unknown", "exclude"),
                      ("albumin", "fail", "caution")) == ("not eligible", ("hemoglobin fail",))
    assert verdict_of(("bilirubin", "unknown", "exclude"), ("albumin", "fail", "caution"),
                      ("interval", "unknown", "caution")) == ("cannot assess", ("bilirubin unknown",))
    assert verdict_of(("albumin", "fail", "caution"), ("interval", "unknown", "caution"),
                      ("urinary", "unknown", "caution"), ("hemoglobin", "pass", "exclude")) == (
        "caution", ("albumin fail", "interval unknown"))
    # An excluding criterion not listed as blocking (pregnancy): its unknown is a caution.
    assert verdict_of(("pregnancy", "unknown", "exclude")) == ("caution", ("pregnancy unknown",))
    # A criterion checked only when recorded: a recorded finding that fails is a caution; unrecorded, eligible.
    assert verdict_of(("fdg_mismatch", "fail", "caution")) == ("caution", ("fdg_mismatch fail",))
    assert verdict_of(("fdg_mismatch", "unknown", "caution"), ("urinary", "unknown", "caution"),
                      ("hemoglobin", "pass", "exclude")) == (
        "eligible", ("All criteria met", "Not recorded, checked only when recorded: fdg mismatch, urinary"))
    # The severity in force, not the key, decides exclusion.
    assert verdict_of(("albumin", "fail", "exclude")) == ("not eligible", ("albumin fail",))


def test_checked_when_recorded_and_blocking_lists_are_read_from_the_config():
    strict = dataclasses.replace(CONFIG, checked_when_recorded=())
    unrecorded = make_tables(findings=[])
    assert judge(unrecorded).verdict == "eligible"
    caution = judge(unrecorded, config=strict)
    assert caution.verdict == "caution" and caution.reasons == (
        "FDG-positive SSTR-negative disease: not recorded within 180 days",
        "Urinary obstruction / incontinence: not recorded")
    lax = dataclasses.replace(CONFIG, blocking_unknowns=tuple(k for k in CONFIG.blocking_unknowns
                                                              if k != "bilirubin"))
    missing = make_tables(lab={"bilirubin_mg_dl": np.nan})
    assert judge(missing).verdict == "cannot assess"
    assert judge(missing, config=lax).verdict == "caution"


def empty_record(**keep):
    """P1 with nothing dated recorded (every table of DATE_COLUMN empty), except the tables in ``keep``."""
    tables = make_tables()
    return tables.replace(**{name: keep.get(name, getattr(tables, name).iloc[:0]) for name in DATE_COLUMN})


def test_nothing_recorded_by_the_date_cannot_be_assessed():
    checklist = judge(empty_record())
    # 19 criteria; known: kidney dose and BED (projection given), pregnancy (male) and grade (undated).
    assert checklist.verdict == "cannot assess"
    assert checklist.reasons == ("Nothing recorded for P1 by 2024-06-01: 15 of 19 criteria unknown",)
    lax = dataclasses.replace(CONFIG, blocking_unknowns=())
    assert judge(empty_record(), config=lax).verdict == "cannot assess"
    # A board decision alone is no clinical record.
    board = pd.DataFrame({"patient_id": ["P1"], "board_date": [pd.Timestamp(before(3))]})
    assert judge(empty_record(board_decisions=board)).reasons == checklist.reasons
    # One lab row is a record: the verdict is decided by the criteria (unknowns that block, then caution).
    one_lab = judge(empty_record(labs=make_tables().labs), config=lax)
    assert one_lab.verdict == "caution" and not one_lab.reasons[0].startswith("Nothing recorded")


@pytest.mark.parametrize("death, verdict", [(before(1), None), (before(0), None), (before(-1), "eligible")])
def test_death_on_or_before_the_evaluation_date_gives_no_verdict(death, verdict):
    checklist = judge(make_tables(death=death))
    assert checklist.verdict == verdict
    if verdict is None:
        assert checklist.deceased_on == dt.date.fromisoformat(death) and checklist.items.empty
        assert checklist.verdict_text == f"no verdict (died on {death})"
    else:
        assert checklist.verdict_text == "eligible" and checklist.deceased_on is None


def test_death_date_is_the_patients_own_first_recorded_death():
    tables = make_tables(death="2024-05-20")
    events = pd.concat([tables.events, pd.DataFrame([
        {"patient_id": "P1", "event_date": pd.Timestamp("2024-05-10"), "event_type": "death", "phase": None},
        {"patient_id": "P2", "event_date": pd.Timestamp("2024-01-01"), "event_type": "death", "phase": None}])],
        ignore_index=True)
    tables = tables.replace(events=events)
    assert eligibility.death_date(tables, "P1", AS_OF) == dt.date(2024, 5, 10)
    assert eligibility.death_date(tables, "P1", dt.date(2024, 5, 9)) is None
    assert eligibility.death_date(tables, "P2", dt.date(2023, 12, 31)) is None
    # Another patient's death does not touch P1's verdict.
    other = make_tables()
    other = other.replace(events=pd.concat([other.events, events.iloc[[-1]]], ignore_index=True))
    assert judge(other).verdict == "eligible"


def test_evaluate_refuses_settings_of_another_type():
    with pytest.raises(InputError, match="settings must be a KidneyModelSettings, got dict"):
        eligibility.evaluate("P1", make_tables(), None, as_of=AS_OF, settings={"tolerance": 0.05}, config=CONFIG)


# --- Numbers beside a limit -------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, limit, digits, text", [
    (None, 23.0, 1, "—"), (math.nan, 23.0, 1, "—"), (math.inf, 23.0, 1, "—"),
    (12.34, 23.0, 1, "12.3"), (12.34, 23.0, 0, "12"), (22.6, 23.0, 0, "22.6"), (22.95, 23.0, 1, "22.95"),
    (23.0, 23.0, 1, "23.0"), (23.0, 23.0, 2, "23.00"), (23.00001, 23.0, 1, "23.0001"),
    (22.99999, 23.0, 1, "22.9999"), (365 / DAYS_PER_MONTH, 12.0, 1, "11.992"),
])
def test_beside_limit(value, limit, digits, text):
    assert eligibility.beside_limit(value, limit, digits) == text


def test_of_limit():
    assert eligibility.of_limit(7.44, 7.4, "GBq") == "7.44 of 7.4 GBq"
    assert eligibility.of_limit(12.346, 23, "Gy", digits=2) == "12.35 of 23 Gy"


# --- Configuration file checks ---------------------------------------------------------------------------------

TEXT = eligibility.DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")


@pytest.mark.parametrize("old, new, message", [
    ("lab_max_age_days = 28", "lab_max_age_days = 0",
     r"\[evaluation\] lab_max_age_days must be a positive whole number of days, got 0"),
    ("pet_max_age_days = 180", "pet_max_age_days = 180.0", r"\[evaluation\] pet_max_age_days .* got 180\.0"),
    ("performance_max_age_days = 60", "performance_max_age_days = true",
     r"\[evaluation\] performance_max_age_days .* got True"),
    ("lab_max_age_days = 28\n", "", r"\[evaluation\] lab_max_age_days .* got None"),
    ("[verdict]\n", "[verdict]\nstrict = true\n", r"\[verdict\] unknown key 'strict'"),
    ('checked_when_recorded = ["fdg_mismatch", "urinary"]', 'checked_when_recorded = "urinary"',
     r"\[verdict\] checked_when_recorded must be a list of criteria \(section names\), got 'urinary'"),
    ('checked_when_recorded = ["fdg_mismatch", "urinary"]', "checked_when_recorded = [1]",
     r"checked_when_recorded must be a list"),
    ("min = 8.0", "min = nan", r"\[hemoglobin\] min has an invalid value nan"),
    ("min = 75.0", "min = inf", r"\[platelets\] min has an invalid value inf"),
    ("max_ecog = 2", "max_ecog = 2.0", r"\[performance\] max_ecog has an invalid value 2\.0"),
    ("max_ecog = 2", "max_ecog = true", r"\[performance\] max_ecog has an invalid value True"),
    ("max_age_days = 7", "max_age_days = 0", r"\[pregnancy\] max_age_days has an invalid value 0"),
    ("uln_mg_dl = 1.2", "uln_mg_dl = 0.0", r"\[bilirubin\] uln_mg_dl has an invalid value 0\.0"),
    ("limit_no_renal_risk_gy = 40.0", "limit_no_renal_risk_gy = 0.0",
     r"\[kidney_bed\] limit_no_renal_risk_gy has an invalid value 0\.0"),
    ('accepted = ["CR", "PR", "SD"]', "accepted = []", r"\[initial_response\] accepted has an invalid value \[\]"),
    ('accepted = ["CR", "PR", "SD"]', 'accepted = "CR"', r"\[initial_response\] accepted has an invalid value 'CR'"),
    ('[urinary]\nseverity = "caution"\n', "[urinary]\n", r"\[urinary\] severity is missing"),
    ('[urinary]\nseverity = "caution"\n', '[urinary]\nseverity = "caution"\nnote = "x"\n',
     r"\[urinary\] unknown key 'note'"),
    ("min_gbq = 1.0", "min_gbq = 7.4", r"\[activity_per_cycle\] min_gbq 7\.4 must be below max_gbq 7\.4"),
    ("reduced_gbq = 3.7", "reduced_gbq = 0", r"\[activity_per_cycle\] reduced_gbq has an invalid value 0"),
    ("reduced_gbq = 3.7\n", "", r"\[activity_per_cycle\] reduced_gbq is missing"),
    ("reduced_gbq = 3.7\n", "reduced_gbq = 3.7\nmedian_gbq = 7.4\n", r"\[activity_per_cycle\] unknown key "
                                                                       r"'median_gbq'"),
    ("[activity_per_cycle]", "[activity_per_cycle_old]", r"unknown section \[activity_per_cycle_old\]"),
    ("[ssa_washout]", "[ssa]", r"unknown section \[ssa\]"),
])
def test_config_refuses(tmp_path, old, new, message):
    assert old in TEXT
    path = tmp_path / "eligibility.toml"
    path.write_text(TEXT.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        eligibility.load_config(path)


def test_config_short_source_missing_section_bad_toml_and_unreadable_file(tmp_path):
    path = tmp_path / "e.toml"
    short = TEXT.replace('[wbc]\nmin = 2.0\nseverity = "exclude"\nsource = "WBC >= 2.0 x10^9/L: NETTER-1 '
                         'eligibility; HEPAR PLUS excluded < 2.0 (LUTIA used 3.0)"',
                         '[wbc]\nmin = 2.0\nseverity = "exclude"\nsource = "NETTER-1 "')
    assert short != TEXT
    path.write_text(short, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[wbc\] source must name the published source, got 'NETTER-1 '"):
        eligibility.load_config(path)
    start = TEXT.index("[urinary]")
    path.write_text(TEXT[:start] + TEXT[TEXT.index("[interval]"):], encoding="utf-8")
    with pytest.raises(ConfigError, match=r"e\.toml: section \[urinary\] is missing"):
        eligibility.load_config(path)
    path.write_text(TEXT[:TEXT.index("[activity_per_cycle]")] + TEXT[TEXT.index("[initial_response]"):],
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=r"section \[activity_per_cycle\] is missing"):
        eligibility.load_config(path)
    path.write_text("[evaluation\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"e\.toml: not valid TOML"):
        eligibility.load_config(path)
    with pytest.raises(ConfigError, match=r"absent\.toml: cannot be read: No such file or directory"):
        eligibility.load_config(tmp_path / "absent.toml")


def test_config_accepts_values_at_their_limits(tmp_path):
    """Zero is a valid minimum (only limits, ULN and windows must be > 0); whole numbers are read as floats;
    equal BED limits (risk = no risk) are allowed."""
    path = tmp_path / "e.toml"
    path.write_text(TEXT.replace("min = 8.0", "min = 0.0").replace("min = 75.0", "min = 75")
                    .replace("max_x_uln = 3.0", "max_x_uln = 0").replace("limit_renal_risk_gy = 28.0",
                                                                          "limit_renal_risk_gy = 40.0"),
                    encoding="utf-8")
    config = eligibility.load_config(path)
    assert config.hemoglobin.min == 0.0
    assert config.platelets.min == 75.0 and type(config.platelets.min) is float
    assert config.bilirubin.max_x_uln == 0.0 and type(config.bilirubin.max_x_uln) is float
    assert config.kidney_bed.limit_renal_risk_gy == config.kidney_bed.limit_no_renal_risk_gy == 40.0
    assert config.performance.max_ecog == 2 and type(config.performance.max_ecog) is int
    assert config == dataclasses.replace(CONFIG, hemoglobin=config.hemoglobin, bilirubin=config.bilirubin,
                                         kidney_bed=config.kidney_bed)
