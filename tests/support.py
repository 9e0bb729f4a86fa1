"""Helpers shared by the test tiers: where the app is, opening a page in AppTest, running
``streamlit run app.py`` on a free loopback port, and Chromium's launch flags."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from streamlit.testing.v1 import AppTest

from prrt_core.store.access import Actor, Role

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")  # AppTest resolves relative paths against the test file: always absolute
SERVER = str(REPO / "serve.py")  # what `streamlit run` starts: app.py behind the media gate
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic", "--disable-dev-shm-usage"]


def open_page(page: str | None = None, *, query: Mapping[str, str] | None = None,
              session: Mapping[str, object] | None = None, secrets: Mapping | None = None,
              user: Mapping | None = None, timeout: float = 60, check: bool = True) -> AppTest:
    """Run app.py in AppTest as a first visit would, then switch to ``page`` (e.g. "pages/data.py").

    ``query``: URL query parameters; ``session``: session-state values set before the page
    runs; ``secrets``/``user``: a sign-in configuration and the signed-in user's claims (``iat``,
    the token's issue time, is now unless given).
    With ``check`` the page must run without an uncaught exception.
    """
    at = AppTest.from_file(APP, default_timeout=timeout)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    if secrets is not None:
        at.secrets = dict(secrets)
    if user is not None:  # an ID token's issue time as a provider sets it, unless the test gives one
        at.user = {"iat": int(time.time())} | dict(user)
    at.run()
    if page is not None:
        for key, value in (session or {}).items():
            at.session_state[key] = value
        at.switch_page(page).run()
    if check:
        assert not at.exception, [e.value for e in at.exception]
    return at


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def toml_text(table: Mapping, prefix: str = "") -> str:
    """``table`` (strings, booleans, numbers, lists of them, nested tables) as TOML text."""
    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)  # a JSON string is a TOML basic string
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(f"no TOML for {type(v).__name__}")
    lines = [f"{json.dumps(k)} = {value(v)}" for k, v in table.items() if not isinstance(v, Mapping)]
    if prefix and lines:
        lines.insert(0, f"[{prefix}]")
    for k, v in table.items():
        if isinstance(v, Mapping):
            lines.append(toml_text(v, f"{prefix}.{json.dumps(k)}" if prefix else json.dumps(k)))
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def streamlit_app(db: Path, log_dir: Path, secrets: Mapping | None = None, script: str = SERVER) -> Iterator[str]:
    """Run ``streamlit run serve.py`` headless on a free loopback port against ``db``; yields the URL.

    ``secrets``: the app's secrets (e.g. ``{"auth": {...}, "prrt": {"roles": {...}}}``), written
    to a file in ``log_dir`` and passed with ``--secrets.files`` (the repository's
    ``.streamlit/secrets.toml`` is then not read); an ``[auth]`` table without ``redirect_uri``
    gets this server's ``/oauth2callback``. ``script``: serve.py (the app behind its download gate)
    or app.py on its own. Waits for ``/_stcore/health`` to answer ``ok``;
    stops the server afterwards.
    """
    port = free_port()
    env = os.environ | {"PRRT_DB": str(db)}
    log_path = log_dir / f"streamlit-{port}.log"
    options = []
    if secrets is not None:
        secrets = dict(secrets)
        if "auth" in secrets and "redirect_uri" not in secrets["auth"]:
            secrets["auth"] = {"redirect_uri": f"http://127.0.0.1:{port}/oauth2callback"} | dict(secrets["auth"])
        secrets_path = log_dir / f"secrets-{port}.toml"
        secrets_path.write_text(toml_text(secrets))
        options = ["--secrets.files", str(secrets_path)]
    command = [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true", "--server.port", str(port),
               "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", *options]
    url = f"http://127.0.0.1:{port}"
    with running(command, env=env, log_path=log_path, ready=lambda: answers(url), what="streamlit"):
        yield url


def answers(url: str) -> bool:
    """Whether a Streamlit server at ``url`` says ``ok`` on ``/_stcore/health``."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().decode().strip() == "ok"
    except OSError:
        return False


@contextlib.contextmanager
def running(command: list[str], *, env: Mapping[str, str], log_path: Path, ready: Callable[[], bool],
            what: str, cwd: Path = REPO, timeout_s: float = 60) -> Iterator[subprocess.Popen]:
    """Start a server process (loopback only), wait until ``ready()``; terminate it afterwards.

    Its output goes to ``log_path``; a process that exits or is not ready in ``timeout_s`` fails
    the test naming the log.
    """
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=cwd, env=dict(env), stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout_s
            while not ready():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{what} did not start; see {log_path}")
                time.sleep(0.3)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def visit(page, url: str, heading: str) -> None:
    """Load ``url`` in a Playwright page and wait until the page heading ``heading`` shows."""
    page.goto(url)
    page.get_by_role("heading", name=heading).wait_for()


def navigate(page, link: str, heading: str) -> None:
    """Follow the sidebar navigation link ``link`` and wait for the page heading ``heading``."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=link).click()
    page.get_by_role("heading", name=heading).wait_for()


def editor(name: str = "test") -> Actor:
    """A writer for tests: an editor named ``name`` (the audit log records it)."""
    return Actor(name, Role.EDITOR, "system")


def child_at_marker(code: str, marker: Path, timeout_s: float = 60) -> subprocess.Popen:
    """Run ``python -c code`` from the repository and wait until it has written ``marker`` (the
    point where a test kills or interrupts it); a child that exits first fails with its stderr."""
    child = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, cwd=REPO)
    deadline = time.monotonic() + timeout_s
    while not marker.exists():
        assert child.poll() is None, child.stderr.read().decode()
        assert time.monotonic() < deadline, f"the child did not reach {marker.name} in {timeout_s:g} s"
        time.sleep(0.05)
    return child
