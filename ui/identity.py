"""Who is working: sign-in with OpenID Connect when configured, roles, session expiry, the sign-in gate.

Streamlit-side only; roles and the write check live in ``prrt_core.store.access``, how long a
sign-in lasts in ``prrt_core.store.sessions``. Without an ``[auth]`` table in
``.streamlit/secrets.toml`` the app is single-user.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from prrt_core.errors import ConfigError
from prrt_core.store import access, sessions
from ui.text import md

log = logging.getLogger(__name__)


# This process's sign-ins: last interaction and those that have ended (shared with ui/media_gate.py).
CLOCK = sessions.IdleClock()


@dataclass(frozen=True)
class SignInSettings:
    """What ``.streamlit/secrets.toml`` says about sign-in: whether it is configured, the
    ``[prrt.roles]`` table (checked when used) and the ``[prrt.session]`` table."""

    configured: bool
    roles: dict = field(default_factory=dict)
    session: dict = field(default_factory=dict)


def sign_in_settings() -> SignInSettings:
    """The sign-in settings from the secrets file (also read outside a script run, by the media gate).

    Without a secrets file reading st.secrets raises, so probe first; a secrets file that
    exists but cannot be read keeps the app locked rather than single-user.
    """
    if st.secrets.load_if_toml_exists():
        secrets = st.secrets.to_dict()
        prrt = secrets.get("prrt", {})
        return SignInSettings("auth" in secrets, dict(prrt.get("roles", {})), dict(prrt.get("session", {})))
    from streamlit import config
    if any(Path(f).is_file() for f in config.get_option("secrets.files")):
        log.error("a secrets file exists but cannot be read: sign-in required, nobody can sign in")
        return SignInSettings(True)
    return SignInSettings(False)


def _claims() -> dict:
    """The signed-in user's claims (the ID token's, as ``st.user`` holds them); {} if nobody is."""
    return st.user.to_dict() if st.user.get("is_logged_in") else {}


def role_of(claims: dict, settings: SignInSettings) -> access.SignIn:
    """What ``claims`` give under the settings' [prrt.roles]; an invalid table gives nobody a role (logged)."""
    if not claims:
        return access.SignIn(None)
    try:
        return access.sign_in(claims, settings.roles)
    except ConfigError:
        log.exception("[prrt.roles] in secrets.toml is invalid: nobody gets a role")
        return access.SignIn(None)


def session_limits(settings: SignInSettings) -> sessions.SessionLimits | None:
    """The settings' [prrt.session] limits; None (logged) if the table is invalid: every sign-in has then ended."""
    try:
        return sessions.session_limits(settings.session)
    except ConfigError:
        log.exception("[prrt.session] in secrets.toml is invalid: every sign-in is refused")
        return None


def ended(claims: dict, settings: SignInSettings, *, touch: bool) -> str | None:
    """Why the sign-in of ``claims`` has ended (the sentence shown), or None; ``touch`` notes an interaction."""
    limits = session_limits(settings)
    if limits is None:
        return "Signed out: `[prrt.session]` in `.streamlit/secrets.toml` is invalid (see the server log)"
    clock = CLOCK.touch if touch else CLOCK.check
    expiry = clock(claims, limits, time.time())
    return None if expiry is None else limits.message(expiry)


def sign_out() -> None:
    """End this session's sign-in here (every tab holding it, and its download URLs), then Streamlit's."""
    settings = sign_in_settings()
    claims = _claims()
    limits = session_limits(settings)
    if claims and limits is not None:
        CLOCK.end(claims, limits, time.time())
    st.logout()


def _sign_in() -> access.SignIn | None:
    """What this session's claims give under [prrt.roles]; None in single-user mode."""
    settings = sign_in_settings()
    return role_of(_claims(), settings) if settings.configured else None


def session_ended() -> str | None:
    """Why this session's sign-in has ended (idle, too old), or None; each call is an interaction."""
    settings = sign_in_settings()
    claims = _claims()
    if not settings.configured or not claims:
        return None
    return ended(claims, settings, touch=True)


# An address echoed on the refusal page: plain ASCII only, so that no claim such as
# "https://x.example/@y.z" is shown (Streamlit's markdown links bare URLs even when escaped).
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+")


# The longest display name shown and written to the audit log (with the address): a provider's name
# claim is not bounded, and a 300-character one would fill the sidebar and every audit row.
MAX_NAME_CHARS = 80


def _display_name(value: object) -> str:
    """The ``name`` claim if it is printable text (no control or format characters; cut to
    MAX_NAME_CHARS), else ""."""
    if not isinstance(value, str):
        return ""
    name = value.strip()
    if any(unicodedata.category(ch)[0] == "C" for ch in name):
        return ""
    return name if len(name) <= MAX_NAME_CHARS else name[:MAX_NAME_CHARS - 1] + "…"


def current_actor() -> access.Actor | None:
    """Who this session acts as: None when nobody with a role is signed in.

    Without an [auth] table in secrets.toml the app is single-user: the local user is
    an editor. With it, the signed-in user's verified e-mail address maps to a role
    through [prrt.roles] (``prrt_core.store.access.sign_in``: ``email_verified`` true,
    the ``issuer`` if one is set, a well-formed address or a group listed there), until the
    sign-in ends ([prrt.session]: idle time, maximum age).
    """
    result = _sign_in()
    if result is None:
        return access.Actor("local user", access.Role.EDITOR, "local")
    if result.role is None or session_ended() is not None:
        return None
    email = result.email
    name = _display_name(_claims().get("name")) or email
    return access.Actor(name if name == email else f"{name} <{email}>", result.role, "oidc")


def current_user() -> str:
    """The name written to the audit log for writes from this session ("" if not signed in).

    Signed in without a role: the claimed address if it is well formed, else "".
    """
    actor = current_actor()
    if actor is not None:
        return actor.name
    result = _sign_in()
    return result.email if result is not None else ""


def can_write() -> bool:
    """Whether this session may change the store: an editor (single-user mode: yes)."""
    actor = current_actor()
    return actor is not None and actor.can_write


# How often a signed-in page checks, without any interaction, whether its sign-in has ended, s:
# a third of the idle time, at least 2 s and at most a minute.
WATCH_PERIOD_RANGE_S = (2.0, 60.0)


def _watch_period_s(limits: sessions.SessionLimits) -> float:
    low, high = WATCH_PERIOD_RANGE_S
    return min(high, max(low, limits.idle_minutes * 60 / 3))


def _rerun_if_ended() -> None:
    claims = _claims()
    if claims and ended(claims, sign_in_settings(), touch=False) is not None:
        st.rerun(scope="app")  # the whole page: the sign-in gate then hides the patient data


def watch_sign_in(actor: access.Actor | None) -> None:
    """For a signed-in user: rerun the page once the sign-in has ended (idle, too old, signed out
    elsewhere), so an unattended screen stops showing patient data without waiting for a click.
    A fragment that reruns on its own every :func:`_watch_period_s`; a check, not an interaction."""
    if actor is None or actor.via != "oidc":
        return
    limits = session_limits(sign_in_settings())
    if limits is not None:
        st.fragment(_rerun_if_ended, run_every=_watch_period_s(limits))()


def identity_sidebar(actor: access.Actor | None) -> None:
    """Who is working: single-user mode, or the signed-in user with a sign-out button."""
    if actor is not None and actor.via == "local":
        st.caption("Single-user mode: serves this computer only; no sign-in is configured (`[auth]` "
                   "in `.streamlit/secrets.toml`); changes are recorded as 'local user'.")
    elif actor is not None:
        st.caption(f"Signed in as {md(actor.name)} ({actor.role.value}).")  # claims: escaped
        st.button("Sign out", on_click=sign_out, key="sign_out")


def require_sign_in(actor: access.Actor | None) -> None:
    """Stop the run unless this session has a role: every page shows patient data.

    Signed in without a role, the page says why (the address escaped with ``md``, and shown
    only when it is plain ASCII; never another claim) and offers to sign out.
    """
    if actor is not None:
        return
    result = _sign_in()
    if result is None or not _claims():
        st.info("Sign in to see and change the clinical record.")
        if st.button("Sign in", type="primary", key="sign_in"):
            st.login()
    elif result.role is not None:  # the sign-in has ended: idle, too old
        st.warning(f"{session_ended()}: sign in again to go on.")
        if st.button("Sign in again", type="primary", key="sign_in"):
            st.login()
        st.button("Sign out", on_click=sign_out, key="sign_out")
    else:
        who = md(result.email) if _PLAIN_ADDRESS.fullmatch(result.email) else "This sign-in"
        if result.refusal is access.Refusal.NOT_LISTED:
            st.error(f"{who} has no role here: ask the administrator to add the address to "
                     "`[prrt.roles]` in `.streamlit/secrets.toml`.")
        elif result.refusal is not None:
            st.error(f"{who} has no role here: {result.refusal.value}.")
        else:  # an invalid [prrt.roles] table (logged)
            st.error(f"{who} has no role here: `[prrt.roles]` in `.streamlit/secrets.toml` is "
                     "invalid; the administrator will find the reason in the server log.")
        st.button("Sign out", on_click=sign_out, key="sign_out")
    st.stop()
