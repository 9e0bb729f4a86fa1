"""The Dosimetry page's second source of files: a PACS over DICOMweb, configured in ``[prrt.pacs]``
of ``.streamlit/secrets.toml`` (url; token, or username and password; optional timeout_s).

The URL comes from the secrets only (a typed URL would let a user make the server fetch any
address). The PACS patient ID is typed into a password field at query time: it is sent in the
QIDO-RS query and kept nowhere else (not in session state beyond the widget, not in a log, a
file name or the database); what is listed and retrieved carries UIDs, not patient data.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import streamlit as st

from prrt_core.archives import mb
from prrt_core.dicom.pacs import PacsSettings, retrieve_series, search_series, series_table
from prrt_core.errors import ConfigError, PrrtError
from ui.text import md

FOUND = "pacs_found"  # the series of the last search (PacsSeries: UIDs, times, descriptions)
CANCELLED = "pacs_cancelled"
PATIENT_WIDGET = "pacs_patient_id"
SEARCH_DAYS = 60  # the default date range ends today and starts this many days before


def settings_table() -> dict | None:
    """``[prrt.pacs]`` of the secrets, None when there is no secrets file or no such table."""
    if not st.secrets.load_if_toml_exists():
        return None
    table = st.secrets.to_dict().get("prrt", {}).get("pacs")
    return dict(table) if isinstance(table, dict) else None


def configured() -> bool:
    return settings_table() is not None


def _cancel() -> None:
    st.session_state[CANCELLED] = True


def _search(settings: PacsSettings) -> None:
    """The search form; its result (or the refusal) replaces the last one."""
    with st.form("pacs_search"):
        c1, c2, c3 = st.columns(3)
        patient_id = c1.text_input("PACS patient ID", type="password", key=PATIENT_WIDGET, max_chars=64,
                                   help="The patient's ID in the PACS. Used for this search only: not shown, "
                                   "logged or stored (the app keeps pseudonymous IDs only).")
        today = dt.date.today()
        date_from = c2.date_input("Study date from", value=today - dt.timedelta(days=SEARCH_DAYS),
                                  min_value=dt.date(1990, 1, 1), key="pacs_from")
        date_to = c3.date_input("Study date to", value=today, min_value=dt.date(1990, 1, 1), key="pacs_to")
        searched = st.form_submit_button("Search the PACS")
    if searched:
        st.session_state.pop(FOUND, None)
        try:
            with st.spinner("Searching the PACS"):
                st.session_state[FOUND] = search_series(settings, patient_id, date_from, date_to)
        except PrrtError as exc:  # PacsError (server, request, problem) or a refused ID or date range
            st.error(f"Nothing was found or retrieved. {md(exc)}")


def retrieve_form(add_files: Callable[[list[tuple[str, bytes]]], None]) -> None:
    """Search the PACS, pick the series of one cycle, retrieve them; ``add_files`` receives the
    retrieved ``(name, bytes)`` files (the page adds them to those it computes from)."""
    try:
        settings = PacsSettings.from_mapping(settings_table() or {})
    except ConfigError as exc:
        st.error(f"The PACS is not usable: {md(exc)} (in `.streamlit/secrets.toml`).")
        return
    st.caption(f"PACS {md(settings.server)} (DICOMweb; authentication: {md(settings.authentication)}). "
               "Search by the patient's PACS ID and study dates, then pick the SPECT/PET time points of one cycle "
               "and their VOIs (SEG or RTSTRUCT).")
    _search(settings)
    if st.session_state.pop(CANCELLED, False):
        st.warning("The retrieval was cancelled; nothing retrieved was kept.")
    found = st.session_state.get(FOUND)
    if found is None:
        return
    if not found:
        st.info("No NM or PT study of this patient in these dates.")
        return
    st.dataframe(series_table(found).drop(columns=["Series Instance UID"]), hide_index=True, width="stretch",
                 column_config={"Time after injection (h)": st.column_config.NumberColumn(format="%.1f")})
    by_uid = {s.series_instance_uid: s for s in found}
    chosen = st.multiselect("Series of one cycle (time points and VOIs)", list(by_uid), key="pacs_chosen",
                            format_func=lambda uid: by_uid[uid].label)
    left, right = st.columns([1, 4])
    if not left.button("Retrieve", disabled=not chosen, key="pacs_retrieve"):
        return
    # A click on Cancel reruns the script: Streamlit stops this run at its next st call (the
    # progress bar's update between two instances), so the retrieval loop ends there and the
    # files retrieved so far are dropped; the rerun then shows the warning above.
    right.button("Cancel", key="pacs_cancel", on_click=_cancel)
    bar = st.progress(0.0, text="Listing the instances")
    try:
        files = retrieve_series(settings, [by_uid[uid] for uid in chosen],
                                progress=lambda f, m: bar.progress(min(max(f, 0.0), 1.0), text=md(m)))
    except PrrtError as exc:
        st.error(f"Nothing was retrieved. {md(exc)}")
    else:
        add_files(files)
        st.success(f"Retrieved {len(files)} file(s), {mb(sum(len(d) for _, d in files))}, from {len(chosen)} "
                   "series: press **Read and compute dosimetry**.")
    bar.empty()
