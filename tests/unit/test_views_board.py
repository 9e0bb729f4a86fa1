"""The top of the patient review: the verdict under the default scenario with its projection
headline, and the board's current decision (views.board).

Expected values come from views.planner.plan called directly (the verdict the planner shows) and
from decision records signed into a private store.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd

from prrt_core.clinical import eligibility
from prrt_core.decisions import Decision, DecisionRecord
from prrt_core.projection import KidneyModelSettings
from prrt_core.store import Store
from prrt_core.store import decisions as stored
from prrt_core.views import board, patient, planner
from tests.support import editor


def test_verdict_and_headline_are_the_planners_default_scenario(demo_tables):
    config = eligibility.load_config()
    status = board.board_status(demo_tables, "NET-005", config=config)
    as_of = patient.last_record_date(demo_tables, "NET-005")
    result = planner.plan(demo_tables, "NET-005", as_of, planner.default_scenario(config), config=config)
    assert (status.as_of, status.verdict, status.scenario) == (as_of, result.checklist.verdict, "2 x 7.4 GBq")
    row = result.projection
    assert status.headline.startswith("After 2 x 7.4 GBq: kidney dose median ")
    assert f"(90 % interval {row['dose_p05_gy']:.1f}–{row['dose_p95_gy']:.1f})" in status.headline
    assert f"P(> {row['bed_limit_gy']:g} Gy)" in status.headline
    assert status.policy == result.checklist.policy.text
    assert status.decision is None and status.decision_text == board.NO_DECISION


def test_deceased_patient_has_no_verdict_and_no_projection(demo_tables):
    # NET-004 died on 2025-05-23, its most recent record.
    status = board.board_status(demo_tables, "NET-004", config=eligibility.load_config())
    assert status.verdict is None and status.verdict_text == "no verdict (died on 2025-05-23)"
    assert status.headline == "No projection: died on 2025-05-23." and status.options == ""


def test_current_decision_is_the_newest_not_superseded(fresh_demo_db, demo_tables):
    last_clinical = patient.last_record_date(demo_tables, "NET-005")
    board_1, board_2 = last_clinical + dt.timedelta(days=10), last_clinical + dt.timedelta(days=40)
    with Store(fresh_demo_db) as store:
        first = DecisionRecord(patient_id="NET-005", board_date=board_1, decision=Decision.DEFER,
                               attendees="A, B", rationale="await restaging", defer_until=board_2)
        stored.sign(store, first, actor=editor("Dr One"), now_utc=dt.datetime(2030, 1, 2, 9, 0, tzinfo=dt.UTC))
        second = DecisionRecord(patient_id="NET-005", board_date=board_2, decision=Decision.SALVAGE,
                                attendees="A, B, C", rationale="stable disease", n_cycles=2, activity_gbq=7.4,
                                supersedes_record=1)
        stored.sign(store, second, actor=editor("Dr Two"), now_utc=dt.datetime(2030, 2, 1, 10, 30, tzinfo=dt.UTC))
        tables = store.read_all()
    status = board.board_status(tables, "NET-005", config=eligibility.load_config())
    assert status.decision.record_number == 2
    assert status.decision_text == (f"salvage: 2 x 7.4 GBq (board {board_2.isoformat()}; signed by Dr Two, "
                                    "2030-02-01T10:30:00Z)")
    # An imported record's signature is the file's word, and says so.
    imported = dataclasses.replace(status, decision=dataclasses.replace(status.decision, imported=True))
    assert imported.decision_text == (f"salvage: 2 x 7.4 GBq (board {board_2.isoformat()}; imported; the file "
                                      "says signed by Dr Two, 2030-02-01T10:30:00Z)")
    # A board decision is not a clinical record: the verdict is judged on the last clinical record.
    assert status.as_of == last_clinical


def test_interval_bounds_beside_their_limit(demo_tables):
    """Review C5: the 90 % interval's bounds never round onto or across the limit (p95 23.04 of 23 Gy
    is '23.04', not '23.0'); a bound far from it keeps one decimal."""
    est = patient.limit_status(pd.Series([5.0, 4.0]), 23.0, total_q_gy=(7.5, 9.0, 23.04), n_estimated=1)
    assert board.dose_so_far(est) == "9.0 (7.5–23.04)"
    config = eligibility.load_config()
    as_of = patient.decision_dates(demo_tables, "NET-005").before_salvage
    result = planner.plan(demo_tables, "NET-005", as_of, planner.default_scenario(config), config=config)
    row = result.projection.copy()
    row[["dose_limit_gy", "dose_p05_gy", "dose_p50_gy", "dose_p95_gy"]] = [23.0, 20.61, 21.9, 23.04]
    row[["bed_p05_gy", "bed_p95_gy"]] = [row["bed_limit_gy"] - 5.0, row["bed_limit_gy"] - 0.04]
    text = board.headline(dataclasses.replace(result, projection=row))
    assert "kidney dose median 21.9 Gy (90 % interval 20.6–23.04)" in text
    assert f"–{row['bed_limit_gy'] - 0.04:.2f}), P(> {row['bed_limit_gy']:g} Gy)" in text


def test_kidney_help_states_the_limits_and_sources_in_force(demo_tables):
    config = eligibility.load_config()
    shown = board.board_status(demo_tables, "NET-005", config=config).kidney_help
    assert shown.startswith(f"Limits: absorbed dose 23 Gy, caution ({config.kidney_dose.source}); BED 28 Gy with, "
                            f"40 Gy without renal risk factors, exclude ({config.kidney_bed.source}).")
    assert "α/β 2.6 Gy, T_rep 2.8 h (Barone et al. JNM 2005" in shown
    # Another policy and radiobiology: the help follows them, and says the radiobiology was changed.
    policy = dataclasses.replace(eligibility.policy(config, KidneyModelSettings()), dose_limit_gy=25.0,
                                 dose_severity=eligibility.Severity.EXCLUDE)
    changed = board.kidney_help(policy, KidneyModelSettings(alpha_beta_gy=3.0))
    assert changed.startswith("Limits: absorbed dose 25 Gy, exclude (")
    assert "α/β 3 Gy, T_rep 2.8 h (changed from the published 2.6 Gy and 2.8 h" in changed


def test_the_summary_projects_the_plan_the_board_decided(demo_tables):
    """Without a planner scenario, the summary projects the current salvage decision's plan (not the
    default 2 x 7.4 GBq beside a decision of 3 x 5.5 GBq); with no decision, the default."""
    default = planner.Scenario()
    assert board.summary_scenario(demo_tables, "NET-010", default) == (default, "the planner's default scenario")
    decided = pd.DataFrame([{
        "patient_id": "NET-010", "record_number": 1, "board_date": pd.Timestamp("2025-02-17"), "decision": "salvage",
        "n_cycles": 3, "activity_gbq": 5.5, "defer_until": pd.NaT, "attendees": "board", "rationale": "r",
        "snapshot_json": "{}", "signed_by": "Dr A", "signed_at_utc": "2025-02-17T10:00:00Z",
        "supersedes_record": None, "recorded_via": "planner"}])
    plan, origin = board.summary_scenario(demo_tables.replace(board_decisions=decided), "NET-010", default)
    assert (plan.n_cycles, plan.activity_gbq, plan.settings) == (3, 5.5, default.settings)
    assert origin == "the plan of decision record 1"
