"""Browser tier: Debian's Chromium (``/usr/bin/chromium``) driven by Playwright against
``streamlit run app.py`` on a free loopback port; browsers cannot be downloaded here."""

from __future__ import annotations

import pytest

from tests.support import CHROMIUM, CHROMIUM_ARGS, streamlit_app


@pytest.fixture
def private_app(tmp_path):
    """The app against a database of the test's own: ``with private_app(db) as url: ...``."""
    return lambda db: streamlit_app(db, tmp_path)


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """The app on a free port with a database it creates (demo cohort) on first start.

    Shared by the browser tests of a worker: tests that write must use
    ``private_app`` with their own database instead.
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
