"""Page plumbing shared by every page: the store, cached reads, the demo notice.

Streamlit-side only; every number a page shows is computed in ``prrt_core``.
Connections are opened per unit of work (never cached across sessions or kept in
session state); reads are cached with ``st.cache_data`` keyed on the store's
revision, so any write, from any session or process, invalidates them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import streamlit as st

from pages import identity
from prrt_core import cohort
from prrt_core.datasets import demo
from prrt_core.store import Store, default_path

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
    shows who is working and applies the sign-in gate itself, so no page shows
    data without a role however it is reached.
    """
    if getattr(_run, "in_app", False):
        return
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        if not st.session_state.get(NAVIGATED_KEY):
            st.rerun()
    actor = identity.current_actor()
    with st.sidebar:
        identity.identity_sidebar(actor)
    identity.require_sign_in(actor)

# (path relative to app.py, title, icon): the pages that exist, in menu order.
PAGES = (
    ("pages/home.py", "Home", ":material/home:"),
    ("pages/patient.py", "Patient review", ":material/person:"),
    ("pages/planner.py", "Salvage planner", ":material/calculate:"),
    ("pages/cohort.py", "Cohort statistics", ":material/monitoring:"),
    ("pages/dosimetry.py", "Dosimetry", ":material/radiology:"),
    ("pages/data.py", "Data", ":material/database:"),
)


def db_path() -> str:
    return str(default_path().resolve())


@st.cache_resource(show_spinner="Preparing the database ...")
def prepare_store(path: str) -> str:
    """Create a missing database and fill it with the demo cohort (once per process and path).

    An existing file is only migrated: an empty clinic database stays empty.
    """
    missing = not Path(path).exists()
    with Store(path) as store:
        if missing:
            demo.load(store, user="app first start")
    return path


def revision(path: str) -> int:
    with Store(path) as store:
        return store.revision


@st.cache_data(show_spinner=False, max_entries=4)
def _read_all(path: str, revision: int) -> dict[str, pd.DataFrame]:
    with Store(path) as store:
        return store.read_all()


@st.cache_data(show_spinner=False, max_entries=4)
def _is_demo(path: str, revision: int) -> bool:
    with Store(path) as store:
        return store.is_demo


def tables() -> dict[str, pd.DataFrame]:
    """Every clinical table of the current store (cached until the next write)."""
    path = prepare_store(db_path())
    return _read_all(path, revision(path))


@st.cache_data(show_spinner=False, max_entries=4)
def overview(path: str, revision: int) -> cohort.CohortOverview:
    t = _read_all(path, revision)
    return cohort.overview(t["patients"], t["cycles"], t["dosimetry"])


def cohort_overview() -> cohort.CohortOverview:
    path = prepare_store(db_path())
    return overview(path, revision(path))


def store_revision() -> tuple[str, int]:
    """(database path, revision): the cache key of everything computed from the store."""
    path = prepare_store(db_path())
    return path, revision(path)


def is_demo() -> bool:
    """Whether the loaded data is the synthetic demo cohort."""
    return _is_demo(*store_revision())


def demo_notice() -> None:
    """A visible banner while the synthetic demo cohort is loaded; call it on every page."""
    if is_demo():
        st.warning("**Demo data.** This is a synthetic cohort generated to resemble a published "
                   "study (BMC Cancer 2019;19:788). It contains no real patients and must not be "
                   "used for clinical decisions.", icon=":material/science:")


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
    copied. Returns None (with a notice) when the store holds no patient.
    """
    ids = sorted(tables()["patients"]["patient_id"].astype(str))
    if not ids:
        st.info("No patients in the database yet.", icon=":material/person_off:")
        return None
    linked = st.query_params.get(PATIENT_QUERY_PARAM)
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
