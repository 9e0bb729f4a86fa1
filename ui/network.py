"""What reaches the app over the network: which clients single-user mode serves, and uploaded files.

Streamlit-side only; docs/deploy.md says what a deployment adds in front. What this relies on
in Streamlit 1.67 (requirements.txt pins the minor series):

- ``st.context.ip_address`` is the websocket peer's address, and ``None`` for 127.0.0.1 and
  ::1 and without a client (streamlit/runtime/context.py, ``ip_address``). AppTest cannot set it
  (its runtime is a mock: testing/v1/app_test.py), hence the pure :func:`is_local` and
  :func:`may_serve`.
- ``PUT /_stcore/upload_file/<session_id>/<file_id>`` stores a file for any active session under
  any file id, issued or not (streamlit/web/server/starlette/starlette_routes.py, ``_upload_put``),
  and keeps it in memory until that session ends (runtime/app_session.py,
  ``remove_session_files``) unless the browser, or this module, removes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from prrt_core.store import access

# Headers a reverse proxy adds: single-user mode behind a proxy would serve the proxy's clients.
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")
REFUSED = ("**Single-user mode serves this computer only.** No sign-in is configured, so this app "
           "shows the clinical record only in a browser on the computer it runs on, not through a "
           "network or a proxy. Ask the administrator to configure sign-in (docs/deploy.md).")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


def _ipv4(text: str) -> list[int] | None:
    """The four octets of a dotted IPv4 address, None if ``text`` is not one."""
    return [int(octet) for octet in text.split(".")] if _IPV4.fullmatch(text) else None


def _ipv6(text: str) -> list[int] | None:
    """The eight 16-bit groups of an IPv6 address (a dotted IPv4 tail allowed), None if ``text`` is not one.

    Parsed here rather than by ``ipaddress``, which raises ValueError: ui/ catches only prrt_core's errors.
    """
    text, tail = text.lower(), None
    if "." in text:
        head, _, last = text.rpartition(":")
        octets = _ipv4(last)
        if octets is None or not head:
            return None
        text, tail = head + ":0:0", [octets[0] << 8 | octets[1], octets[2] << 8 | octets[3]]
    if not re.fullmatch(r"[0-9a-f:]+", text) or text.count("::") > 1:
        return None
    head, gap, rest = text.partition("::")
    left, right = (part.split(":") if part else [] for part in (head, rest))
    if any(not 1 <= len(group) <= 4 for group in left + right):
        return None
    missing = 8 - len(left) - len(right)
    if missing < (1 if gap else 0) or (missing and not gap):
        return None
    groups = [int(g, 16) for g in left] + [0] * missing + [int(g, 16) for g in right]
    return groups if tail is None else groups[:6] + tail


def is_local(address: str | None) -> bool:
    """Whether a client address is this computer: loopback (127.0.0.0/8, ::1, ::ffff:127.x.x.x).

    ``None`` counts as local: ``st.context.ip_address`` gives None for 127.0.0.1 and ::1.
    Anything that is not an IP address is not local.
    """
    if address is None:
        return True
    text = address.strip()
    if (octets := _ipv4(text)) is not None:
        return octets[0] == 127
    groups = _ipv6(text)
    if groups is None:
        return False
    return groups == [0] * 7 + [1] or (groups[:6] == [0] * 5 + [0xFFFF] and groups[6] >> 8 == 127)


def may_serve(sign_in_configured: bool, address: str | None, proxied: bool = False) -> bool:
    """Whether to serve a client at ``address`` at all.

    With sign-in configured, yes (the role decides what it sees). Without (single-user mode:
    whoever is served is an editor), only this computer, and not through a proxy (``proxied``:
    the request carries a forwarding header).
    """
    return sign_in_configured or (is_local(address) and not proxied)


def gate(actor: access.Actor | None) -> None:
    """Before anything is shown: stop a client that single-user mode does not serve.

    A refused client sees the reason and no data. A session that is refused or has no role
    keeps no uploaded file (Streamlit accepts uploads for any session; docs/deploy.md).
    """
    single_user = actor is not None and actor.via == "local"
    address = st.context.ip_address
    address = address if isinstance(address, str) else None  # no client: AppTest's runtime is a mock
    proxied = any(st.context.headers.get(name) is not None for name in FORWARDING_HEADERS)
    served = may_serve(not single_user, address, proxied)
    if actor is None or not served:
        ctx = get_script_run_ctx()
        if ctx is not None:
            ctx.uploaded_file_mgr.remove_session_files(ctx.session_id)
    if not served:
        st.error(REFUSED, icon=":material/lan:")
        st.stop()


# ---- uploads: released once taken --------------------------------------------------------
def uploader_key(name: str) -> str:
    """The current key of the uploader ``name``: a new one after each :func:`release`, so the
    widget comes back empty (its first key is ``name`` itself)."""
    n = st.session_state.get(f"{name}__released", 0)
    return name if n == 0 else f"{name}_{n}"


def release(name: str, files: Iterable) -> None:
    """Done with the uploaded ``files`` of the uploader ``name``: drop them from Streamlit's
    upload store now (not at the session's end), drop the widget's state (which holds the
    files too, and outlives the widget while a page ends with ``st.stop()``), and give the
    uploader a new, empty key."""
    ctx = get_script_run_ctx()
    if ctx is not None:
        for file in files:
            ctx.uploaded_file_mgr.remove_file(ctx.session_id, file.file_id)
    st.session_state.pop(uploader_key(name), None)
    st.session_state[f"{name}__released"] = st.session_state.get(f"{name}__released", 0) + 1
