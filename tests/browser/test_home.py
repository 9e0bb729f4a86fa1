"""Home page in a real browser: Chromium via Playwright against ``streamlit run app.py``."""

from __future__ import annotations

import base64
import os
import sys
import urllib.parse

import pytest
from playwright.sync_api import expect

from prrt_core.store import Store
from tests.support import answers, free_port, navigate, running
from ui import navigation

pytestmark = pytest.mark.browser


def test_home_page_renders_demo_cohort_without_exception(app_server, page):
    page.goto(app_server["url"])
    page.get_by_role("heading", name="Salvage PRRT Board").wait_for()
    page.get_by_text("Mean cumulative kidney dose (Gy)").wait_for()
    metrics = page.locator('[data-testid="stMetric"]')
    metrics.nth(4).wait_for()
    text = " ".join(metrics.all_inner_texts())
    assert "Patients" in text and "35" in text
    assert "44.0" in text and "23.8" in text
    assert page.get_by_text("Demo data.").count() == 1
    assert page.locator('[data-testid="stException"]').count() == 0
    assert app_server["db"].exists()


# ---- issue 13 section 5: nothing leaves this computer; no "Ask Google"; the demo on offer ---------
HEADINGS = {"Home": "Salvage PRRT Board"}  # every other page's heading is its title


def loopback(url: str) -> bool:
    """Whether a request stays on this computer (the app's server), or needs no network at all."""
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("data", "blob") or (parts.scheme in ("http", "https", "ws", "wss")
                                                and parts.hostname in ("127.0.0.1", "localhost", "::1"))


def test_no_request_leaves_this_computer_on_any_page(app_server, page):
    # A hospital network without internet refuses every outside request: the page icon was fetched
    # from fonts.gstatic.com (":material/radiology:"), once per page.
    requests, failed = [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(app_server["url"])
    page.get_by_role("heading", name="Salvage PRRT Board").wait_for()
    for _, title, _ in navigation.PAGES[1:] + navigation.PAGES[:1]:
        navigate(page, title, HEADINGS.get(title, title))
        # the page has run to its end (charts drawn, fonts loaded)
        expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning", timeout=60_000)
        page.wait_for_load_state("networkidle")
    outside = sorted({url for url in requests if not loopback(url)})
    assert not outside and not failed, (outside, failed)
    # The icons of the page list are drawn with the Material Symbols font the app's server sends.
    assert [url for url in requests if "MaterialSymbols" in url and url.startswith(app_server["url"])]
    icon = page.locator("link[rel~='icon']").first.get_attribute("href")
    assert icon.startswith("data:image/svg+xml;base64,")
    assert base64.b64decode(icon.split(",", 1)[1]).decode() == navigation.PAGE_ICON.read_text()


def test_an_error_box_offers_no_ask_google_or_chatgpt_link(tmp_path, page):
    # The clinic's .streamlit/config.toml (read from the working directory, the repository) sets
    # client.showErrorLinks = false. A script that raises shows Streamlit's error box; with the
    # option at Streamlit's default ("auto": shown on 127.0.0.1) the same box carries both links.
    script = tmp_path / "raises.py"
    script.write_text("raise RuntimeError('an error for the error box')\n")
    for option, links in (([], 0), (["--client.showErrorLinks", "auto"], 1)):
        port = free_port()
        command = [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
                   "--server.port", str(port), "--server.address", "127.0.0.1", *option]
        url = f"http://127.0.0.1:{port}"
        with running(command, env=os.environ, log_path=tmp_path / f"streamlit-{port}.log",
                     ready=lambda url=url: answers(url), what="streamlit"):
            page.goto(url)
            box = page.get_by_test_id("stException")
            expect(box).to_contain_text("RuntimeError", timeout=60_000)
            for name in ("Ask Google", "Ask ChatGPT"):
                expect(box.get_by_role("link", name=name)).to_have_count(links)


def test_an_empty_database_offers_the_demo_cohort(tmp_path, page, private_app):
    db = tmp_path / "clinic.sqlite"
    Store(db).close()  # e.g. made by `python -m prrt_core init`: the app's first start leaves it empty
    with private_app(db) as url:
        page.goto(url)
        page.get_by_text("The database is empty.").wait_for()
        page.get_by_role("button", name="Load the demo cohort").click()
        page.get_by_text("Demo data.").wait_for()
        patients = page.locator('[data-testid="stMetric"]').filter(has_text="Patients").first
        expect(patients).to_contain_text("35", timeout=60_000)
        expect(page.get_by_role("button", name="Load the demo cohort")).to_have_count(0)
        assert page.locator('[data-testid="stException"]').count() == 0
    with Store(db) as store:
        assert store.is_demo and set(store.read("audit").query("action == 'demo'")["user"]) == {"local user"}
