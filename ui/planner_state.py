"""The salvage planner's current scenario in the session: set by the planner page, read by the
patient review page for its tumour-board summary."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import streamlit as st

from prrt_core.views.planner import Scenario

SCENARIO_KEY = "planner_scenario"


@dataclass(frozen=True)
class PlannerState:
    """What the planner last showed: the patient, the evaluation date and the scenario."""

    patient_id: str
    as_of: dt.date
    scenario: Scenario


def load() -> PlannerState | None:
    """The planner's last state in this session, None before the planner has run."""
    return st.session_state.get(SCENARIO_KEY)


def save(state: PlannerState) -> None:
    st.session_state[SCENARIO_KEY] = state
