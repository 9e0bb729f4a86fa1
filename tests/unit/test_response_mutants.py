"""RECIST 1.1 tests that kill the mutation-testing survivors of issue 17 (prrt_core.clinical.response).

Rules: Eisenhauer et al., Eur J Cancer 2009;45:228-247 (RECIST 1.1): section 4.3.1 (PR >= 30 %
below the baseline sum; PD >= 20 % and >= 5 mm above the nadir), section 4.3.2 / Table 1 (non-target
PD and new lesions are PD whatever the target sum), sections 4.4-4.5 (best overall response; SD at
least 6-8 weeks after the start; CR/PR confirmation by a repeat assessment >= 4 weeks later; an
unconfirmed CR/PR counts as SD, Table 3). Baseline = assessment on/before the start of treatment
(section 3.2: "as close as possible to the treatment start"). Each expected value is worked out in
the comment next to it.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from prrt_core.clinical import response as resp
from prrt_core.clinical.response import best_overall_response, recist
from prrt_core.errors import InputError
from tests.unit.test_response import START, weeks

NaN = np.nan
DAY = pd.Timedelta(days=1)


# --------------------------------------------------------------------------
# published thresholds
# --------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "published", "source"), [
    (resp.PR_DECREASE_FROM_BASELINE, 0.30, "PR: >= 30 % decrease from baseline sum (RECIST 1.1 4.3.1)"),
    (resp.PD_INCREASE_FROM_NADIR, 0.20, "PD: >= 20 % increase over the nadir (RECIST 1.1 4.3.1)"),
    (resp.PD_MIN_INCREASE_MM, 5.0, "PD: and >= 5 mm absolute increase (RECIST 1.1 4.3.1)"),
    (resp.MIN_SD_WEEKS, 6.0, "SD at least once >= 6-8 weeks after start (RECIST 1.1 4.4; lower end)"),
    (resp.MIN_CONFIRMATION_WEEKS, 4.0, "CR/PR confirmation >= 4 weeks later (RECIST 1.1 4.5)"),
])
def test_recist_thresholds_are_published_values(value, published, source):
    assert value == published, source


def test_response_categories_and_non_target_statuses():
    # RECIST 1.1 Table 1: overall CR, PR, SD, PD, NE; non-target CR, non-CR/non-PD, PD, NE.
    assert resp.RESPONSES == ("CR", "PR", "SD", "PD", "NE")
    assert resp.NON_TARGET_STATUSES == ("CR", "non-CR/non-PD", "PD", "NE")


# --------------------------------------------------------------------------
# time-point response: edges not covered by test_response.py
# --------------------------------------------------------------------------

def test_pd_needs_both_twenty_percent_and_five_mm():
    # Nadir 10 mm: 14.9 mm is +49 % but +4.9 mm -> SD (the 5 mm rule alone holds it back).
    # Nadir 100 mm: 119.9 mm is +19.9 mm but +19.9 % -> SD; 120 mm (+20 %, +20 mm) -> PD.
    assert recist(10.0, [14.9], [False]).tolist() == ["SD"]
    assert recist(10.0, [15.0], [False]).tolist() == ["PD"]
    assert recist(100.0, [119.9, 120.0], [False, False]).tolist() == ["SD", "PD"]


def test_pr_is_measured_from_baseline_not_nadir():
    # Baseline 100, then 60 (PR, nadir 60), then 71: +18 % over the nadir (not PD) and -29 %
    # from baseline (not PR) -> SD, although it is 71 < 100.
    assert recist(100.0, [60.0, 71.0], [False, False]).tolist() == ["PR", "SD"]
    # 70 mm is exactly -30 % from baseline 100 -> PR even though the nadir 60 is lower.
    assert recist(100.0, [60.0, 70.0], [False, False]).tolist() == ["PR", "PR"]


def test_non_target_status_is_normalised_and_checked():
    # Case and spaces are tolerated; '' means not recorded (target response stands).
    got = recist(100.0, [60.0, 60.0, 60.0], [False] * 3, ["pd", " non-cr/non-pd ", ""])
    assert got.tolist() == ["PD", "PR", "PR"]
    # Non-target NE does not downgrade a target PR (Table 1: PR / not all evaluated -> PR).
    assert recist(100.0, [60.0], [False], ["NE"]).tolist() == ["PR"]
    with pytest.raises(InputError, match="non_target has 1 values for 2"):
        recist(100.0, [60.0, 60.0], [False, False], ["CR"])
    with pytest.raises(InputError, match="baseline_sum_mm must be one number"):
        recist([100.0], [60.0], [False])
    with pytest.raises(InputError, match="finite"):
        recist(100.0, [np.inf], [False])


# --------------------------------------------------------------------------
# best overall response: boundaries
# --------------------------------------------------------------------------

def test_pr_confirmed_exactly_four_weeks_later():
    # Confirmation needs a repeat >= 4 weeks later: 28 days after the PR confirms it, 27 days does not
    # (unconfirmed PR counts as SD; both scans are >= 6 weeks after the start -> SD).
    first = START + pd.Timedelta(weeks=8)
    assert best_overall_response([first, first + 28 * DAY], ["PR", "PR"], START, confirm=True) == "PR"
    assert best_overall_response([first, first + 27 * DAY], ["PR", "PR"], START, confirm=True) == "SD"
    # The same for CR confirmed by CR.
    assert best_overall_response([first, first + 28 * DAY], ["CR", "CR"], START, confirm=True) == "CR"
    # CR then PR 4 weeks later: the CR is not confirmed as CR, but CR/PR confirms a PR.
    assert best_overall_response([first, first + 28 * DAY], ["CR", "PR"], START, confirm=True) == "PR"


def test_confirmation_interval_is_configurable():
    # With an 8-week protocol interval a repeat 6 weeks later does not confirm; with 6 weeks it does.
    ws = weeks(8, 14)
    assert best_overall_response(ws, ["PR", "PR"], START, confirm=True, min_confirm_weeks=8) == "SD"
    assert best_overall_response(ws, ["PR", "PR"], START, confirm=True, min_confirm_weeks=6) == "PR"
    # Without confirm the interval is irrelevant.
    assert best_overall_response(weeks(8), ["PR"], START, min_confirm_weeks=8) == "PR"


def test_confirmation_must_come_before_progression():
    # PR at 8, PR at 12, PD at 16: confirmed before PD -> PR.
    assert best_overall_response(weeks(8, 12, 16), ["PR", "PR", "PD"], START, confirm=True) == "PR"
    # PR at 8, PD at 12, PR at 16: nothing after PD counts -> unconfirmed PR = SD (8 >= 6 weeks).
    assert best_overall_response(weeks(8, 12, 16), ["PR", "PD", "PR"], START, confirm=True) == "SD"
    # Without confirmation the same sequence is PR.
    assert best_overall_response(weeks(8, 12, 16), ["PR", "PD", "PR"], START) == "PR"


def test_nothing_after_first_pd_counts():
    # SD at 4 weeks (too early), PD at 8, SD at 12: the later SD is after PD -> PD.
    assert best_overall_response(weeks(4, 8, 12), ["SD", "PD", "SD"], START) == "PD"
    # NE only before PD -> PD; NE only -> NE.
    assert best_overall_response(weeks(8, 12), ["NE", "PD"], START) == "PD"


def test_assessment_on_the_start_day_and_same_day_assessments():
    # A scan on the start day is allowed (not "before start"); PD there is PD.
    assert best_overall_response([START], ["PD"], START) == "PD"
    # Two reports on one day are in order (not a chronology error).
    day = START + pd.Timedelta(weeks=8)
    assert best_overall_response([day, day], ["SD", "PR"], START) == "PR"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"min_confirm_weeks": -1}, "min_confirm_weeks"),
    ({"min_sd_weeks": np.nan}, "min_sd_weeks"),
    ({"min_sd_weeks": "6"}, "min_sd_weeks"),
])
def test_week_parameters_are_checked(kwargs, message):
    with pytest.raises(InputError, match=message):
        best_overall_response(weeks(8), ["SD"], START, **kwargs)


def test_missing_dates_are_refused():
    with pytest.raises(InputError, match="start_date is missing"):
        best_overall_response(weeks(8), ["SD"], pd.NaT)
    with pytest.raises(InputError, match="missing values at positions \\[1\\]"):
        best_overall_response([START, pd.NaT], ["SD", "SD"], START)


# --------------------------------------------------------------------------
# cohort tables: baseline and follow-up selection
# --------------------------------------------------------------------------

CYCLE_START = pd.Timestamp("2020-01-01")


def _cycles(*patients: str) -> pd.DataFrame:
    return pd.DataFrame({"patient_id": list(patients), "phase": "initial",
                         "cycle_date": CYCLE_START})


def _assessments(rows: list[tuple]) -> pd.DataFrame:
    """rows: (assessment_id, patient_id, date, role, target_sum_mm, new_lesions, non_target)."""
    frame = pd.DataFrame(rows, columns=["assessment_id", "patient_id", "assessment_date", "role",
                                        "target_sum_mm", "new_lesions", "non_target"])
    frame["assessment_date"] = pd.to_datetime(frame["assessment_date"])
    frame.insert(3, "phase", "initial")
    return frame


def test_baseline_on_the_start_day_and_follow_up_after_it():
    # Baseline scans: 2019-12-01 (100 mm) and on the start day 2020-01-01 (80 mm): the latest on/before
    # the start is the start-day scan. A follow-up-role scan on the start day is not a follow-up (only
    # scans after the start are), and a baseline-role scan after the start is neither.
    rows = [
        (1, "P", "2019-12-01", "baseline", 100.0, False, None),
        (2, "P", "2020-01-01", "baseline", 80.0, False, None),
        (3, "P", "2020-01-01", "follow-up", 10.0, False, None),
        (4, "P", "2020-01-02", "baseline", 20.0, False, None),
        (5, "P", "2020-03-01", "follow-up", 60.0, False, None),
    ]
    table = resp.response_by_patient(_assessments(rows), _cycles("P"), "initial").iloc[0]
    assert table["baseline_assessment_id"] == 2 and table["baseline_sum_mm"] == 80.0
    assert table["baseline_date"] == pd.Timestamp("2020-01-01")
    # Only assessment 5: 60 vs baseline 80 = -25 % -> SD (vs 100 it would be PR; vs 20 PD).
    assert table["n_follow_up"] == 1
    assert table["responses"] == ("SD",)
    assert table["response_dates"] == (pd.Timestamp("2020-03-01").date(),)
    tp = resp.timepoint_responses(_assessments(rows), _cycles("P"), "initial")
    assert tp["assessment_id"].tolist() == [5]


def test_follow_up_role_before_start_is_not_a_baseline():
    # A 'follow-up' scan dated before the start (e.g. of an earlier treatment) must not become the
    # baseline, and a 'baseline' scan after the start must not become a follow-up.
    rows = [
        (1, "P", "2019-11-01", "baseline", 50.0, False, None),
        (2, "P", "2019-12-15", "follow-up", 200.0, False, None),
        (3, "P", "2020-02-01", "baseline", 10.0, False, None),
        (4, "P", "2020-04-01", "follow-up", 34.0, False, None),
    ]
    table = resp.response_by_patient(_assessments(rows), _cycles("P"), "initial").iloc[0]
    # Baseline 50 (id 1); 34 = -32 % -> PR (against 200 it would still be PR, so check the baseline too).
    assert table["baseline_assessment_id"] == 1 and table["baseline_sum_mm"] == 50.0
    assert table["responses"] == ("PR",)
    assert table["n_follow_up"] == 1


def test_measured_baseline_preferred_over_a_later_unmeasured_one():
    # 2019-12-01 measured 90 mm; 2019-12-20 baseline without a target sum: the measured one is used.
    rows = [
        (1, "P", "2019-12-01", "baseline", 90.0, False, None),
        (2, "P", "2019-12-20", "baseline", NaN, False, None),
        (3, "P", "2020-03-01", "follow-up", 60.0, False, None),
    ]
    table = resp.response_by_patient(_assessments(rows), _cycles("P"), "initial").iloc[0]
    assert table["baseline_assessment_id"] == 1
    # 60 / 90 = -33 % -> PR.
    assert table["responses"] == ("PR",) and table["best_overall_response"] == "PR"


def test_same_day_baselines_keep_the_later_row():
    # Two baselines on one day (a corrected report): the later row in the table wins.
    rows = [
        (1, "P", "2019-12-01", "baseline", 100.0, False, None),
        (2, "P", "2019-12-01", "baseline", 70.0, False, None),
        (3, "P", "2020-03-01", "follow-up", 60.0, False, None),
    ]
    table = resp.response_by_patient(_assessments(rows), _cycles("P"), "initial").iloc[0]
    assert table["baseline_assessment_id"] == 2
    # 60 vs 70 = -14 % -> SD.
    assert table["responses"] == ("SD",)


def test_follow_up_without_baseline_is_ne_unless_pd(caplog):
    rows = [
        (1, "P", "2020-03-01", "follow-up", 60.0, False, None),
        (2, "P", "2020-05-01", "follow-up", 60.0, True, None),
    ]
    with caplog.at_level(logging.WARNING, logger="prrt_core.clinical.response"):
        table = resp.response_by_patient(_assessments(rows), _cycles("P"), "initial").iloc[0]
    assert table["responses"] == ("NE", "PD")
    assert table["best_overall_response"] == "PD"
    assert np.isnan(table["baseline_sum_mm"]) and pd.isna(table["baseline_assessment_id"])
    assert "1 patient(s) with follow-up imaging but no baseline" in caplog.text


# --------------------------------------------------------------------------
# cohort tables: responses and output columns
# --------------------------------------------------------------------------

def test_non_target_pd_through_the_assessments_table():
    # Target sums fall (100 -> 50, -50 %) but non-target lesions progress unequivocally at the second
    # follow-up: PD there (RECIST 1.1 Table 1, "any / PD / any -> PD"); best response PR before it.
    rows = [
        (1, "P", "2019-12-01", "baseline", 100.0, False, "non-CR/non-PD"),
        (2, "P", "2020-03-01", "follow-up", 50.0, False, "non-CR/non-PD"),
        (3, "P", "2020-06-01", "follow-up", 45.0, False, "PD"),
        (4, "P", "2020-09-01", "follow-up", 40.0, False, "non-CR/non-PD"),
    ]
    table = resp.response_by_patient(_assessments(rows), _cycles("P"), "initial").iloc[0]
    assert table["responses"] == ("PR", "PD", "PR")
    assert table["first_pd_date"] == pd.Timestamp("2020-06-01")
    assert table["best_overall_response"] == "PR"
    tp = resp.timepoint_responses(_assessments(rows), _cycles("P"), "initial")
    assert tp["non_target"].tolist() == ["non-CR/non-PD", "PD", "non-CR/non-PD"]


def test_first_pd_date_is_the_earliest_pd():
    rows = [
        (1, "P", "2019-12-01", "baseline", 100.0, False, None),
        (2, "P", "2020-03-01", "follow-up", 130.0, False, None),   # +30 %, +30 mm -> PD
        (3, "P", "2020-06-01", "follow-up", 100.0, True, None),    # new lesion -> PD
    ]
    table = resp.response_by_patient(_assessments(rows), _cycles("P"), "initial").iloc[0]
    assert table["responses"] == ("PD", "PD")
    assert table["first_pd_date"] == pd.Timestamp("2020-03-01")
    assert table["best_overall_response"] == "PD"


def test_confirm_through_the_cohort_table():
    # Baseline 100. P: PR at 8 weeks (65 mm) and PR again exactly 4 weeks later (60 mm): confirmed PR.
    # Q: PR at 8 weeks, SD at 12 (75 mm, -25 %): unconfirmed PR counts as SD.
    p8 = CYCLE_START + pd.Timedelta(weeks=8)
    p12 = CYCLE_START + pd.Timedelta(weeks=12)
    rows = [
        (1, "P", "2019-12-01", "baseline", 100.0, False, None),
        (2, "P", p8, "follow-up", 65.0, False, None),
        (3, "P", p12, "follow-up", 60.0, False, None),
        (4, "Q", "2019-12-01", "baseline", 100.0, False, None),
        (5, "Q", p8, "follow-up", 65.0, False, None),
        (6, "Q", p12, "follow-up", 75.0, False, None),
    ]
    assessments, cycles = _assessments(rows), _cycles("P", "Q")
    confirmed = resp.response_by_patient(assessments, cycles, "initial", confirm=True).set_index("patient_id")
    assert confirmed["best_overall_response"].to_dict() == {"P": "PR", "Q": "SD"}
    unconfirmed = resp.response_by_patient(assessments, cycles, "initial").set_index("patient_id")
    assert unconfirmed["best_overall_response"].to_dict() == {"P": "PR", "Q": "PR"}
    # An 8-week confirmation interval leaves P unconfirmed too.
    strict = resp.response_by_patient(assessments, cycles, "initial", confirm=True, min_confirm_weeks=8)
    assert strict.set_index("patient_id")["best_overall_response"].to_dict() == {"P": "SD", "Q": "SD"}


def test_min_sd_weeks_through_the_cohort_table():
    # SD at 7 weeks: counts with the default 6-week minimum, NE with an 8-week protocol.
    rows = [
        (1, "P", "2019-12-01", "baseline", 100.0, False, None),
        (2, "P", CYCLE_START + pd.Timedelta(weeks=7), "follow-up", 95.0, False, None),
    ]
    assessments, cycles = _assessments(rows), _cycles("P")
    assert resp.response_by_patient(assessments, cycles, "initial").iloc[0]["best_overall_response"] == "SD"
    # Exactly 6 weeks after the start is "no less than 6 weeks": SD counts; a 7-week minimum makes it NE.
    six = _assessments([rows[0], (2, "P", CYCLE_START + pd.Timedelta(weeks=6), "follow-up", 95.0, False, None)])
    assert resp.response_by_patient(six, cycles, "initial").iloc[0]["best_overall_response"] == "SD"
    assert resp.response_by_patient(six, cycles, "initial", min_sd_weeks=7).iloc[0]["best_overall_response"] == "NE"
    eight = resp.response_by_patient(assessments, cycles, "initial", min_sd_weeks=8)
    assert eight.iloc[0]["best_overall_response"] == "NE"
    with pytest.raises(InputError, match="min_confirm_weeks"):
        resp.response_by_patient(assessments, cycles, "initial", min_confirm_weeks=-2)
    with pytest.raises(InputError, match="min_sd_weeks"):
        resp.response_by_patient(assessments, cycles, "initial", min_sd_weeks=np.inf)


def test_timepoint_output_columns_by_hand():
    # Start 2020-01-01. Baseline 100 mm. Follow-ups: 2020-02-26 (8 weeks, 56 days) 70 mm; 2020-04-22
    # (16 weeks) NaN (not evaluated); 2020-05-13 (19 weeks) 80 mm; 2020-06-03 (22 weeks) 84 mm.
    # nadir before each: 100, 70, 70 (NaN ignored), 70.
    # change from baseline: -30 %, NaN, -20 %, -16 %; from nadir: -30, NaN, +10, +14 mm.
    # responses: PR (-30 %); NE; 80 mm = +14.3 % over the nadir 70 (< 20 %) and -20 % from baseline -> SD;
    # 84 mm = +20 % and +14 mm over 70 -> PD.
    rows = [
        (1, "P", "2019-12-01", "baseline", 100.0, False, None),
        (2, "P", "2020-02-26", "follow-up", 70.0, False, None),
        (3, "P", "2020-04-22", "follow-up", NaN, False, None),
        (4, "P", "2020-05-13", "follow-up", 80.0, False, None),
        (5, "P", "2020-06-03", "follow-up", 84.0, False, None),
    ]
    tp = resp.timepoint_responses(_assessments(rows), _cycles("P"), "initial")
    assert list(tp.columns) == ["patient_id", "assessment_id", "assessment_date", "start_date",
                                "weeks_since_start", "baseline_sum_mm", "target_sum_mm", "nadir_sum_mm",
                                "change_from_baseline_pct", "change_from_nadir_mm", "new_lesions",
                                "non_target", "response"]
    np.testing.assert_allclose(tp["weeks_since_start"], [8.0, 16.0, 19.0, 22.0])
    assert (tp["start_date"] == CYCLE_START).all()
    np.testing.assert_allclose(tp["baseline_sum_mm"], 100.0)
    np.testing.assert_allclose(tp["nadir_sum_mm"], [100.0, 70.0, 70.0, 70.0])
    np.testing.assert_allclose(tp["change_from_baseline_pct"], [-30.0, NaN, -20.0, -16.0])
    np.testing.assert_allclose(tp["change_from_nadir_mm"], [-30.0, NaN, 10.0, 14.0])
    assert tp["response"].tolist() == ["PR", "NE", "SD", "PD"]
    assert tp["new_lesions"].tolist() == [False, False, False, False]


def test_unknown_new_lesion_status_in_the_table_is_ne():
    rows = [
        (1, "P", "2019-12-01", "baseline", 100.0, False, None),
        (2, "P", "2020-03-01", "follow-up", 60.0, None, None),
    ]
    tp = resp.timepoint_responses(_assessments(rows), _cycles("P"), "initial")
    assert tp["response"].tolist() == ["NE"]
    assert tp["new_lesions"].isna().all()


def test_zero_baseline_sum_gives_no_percent_change():
    # No measurable target disease at baseline (0 mm): percent change undefined (NaN), response NE.
    rows = [
        (1, "P", "2019-12-01", "baseline", 0.0, False, None),
        (2, "P", "2020-03-01", "follow-up", 0.0, False, None),
    ]
    tp = resp.timepoint_responses(_assessments(rows), _cycles("P"), "initial")
    assert np.isnan(tp["change_from_baseline_pct"].iloc[0])
    assert tp["change_from_nadir_mm"].iloc[0] == 0.0
    assert tp["response"].tolist() == ["NE"]


def test_assessments_of_the_other_phase_are_ignored():
    # A salvage baseline before the initial start must not serve as the initial baseline.
    rows = [
        (1, "P", "2019-12-01", "baseline", 100.0, False, None),
        (2, "P", "2019-12-15", "baseline", 40.0, False, None),
        (3, "P", "2020-03-01", "follow-up", 60.0, False, None),
    ]
    assessments = _assessments(rows)
    assessments.loc[1, "phase"] = "salvage"
    table = resp.response_by_patient(assessments, _cycles("P"), "initial").iloc[0]
    assert table["baseline_assessment_id"] == 1
    assert table["responses"] == ("PR",)  # 60 vs 100 = -40 %; vs 40 it would be PD
