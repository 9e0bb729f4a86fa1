"""RECIST 1.1 (prrt_core.response).

Rules from Eisenhauer et al., Eur J Cancer 2009;45:228-247 (RECIST 1.1):
section 4.3.1 (target: PR >= 30 % below baseline; PD >= 20 % and >= 5 mm above
the nadir), Table 1 (overall time-point response), sections 4.4-4.5 (best
overall response, SD minimum 6-8 weeks, CR/PR confirmation >= 4 weeks).
Each expected value below is worked out from those rules in its comment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prrt_core.clinical import response as resp
from prrt_core.clinical.response import best_overall_response, recist

NaN = np.nan
START = pd.Timestamp("2020-01-01")


def weeks(*w: float) -> list[pd.Timestamp]:
    return [START + pd.Timedelta(weeks=x) for x in w]


# --------------------------------------------------------------------------
# time-point response
# --------------------------------------------------------------------------

def test_five_mm_rule():
    # Nadir 20 mm (baseline): 24 mm is +20 % but only +4 mm -> not PD; 24 > 70 % of 20 -> SD.
    assert recist(20.0, [24.0], [False]).tolist() == ["SD"]
    # 25 mm: +25 % and +5 mm -> PD.
    assert recist(20.0, [25.0], [False]).tolist() == ["PD"]


def test_pd_boundary_is_inclusive():
    # Nadir 25 -> 30 mm: exactly +20 % and exactly +5 mm ("at least") -> PD.
    assert recist(25.0, [30.0], [False]).tolist() == ["PD"]
    # Baseline 30, nadir 7.2 (PR) -> 12.2 mm: +69 % and +5 mm exactly
    # (12.2 - 7.2 = 4.999999999999999 in binary) -> PD.
    assert recist(30.0, [7.2, 12.2], [False, False]).tolist() == ["PR", "PD"]
    # Nadir 50 -> 59.5 mm: +19 % (though +9.5 mm) -> SD.
    assert recist(50.0, [59.5], [False]).tolist() == ["SD"]


def test_pr_at_exactly_minus_30_percent():
    # 20.3 mm is exactly 70 % of 29 mm (0.7 * 29 = 20.299999999999997 in binary) -> PR.
    assert recist(29.0, [20.3], [False]).tolist() == ["PR"]
    # Baseline 100: 70 mm (-30 %) PR, 70.1 mm (-29.9 %) SD.
    assert recist(100.0, [70.0, 70.1], [False, False]).tolist() == ["PR", "SD"]


def test_nadir_is_smallest_sum_so_far():
    # Baseline 100; 50 (PR, new nadir 50); 61 = +22 % and +11 mm over the nadir 50 -> PD,
    # although still -39 % from baseline.
    assert recist(100.0, [50.0, 61.0], [False, False]).tolist() == ["PR", "PD"]
    # A missing sum is NE and does not become the nadir: 50, NaN, 59 (+18 %) -> PR, NE, PR.
    assert recist(100.0, [50.0, NaN, 59.0], [False] * 3).tolist() == ["PR", "NE", "PR"]


def test_new_lesion_and_non_target_pd():
    # An unequivocal new lesion is PD whatever the sums, even when unmeasured.
    assert recist(100.0, [40.0, NaN], [True, True]).tolist() == ["PD", "PD"]
    # Unequivocal non-target progression is PD.
    assert recist(100.0, [40.0], [False], ["PD"]).tolist() == ["PD"]


def test_complete_response_table():
    # RECIST 1.1 Table 1: target CR + non-target CR -> CR; + non-CR/non-PD or NE -> PR;
    # no non-target lesions recorded (None) -> the target CR stands.
    got = recist(40.0, [0.0, 0.0, 0.0, 0.0], [False] * 4, ["CR", "non-CR/non-PD", "NE", None])
    assert got.tolist() == ["CR", "PR", "PR", "CR"]
    # After CR (nadir 0) a reappearing 5 mm lesion is +5 mm over the nadir -> PD.
    assert recist(40.0, [0.0, 5.0], [False, False]).tolist() == ["CR", "PD"]


def test_not_evaluable():
    # Target not evaluated and no PD -> NE; unknown new-lesion status -> no CR/PR/SD claim.
    assert recist(40.0, [NaN, 30.0, 10.0], [False, None, False]).tolist() == ["NE", "NE", "PR"]
    # No measurable disease at baseline (NaN or 0 mm): NE unless PD by new lesion.
    assert recist(NaN, [30.0, 30.0], [False, True]).tolist() == ["NE", "PD"]
    assert recist(0.0, [0.0], [False]).tolist() == ["NE"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((40.0, [-1.0], [False]), "sums_mm must be >= 0"),
        ((-40.0, [10.0], [False]), "baseline_sum_mm must be >= 0"),
        ((40.0, [10.0, 20.0], [False]), "new_lesions has 1 values for 2"),
        ((40.0, [10.0], [False], ["progressing"]), "non_target must be one of"),
        ((40.0, [10.0], ["maybe"]), "new_lesions must be booleans"),
    ],
)
def test_recist_errors(args, message):
    with pytest.raises(ValueError, match=message):
        recist(*args)


# --------------------------------------------------------------------------
# best overall response
# --------------------------------------------------------------------------

def test_sd_needs_six_weeks():
    # SD at 5 weeks is too early -> NE; SD at exactly 6 weeks counts.
    assert best_overall_response(weeks(5), ["SD"], START) == "NE"
    assert best_overall_response(weeks(6), ["SD"], START) == "SD"
    # Too-early SD followed by PD -> PD.
    assert best_overall_response(weeks(5, 12), ["SD", "PD"], START) == "PD"
    # Protocol with an 8-week minimum: SD at 7 weeks is NE.
    assert best_overall_response(weeks(7), ["SD"], START, min_sd_weeks=8) == "NE"


def test_best_response_until_progression():
    # The best before PD counts; nothing after the first PD does.
    assert best_overall_response(weeks(8, 16, 24), ["SD", "PR", "PD"], START) == "PR"
    assert best_overall_response(weeks(8, 16), ["PD", "CR"], START) == "PD"
    # No confirmation by default: a single CR is CR.
    assert best_overall_response(weeks(3), ["CR"], START) == "CR"
    assert best_overall_response([], [], START) == "NE"
    assert best_overall_response(weeks(8, 16), ["NE", "NE"], START) == "NE"


def test_confirmation_option():
    # Confirmed by a repeat >= 4 weeks later: CR, CR -> CR; PR, PR -> PR; CR then PR -> PR.
    assert best_overall_response(weeks(8, 12), ["CR", "CR"], START, confirm=True) == "CR"
    assert best_overall_response(weeks(8, 16), ["PR", "PR"], START, confirm=True) == "PR"
    assert best_overall_response(weeks(8, 16), ["CR", "PR"], START, confirm=True) == "PR"
    # Repeat only 3 weeks later: unconfirmed CR counts as SD (both >= 6 weeks).
    assert best_overall_response(weeks(8, 11), ["CR", "CR"], START, confirm=True) == "SD"
    # PR then SD -> SD (RECIST 1.1 Table 3).
    assert best_overall_response(weeks(8, 16), ["PR", "SD"], START, confirm=True) == "SD"
    # PR at 3 weeks, PD at 10: unconfirmed PR counts as SD, too early for SD -> PD.
    assert best_overall_response(weeks(3, 10), ["PR", "PD"], START, confirm=True) == "PD"
    # A PD scan cannot confirm: CR at 8, PD at 16 -> SD (CR, PD -> SD if SD duration met).
    assert best_overall_response(weeks(8, 16), ["CR", "PD"], START, confirm=True) == "SD"


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((weeks(16, 8), ["SD", "SD"], START), {}, "chronological order"),
        ((weeks(-1), ["SD"], START), {}, "before start_date"),
        ((weeks(8), ["stable"], START), {}, "responses must be one of"),
        ((weeks(8, 9), ["SD"], START), {}, "responses has 1 values for 2 dates"),
        ((weeks(8), ["SD"], START), {"min_sd_weeks": -1}, "min_sd_weeks"),
    ],
)
def test_best_overall_response_errors(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        best_overall_response(*args, **kwargs)


# --------------------------------------------------------------------------
# cohort tables
# --------------------------------------------------------------------------

@pytest.fixture
def cohort():
    # A: initial start 2015-01-01, salvage start 2019-01-01. B: initial only, no follow-up.
    cycles = pd.DataFrame({
        "cycle_id": [1, 2, 3, 4],
        "patient_id": ["A", "A", "A", "B"],
        "cycle_number": [1, 2, 3, 1],
        "phase": ["initial", "initial", "salvage", "initial"],
        "cycle_date": pd.to_datetime(["2015-01-01", "2015-03-01", "2019-01-01", "2016-01-01"]),
        "activity_gbq": 7.4,
    })
    rows = [
        # id, patient, date, phase, role, sum, new, non-target
        (1, "A", "2014-11-01", "initial", "baseline", 90.0, False, None),
        (2, "A", "2014-12-15", "initial", "baseline", 100.0, False, None),   # latest: used
        (3, "A", "2015-06-01", "initial", "follow-up", 60.0, False, None),   # -40 % PR
        (4, "A", "2016-06-01", "initial", "follow-up", 75.0, False, None),   # +25 %/+15 mm over 60: PD
        (5, "A", "2018-12-01", "salvage", "baseline", 50.0, False, "non-CR/non-PD"),
        (6, "A", "2019-01-20", "salvage", "follow-up", 48.0, False, "non-CR/non-PD"),  # 2.7 wk SD
        (7, "A", "2019-04-01", "salvage", "follow-up", 52.0, False, "non-CR/non-PD"),  # 12.6 wk SD
        (8, "A", "2019-08-01", "salvage", "follow-up", 52.0, True, "non-CR/non-PD"),   # new lesion PD
        (9, "B", "2015-12-01", "initial", "baseline", 40.0, False, None),
    ]
    assessments = pd.DataFrame(rows, columns=["assessment_id", "patient_id", "assessment_date", "phase",
                                              "role", "target_sum_mm", "new_lesions", "non_target"])
    assessments["assessment_date"] = pd.to_datetime(assessments["assessment_date"])
    assessments["modality"] = "CT"
    return assessments, cycles


def test_response_by_patient_initial(cohort):
    assessments, cycles = cohort
    table = resp.response_by_patient(assessments, cycles, "initial").set_index("patient_id")
    a = table.loc["A"]
    assert a["baseline_assessment_id"] == 2 and a["baseline_sum_mm"] == 100.0
    assert a["responses"] == ("PR", "PD")
    assert a["best_overall_response"] == "PR"
    assert a["first_pd_date"] == pd.Timestamp("2016-06-01")
    b = table.loc["B"]
    # Baseline but no follow-up: not evaluable.
    assert not b["has_follow_up_imaging"] and b["n_follow_up"] == 0
    assert b["responses"] == () and b["best_overall_response"] == "NE"


def test_response_by_patient_salvage_uses_salvage_baseline(cohort):
    assessments, cycles = cohort
    table = resp.response_by_patient(assessments, cycles, "salvage")
    assert table["patient_id"].tolist() == ["A"]  # only patients with a salvage start
    a = table.iloc[0]
    assert a["baseline_sum_mm"] == 50.0 and a["start_date"] == pd.Timestamp("2019-01-01")
    # 48 (SD, too early), 52 (SD at 12.6 weeks), new lesion (PD): best = SD.
    assert a["responses"] == ("SD", "SD", "PD")
    assert a["best_overall_response"] == "SD"


def test_timepoint_nadir_does_not_leak_between_patients():
    cycles = pd.DataFrame({"patient_id": ["P", "Q"], "phase": ["initial", "initial"],
                           "cycle_date": pd.to_datetime(["2020-01-01", "2020-01-01"])})
    assessments = pd.DataFrame({
        "assessment_id": [1, 2, 3, 4],
        "patient_id": ["P", "P", "Q", "Q"],
        "assessment_date": pd.to_datetime(["2019-12-01", "2020-03-01", "2019-12-01", "2020-03-01"]),
        "phase": "initial",
        "role": ["baseline", "follow-up", "baseline", "follow-up"],
        "target_sum_mm": [100.0, 10.0, 40.0, 44.0],
        "new_lesions": False,
        "non_target": None,
    })
    tp = resp.timepoint_responses(assessments, cycles, "initial").set_index("patient_id")
    # Q's nadir is its own baseline 40, not P's 10: 44 is +10 % -> SD.
    assert tp.loc["Q", "nadir_sum_mm"] == 40.0
    assert tp.loc["Q", "response"] == "SD"
    assert tp.loc["P", "change_from_baseline_pct"] == pytest.approx(-90.0)
    assert tp.loc["P", "response"] == "PR"


def test_invalid_phase(cohort):
    assessments, cycles = cohort
    with pytest.raises(ValueError, match="phase must be 'initial' or 'salvage'"):
        resp.response_by_patient(assessments, cycles, "retreatment")
