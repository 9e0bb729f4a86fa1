"""The store as the pages see it: the database path, first-start demo cohort, cached reads, the demo notice
and, on an empty database, the offer to load the demo cohort.

Streamlit-side only; every number a page shows is computed in ``prrt_core``.
Connections are opened per unit of work (never cached across sessions or kept in
session state); reads are cached with ``st.cache_data`` keyed on the store's
revision, so any write, from any session or process, invalidates them.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import streamlit as st

from prrt_core import cohort
from prrt_core.datasets import demo
from prrt_core.errors import PrrtError, StoreError
from prrt_core.store import Store, access, default_path
from prrt_core.tables import Tables
from ui import identity
from ui.text import md

# The writer of the demo cohort that the app creates on its first start with no database.
FIRST_START = access.Actor("app first start", access.Role.EDITOR, "system")


def db_path() -> str:
    return str(default_path().resolve())


def _cannot_open(exc: StoreError) -> NoReturn:
    """One error message instead of the page (``$PRRT_DB`` a directory, a device, not a database,
    truncated, missing since the app started ...); nothing was created."""
    actor = identity.current_actor()
    where = f"{exc.value}: " if exc.field == "path" and actor is not None and actor.can_write else ""
    what = f"{where}{exc.reason}" if exc.field == "path" else str(exc)  # the path: editors only
    st.error(f"Cannot open the database {md(what)}. Set PRRT_DB to a database file (README, "
             "\"Where the data lives\").", icon=":material/error:")
    st.stop()


@st.cache_resource(show_spinner="Preparing the database ...")
def _prepare_store(path: str) -> str:
    missing = not Path(path).exists() and not Path(path).is_symlink()
    with Store(path) as store:
        if missing:
            demo.load(store, actor=FIRST_START)
    return path


def prepare_store(path: str) -> str:
    """Create a missing database and fill it with the demo cohort (once per process and path).

    An existing file is only migrated: an empty clinic database stays empty. A path that is not a
    database file shows one error message and stops the page. A file without write permission is
    read (not migrated); writes to it are refused.
    """
    try:
        return _prepare_store(path)
    except StoreError as exc:
        _cannot_open(exc)


def revision(path: str) -> int:
    try:
        with Store(path, create=False) as store:
            return store.revision
    except StoreError as exc:
        _cannot_open(exc)


@st.cache_data(show_spinner=False, max_entries=4)
def _read_all(path: str, revision: int) -> Tables:
    with Store(path, create=False) as store:
        return store.read_all()


@st.cache_data(show_spinner=False, max_entries=4)
def _is_demo(path: str, revision: int) -> bool:
    with Store(path, create=False) as store:
        return store.is_demo


@st.cache_data(show_spinner=False, max_entries=4)
def _is_empty(path: str, revision: int) -> bool:
    with Store(path, create=False) as store:
        return store.is_empty()


def tables() -> Tables:
    """Every clinical table of the current store (cached until the next write)."""
    path = prepare_store(db_path())
    return _read_all(path, revision(path))


@st.cache_data(show_spinner=False, max_entries=4)
def overview(path: str, revision: int) -> cohort.CohortOverview:
    t = _read_all(path, revision)
    return cohort.overview(t.patients, t.cycles, t.dosimetry)


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
    """A visible banner while the synthetic demo cohort is loaded, and on an empty database the offer
    to load it (:func:`demo_offer`); call it on every page."""
    if is_demo():
        st.warning("**Demo data.** This is a synthetic cohort generated to resemble a published "
                   "study (BMC Cancer 2019;19:788). It contains no real patients and must not be "
                   "used for clinical decisions.", icon=":material/science:")
    elif _is_empty(*store_revision()):
        demo_offer()


def demo_offer() -> None:
    """On an empty database: import on the Data page, or (an editor) load the synthetic demo cohort,
    written as this session's actor in one transaction (``demo.load`` refuses a store that holds
    patients by then); a refused write shows its message and writes nothing."""
    actor = identity.current_actor()
    can_write = actor is not None and actor.can_write
    st.info("**The database is empty.** Import the clinic's records on the Data page"
            + (f", or load the synthetic demo cohort ({demo.DEFAULT_N_PATIENTS} patients resembling a "
               "published study) to try the app." if can_write else
               "; an editor can also load the synthetic demo cohort."), icon=":material/database:")
    if can_write and st.button("Load the demo cohort", key="load_demo"):
        try:
            with Store(prepare_store(db_path()), create=False) as store:
                demo.load(store, actor=actor)
        except PrrtError as exc:  # e.g. a read-only file, patients written meanwhile by someone else
            st.error(f"Nothing was written: {md(exc)}")
            return
        st.rerun()
