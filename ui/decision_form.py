"""The planner's "Record the board's decision": the current scenario pre-filled, signed by this
session's editor, stored as one transaction (``prrt_core.store.decisions.sign``); and the
patient's earlier records. Streamlit-side only."""
from __future__ import annotations

import datetime as dt

import streamlit as st

from prrt_core.clinical.eligibility import ActivityRange, Verdict
from prrt_core.decisions import MAX_SIGNER_CHARS, Decision, DecisionRecord, current
from prrt_core.errors import PrrtError
from prrt_core.store import Store
from prrt_core.store import decisions as store_decisions
from prrt_core.views import decision as decision_view
from prrt_core.views.planner import PlannerResult
from ui import checklist_config, database, identity
from ui.text import md

DONE_KEY = "decision_recorded"
# The form's widget keys end in a version that a signed record increments: a new, empty form.
VERSION_KEY = "decision_form_version"


def _key(name: str) -> str:
    return f"{name}_{st.session_state.get(VERSION_KEY, 0)}"


def _record(result: PlannerResult, revision: int, activity: ActivityRange) -> DecisionRecord | None:
    """The widgets of one record; None (with a message) when it is not complete. A salvage decision
    is the planner's scenario, so that the snapshot shows the plan decided."""
    scenario = result.scenario
    board_date = st.date_input("Board date", value=result.as_of, key=_key("dec_board_date"))
    decision = Decision(st.radio("Decision", [d.value for d in Decision], horizontal=True, key=_key("dec_kind")))
    n_cycles = gbq = until = blocked = None
    if decision == Decision.SALVAGE:
        n_cycles, gbq = scenario.n_cycles, scenario.activity_gbq
        st.caption(f"Salvage as planned above: {scenario.label} (change the scenario above to decide another plan).")
        verdict = result.checklist.verdict
        if verdict in (Verdict.NOT_ELIGIBLE, Verdict.CANNOT_ASSESS) and not st.checkbox(
                f"The board decides salvage although the verdict is **{verdict.value}**; the rationale says why.",
                key=_key("dec_against")):
            blocked = f"To sign a salvage decision: acknowledge the verdict ({verdict.value})."
        if not activity.min_gbq <= gbq <= activity.max_gbq:
            blocked = (f"To sign: {gbq:g} GBq per cycle is outside the clinic's range "
                       f"{activity.min_gbq:g}-{activity.max_gbq:g} GBq (data/eligibility.toml).")
    elif decision == Decision.DEFER:
        until = st.date_input("Decide again on", value=board_date + dt.timedelta(weeks=12), key=_key("dec_until"))
    attendees = st.text_input("Attendees (names or roles, separated by ';')", max_chars=500, key=_key("dec_attendees"))
    rationale = st.text_area("Rationale", max_chars=2000, key=_key("dec_rationale"))
    live = current(database.tables().board_decisions, result.patient_id)
    supersedes = None
    if live is not None and st.checkbox(f"This record supersedes record {live.record_number} "
                                        f"({md(live.label)}, {live.board_date.isoformat()})", value=True,
                                        key=_key("dec_supersedes")):
        supersedes = live.record_number
    if blocked:
        st.caption(blocked)
        return None
    try:
        return DecisionRecord(patient_id=result.patient_id, board_date=board_date, decision=decision,
                              attendees=attendees, rationale=rationale,
                              snapshot=decision_view.snapshot(result, data_revision=revision),
                              n_cycles=n_cycles, activity_gbq=gbq, defer_until=until,
                              supersedes_record=supersedes)
    except PrrtError as exc:
        st.caption(f"To sign: {md(exc)}")
        return None


def decision_section(result: PlannerResult) -> None:
    """The record form (editors) and the patient's decision history (everyone)."""
    path, revision = database.store_revision()
    done = st.session_state.pop(DONE_KEY, None)
    if done:
        st.success(md(done), icon=":material/verified:")
    with st.expander("Record the board's decision", expanded=st.session_state.get(VERSION_KEY, 0) > 0):
        actor = identity.current_actor()
        if actor is None or not actor.can_write:
            st.info("Only editors record decisions.")
        else:
            record = _record(result, revision, checklist_config.config().activity)
            signer = None
            if actor.via == "local":  # single-user mode: "local user" is not a person
                signer = st.text_input("Signed by (your name)", max_chars=MAX_SIGNER_CHARS, key=_key("dec_signer"))
            st.caption(f"Signed as {md(signer or actor.name)}; a signed record is never changed, only superseded. "
                       "The record keeps what this page shows now: verdict, checklist, projection and settings.")
            if st.button("Sign and record", type="primary", disabled=record is None or signer == "", key="dec_sign"):
                try:
                    with Store(path) as store:
                        signed = store_decisions.sign(store, record, actor=actor, signer=signer)
                except PrrtError as exc:
                    st.error(f"Nothing was recorded: {md(exc)}")
                else:
                    st.session_state[DONE_KEY] = (f"Record {signed.record_number} signed: {signed.label} "
                                                  f"({signed.board_date.isoformat()}).")
                    st.session_state[VERSION_KEY] = st.session_state.get(VERSION_KEY, 0) + 1
                    st.rerun()
        past = decision_view.history(database.tables().board_decisions, result.patient_id)
        if not past.empty:
            st.dataframe(past.rename(columns=decision_view.HISTORY_COLUMNS), hide_index=True, width="stretch")
