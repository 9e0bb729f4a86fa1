"""Salvage eligibility checklist: each criterion each way, unknowns, the kidney limit policy and the verdict.

Thresholds are the shipped defaults of data/eligibility.toml (sources there): Hb >= 8.0 g/dL,
platelets >= 75, WBC >= 2.0, neutrophils >= 1.0 x10^9/L, creatinine clearance >= 50 mL/min,
bilirubin <= 3 x ULN (1.2 mg/dL), albumin > 3.0 g/dL (NETTER-1; caution), ECOG <= 2 / Karnofsky
>= 60, PFS after initial PRRT >= 12 months, Krenning >= 2, labs <= 28 days old, Ki-67 <= 20 % /
not G3 (caution); kidney BED 28/40 Gy exclude, absorbed dose 23 Gy caution. Conditions of the day
of the dose are cautions that name the earliest dose date, and do not block: >= 7 weeks since the
last cycle (8 +- 1, NETTER-1 protocol), long-acting SSA >= 4 weeks before (Lutathera US PI); a
pregnancy test <= 7 days old, else "verify pregnancy status before the dose" (a recorded pregnancy
or breast-feeding still excludes).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from prrt_core.clinical import eligibility
from prrt_core.clinical.eligibility.kidney import kidney_items
from prrt_core.dosimetry.radiobiology import BED_LIMIT_GY_NO_RISK, BED_LIMIT_GY_RISK, DOSE_LIMIT_GY
from prrt_core.errors import ConfigError
from prrt_core.projection import KidneyModelSettings
from prrt_core.tables import Tables

AS_OF = dt.date(2024, 6, 1)
CONFIG = eligibility.load_config()
FIRST_CYCLE = pd.Timestamp("2021-01-04")
CYCLE_DATES = pd.to_datetime(["2021-01-04", "2021-03-01", "2021-05-03", "2021-07-05"])


def make_tables(*, lab=None, lab_date="2024-05-25", pet_score=3, pet_date="2024-05-10", ecog=1, kps=80,
                progression="2023-06-01", gy_per_gbq=0.3, patient=None, findings=None, ssa=None,
                death=None, equation="CKD-EPI 2021") -> Tables:
    """Patient P1 (evaluated) and P2 (cohort for the projection model), 4 initial cycles each.

    P1: a 57-year-old man at first PRRT, 70 kg, 170 cm; labs a week before the evaluation;
    lanreotide last on 2024-04-01 (8.7 weeks before); FDG PET and urinary history checked, absent.
    """
    p1 = {"patient_id": "P1", "sex": "M", "age_at_first_prrt_years": 57, "hypertension": False,
          "diabetes": False, "other_renal_risk": None, "tumour_grade": "G2", "ki67_pct": 8.0,
          "weight_kg": 70.0, "height_cm": 170.0, "childbearing_potential": pd.NA} | (patient or {})
    p2 = {"patient_id": "P2", "sex": "F", "age_at_first_prrt_years": 60, "hypertension": False,
          "diabetes": False, "other_renal_risk": None, "tumour_grade": "G1", "ki67_pct": 2.0,
          "weight_kg": 60.0, "height_cm": 160.0, "childbearing_potential": False}
    patients = pd.DataFrame([p1, p2]).astype({"childbearing_potential": "boolean"})
    cycles = pd.DataFrame({"cycle_id": range(1, 9), "patient_id": ["P1"] * 4 + ["P2"] * 4,
                           "cycle_number": [1, 2, 3, 4] * 2, "phase": "initial",
                           "cycle_date": list(CYCLE_DATES) * 2, "activity_gbq": 7.4})
    ratio = [gy_per_gbq, gy_per_gbq * 1.05, gy_per_gbq * 0.95, gy_per_gbq] + [0.5, 0.55, 0.45, 0.5]
    dosimetry = pd.DataFrame({"cycle_id": range(1, 9), "organ": "kidneys",
                              "dose_gy": np.array(ratio) * 7.4, "t_eff_h": 50.0})
    values = {"hb_g_dl": 12.0, "plt_10e9_l": 200.0, "wbc_10e9_l": 5.0, "neut_10e9_l": 3.0,
              "lymph_10e9_l": 1.2, "creatinine_mg_dl": 0.9, "egfr_ml_min_173m2": 80.0,
              "bilirubin_mg_dl": 0.6, "albumin_g_dl": 4.0, "egfr_equation": equation} | (lab or {})
    labs = pd.DataFrame([{"lab_id": 1, "patient_id": "P1", "lab_date": pd.Timestamp(lab_date)} | values])
    assessments = pd.DataFrame({
        "assessment_id": [1, 2, 3], "patient_id": "P1",
        "assessment_date": pd.to_datetime(["2020-12-20", "2021-10-01", pet_date]),
        "phase": ["initial", "initial", "salvage"], "role": ["baseline", "follow-up", "baseline"],
        "modality": ["CT", "CT", "Ga-68 DOTATATE PET/CT"], "target_sum_mm": [100.0, 60.0, 90.0],
        "new_lesions": [False, False, False], "non_target": [None, "non-CR/non-PD", None],
        "sstr_krenning_score": [np.nan, np.nan, pet_score]})
    events = [{"patient_id": "P1", "event_date": pd.Timestamp(progression), "event_type": "progression",
               "phase": "initial"}] if progression else \
        [{"patient_id": "P1", "event_date": pd.Timestamp("2022-06-01"), "event_type": "last_contact", "phase": None}]
    if death:
        events.append({"patient_id": "P1", "event_date": pd.Timestamp(death), "event_type": "death", "phase": None})
    performance = pd.DataFrame({"patient_id": ["P1"], "status_date": pd.to_datetime(["2024-05-20"]),
                                "ecog": [ecog], "karnofsky_pct": [kps]})
    ssa_rows = [("2024-04-01", "lanreotide")] if ssa is None else ssa
    ssa_frame = pd.DataFrame({"ssa_id": range(1, len(ssa_rows) + 1), "patient_id": "P1",
                              "administration_date": pd.to_datetime([d for d, _ in ssa_rows]),
                              "drug": [drug for _, drug in ssa_rows], "dose_mg": 120.0})
    finding_rows = ([("2024-05-10", "FDG-positive SSTR-negative disease", False),
                     ("2024-05-10", "urinary obstruction", False), ("2024-05-10", "urinary incontinence", False)]
                    if findings is None else findings)
    finding_frame = pd.DataFrame({"finding_id": range(1, len(finding_rows) + 1), "patient_id": "P1",
                                  "finding_date": pd.to_datetime([d for d, _, _ in finding_rows]),
                                  "finding": [f for _, f, _ in finding_rows],
                                  "present": [bool(p) for _, _, p in finding_rows]})
    return Tables(patients=patients, cycles=cycles, dosimetry=dosimetry, labs=labs, assessments=assessments,
                  events=pd.DataFrame(events), performance_status=performance, ssa_administrations=ssa_frame,
                  findings=finding_frame, board_decisions=pd.DataFrame({"patient_id": pd.Series([], dtype=object),
                                                                        "board_date": pd.to_datetime([])}))


def run(tables=None, **kwargs):
    options = dict(as_of=AS_OF, n_cycles=2, activity_gbq=7.4, config=CONFIG, settings=KidneyModelSettings()) | kwargs
    return eligibility.assess(tables or make_tables(), "P1", **options)


def item(checklist, criterion: str) -> pd.Series:
    return checklist.items.set_index("criterion").loc[criterion]


def status(checklist, criterion: str) -> str:
    return item(checklist, criterion)["status"]


def test_all_criteria_met_is_eligible():
    checklist, row = run()
    assert checklist.verdict == "eligible" and checklist.reasons == ("All criteria met",)
    assert (checklist.items["status"] == "pass").all() and len(checklist.items) == 19
    assert set(checklist.items.columns) == {"criterion", "status", "value", "threshold", "severity",
                                            "source", "reason", "key"}
    assert checklist.items["source"].str.len().min() > 20  # every criterion names its source
    # 4 cycles x 7.4 GBq at ~0.3 Gy/GBq = 8.9 Gy now; far from 23 Gy after 2 more.
    assert row["dose_now_gy"] == pytest.approx(7.4 * 0.3 * 4, rel=1e-9)
    assert checklist.policy.text == "Kidney limits: BED 28/40 Gy exclude; absorbed dose 23 Gy caution"


@pytest.mark.parametrize("field, bad, good, criterion", [
    ("hb_g_dl", 7.9, 8.0, "Haemoglobin"),
    ("plt_10e9_l", 74.0, 75.0, "Platelets"),
    ("wbc_10e9_l", 1.99, 2.0, "White blood cells"),
    ("neut_10e9_l", 0.99, 1.0, "Neutrophils"),
    ("bilirubin_mg_dl", 3.61, 3.6, "Bilirubin"),  # 3 x ULN 1.2 mg/dL = 3.6
])
def test_lab_thresholds_each_way(field, bad, good, criterion):
    failing, _ = run(make_tables(lab={field: bad}))
    assert status(failing, criterion) == "fail"
    assert failing.verdict == "not eligible"
    assert any(criterion in r and f"{bad:g}" in r for r in failing.reasons)
    passing, _ = run(make_tables(lab={field: good}))
    assert status(passing, criterion) == "pass" and passing.verdict == "eligible"


def test_albumin_below_threshold_is_caution_not_exclusion():
    checklist, _ = run(make_tables(lab={"albumin_g_dl": 2.9}))
    assert status(checklist, "Albumin") == "fail"
    assert checklist.verdict == "caution"
    # NETTER-1 required > 3.0 g/dL: the boundary value itself fails (min_exclusive in the config).
    boundary = run(make_tables(lab={"albumin_g_dl": 3.0}))[0]
    assert status(boundary, "Albumin") == "fail" and item(boundary, "Albumin")["threshold"] == "> 3 g/dL"
    assert boundary.reasons == ("Albumin 3 g/dL fails > 3 g/dL",)
    assert status(run(make_tables(lab={"albumin_g_dl": 3.1}))[0], "Albumin") == "pass"


def test_unknown_excluding_criteria_block_the_verdict():
    missing, _ = run(make_tables(lab={"bilirubin_mg_dl": np.nan}))
    assert status(missing, "Bilirubin") == "unknown" and missing.verdict == "cannot assess"
    assert missing.reasons == ("Bilirubin: no value recorded",)
    stale, _ = run(make_tables(lab_date="2024-04-30"))  # 32 days before the evaluation
    unknown = stale.items[stale.items["status"] == "unknown"]["criterion"].tolist()
    assert unknown == ["Haemoglobin", "Platelets", "White blood cells", "Neutrophils", "Renal function",
                       "Bilirubin", "Albumin"]
    assert stale.verdict == "cannot assess" and any("32 days old" in r for r in stale.reasons)
    # Albumin (caution) is unknown too but does not block: only the blocking unknowns are reasons.
    assert not any(r.startswith("Albumin") for r in stale.reasons)


def test_a_fail_that_excludes_outranks_a_blocking_unknown():
    checklist, _ = run(make_tables(lab={"hb_g_dl": 7.0, "bilirubin_mg_dl": np.nan}))
    assert checklist.verdict == "not eligible" and checklist.reasons == ("Haemoglobin 7 g/dL fails >= 8 g/dL",)


def test_a_non_blocking_unknown_gives_caution_and_blocking_is_configurable():
    no_ssa, _ = run(make_tables(ssa=[]))
    assert item(no_ssa, "Long-acting SSA stopped")["value"] == "no SSA administrations recorded"
    assert no_ssa.verdict == "caution"  # ssa_washout is not in blocking_unknowns by default
    strict = dataclasses.replace(CONFIG, blocking_unknowns=(*CONFIG.blocking_unknowns, "ssa_washout"))
    assert run(make_tables(ssa=[]), config=strict)[0].verdict == "cannot assess"


def test_evaluation_date_before_any_record_cannot_assess():
    checklist, row = run(as_of=dt.date(2020, 1, 1))
    assert row is None and checklist.verdict == "cannot assess"
    assert checklist.reasons == ("Nothing recorded for P1 by 2020-01-01: 17 of 19 criteria unknown",)
    assert (checklist.items["status"] == "unknown").sum() == 17  # a male passes pregnancy; grade is undated
    # Even with no blocking unknowns configured, an empty record is never "caution".
    lax = dataclasses.replace(CONFIG, blocking_unknowns=())
    assert run(as_of=dt.date(2020, 1, 1), config=lax)[0].verdict == "cannot assess"


def test_deceased_patient_gets_no_verdict_and_no_projection():
    tables = make_tables(death="2024-05-30")
    checklist, row = run(tables)
    assert row is None and checklist.verdict is None and checklist.deceased_on == dt.date(2024, 5, 30)
    assert checklist.items.empty and checklist.verdict_text == "no verdict (died on 2024-05-30)"
    assert checklist.reasons == ("P1 died on 2024-05-30: no verdict and no projection, only the history",)
    # Evaluated before the death, the patient is judged as usual.
    assert run(tables, as_of=dt.date(2024, 5, 29))[0].verdict == "eligible"


def test_values_after_the_evaluation_date_are_ignored():
    later = make_tables(lab_date="2024-06-02", lab={"hb_g_dl": 6.0})
    checklist, _ = run(later)
    assert status(checklist, "Haemoglobin") == "unknown"  # the only value lies in the future


def test_pfs_after_initial_prrt():
    short, _ = run(make_tables(progression="2021-11-01"))  # 9.9 months after 2021-01-04
    assert status(short, "PFS after initial PRRT") == "fail" and short.verdict == "not eligible"
    censored, _ = run(make_tables(progression=None))  # no progression recorded
    assert status(censored, "PFS after initial PRRT") == "pass"  # 16.9 months without progression
    assert item(censored, "PFS after initial PRRT")["value"] == "16.9 months (no progression recorded)"


def test_sstr_expression_states_its_imaging():
    low, _ = run(make_tables(pet_score=1))
    assert status(low, "SSTR expression") == "fail" and low.verdict == "not eligible"
    ok = item(run()[0], "SSTR expression")
    assert ok["value"] == "Krenning 3 on Ga-68 DOTATATE PET/CT, uptake relative to liver (2024-05-10)"
    assert "planar SSTR scintigraphy" in ok["threshold"] and "SSTR PET scored against liver" in ok["threshold"]
    none, _ = run(make_tables(pet_score=np.nan))
    assert status(none, "SSTR expression") == "unknown"
    old, _ = run(make_tables(pet_date="2023-11-01"))  # 213 days > 180
    assert status(old, "SSTR expression") == "unknown"


def test_performance_status():
    assert status(run(make_tables(ecog=3, kps=40))[0], "Performance status") == "fail"
    assert status(run(make_tables(ecog=np.nan, kps=50))[0], "Performance status") == "fail"
    assert status(run(make_tables(ecog=np.nan, kps=60))[0], "Performance status") == "pass"
    assert status(run(make_tables(ecog=np.nan, kps=np.nan))[0], "Performance status") == "unknown"


def test_interval_eight_plus_minus_one_weeks():
    # Last cycle 2021-07-05; lab, PET and performance dates moved with the evaluation date.
    def at(as_of):
        tables = make_tables(lab_date=str(as_of), pet_date=str(as_of), ssa=[])
        return run(tables.replace(performance_status=tables.performance_status.assign(
            status_date=pd.Timestamp(as_of))), as_of=as_of)[0]
    seven = at(dt.date(2021, 8, 23))  # 49 days = 7.0 weeks: NETTER-1's 8 - 1
    assert status(seven, "Interval since last cycle") == "pass"
    assert item(seven, "Interval since last cycle")["value"] == "7.0 weeks (last 2021-07-05)"
    early = at(dt.date(2021, 8, 22))  # 48 days = 6.857 weeks
    interval = item(early, "Interval since last cycle")
    assert (interval["status"], interval["severity"]) == ("fail", "caution")
    assert interval["value"] == "6.9 weeks (last 2021-07-05)"
    # The reason names the earliest day of the next dose: 2021-07-05 + 49 days.
    assert interval["reason"] == ("Interval since last cycle: earliest cycle date: 2021-08-23 (7 weeks after the "
                                  "last cycle on 2021-07-05); 6.9 weeks on 2021-08-22")
    assert "interval" not in CONFIG.blocking_unknowns and "ssa_washout" not in CONFIG.blocking_unknowns


def salvage_cycle_tables(days_before: int, **kwargs) -> Tables:
    """make_tables with a fifth cycle of P1 (salvage, 7.4 GBq, no dosimetry) ``days_before`` AS_OF."""
    tables = make_tables(**kwargs)
    cycle = pd.DataFrame({"cycle_id": [9], "patient_id": ["P1"], "cycle_number": [5], "phase": ["salvage"],
                          "cycle_date": [pd.Timestamp(AS_OF) - pd.Timedelta(days=days_before)],
                          "activity_gbq": [7.4]})
    return tables.replace(cycles=pd.concat([tables.cycles, cycle], ignore_index=True))


def test_a_board_five_weeks_after_a_cycle_is_told_the_earliest_date_not_excluded():
    """Issue 13 review C1: 35 days after a salvage cycle the board plans the next one; the interval is a
    condition of the day of the dose. Labs a week old, everything else met: caution, not "not eligible"."""
    checklist, row = run(salvage_cycle_tables(35))  # last cycle 2024-04-27
    assert row is not None and row["n_past_cycles"] == 5
    assert checklist.verdict == "caution"
    assert checklist.reasons == ("Interval since last cycle: earliest cycle date: 2024-06-15 (7 weeks after the "
                                 "last cycle on 2024-04-27); 5.0 weeks on 2024-06-01",)
    # A monthly long-acting SSA injection 12 days before the board: a caution naming the earliest dose day.
    monthly = run(salvage_cycle_tables(49, ssa=[("2024-04-20", "lanreotide"), ("2024-05-20", "lanreotide")]))[0]
    assert status(monthly, "Interval since last cycle") == "pass" and monthly.verdict == "caution"
    assert monthly.reasons == ("Long-acting SSA stopped: earliest cycle date: 2024-06-17 (4 weeks after the last "
                               "long-acting injection on 2024-05-20); 1.7 weeks since lanreotide (2024-05-20) on "
                               "2024-06-01",)


def test_net003_evaluated_35_days_after_a_salvage_cycle(demo_tables):
    """The reviewer's case: NET-003 (demo) 35 days after its first salvage cycle (2020-12-22) was "not
    eligible" for "5.0 weeks since the last cycle". The interval is now a caution naming 2021-02-09
    (2020-12-22 + 49 days); the verdict is decided by the rest of the record: its work-up labs of
    2020-12-20 are 37 days old by then, so the board cannot assess, for that reason only."""
    cycles = demo_tables.cycles[demo_tables.cycles["patient_id"] == "NET-003"]
    first_salvage = cycles.loc[cycles["phase"] == "salvage", "cycle_date"].min()
    assert first_salvage == pd.Timestamp("2020-12-22")
    as_of = (first_salvage + pd.Timedelta(days=35)).date()
    checklist, _ = eligibility.assess(demo_tables, "NET-003", as_of=as_of, n_cycles=2, activity_gbq=7.4,
                                      config=CONFIG, settings=KidneyModelSettings())
    interval = item(checklist, "Interval since last cycle")
    assert (interval["status"], interval["severity"], interval["value"]) == ("fail", "caution",
                                                                              "5.0 weeks (last 2020-12-22)")
    assert interval["reason"].startswith("Interval since last cycle: earliest cycle date: 2021-02-09 (7 weeks "
                                         "after the last cycle on 2020-12-22)")
    assert checklist.verdict == "cannot assess"
    assert not any("Interval" in r or "SSA" in r for r in checklist.reasons)
    assert all("days old (limit 28 days)" in r for r in checklist.reasons)


def test_renal_function_cockcroft_gault_worked_example():
    # Cockcroft & Gault 1976: a 60-year-old 70 kg man, creatinine 1.0 mg/dL: (140-60) x 70 / 72 = 77.8 mL/min.
    assert eligibility.cockcroft_gault_ml_min(60, 70, 1.0, False) == pytest.approx(80 * 70 / 72)
    assert eligibility.cockcroft_gault_ml_min(60, 70, 1.0, True) == pytest.approx(80 * 70 / 72 * 0.85)
    # Mosteller 1987: sqrt(170 x 70 / 3600) = 1.8181 m2; 80 mL/min/1.73 m2 de-indexed = 84.08 mL/min.
    assert eligibility.bsa_mosteller_m2(170, 70) == pytest.approx(1.81812, abs=1e-5)
    assert eligibility.deindexed_egfr_ml_min(80, 1.81812) == pytest.approx(84.075, abs=1e-3)
    # In the checklist: age 57 at first PRRT + 1245 days since 2021-01-04 = 60.41 years at 2024-06-01.
    age = 57 + (pd.Timestamp(AS_OF) - FIRST_CYCLE).days / 365.25
    checklist, _ = run(make_tables(lab={"creatinine_mg_dl": 1.0}))
    renal = item(checklist, "Renal function")
    expected = (140 - age) * 70 / 72
    assert renal["status"] == "pass"
    assert renal["value"] == (f"CrCl {expected:.1f} mL/min (Cockcroft-Gault: creatinine 1 mg/dL on 2024-05-25, "
                              f"weight 70 kg (patient record, undated), age {age:.1f} years, male)")
    assert renal["threshold"] == ">= 50 mL/min (creatinine clearance, absolute)"


def test_renal_function_boundary_and_female_factor():
    age = 57 + (pd.Timestamp(AS_OF) - FIRST_CYCLE).days / 365.25
    at_limit = (140 - age) * 70 / (72 * 50.0)  # the creatinine giving exactly 50 mL/min
    assert status(run(make_tables(lab={"creatinine_mg_dl": at_limit * 0.999}))[0], "Renal function") == "pass"
    failing = run(make_tables(lab={"creatinine_mg_dl": at_limit * 1.001}))[0]
    assert status(failing, "Renal function") == "fail" and failing.verdict == "not eligible"
    assert item(failing, "Renal function")["value"].startswith("CrCl 49.95 mL/min")  # not "50.0"
    woman = run(make_tables(patient={"sex": "F", "childbearing_potential": False}, lab={"creatinine_mg_dl": 1.0}))[0]
    assert item(woman, "Renal function")["value"].startswith(f"CrCl {(140 - age) * 70 / 72 * 0.85:.1f} mL/min")


def test_renal_function_falls_back_to_deindexed_egfr_else_unknown():
    no_age = run(make_tables(patient={"age_at_first_prrt_years": np.nan}, lab={"egfr_ml_min_173m2": 80.0}))[0]
    renal = item(no_age, "Renal function")
    assert renal["value"] == ("eGFR de-indexed 84.1 mL/min = 80 mL/min/1.73 m2 (CKD-EPI 2021) x BSA 1.82 m2 "
                              "(Mosteller: 170 cm, 70 kg, patient record, undated) / 1.73, on 2024-05-25; "
                              "Cockcroft-Gault not possible: age not recorded")
    assert renal["status"] == "pass"
    # 46 mL/min/1.73 m2 x 1.8181 / 1.73 = 48.3 mL/min: fails once de-indexed.
    low = item(run(make_tables(patient={"age_at_first_prrt_years": np.nan}, lab={"egfr_ml_min_173m2": 46.0}))[0],
               "Renal function")
    assert low["status"] == "fail" and low["value"].startswith("eGFR de-indexed 48.3 mL/min")
    # The reviewer's case: BSA 1.5 m2 (150 cm x 54 kg / 3600 = 2.25, sqrt = 1.5); eGFR 55 mL/min/1.73 m2
    # is 55 x 1.5 / 1.73 = 47.7 mL/min absolute: below 50 although 55 "passes" when compared as is.
    small = {"age_at_first_prrt_years": np.nan, "weight_kg": 54.0, "height_cm": 150.0}
    deindexed = item(run(make_tables(patient=small, lab={"egfr_ml_min_173m2": 55.0}))[0], "Renal function")
    assert deindexed["status"] == "fail" and deindexed["value"].startswith("eGFR de-indexed 47.7 mL/min")
    # Without the height the indexed value cannot be de-indexed: unknown, and renal function blocks.
    no_height = run(make_tables(patient=small | {"height_cm": np.nan}, lab={"egfr_ml_min_173m2": 55.0}))[0]
    renal = item(no_height, "Renal function")
    assert renal["status"] == "unknown" and no_height.verdict == "cannot assess"
    assert renal["value"] == ("eGFR 55 mL/min/1.73 m2 (CKD-EPI 2021) on 2024-05-25, indexed: weight and height "
                              "needed to de-index (height not recorded); Cockcroft-Gault not possible: age not "
                              "recorded")
    assert no_height.reasons == ("Renal function: Cockcroft-Gault not possible: age not recorded; the eGFR per "
                                 "1.73 m2 cannot be de-indexed (height not recorded)",)
    bare = item(run(make_tables(patient={"weight_kg": np.nan}, equation=None))[0], "Renal function")
    assert bare["status"] == "unknown" and bare["value"].startswith(
        "eGFR 80 mL/min/1.73 m2 (equation not recorded) on 2024-05-25, indexed: weight and height needed to "
        "de-index (weight not recorded)")
    assert bare["threshold"] == ">= 50 mL/min (creatinine clearance, absolute)"
    nothing = item(run(make_tables(lab={"creatinine_mg_dl": np.nan, "egfr_ml_min_173m2": np.nan}))[0],
                   "Renal function")
    assert nothing["status"] == "unknown" and nothing["reason"] == "Renal function: no creatinine or eGFR recorded"


def test_renal_reasons_say_what_is_missing():
    # Creatinine a week old (fresh), eGFR 61 days old, no weight: the reason names the weight and the
    # old eGFR, never "creatinine ... days old".
    tables = make_tables(patient={"weight_kg": np.nan})
    fresh = tables.labs.assign(egfr_ml_min_173m2=np.nan)
    old = tables.labs.assign(lab_id=2, lab_date=pd.Timestamp("2024-04-01"), creatinine_mg_dl=np.nan)
    checklist = run(tables.replace(labs=pd.concat([old, fresh], ignore_index=True)))[0]
    renal = item(checklist, "Renal function")
    assert renal["status"] == "unknown"
    assert renal["reason"] == ("Renal function: Cockcroft-Gault not possible: weight not recorded; eGFR 61 days old "
                               "(limit 28 days)")
    assert renal["value"] == "eGFR 61 days old (limit 28 days); Cockcroft-Gault not possible: weight not recorded"


def test_long_acting_ssa_stopped_four_weeks_before():
    four = run(make_tables(ssa=[("2024-05-04", "octreotide LAR")]))[0]  # 28 days
    assert status(four, "Long-acting SSA stopped") == "pass"
    early = run(make_tables(ssa=[("2024-05-05", "octreotide LAR")]))[0]  # 27 days = 3.857 weeks
    ssa = item(early, "Long-acting SSA stopped")
    assert (ssa["status"], ssa["severity"], early.verdict) == ("fail", "caution", "caution")
    assert ssa["value"] == "3.9 weeks since octreotide LAR (2024-05-05)"
    # The earliest dose day: 2024-05-05 + 28 days.
    assert early.reasons == ("Long-acting SSA stopped: earliest cycle date: 2024-06-02 (4 weeks after the last "
                             "long-acting injection on 2024-05-05); 3.9 weeks since octreotide LAR (2024-05-05) on "
                             "2024-06-01",)
    # 27.9 days would read "4.0 weeks" when rounded; beside the limit it reads below it.
    assert eligibility.beside_limit(27.9 / 7, 4.0) == "3.99"
    short = run(make_tables(ssa=[("2024-05-31", "octreotide s.c.")]))[0]  # short-acting: up to 24 h before
    assert status(short, "Long-acting SSA stopped") == "pass"


def test_pregnancy_and_breast_feeding():
    assert status(run()[0], "Pregnancy / breast-feeding") == "pass"  # male
    woman = {"sex": "F"}
    none = run(make_tables(patient=woman | {"childbearing_potential": False}))[0]
    assert item(none, "Pregnancy / breast-feeding")["value"] == "no child-bearing potential"
    # Pregnancy status is verified before the dose (label 8.3): without a recent test the item is
    # unknown, a caution saying so, not "cannot assess".
    unrecorded = run(make_tables(patient=woman))[0]
    assert status(unrecorded, "Pregnancy / breast-feeding") == "unknown" and unrecorded.verdict == "caution"
    assert unrecorded.reasons == ("Pregnancy / breast-feeding: child-bearing potential not recorded; verify "
                                  "pregnancy status before the dose (label 8.3)",)
    potential = woman | {"childbearing_potential": True}
    negative = run(make_tables(patient=potential, findings=[("2024-05-26", "pregnancy", False)]))[0]  # 6 days
    assert status(negative, "Pregnancy / breast-feeding") == "pass" and negative.verdict == "eligible"
    stale = run(make_tables(patient=potential, findings=[("2024-05-24", "pregnancy", False)]))[0]  # 8 days
    assert status(stale, "Pregnancy / breast-feeding") == "unknown" and stale.verdict == "caution"
    assert stale.reasons == ("Pregnancy / breast-feeding: verify pregnancy status before the dose (label 8.3); "
                             "latest pregnancy test 8 days old (2024-05-24) (limit 7 days)",)
    assert "pregnancy" not in CONFIG.blocking_unknowns
    strict = dataclasses.replace(CONFIG, blocking_unknowns=(*CONFIG.blocking_unknowns, "pregnancy"))
    assert run(make_tables(patient=potential), config=strict)[0].verdict == "cannot assess"  # configurable
    pregnant = run(make_tables(patient=potential, findings=[("2024-03-01", "pregnancy", True)]))[0]
    assert status(pregnant, "Pregnancy / breast-feeding") == "fail" and pregnant.verdict == "not eligible"
    feeding = run(make_tables(patient=potential, findings=[("2024-05-30", "pregnancy", False),
                                                           ("2024-05-30", "breast-feeding", True)]))[0]
    assert feeding.verdict == "not eligible" and feeding.reasons == (
        "Pregnancy / breast-feeding: breast-feeding (2024-05-30)",)


def test_tumour_grade_and_ki67_are_a_caution():
    assert status(run(make_tables(patient={"ki67_pct": 20.0}))[0], "Tumour grade / Ki-67") == "pass"
    high = run(make_tables(patient={"ki67_pct": 21.0}))[0]
    assert status(high, "Tumour grade / Ki-67") == "fail" and high.verdict == "caution"
    assert run(make_tables(patient={"tumour_grade": "G3", "ki67_pct": np.nan}))[0].verdict == "caution"
    unknown = run(make_tables(patient={"tumour_grade": None, "ki67_pct": np.nan}))[0]
    assert status(unknown, "Tumour grade / Ki-67") == "unknown" and unknown.verdict == "caution"


def test_findings_checked_when_recorded():
    mismatch = run(make_tables(findings=[("2024-05-10", "FDG-positive SSTR-negative disease", True)]))[0]
    assert status(mismatch, "FDG-positive SSTR-negative disease") == "fail" and mismatch.verdict == "caution"
    urinary = run(make_tables(findings=[("2023-01-10", "urinary incontinence", True)]))[0]
    assert status(urinary, "Urinary obstruction / incontinence") == "fail" and urinary.verdict == "caution"
    unrecorded = run(make_tables(findings=[]))[0]
    assert status(unrecorded, "FDG-positive SSTR-negative disease") == "unknown"
    assert unrecorded.verdict == "eligible"  # checked only when recorded
    assert unrecorded.reasons == ("All criteria met", "Not recorded, checked only when recorded: FDG-positive "
                                  "SSTR-negative disease, Urinary obstruction / incontinence")


def acceptance_tables(**patient) -> Tables:
    """20.7 Gy so far: 4 x 7.4 GBq at 0.70 Gy/GBq (0.70, 0.735, 0.665, 0.70: mean 0.70), T_eff 50 h.

    Two more cycles of 7.4 GBq at 0.70 Gy/GBq add 2 x 5.18 Gy: 31.1 Gy. BED per cycle of D Gy with
    alpha/beta 2.6 Gy, T_rep 2.8 h, T_eff 50 h: D (1 + D/2.6 x 2.8/52.8), 5.18 Gy -> 5.73 Gy;
    6 such cycles: 34.4 Gy BED (Dale's formula, dosimetry.bed).
    """
    return make_tables(gy_per_gbq=0.70, patient=patient, lab_date="2024-05-25")


def test_policy_no_renal_risk_31_gy_is_caution_hypertension_is_not_eligible():
    checklist, row = run(acceptance_tables())
    assert row["dose_now_gy"] == pytest.approx(4 * 7.4 * 0.70, rel=1e-9)  # 20.72 Gy
    assert row["dose_p50_gy"] == pytest.approx(20.72 + 2 * 7.4 * 0.70, rel=0.02)  # ~31.1 Gy
    per_cycle = 5.18 * (1 + 5.18 / 2.6 * 2.8 / 52.8)
    assert row["bed_p50_gy"] == pytest.approx(6 * per_cycle, rel=0.02)  # ~34.4 Gy BED
    assert status(checklist, "Projected kidney dose") == "fail"  # P(> 23 Gy) ~ 1: a caution limit
    assert status(checklist, "Projected kidney BED") == "pass"  # 34.4 of 40 Gy
    assert checklist.verdict == "caution"
    assert checklist.reasons == (f"Cumulative kidney absorbed dose exceeds 23 Gy with probability "
                                 f"{100 * row['p_exceed_dose']:.1f} % (caution limit)",)
    risky, row = run(acceptance_tables(hypertension=True))
    assert row["bed_limit_gy"] == 28.0 and status(risky, "Projected kidney BED") == "fail"
    assert risky.verdict == "not eligible"
    assert item(risky, "Projected kidney BED")["threshold"] == "P(> 28 Gy (renal risk factors)) <= 5 %"


def test_policy_comes_from_the_config_and_severities_can_change():
    strict = dataclasses.replace(CONFIG, kidney_dose=dataclasses.replace(CONFIG.kidney_dose, severity=eligibility.Severity.EXCLUDE))
    checklist, _ = run(acceptance_tables(), config=strict)
    assert checklist.verdict == "not eligible"
    assert checklist.policy.text == "Kidney limits: BED 28/40 Gy exclude; absorbed dose 23 Gy exclude"
    # The thresholds in force are the settings' (the board may change them in the planner).
    looser = eligibility.default_settings(CONFIG, KidneyModelSettings(dose_limit_gy=35.0))
    assert looser.dose_limit_gy == 23.0  # default_settings puts the file's limits back
    moved = run(acceptance_tables(), settings=KidneyModelSettings(dose_limit_gy=35.0))[0]
    assert moved.policy.text == "Kidney limits: BED 28/40 Gy exclude; absorbed dose 35 Gy caution"
    assert status(moved, "Projected kidney dose") == "pass" and moved.verdict == "eligible"


def test_shipped_limits_agree_with_the_kidney_model_defaults():
    # One home: data/eligibility.toml; KidneyModelSettings' own defaults (radiobiology constants,
    # for code calling projection directly) must not drift from it.
    assert (CONFIG.kidney_dose.limit_gy, CONFIG.kidney_bed.limit_renal_risk_gy,
            CONFIG.kidney_bed.limit_no_renal_risk_gy) == (DOSE_LIMIT_GY, BED_LIMIT_GY_RISK, BED_LIMIT_GY_NO_RISK)
    assert eligibility.default_settings(CONFIG) == KidneyModelSettings()
    assert CONFIG.kidney_dose.severity == "caution" and CONFIG.kidney_bed.severity == "exclude"
    assert (CONFIG.activity.min_gbq, CONFIG.activity.max_gbq, CONFIG.activity.reduced_gbq) == (1.0, 7.4, 3.7)


def test_projected_kidney_value_reads_beside_its_limit():
    checklist, row = run(acceptance_tables())
    value = item(checklist, "Projected kidney BED")["value"]
    assert value.startswith(f"median {row['bed_p50_gy']:.1f} of 40 Gy (90 % interval ")
    assert eligibility.of_limit(22.95, 23, "Gy") == "22.95 of 23 Gy"
    assert eligibility.beside_limit(23.04, 23) == "23.04" and eligibility.beside_limit(12.34, 23) == "12.3"
    assert eligibility.beside_limit(22.99999999, 23) == "22.9999"  # rounded towards its own side at the end
    assert eligibility.beside_limit(23.0, 23) == "23.0"


def test_projected_kidney_interval_bounds_read_beside_the_limit():
    """Review C5: a 95th percentile of 23.04 Gy beside the 23 Gy limit reads '23.04', not '23.0' (which
    would put it on the limit while P(> 23 Gy) > 5 %); a bound far from the limit keeps one decimal."""
    row = pd.Series({"dose_limit_gy": 23.0, "p_exceed_dose": 0.06, "dose_p05_gy": 20.61, "dose_p50_gy": 21.9,
                     "dose_p95_gy": 23.04, "bed_limit_gy": 40.0, "p_exceed_bed": 0.0, "bed_p05_gy": 22.0,
                     "bed_p50_gy": 23.5, "bed_p95_gy": 39.96, "renal_risk_known": True, "renal_risk": False})
    dose, bed = kidney_items(row, KidneyModelSettings(), CONFIG, None)
    assert dose.value == "median 21.9 of 23 Gy (90 % interval 20.6-23.04 Gy); P(> 23 Gy) = 6.0 %"
    assert dose.status == "fail"  # P 6 % > tolerance 5 %: consistent with a 95th percentile above 23
    assert bed.value == "median 23.5 of 40 Gy (90 % interval 22.0-39.96 Gy); P(> 40 Gy) = 0.0 %"


def test_no_projection_leaves_kidney_criteria_unknown_and_blocks():
    tables = make_tables()
    tables = tables.replace(dosimetry=tables.dosimetry.iloc[:0])  # no dosimetry anywhere: no model
    checklist, row = run(tables)
    assert row is None
    assert status(checklist, "Projected kidney dose") == "unknown"
    assert checklist.verdict == "cannot assess"  # kidney BED excludes: its unknown blocks


def test_config_errors_name_file_section_and_key(tmp_path):
    text = eligibility.DEFAULT_CONFIG_PATH.read_text()
    bad = tmp_path / "e.toml"
    cases = [
        (text.replace('[wbc]\nmin = 2.0', '[wbc]\nminimum = 2.0'), r"e\.toml: \[wbc\] unknown key 'minimum'"),
        (text.replace('min_exclusive = 3.0\nseverity = "caution"', 'min_exclusive = 3.0\nseverity = "maybe"'),
         r"e\.toml: \[albumin\] severity must be 'exclude' or 'caution', got 'maybe'"),
        (text.replace("min_exclusive = 3.0", "min = 3.0"), r"e\.toml: \[albumin\] unknown key 'min'"),
        (text.replace("min = 8.0", "min = -8.0"), r"\[hemoglobin\] min has an invalid value -8.0"),
        (text + "\n[ki67]\nmax = 20\n", r"e\.toml: unknown section \[ki67\]"),
        (text.replace("limit_gy = 23.0", "limit_gy = 0"), r"\[kidney_dose\] limit_gy has an invalid value 0"),
        (text.replace("limit_renal_risk_gy = 28.0", "limit_renal_risk_gy = 45.0"),
         r"\[kidney_bed\] limit_renal_risk_gy 45 is above limit_no_renal_risk_gy 40"),
        (text.replace('"kidney_bed",\n]', '"kidney_bed", "ki67",\n]'),
         r"e\.toml: \[verdict\] blocking_unknowns names an unknown criterion 'ki67'"),
        (text.replace('checked_when_recorded = ["fdg_mismatch", "urinary"]',
                      'checked_when_recorded = ["fdg_mismatch", "urinary", "bilirubin"]'),
         r"\[verdict\] 'bilirubin' is in both blocking_unknowns and checked_when_recorded"),
        (text.replace("min_gbq = 1.0", "min_gbq = 8.0"), r"\[activity_per_cycle\] min_gbq 8.0 must be below max_gbq 7.4"),
        (text.replace("[pregnancy]\n", "[pregnancy_]\n"), r"unknown section \[pregnancy_\]"),
        (text.replace("max_age_days = 7\n", ""), r"e\.toml: \[pregnancy\] max_age_days is missing"),
        (text.replace('caution_grades = ["G3"]', 'caution_grades = ["G4"]'),
         r"\[tumour_grade\] caution_grades has an invalid value \['G4'\]"),
    ]
    for content, message in cases:
        bad.write_text(content)
        with pytest.raises(ConfigError, match=message):
            eligibility.load_config(bad)


def test_demo_patient_at_salvage_decision(demo_tables):
    # The day before NET-004's first salvage cycle: everything recorded and recent.
    cycles = demo_tables.cycles
    start = cycles[(cycles["patient_id"] == "NET-004") & (cycles["phase"] == "salvage")]["cycle_date"].min()
    as_of = (start - pd.Timedelta(days=1)).date()
    checklist, row = eligibility.assess(demo_tables, "NET-004", as_of=as_of, n_cycles=2,
                                        activity_gbq=7.4, config=CONFIG, settings=KidneyModelSettings())
    assert row["n_past_cycles"] == 4  # only the initial cycles were known then
    required = ~checklist.items["key"].isin(CONFIG.checked_when_recorded)
    assert (checklist.items.loc[required, "status"] != "unknown").all()
