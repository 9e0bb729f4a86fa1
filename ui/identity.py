"""Who is working: sign-in with OpenID Connect when configured, roles, the sign-in gate.

Streamlit-side only; roles and the write check live in ``prrt_core.store.access``.
Without an ``[auth]`` table in ``.streamlit/secrets.toml`` the app is single-user.
"""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from prrt_core.errors import ConfigError
from prrt_core.store import access

log = logging.getLogger(__name__)


def _sign_in_settings() -> tuple[bool, dict]:
    """(sign-in configured, the [prrt.roles] table) from .streamlit/secrets.toml.

    Without a secrets file reading st.secrets raises, so probe first; a secrets file
    that exists but cannot be read keeps the app locked rather than single-user.
    """
    if st.secrets.load_if_toml_exists():
        secrets = st.secrets.to_dict()
        return "auth" in secrets, dict(secrets.get("prrt", {}).get("roles", {}))
    from streamlit import config
    if any(Path(f).is_file() for f in config.get_option("secrets.files")):
        log.error("a secrets file exists but cannot be read: sign-in required, nobody can sign in")
        return True, {}
    return False, {}


def current_actor() -> access.Actor | None:
    """Who this session acts as: None when nobody with a role is signed in.

    Without an [auth] table in secrets.toml the app is single-user: the local user is
    an editor. With it, the signed-in e-mail address maps to a role through
    [prrt.roles] (``prrt_core.store.access.role_for``).
    """
    sign_in, roles = _sign_in_settings()
    if not sign_in:
        return access.Actor("local user", access.Role.EDITOR, "local")
    user = st.user.to_dict() if st.user.get("is_logged_in") else {}
    email = str(user.get("email") or "")
    try:
        role = access.role_for(email, roles)
    except ConfigError:
        log.exception("[prrt.roles] in secrets.toml is invalid: nobody gets a role")
        return None
    if role is None:
        return None
    name = str(user.get("name") or email)
    return access.Actor(name if name == email else f"{name} <{email}>", role, "oidc")


def current_user() -> str:
    """The name written to the audit log for writes from this session ("" if not signed in)."""
    actor = current_actor()
    if actor is not None:
        return actor.name
    return str(st.user.get("email") or "") if st.user.get("is_logged_in") else ""


def can_write() -> bool:
    """Whether this session may change the store: an editor (single-user mode: yes)."""
    actor = current_actor()
    return actor is not None and actor.can_write


def identity_sidebar(actor: access.Actor | None) -> None:
    """Who is working: single-user mode, or the signed-in user with a sign-out button."""
    if actor is not None and actor.via == "local":
        st.caption("Single-user mode: no sign-in is configured (`[auth]` in "
                   "`.streamlit/secrets.toml`); changes are recorded as 'local user'.")
    elif actor is not None:
        st.caption(f"Signed in as {actor.name} ({actor.role.value}).")
        st.button("Sign out", on_click=st.logout, key="sign_out")


def require_sign_in(actor: access.Actor | None) -> None:
    """Stop the run unless this session has a role: every page shows patient data."""
    if actor is not None:
        return
    if user := current_user():
        st.error(f"{user} has no role here: ask the administrator to add the address to "
                 "`[prrt.roles]` in `.streamlit/secrets.toml`.")
    else:
        st.info("Sign in to see and change the clinical record.")
        if st.button("Sign in", type="primary", key="sign_in"):
            st.login()
    st.stop()
