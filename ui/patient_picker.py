"""The patient chosen on the tumour-board pages: shared by the pages of a session and by links."""

from __future__ import annotations

import streamlit as st

from ui import database
from ui.text import md

# ---- the patient chosen on the tumour board pages ---------------------------------
PATIENT_KEY = "board_patient_id"  # plain session key: survives page switches (widget keys do not)
PATIENT_WIDGET_KEY = "board_patient_picker"
PATIENT_QUERY_PARAM = "patient"


def _patient_chosen() -> None:
    chosen = st.session_state[PATIENT_WIDGET_KEY]
    st.session_state[PATIENT_KEY] = chosen
    st.query_params[PATIENT_QUERY_PARAM] = chosen


def patient_picker(label: str = "Patient") -> str | None:
    """Searchable patient choice shared by the pages of a session and by links.

    A valid ``?patient=NET-004`` in the URL wins (a link opens that patient), then the
    session's last choice, then the first patient; the URL is kept in step, so it can be
    copied. A link to an id not in the store shows an error and no patient until one is chosen.
    Returns None (with a notice) when the store holds no patient or the link's patient is unknown.
    """
    ids = sorted(database.tables().patients["patient_id"].astype(str))
    if not ids:
        st.info("No patients in the database yet.", icon=":material/person_off:")
        return None
    linked = st.query_params.get(PATIENT_QUERY_PARAM)
    if linked is not None and linked not in ids:  # a mistyped link never opens another patient
        st.error(f"The link names patient {md(repr(linked))}, who is not in the database (ids are "
                 "case-sensitive). Choose a patient below.", icon=":material/person_off:")
        st.session_state.pop(PATIENT_WIDGET_KEY, None)
        st.selectbox(label, ids, index=None, key=PATIENT_WIDGET_KEY, on_change=_patient_chosen,
                     placeholder="Choose a patient")
        return None
    current = linked if linked in ids else st.session_state.get(PATIENT_KEY)
    if current not in ids:
        current = ids[0]
    st.session_state[PATIENT_KEY] = current
    st.session_state[PATIENT_WIDGET_KEY] = current
    if linked != current:
        st.query_params[PATIENT_QUERY_PARAM] = current
    st.selectbox(label, ids, key=PATIENT_WIDGET_KEY, on_change=_patient_chosen,
                 help="Type to search by pseudonymous id; the choice is kept across pages and in the URL.")
    return current
