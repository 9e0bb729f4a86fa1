"""The Dosimetry page's second source of files: a PACS over DICOMweb, configured in ``[prrt.pacs]``
of ``.streamlit/secrets.toml`` (url; token, or username and password; optional timeout_s and
allow_http). Editors only: the app's service credentials must not serve every role.

The URL comes from the secrets only (a typed URL would let a user make the server fetch any
address). The PACS patient ID is typed at query time into a plain field (autocomplete off, not a
password field a browser offers to save) of a form cleared on submit; the search runs in the
submit button's callback, which empties the field's session state at once: the ID is sent in
the QIDO-RS query and kept nowhere else (not in session state, a log, a file name or the
database); what is listed and retrieved carries UIDs, not patient data. Each search and
retrieval is logged (INFO) with the user, the server, the dates and the counts, never the ID.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence

import streamlit as st

from prrt_core.archives import mb
from prrt_core.dicom.pacs import PacsSearch, PacsSettings, RetrievalLimits, retrieve_series, search_pacs, series_table
from prrt_core.dicom.pacs.client import URL_LOGGERS
from prrt_core.errors import ConfigError, InputError, PrrtError
from ui import identity
from ui.text import md

log = logging.getLogger(__name__)

FOUND = "pacs_found"  # the last search (PacsSearch: UIDs, times, descriptions, notes; no patient data)
SEARCHED = "pacs_searched"  # its study dates (from, to), restated with the result
FAILED = "pacs_failed"  # the last search's refusal (PrrtError text: never holds the patient ID)
CANCELLED = "pacs_cancelled"
PATIENT_WIDGET = "pacs_patient_id"
SEARCH_DAYS = 60  # the default date range ends today and starts this many days before
HANDLER = "prrt-pacs-server-log"


def settings_table() -> dict | None:
    """``[prrt.pacs]`` of the secrets, None when there is no secrets file or no such table."""
    if not st.secrets.load_if_toml_exists():
        return None
    table = st.secrets.to_dict().get("prrt", {}).get("pacs")
    return dict(table) if isinstance(table, dict) else None


def configured() -> bool:
    return settings_table() is not None


def _route_logs() -> None:
    """This module's records (and at ``logger.level = debug`` the PACS client's and the HTTP
    libraries' records, their PatientID redacted by prrt_core.dicom.pacs.client) to the
    server's log, formatted as Streamlit's own."""
    level = str(st.get_option("logger.level")).upper()
    debug = level == "DEBUG"
    for name in (__name__, *(("prrt_core.dicom.pacs", *URL_LOGGERS) if debug else ())):
        logger = logging.getLogger(name)
        if not any(h.get_name() == HANDLER for h in logger.handlers):
            handler = logging.StreamHandler()
            handler.set_name(HANDLER)
            handler.setFormatter(logging.Formatter(st.get_option("logger.messageFormat")))
            logger.addHandler(handler)
        logger.setLevel(logging.DEBUG if debug else logging.INFO)


def _cancel() -> None:
    st.session_state[CANCELLED] = True


def _run_search(settings: PacsSettings) -> None:
    """The search form's callback: takes the patient ID out of session state, searches, and keeps
    the result (or the refusal) in place of the last one."""
    patient_id = st.session_state.get(PATIENT_WIDGET) or ""
    st.session_state[PATIENT_WIDGET] = ""  # the ID leaves session state at once; the dates stay
    date_from, date_to = st.session_state.get("pacs_from"), st.session_state.get("pacs_to")
    st.session_state.pop(FOUND, None)
    st.session_state.pop(FAILED, None)
    try:
        with st.spinner("Searching the PACS"):
            found = search_pacs(settings, patient_id, date_from, date_to)
    except PrrtError as exc:  # PacsError (server, request, problem) or a refused ID or date range
        st.session_state[FAILED] = str(exc)
        log.info("PACS search by %s on %s, study dates %s to %s: refused (%s)", identity.current_user() or "?",
                 settings.server, date_from, date_to, type(exc).__name__)
        return
    st.session_state[FOUND] = found
    st.session_state[SEARCHED] = (date_from, date_to)
    log.info("PACS search by %s on %s, study dates %s to %s: %d studies, %d series", identity.current_user() or "?",
             settings.server, date_from, date_to, found.study_count, len(found.series))


def _search_form(settings: PacsSettings) -> None:
    """The search form: PACS patient ID and study dates."""
    with st.form("pacs_search"):
        c1, c2, c3 = st.columns(3)
        c1.text_input("PACS patient ID", key=PATIENT_WIDGET, max_chars=64, autocomplete="off",
                      help="The patient's ID in the PACS. Used for this search only: not kept, logged or stored "
                      "(the app keeps pseudonymous IDs only); the field is emptied on search.")
        today = dt.date.today()
        c2.date_input("Study date from", value=today - dt.timedelta(days=SEARCH_DAYS),
                      min_value=dt.date(1990, 1, 1), key="pacs_from")
        c3.date_input("Study date to", value=today, min_value=dt.date(1990, 1, 1), key="pacs_to")
        st.form_submit_button("Search the PACS", on_click=_run_search, args=(settings,))
    if FAILED in st.session_state:
        st.error(f"Nothing was found or retrieved. {md(st.session_state[FAILED])}")


def room_for(held: Sequence[tuple[str, bytes]]) -> RetrievalLimits:
    """What a retrieval may add to the files the session already holds: one study's bounds in all
    (prrt_core.dicom.files), so that repeated retrievals cannot pile up past them in memory."""
    limits = RetrievalLimits()
    return RetrievalLimits(total_bytes=limits.total_bytes - sum(len(data) for _, data in held),
                           instance_bytes=limits.instance_bytes, instances=limits.instances - len(held))


def retrieve_form(add_files: Callable[[list[tuple[str, bytes]]], None],
                  held: Sequence[tuple[str, bytes]] = ()) -> None:
    """Search the PACS, pick the series of one cycle, retrieve them; ``add_files`` receives the
    retrieved ``(name, bytes)`` files (the page adds them to those it computes from). Editors only."""
    if not identity.can_write():
        st.info("Retrieval from the PACS is for editors.")
        return
    _route_logs()
    try:
        settings = PacsSettings.from_mapping(settings_table() or {})
    except ConfigError as exc:
        st.error(f"The PACS is not usable: {md(exc)} (in `.streamlit/secrets.toml`).")
        return
    st.caption(f"PACS {md(settings.server)} (DICOMweb; authentication: {md(settings.authentication)}). "
               "Search by the patient's PACS ID and study dates, then pick the SPECT/PET time points of one cycle "
               "and their VOIs (SEG or RTSTRUCT).")
    _search_form(settings)
    if st.session_state.pop(CANCELLED, False):
        st.warning("The retrieval was cancelled; nothing retrieved was kept.")
    result: PacsSearch | None = st.session_state.get(FOUND)
    if result is None:
        return
    date_from, date_to = st.session_state.get(SEARCHED, (None, None))
    for note in result.notes:
        st.warning(md(note))
    found = list(result.series)
    if not found:
        st.info(f"No NM or PT study of this patient with a study date from {date_from} to {date_to}.")
        return
    st.caption(f"Study dates {date_from} to {date_to}: {result.study_count} study(ies), {len(found)} series.")
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
        room = room_for(held)
        if room.total_bytes <= 0 or room.instances <= 0:
            raise InputError("the files loaded already fill what one study may hold: remove them first")
        files = retrieve_series(settings, [by_uid[uid] for uid in chosen], limits=room,
                                progress=lambda f, m: bar.progress(min(max(f, 0.0), 1.0), text=md(m)))
    except PrrtError as exc:
        st.error(f"Nothing was retrieved. {md(exc)}")
        log.info("PACS retrieval by %s from %s of %d series: refused (%s)", identity.current_user() or "?",
                 settings.server, len(chosen), type(exc).__name__)
    else:
        add_files(files)
        size = sum(len(d) for _, d in files)
        log.info("PACS retrieval by %s from %s: %d series, %d instances, %d bytes", identity.current_user() or "?",
                 settings.server, len(chosen), len(files), size)
        st.success(f"Retrieved {len(files)} file(s), {mb(size)}, from {len(chosen)} series: press **Read and "
                   "compute dosimetry**.")
    bar.empty()
