"""Files served over HTTP only to a signed-in user with a role: an ASGI middleware for ``serve.py``.

Streamlit serves downloads (the summary PDF, exports, backups) and media under ``/media/<id>``
to whoever asks for the URL, without looking at the sign-in. With sign-in configured, this
middleware answers such a request with 403 unless its sign-in cookie (Streamlit's
``_streamlit_user``, signed with ``[auth] cookie_secret``) holds claims that give a role under
``[prrt.roles]`` and a sign-in that has not ended (``[prrt.session]``, ``ui.identity.CLOCK``).
In single-user mode it lets every request through: that server answers this computer only.

The cookie is read with Streamlit's own reader (``get_cookie_with_chunks``,
``decode_signed_value``) of the 1.67 series that requirements.txt pins; the browser test
``tests/browser/test_sign_in.py`` downloads with and without a sign-in, so a change of the
cookie format fails a test rather than opening the files.
"""

from __future__ import annotations

import logging
import os

import streamlit as st
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import get_route_path
from starlette.types import ASGIApp, Receive, Scope, Send
from streamlit import config
from streamlit.auth_util import get_cookie_with_chunks
from streamlit.web.server.server_util import get_cookie_secret
from streamlit.web.server.starlette.starlette_app_utils import decode_signed_value

from prrt_core.store import sessions
from ui import identity

log = logging.getLogger(__name__)

USER_COOKIE = "_streamlit_user"  # streamlit/web/server/starlette/starlette_server_config.py
REFUSAL = "Sign in to the Salvage PRRT Board to open this file."
# Set in this process's environment when the middleware is built: a module variable would be reset
# when Streamlit re-imports a changed module of the app, and lock every user out until a restart.
INSTALLED_ENV = "PRRT_MEDIA_GATE_INSTALLED"


def installed() -> bool:
    """Whether this process serves the app behind :class:`SignedInMedia` (started by ``serve.py``)."""
    return os.environ.get(INSTALLED_ENV) == str(os.getpid())


def media_prefix() -> str:
    """The URL path under which Streamlit serves media, with ``server.baseUrlPath``."""
    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}/media/" if base else "/media/"


def signed_in_claims(request: Request) -> dict:
    """The claims of the request's valid sign-in cookie; {} if it has none, a forged or unreadable one."""
    cookies = request.cookies
    secret = get_cookie_secret()

    def one(name: str) -> bytes | None:
        value = cookies.get(name)
        return None if value is None else decode_signed_value(secret, name, value)

    return sessions.signed_in_claims(get_cookie_with_chunks(one, USER_COOKIE))


def may_open(request: Request) -> bool:
    """Whether the request may have a media file: single-user mode, or a signed-in user with a role
    whose sign-in has not ended (checked, not counted as an interaction)."""
    settings = identity.sign_in_settings()
    if not settings.configured:
        return True
    claims = signed_in_claims(request)
    if not claims or identity.role_of(claims, settings).role is None:
        return False
    return identity.ended(claims, settings, touch=False) is None


class SignedInMedia:
    """ASGI middleware: ``/media/`` only for :func:`may_open` requests, else 403 with :data:`REFUSAL`."""

    def __init__(self, app: ASGIApp) -> None:
        os.environ[INSTALLED_ENV] = str(os.getpid())  # this process only: not inherited as "installed"
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and get_route_path(scope).startswith(media_prefix()) \
                and not may_open(Request(scope)):
            log.info("refused a media request without a valid sign-in")
            await PlainTextResponse(REFUSAL, status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def require_gate() -> None:
    """Stop the run when sign-in is configured and the page is served over HTTP by a server started
    without this middleware (``streamlit run app.py``): its downloads would be open to anyone with
    their URL. In-process runs (AppTest) serve no files and pass."""
    if identity.sign_in_settings().configured and st.context.url is not None and not installed():
        log.error("sign-in is configured but the server was started without serve.py: pages refused")
        st.error("This server was started with `streamlit run app.py`, which serves downloads to anyone "
                 "with their address. With sign-in configured, start it with `streamlit run serve.py`.")
        st.stop()
