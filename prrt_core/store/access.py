"""Who may do what: viewer and editor roles, the acting user, and the audit log view.

A viewer reads; an editor also writes. ``Store`` writes call :func:`require_editor`
on the store's actor, so a write without an editor is refused in the core, not
only hidden in the app. Roles come from lists of e-mail addresses (the
``[prrt.roles]`` table of ``.streamlit/secrets.toml``)::

    [prrt.roles]
    editors = ["a.physicist@clinic.example"]
    viewers = ["an.oncologist@clinic.example"]
    default = "none"   # role of a signed-in address in neither list: "none" or "viewer"

Addresses compare case-insensitively. An address in both lists is an editor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pandas as pd

from prrt_core.errors import AccessDenied, ConfigError


class Role(StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"


@dataclass(frozen=True)
class Actor:
    """The person (or program) on whose behalf the store is used.

    ``name`` is what the audit log records; ``via`` says how the identity was
    established: "system" (programs), "local" (single-user app), "oidc" (signed in),
    "cli" (command line).
    """

    name: str
    role: Role
    via: str = "system"

    @property
    def can_write(self) -> bool:
        return self.role is Role.EDITOR


def require_editor(actor: Actor | None) -> Actor:
    """Return ``actor`` if it may write; raise :class:`AccessDenied` otherwise."""
    if actor is None:
        raise AccessDenied("writing needs a signed-in editor; nobody is signed in")
    if not isinstance(actor, Actor):
        raise AccessDenied(f"writing needs an Actor, got {type(actor).__name__}")
    if actor.role is not Role.EDITOR:
        raise AccessDenied(f"{actor.name} is a {actor.role.value}: only an editor may change data")
    return actor


def _addresses(values: Any, where: str) -> set[str]:
    if values is None:
        return set()
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ConfigError(f"{where} must be a list of e-mail addresses, got {values!r}")
    out = set()
    for value in values:
        if not isinstance(value, str) or "@" not in value:
            raise ConfigError(f"{where}: {value!r} is not an e-mail address")
        out.add(value.strip().casefold())
    return out


def role_for(email: str | None, roles: Mapping[str, Any] | None) -> Role | None:
    """The role of a signed-in ``email`` under a ``[prrt.roles]`` table; None means no access."""
    roles = roles or {}
    unknown = sorted(set(roles) - {"editors", "viewers", "default"})
    if unknown:
        raise ConfigError(f"[prrt.roles]: unknown key {unknown[0]!r} (use editors, viewers, default)")
    default = str(roles.get("default", "none")).strip().casefold()
    if default not in ("none", Role.VIEWER.value):
        raise ConfigError(f"[prrt.roles] default = {default!r}: use 'none' or 'viewer' "
                         "(editors are always listed by address)")
    if not email:
        return None
    address = email.strip().casefold()
    if address in _addresses(roles.get("editors"), "[prrt.roles] editors"):
        return Role.EDITOR
    if address in _addresses(roles.get("viewers"), "[prrt.roles] viewers"):
        return Role.VIEWER
    return Role.VIEWER if default == Role.VIEWER.value else None


def audit_log(audit: pd.DataFrame, *, users: Iterable[str] = (), tables: Iterable[str] = (),
              actions: Iterable[str] = (), since: dt.date | None = None,
              until: dt.date | None = None, text: str = "") -> pd.DataFrame:
    """The audit table, newest first, filtered; columns renamed for display.

    ``since``/``until`` are inclusive UTC calendar dates; ``text`` is a case-insensitive
    substring searched in the row key and the before/after values (e.g. a patient id).
    """
    frame = audit.copy()
    at = pd.to_datetime(frame["at_utc"], utc=True, format="ISO8601")
    keep = pd.Series(True, index=frame.index)
    if users := list(users):
        keep &= frame["user"].isin(users)
    if tables := list(tables):
        keep &= frame["table_name"].isin(tables)
    if actions := list(actions):
        keep &= frame["action"].isin(actions)
    if since is not None:
        keep &= at.dt.date >= since
    if until is not None:
        keep &= at.dt.date <= until
    if text:
        haystack = (frame["row_key"].fillna("") + "\n" + frame["before_json"].fillna("") + "\n"
                    + frame["after_json"].fillna(""))
        keep &= haystack.str.contains(text, case=False, regex=False)
    frame = frame[keep].sort_values("audit_id", ascending=False)
    return frame.rename(columns={
        "audit_id": "Audit id", "at_utc": "Time (UTC)", "user": "User", "action": "Action",
        "table_name": "Table", "row_key": "Key", "before_json": "Before", "after_json": "After",
    }).reset_index(drop=True)
