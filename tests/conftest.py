"""Shared fixtures: temporary stores, the demo cohort, AppTest, and a real browser.

Browser tests start ``streamlit run app.py`` headless on a free local port against
a temporary database and drive Debian's Chromium (``/usr/bin/chromium``) with
Playwright; browsers cannot be downloaded here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from prrt_core.datasets import demo  # noqa: E402
from prrt_core.store import Store  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic", "--disable-dev-shm-usage"]


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives Chromium against a running app")


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> Path:
    """A database file holding the 35-patient demo cohort (read-only for tests)."""
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite"
    with Store(path) as store:
        demo.load(store)
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
    """Point the app at a database for AppTest runs: ``app_env(path)``."""
    def use(path: Path) -> None:
        monkeypatch.setenv("PRRT_DB", str(path))
    return use


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_app(db: Path, log_dir: Path):
    """Run ``streamlit run app.py`` headless on a free port against ``db``; yields the URL."""
    port = _free_port()
    env = os.environ | {"PRRT_DB": str(db)}
    log_path = log_dir / f"streamlit-{port}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"),
             "--server.headless", "true", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                        if r.read().decode().strip() == "ok":
                            break
                except OSError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start; see {log_path}")
                time.sleep(0.3)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def private_app(tmp_path):
    """The app against a database of the test's own: ``with private_app(db) as url: ...``."""
    return lambda db: streamlit_app(db, tmp_path)


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """The app on a free port with a database it creates (demo cohort) on first start.

    Shared by the browser tests of a worker: tests that write must use
    ``streamlit_app`` with their own database instead.
    """
    db = tmp_path_factory.mktemp("server") / "server.sqlite"
    with streamlit_app(db, tmp_path_factory.mktemp("log")) as url:
        yield {"url": url, "db": db}


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(60_000)  # generous: CI runs two workers on two cores
    yield pg
    context.close()
