"""Navigation: the page list, and the one work-around for Streamlit's legacy ``pages/`` mode.

Streamlit-side only. See docs/architecture.md, "Navigation and the pages/ folder".
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import streamlit as st

from ui import identity, media_gate, network

NAVIGATED_KEY = "app_navigation_ran"  # set by app.py: this session has been through it
_run = threading.local()  # .in_app: this script run is app.py running the page


@contextlib.contextmanager
def through_app() -> Iterator[None]:
    """app.py runs the chosen page inside this: the page then skips the preamble app.py did."""
    st.session_state[NAVIGATED_KEY] = True
    _run.in_app = True
    try:
        yield
    finally:
        _run.in_app = False


def ensure_navigation() -> None:
    """First call on every page: when app.py is not running it, do what app.py does.

    Until ``st.navigation`` has run once in the process, Streamlit treats a
    ``pages/`` folder beside the main script as a legacy multipage app: a first
    request for ``/patient?patient=...`` would run pages/patient.py on its own,
    skipping app.py and listing every file of the folder in the sidebar
    (streamlit 1.67, runtime/scriptrunner/script_runner.py ``_mpa_v1``; AppTest
    re-enters that mode on every run). A session that has never been through
    app.py is rerun through it, which resolves the same URL; otherwise the page
    applies app.py's gates itself (single-user mode serves this computer only;
    who is working; the sign-in gate), so no page shows data without a role, or
    to another computer in single-user mode, however it is reached.
    """
    if getattr(_run, "in_app", False):
        return
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        if not st.session_state.get(NAVIGATED_KEY):
            st.rerun()
    actor = identity.current_actor()
    network.gate(actor)  # single-user mode serves this computer only
    with st.sidebar:
        identity.identity_sidebar(actor)
        identity.watch_sign_in(actor)
    media_gate.require_gate()
    identity.require_sign_in(actor)

# The browser tab's icon (st.set_page_config in app.py), shipped with the app: Streamlit sends an SVG
# file as a data: URL, so nothing is fetched from outside. Material icons in the page list below are
# drawn with the Material Symbols font that Streamlit serves itself.
PAGE_ICON = Path(__file__).resolve().parent / "static" / "page_icon.svg"

# (path relative to app.py, title, icon): the pages that exist, in menu order.
PAGES = (
    ("pages/home.py", "Home", ":material/home:"),
    ("pages/patient.py", "Patient review", ":material/person:"),
    ("pages/planner.py", "Salvage planner", ":material/calculate:"),
    ("pages/cohort.py", "Cohort statistics", ":material/monitoring:"),
    ("pages/dosimetry.py", "Dosimetry", ":material/radiology:"),
    ("pages/data.py", "Data", ":material/database:"),
)
