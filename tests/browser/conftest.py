"""Browser tier: Debian's Chromium (``/usr/bin/chromium``) driven by Playwright against
``streamlit run app.py`` on a free loopback port; browsers cannot be downloaded here."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import CHROMIUM, CHROMIUM_ARGS, free_port, running, streamlit_app


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


@dataclass(frozen=True)
class OidcProvider:
    """A running oidc-provider-mock: a real OpenID Connect provider on a loopback port.

    ``url`` is also its issuer (the ``iss`` of its ID tokens). Its login form asks for a
    ``sub``; :meth:`set_user` gives that subject the claims its ID token will carry.
    """

    url: str
    log: Path

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def set_user(self, sub: str, **claims) -> None:
        """The claims (``email``, ``email_verified``, ``name``, ``groups``, …) of subject ``sub``."""
        request = urllib.request.Request(f"{self.url}/users/{sub}", method="PUT", data=json.dumps(claims).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 204, response.status

    def auth(self, client_id: str = "prrt-board") -> dict:
        """An ``[auth]`` table for the app against this provider (``streamlit_app`` adds the redirect URI)."""
        return {"cookie_secret": "browser-test-cookie-secret", "client_id": client_id,
                "client_secret": "browser-test-client-secret", "server_metadata_url": self.metadata_url}


@pytest.fixture(scope="module")
def oidc_provider(tmp_path_factory):
    """``python -m oidc_provider_mock`` on a free 127.0.0.1 port, run in a temporary directory
    (its log there too); ready once its discovery document answers, terminated afterwards."""
    workdir = tmp_path_factory.mktemp("oidc")
    port = free_port()
    log = workdir / "oidc-provider.log"
    provider = OidcProvider(f"http://127.0.0.1:{port}", log)

    def ready() -> bool:
        try:
            with urllib.request.urlopen(provider.metadata_url, timeout=2) as response:
                return json.load(response).get("issuer") == provider.url
        except OSError:
            return False

    command = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]
    with running(command, env=os.environ | {"NO_COLOR": "1"}, log_path=log, ready=ready, what="oidc-provider-mock",
                 cwd=workdir, timeout_s=30):
        yield provider
