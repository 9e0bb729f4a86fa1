"""The app on the network, against real ``streamlit run app.py`` servers (docs/deploy.md).

Most tests speak Streamlit's own protocol without a browser: the websocket a browser opens
(``/_stcore/stream``, protobuf messages) and plain HTTP with ``urllib`` on loopback. What they
establish about Streamlit 1.67 itself:

- ``PUT /_stcore/upload_file/<session_id>/<file_id>`` stores a file for any active session under a
  file id the server never issued (streamlit/web/server/starlette/starlette_routes.py, ``_upload_put``):
  a visitor who has not signed in can upload. The app drops such files on the session's next run
  (ui/network.py); the reverse proxy of docs/deploy.md refuses the request before sign-in.
- ``/_stcore/metrics`` answers anyone (same file, ``create_metrics_routes``): cache and session
  figures, no data. The proxy refuses it too.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support import APP, answers, free_port, running, streamlit_app
from ui.text import WORD_JOINER

pytestmark = pytest.mark.browser

MIB = 1024 * 1024
SIGN_IN = {"auth": {"cookie_secret": "network-test-secret", "client_id": "prrt-board", "client_secret": "s",
                    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"},
           "prrt": {"roles": {"editors": ["e@clinic.example"]}}}
REFUSED = "Single-user mode serves this computer only."
SERVED = "Mean cumulative kidney dose (Gy)"  # a Home metric: patient data was sent


# ---- servers ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app in single-user mode on 127.0.0.1 (tests.support.streamlit_app), demo cohort."""
    folder = tmp_path_factory.mktemp("network")
    with streamlit_app(folder / "app.sqlite", folder) as url:
        yield url


@pytest.fixture(scope="module")
def sign_in_server(tmp_path_factory):
    """The app with sign-in configured (nobody signs in here), demo cohort."""
    folder = tmp_path_factory.mktemp("network-sign-in")
    with streamlit_app(folder / "app.sqlite", folder, secrets=SIGN_IN) as url:
        yield url, folder / "app.sqlite"


@contextlib.contextmanager
def shipped(db: Path, log_dir: Path, *options: str, host: str = "127.0.0.1") -> Iterator[str]:
    """``streamlit run app.py`` with .streamlit/config.toml as shipped: unlike streamlit_app, no
    ``--server.address`` unless ``options`` give one (then ``host`` is where it answers)."""
    port = free_port()
    url = f"http://{host}:{port}"
    command = [sys.executable, "-m", "streamlit", "run", APP, "--server.headless", "true", "--server.port", str(port),
               "--browser.gatherUsageStats", "false", *options]
    with running(command, env=os.environ | {"PRRT_DB": str(db)}, log_path=log_dir / f"shipped-{port}.log",
                 ready=lambda: answers(url), what="streamlit"):
        yield url


def wait_for(condition: Callable[[], bool], timeout: float = 20) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


# ---- a session without a browser ----------------------------------------------------------
class Session:
    """One Streamlit session over its websocket: ``run()`` asks for a script run as a browser does."""

    def __init__(self, ws) -> None:
        self.ws, self.id = ws, ""

    def run(self) -> str:
        """Run app.py once; every message the server sent for the run, as protobuf text."""
        message = BackMsg()
        message.rerun_script.query_string = ""
        message.rerun_script.page_script_hash = ""
        self.ws.send(message.SerializeToString())
        sent = []
        while True:
            forward = ForwardMsg()
            forward.ParseFromString(self.ws.recv(timeout=60))
            if forward.WhichOneof("type") == "new_session":
                self.id = forward.new_session.initialize.session_id
            sent.append(str(forward))
            if forward.WhichOneof("type") == "script_finished":
                return "\n".join(sent)


@contextlib.contextmanager
def session(url: str, *, host: str | None = None, headers: dict | None = None) -> Iterator[Session]:
    """A websocket session with the server at ``url``, sending ``host`` as the Host header if given."""
    address = url.removeprefix("http://")
    name, port = address.rsplit(":", 1)
    sock = socket.create_connection((name, int(port)), timeout=30)
    with connect(f"ws://{host or address}/_stcore/stream", sock=sock, subprotocols=["streamlit"],
                 additional_headers=headers or {}, open_timeout=30) as ws:
        yield Session(ws)


# ---- uploads and metrics over HTTP --------------------------------------------------------
def xsrf_token(url: str) -> str:
    """The XSRF cookie Streamlit gives anyone (on /_stcore/health); an upload repeats it as a header."""
    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=10) as response:
        return response.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]


def upload(url: str, session_id: str, data: bytes | None, *, file_id: str | None = None, claimed: int = 0,
           method: str = "PUT") -> int:
    """PUT one file to the upload endpoint as the browser's uploader does (DELETE it with method);
    ``data=None`` sends only headers claiming a ``claimed``-byte body. Returns the HTTP status."""
    token, boundary = xsrf_token(url), uuid.uuid4().hex
    body = b"" if data is None else (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="tp1.dcm"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Cookie": f"_streamlit_xsrf={token}", "X-Xsrftoken": token,
               "Content-Type": f"multipart/form-data; boundary={boundary}"}
    if data is None:
        headers["Content-Length"] = str(claimed)
    request = urllib.request.Request(f"{url}/_stcore/upload_file/{session_id}/{file_id or uuid.uuid4()}",
                                     data=iter(()) if data is None else body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status
    except urllib.error.HTTPError as refused:
        return refused.code


def metrics(url: str) -> str:
    with urllib.request.urlopen(f"{url}/_stcore/metrics", timeout=10) as response:
        assert response.status == 200
        return response.read().decode()


def held_upload_bytes(url: str) -> int:
    """Bytes of uploaded files Streamlit holds in memory, from /_stcore/metrics (cached up to 5 s)."""
    found = re.search(r'cache_memory_bytes\{cache_type="UploadedFileManager",cache=""\} (\d+)', metrics(url))
    return int(found.group(1)) if found else 0


# ---- item 11: single-user mode serves this computer only ----------------------------------
def listening(port: int) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The local addresses of the TCP sockets listening on ``port`` (Linux /proc/net/tcp, tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)  # 32-bit words in host (little-endian) order
            found.add(ipaddress.ip_address(b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))))
    return found


def test_the_shipped_config_listens_on_loopback_only(tmp_path):
    with shipped(tmp_path / "app.sqlite", tmp_path) as url:
        port = int(url.rsplit(":", 1)[1])
        addresses = listening(port)
        assert addresses and all(a.is_loopback for a in addresses), addresses


def outside_address() -> str | None:
    """This computer's address on its outgoing interface, None without one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if ipaddress.ip_address(address).is_loopback else address


def test_a_client_on_another_address_is_refused_with_no_data(tmp_path):
    address = outside_address()
    if address is None:
        pytest.skip("this computer has no non-loopback interface")
    # Bound to the outside interface on purpose: the client's address is not loopback. The
    # Host header is one the shipped allowedHosts names, as any non-browser client can send.
    with shipped(tmp_path / "app.sqlite", tmp_path, "--server.address", address, host=address) as url:
        with session(url, host=f"localhost:{url.rsplit(':', 1)[1]}") as visitor:
            sent = visitor.run()
    assert REFUSED in sent
    assert SERVED not in sent and "Database:" not in sent and "NET-0" not in sent


def test_this_computer_is_served_and_a_proxied_client_is_not(server):
    with session(server) as local:
        sent = local.run()
    assert SERVED in sent and "Single-user mode: serves this computer only" in sent
    with session(server, headers={"X-Forwarded-For": "203.0.113.7"}) as proxied:
        sent = proxied.run()
    assert REFUSED in sent and SERVED not in sent and "Database:" not in sent


def test_a_page_of_another_site_pointed_at_loopback_cannot_connect(server):
    # DNS rebinding: the browser sends the other site's name as Host; allowedHosts refuses it.
    port = server.rsplit(":", 1)[1]
    with pytest.raises(InvalidStatus) as refused, session(server, host=f"evil.example:{port}"):
        pass
    assert refused.value.response.status_code == 403


# ---- item 7: uploads ----------------------------------------------------------------------
def test_streamlit_accepts_an_upload_for_a_session_without_a_role_and_the_app_drops_it(sign_in_server):
    url, _ = sign_in_server
    with session(url) as visitor:
        assert "Sign in to see and change the clinical record." in visitor.run()  # no uploader was rendered
        # A file id the server never issued, for a session that never rendered an uploader: Streamlit
        # stores it (docs/deploy.md: the proxy refuses /_stcore/upload_file before sign-in).
        assert upload(url, visitor.id, b"x" * 4096) == 204
        assert wait_for(lambda: held_upload_bytes(url) == 4096)
        visitor.run()  # the session's next run: the app keeps no upload for a session without a role
        assert wait_for(lambda: held_upload_bytes(url) == 0)
    assert upload(url, "no-such-session", b"x") == 400  # only an open session can receive files


def test_uploads_are_limited_to_what_a_spect_series_needs(server):
    with session(server) as local:
        local.run()
        file_id = str(uuid.uuid4())
        assert upload(server, local.id, bytes(128 ** 3 * 4), file_id=file_id) == 204  # a SPECT time point
        assert upload(server, local.id, None, file_id=file_id, method="DELETE") == 204
        # A larger request is refused from its Content-Length, before any of it is read.
        assert upload(server, local.id, None, claimed=101 * MIB) == 413


def test_files_taken_by_the_dosimetry_page_are_released(server, page):
    page.goto(f"{server}/dosimetry")
    page.get_by_role("heading", name="Dosimetry").wait_for()
    files = [{"name": f"tp{i}.dcm", "mimeType": "application/octet-stream", "buffer": os.urandom(MIB)}
             for i in (1, 2)]
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(files=files)
    page.get_by_text("2 file(s) loaded").wait_for()
    assert wait_for(lambda: held_upload_bytes(server) == 0)  # Streamlit's copy is gone: the page holds its own
    expect(page.get_by_role("button", name="Read and compute dosimetry")).to_be_enabled()


# ---- item 12: before sign-in nothing leaks ------------------------------------------------
def test_a_visitor_before_sign_in_gets_no_database_path(sign_in_server):
    url, db = sign_in_server
    with session(url) as visitor:
        sent = visitor.run()
    assert "Sign in to see and change the clinical record." in sent
    assert "Database:" not in sent and db.name not in sent and SERVED not in sent


def test_metrics_answer_anyone_with_cache_and_session_figures_only(server):
    with session(server) as local:
        local.run()  # fills the caches
    text = metrics(server)
    # Streamlit serves this to anyone who reaches the port: docs/deploy.md refuses it at the proxy.
    assert "cache_memory_bytes" in text and "active_sessions" in text
    caches = set(re.findall(r'cache="([^"]*)"', text)) - {""}
    assert caches and all(re.fullmatch(r"(ui|pages)\.[\w.]+", c) for c in caches), caches  # code names only
    assert "user_session_events" not in text  # server.unsafeMetricsUserAttributes is not set
    assert "app.sqlite" not in text and not re.search(r"NET-\d|@", text)  # no path, patient or address


# ---- item 13: text from outside shows as typed ---------------------------------------------
def test_a_hostile_file_name_renders_as_text_not_a_link(server, page):
    name = "[click](https:evil.example) www.evil.example :red[urgent].csv"  # browsers refuse '/' in names
    page.goto(f"{server}/dosimetry")
    page.get_by_role("heading", name="Dosimetry").wait_for()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        files=[{"name": name, "mimeType": "text/csv", "buffer": b"a,b\n1,2\n"}])
    loaded = page.locator('[data-testid="stCaptionContainer"]').filter(has_text="file(s) loaded")
    loaded.wait_for()
    page.get_by_role("button", name="Read and compute dosimetry").click()
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="not DICOM or NIfTI, skipped")
    alert.wait_for()
    for element in (loaded, alert):  # exactly as typed (the word joiner that breaks "www." is invisible)
        assert name in element.inner_text().replace(WORD_JOINER, "")
        assert element.locator("a").count() == 0
    assert page.locator('a[href*="evil.example"]').count() == 0
