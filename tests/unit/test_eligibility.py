"""Salvage eligibility checklist: each criterion each way, unknowns included.

Thresholds are the shipped defaults of data/eligibility.toml (sources there):
Hb >= 8.0 g/dL, platelets >= 75, WBC >= 2.0, neutrophils >= 1.0 x10^9/L,
eGFR >= 50, bilirubin <= 3 x ULN (1.2 mg/dL), albumin >= 3.0 g/dL (caution),
ECOG <= 2 / Karnofsky >= 60, PFS after initial PRRT >= 12 months, Krenning >= 2,
>= 8 weeks since the last cycle, labs <= 28 days old.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from prrt_core.clinical import eligibility
from prrt_core.projection import KidneyModelSettings
from prrt_core.tables import Tables

AS_OF = dt.date(2024, 6, 1)
CONFIG = eligibility.load_config()


def make_tables(*, lab=None, lab_date="2024-05-25", pet_score=3, pet_date="2024-05-10",
                ecog=1, kps=80, progression="2023-06-01", gy_per_gbq=0.3) -> Tables:
    """Patient P1 (evaluated) and P2 (cohort for the projection model), 4 initial cycles each."""
    patients = pd.DataFrame({"patient_id": ["P1", "P2"], "sex": ["M", "F"],
                             "hypertension": [False, False], "diabetes": [False, False],
                             "other_renal_risk": [None, None]})
    dates = pd.to_datetime(["2021-01-04", "2021-03-01", "2021-05-03", "2021-07-05"])
    cycles = pd.DataFrame({"cycle_id": range(1, 9), "patient_id": ["P1"] * 4 + ["P2"] * 4,
                           "cycle_number": [1, 2, 3, 4] * 2, "phase": "initial",
                           "cycle_date": list(dates) * 2, "activity_gbq": 7.4})
    ratio = [gy_per_gbq, gy_per_gbq * 1.05, gy_per_gbq * 0.95, gy_per_gbq] + [0.5, 0.55, 0.45, 0.5]
    dosimetry = pd.DataFrame({"cycle_id": range(1, 9), "organ": "kidneys",
                              "dose_gy": np.array(ratio) * 7.4, "t_eff_h": 50.0})
    values = {"hb_g_dl": 12.0, "plt_10e9_l": 200.0, "wbc_10e9_l": 5.0, "neut_10e9_l": 3.0,
              "lymph_10e9_l": 1.2, "creatinine_mg_dl": 0.9, "egfr_ml_min_173m2": 80.0,
              "bilirubin_mg_dl": 0.6, "albumin_g_dl": 4.0} | (lab or {})
    labs = pd.DataFrame([{"lab_id": 1, "patient_id": "P1", "lab_date": pd.Timestamp(lab_date)} | values])
    assessments = pd.DataFrame({
        "assessment_id": [1, 2, 3], "patient_id": "P1",
        "assessment_date": pd.to_datetime(["2020-12-20", "2021-10-01", pet_date]),
        "phase": ["initial", "initial", "salvage"], "role": ["baseline", "follow-up", "baseline"],
        "modality": ["CT", "CT", "Ga-68 DOTATATE PET/CT"], "target_sum_mm": [100.0, 60.0, 90.0],
        "new_lesions": [False, False, False], "non_target": [None, "non-CR/non-PD", None],
        "sstr_krenning_score": [np.nan, np.nan, pet_score]})
    events = pd.DataFrame({"patient_id": ["P1"], "event_date": pd.to_datetime([progression]),
                           "event_type": ["progression"], "phase": ["initial"]}) \
        if progression else pd.DataFrame({"patient_id": ["P1"], "event_date": pd.to_datetime(["2022-06-01"]),
                                          "event_type": ["last_contact"], "phase": [None]})
    performance = pd.DataFrame({"patient_id": ["P1"], "status_date": pd.to_datetime(["2024-05-20"]),
                                "ecog": [ecog], "karnofsky_pct": [kps]})
    return Tables(patients=patients, cycles=cycles, dosimetry=dosimetry, labs=labs, assessments=assessments,
                  events=events, performance_status=performance)


def run(tables=None, **kwargs):
    options = dict(as_of=AS_OF, n_cycles=2, activity_gbq=7.4, config=CONFIG, settings=KidneyModelSettings()) | kwargs
    return eligibility.assess(tables or make_tables(), "P1", **options)


def status(checklist, criterion: str) -> str:
    return checklist.items.set_index("criterion").loc[criterion, "status"]


def test_all_criteria_met_is_eligible():
    checklist, row = run()
    assert checklist.verdict == "eligible" and checklist.reasons == ("All criteria met",)
    assert (checklist.items["status"] == "pass").all() and len(checklist.items) == 14
    assert set(checklist.items.columns) == {"criterion", "status", "value", "threshold", "severity",
                                            "source", "reason"}
    assert checklist.items["source"].str.len().min() > 20  # every criterion names its source
    # 4 cycles x 7.4 GBq at ~0.3 Gy/GBq = 8.9 Gy now; far from 23 Gy after 2 more.
    assert row["dose_now_gy"] == pytest.approx(7.4 * 0.3 * 4, rel=1e-9)


@pytest.mark.parametrize("field, bad, good, criterion", [
    ("hb_g_dl", 7.9, 8.0, "Haemoglobin"),
    ("plt_10e9_l", 74.0, 75.0, "Platelets"),
    ("wbc_10e9_l", 1.99, 2.0, "White blood cells"),
    ("neut_10e9_l", 0.99, 1.0, "Neutrophils"),
    ("egfr_ml_min_173m2", 49.0, 50.0, "eGFR"),
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


def test_missing_or_stale_values_are_unknown_never_pass():
    missing, _ = run(make_tables(lab={"bilirubin_mg_dl": np.nan}))
    assert status(missing, "Bilirubin") == "unknown" and missing.verdict == "caution"
    assert any("Bilirubin: no value recorded" in r for r in missing.reasons)
    stale, _ = run(make_tables(lab_date="2024-04-30"))  # 32 days before the evaluation
    unknown = stale.items[stale.items["status"] == "unknown"]["criterion"].tolist()
    assert unknown == ["Haemoglobin", "Platelets", "White blood cells", "Neutrophils", "eGFR",
                       "Bilirubin", "Albumin"]
    assert stale.verdict == "caution" and any("32 days old" in r for r in stale.reasons)


def test_values_after_the_evaluation_date_are_ignored():
    later = make_tables(lab_date="2024-06-02", lab={"hb_g_dl": 6.0})
    checklist, _ = run(later)
    assert status(checklist, "Haemoglobin") == "unknown"  # the only value lies in the future


def test_pfs_after_initial_prrt():
    short, _ = run(make_tables(progression="2021-11-01"))  # 9.9 months after 2021-01-04
    assert status(short, "PFS after initial PRRT") == "fail" and short.verdict == "not eligible"
    censored, _ = run(make_tables(progression=None))  # no progression recorded
    assert status(censored, "PFS after initial PRRT") == "pass"  # 16.9 months without progression
    value = censored.items.set_index("criterion").loc["PFS after initial PRRT", "value"]
    assert value == "16.9 months (no progression recorded)"


def test_sstr_expression():
    low, _ = run(make_tables(pet_score=1))
    assert status(low, "SSTR expression") == "fail" and low.verdict == "not eligible"
    none, _ = run(make_tables(pet_score=np.nan))
    assert status(none, "SSTR expression") == "unknown"
    old, _ = run(make_tables(pet_date="2023-11-01"))  # 213 days > 180
    assert status(old, "SSTR expression") == "unknown"


def test_performance_status():
    assert status(run(make_tables(ecog=3, kps=40))[0], "Performance status") == "fail"
    assert status(run(make_tables(ecog=np.nan, kps=50))[0], "Performance status") == "fail"
    assert status(run(make_tables(ecog=np.nan, kps=60))[0], "Performance status") == "pass"
    assert status(run(make_tables(ecog=np.nan, kps=np.nan))[0], "Performance status") == "unknown"


def test_interval_since_last_cycle():
    checklist, _ = run(as_of=dt.date(2021, 8, 16))  # 6.0 weeks after 2021-07-05
    assert status(checklist, "Interval since last cycle") == "fail"
    assert "6.0 weeks" in checklist.items.set_index("criterion").loc["Interval since last cycle", "value"]


def test_projected_kidney_dose_over_limit_names_the_safe_activity():
    # 4 x 7.4 GBq at 0.6 Gy/GBq = 17.8 Gy now; 2 more cycles at 7.4 GBq add ~8.9 Gy -> > 23 Gy.
    checklist, row = run(make_tables(gy_per_gbq=0.6))
    assert status(checklist, "Projected kidney dose") == "fail"
    assert row["p_exceed_dose"] > 0.05 and checklist.verdict == "not eligible"
    reason = checklist.items.set_index("criterion").loc["Projected kidney dose", "reason"]
    assert f"largest safe activity {row['max_safe_activity_gbq']:.1f} GBq per cycle" in reason
    # At the largest safe activity the same patient passes.
    safe, _ = run(make_tables(gy_per_gbq=0.6), activity_gbq=float(row["max_safe_activity_gbq"]) * 0.99)
    assert status(safe, "Projected kidney dose") == "pass"


def test_no_projection_leaves_kidney_criteria_unknown():
    tables = make_tables()
    tables = tables.replace(dosimetry=tables.dosimetry.iloc[:0])  # no dosimetry anywhere: no model
    checklist, row = run(tables)
    assert row is None
    assert status(checklist, "Projected kidney dose") == "unknown"
    assert checklist.verdict == "caution"


def test_config_errors_name_file_section_and_key(tmp_path):
    text = eligibility.DEFAULT_CONFIG_PATH.read_text()
    bad = tmp_path / "e.toml"
    bad.write_text(text.replace('[wbc]\nmin = 2.0', '[wbc]\nminimum = 2.0'))
    with pytest.raises(ValueError, match=r"e\.toml: \[wbc\] unknown key 'minimum'"):
        eligibility.load_config(bad)
    bad.write_text(text.replace('severity = "caution"', 'severity = "maybe"'))
    with pytest.raises(ValueError, match=r"\[albumin\] severity must be 'exclude' or 'caution'"):
        eligibility.load_config(bad)
    bad.write_text(text.replace("min = 8.0", "min = -8.0"))
    with pytest.raises(ValueError, match=r"\[hemoglobin\] min has an invalid value -8.0"):
        eligibility.load_config(bad)
    bad.write_text(text + "\n[ki67]\nmax = 20\n")
    with pytest.raises(ValueError, match=r"unknown section \[ki67\]"):
        eligibility.load_config(bad)


def test_demo_patient_at_salvage_decision(demo_tables):
    # The day before NET-004's first salvage cycle: everything recorded and recent.
    cycles = demo_tables.cycles
    start = cycles[(cycles["patient_id"] == "NET-004") & (cycles["phase"] == "salvage")]["cycle_date"].min()
    as_of = (start - pd.Timedelta(days=1)).date()
    checklist, row = eligibility.assess(demo_tables, "NET-004", as_of=as_of, n_cycles=2,
                                        activity_gbq=7.4, config=CONFIG, settings=KidneyModelSettings())
    assert row["n_past_cycles"] == 4  # only the initial cycles were known then
    assert (checklist.items["status"] != "unknown").all()
