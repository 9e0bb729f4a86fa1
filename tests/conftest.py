"""Fixtures shared by every tier: temporary stores and the demo cohort."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from prrt_core.datasets import demo
from prrt_core.store import Store
from tests.support import editor


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> Path:
    """A database file holding the 35-patient demo cohort (read-only for tests)."""
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite"
    with Store(path) as store:
        demo.load(store, actor=editor("demo"))
    return path


@pytest.fixture(scope="session")
def demo_tables(demo_db) -> dict:
    with Store(demo_db) as store:
        return store.read_all()


@pytest.fixture
def store(tmp_path) -> Store:
    with Store(tmp_path / "test.sqlite") as s:
        yield s


@pytest.fixture
def fresh_demo_db(tmp_path, demo_db) -> Path:
    """A private copy of the demo database that a test may change."""
    target = tmp_path / "demo.sqlite"
    with Store(demo_db) as src:
        src.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(demo_db, target)
    return target


@pytest.fixture
def app_env(monkeypatch):
    """Point the app at a database for AppTest runs and app servers: ``app_env(path)``."""
    def use(path: Path) -> None:
        monkeypatch.setenv("PRRT_DB", str(path))
    return use


@pytest.fixture(scope="session")
def pacs(tmp_path_factory):
    """A real PACS (Orthanc + DICOMweb on loopback, tests/orthanc.py) holding the phantom's Lu-177
    study and a Ga-68 study of another patient; shared by the unit and browser tiers."""
    from tests.orthanc import load_studies, orthanc

    workdir = tmp_path_factory.mktemp("orthanc")
    with orthanc(workdir / "server") as server:
        yield load_studies(server, workdir / "studies")
