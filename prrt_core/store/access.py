"""Who may do what: viewer and editor roles, the acting user, and the audit log view.

A viewer reads; an editor also writes. ``Store`` writes call :func:`require_editor`
on the store's actor, so a write without an editor is refused in the core, not
only hidden in the app. Roles come from lists of e-mail addresses (the
``[prrt.roles]`` table of ``.streamlit/secrets.toml``)::

    [prrt.roles]
    editors = ["a.physicist@clinic.example"]
    viewers = ["an.oncologist@clinic.example"]
    default = "none"   # role of a signed-in address in neither list: "none" or "viewer"
    issuer = "https://login.clinic.example"   # optional: the only accepted ``iss`` claim

A sign-in's claims give a role (:func:`sign_in`) only when ``email_verified`` is true (a
JSON true: missing, false or the string "true" refuse), the ``iss`` claim equals ``issuer``
exactly when one is set, and the address is well formed: blanks at either end are removed
and case is ignored (``casefold``), but an address with blanks, control or format characters
inside, or with a non-ASCII character that folds to ASCII (the Kelvin sign K folds to "k"),
is refused rather than repaired. The normalised address must then equal a listed one
exactly. An address in both lists is an editor.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
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


class Refusal(StrEnum):
    """Why a signed-in identity gets no role; the value is the sentence a page shows."""

    WRONG_ISSUER = "it did not come from the identity provider set as `issuer` in `[prrt.roles]`"
    NO_EMAIL = "the identity provider sent no e-mail address"
    MALFORMED = ("the e-mail address sent by the identity provider contains blanks, control "
                 "characters or look-alike characters")
    UNVERIFIED = "the identity provider does not confirm that the e-mail address is verified (`email_verified`)"
    NOT_LISTED = "the address is not listed in `[prrt.roles]`"


@dataclass(frozen=True)
class SignIn:
    """What a sign-in's claims give: a role, or none and the :class:`Refusal` saying why.

    ``email`` is the claimed address with blanks at either end removed, and only when it is
    well formed ("" otherwise): safe to record, still to be escaped for display.
    """

    role: Role | None
    email: str = ""
    refusal: Refusal | None = None


def normalise_address(value: Any) -> str | None:
    """``value`` stripped and case-folded, or None if it is not a well-formed address.

    Refused, not repaired: anything but a string; no or several "@" or an empty side; a blank,
    control, format (zero-width, bidi) or separator character inside; a non-ASCII character
    whose NFKC form folds to ASCII (it would match an address it is not).
    """
    if not isinstance(value, str):
        return None
    address = value.strip()
    local, at, domain = address.partition("@")
    if not at or not local or not domain or "@" in domain:
        return None
    for ch in address:
        if ch.isspace() or unicodedata.category(ch)[0] in "CZ":
            return None
        if not ch.isascii() and any(c.isascii() for c in unicodedata.normalize("NFKC", ch).casefold()):
            return None
    return address.casefold()


def _addresses(values: Any, where: str) -> set[str]:
    if values is None:
        return set()
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ConfigError(f"{where} must be a list of e-mail addresses, got {values!r}")
    out = set()
    for value in values:
        address = normalise_address(value)
        if address is None:
            raise ConfigError(f"{where}: {value!r} is not an e-mail address (one '@', no blanks, "
                              "control or look-alike characters)")
        out.add(address)
    return out


def _settings(roles: Mapping[str, Any] | None) -> tuple[set[str], set[str], bool, str | None]:
    """(editors, viewers, default is viewer, issuer) of a ``[prrt.roles]`` table; ConfigError if invalid."""
    roles = roles or {}
    unknown = sorted(set(roles) - {"editors", "viewers", "default", "issuer"})
    if unknown:
        raise ConfigError(f"[prrt.roles]: unknown key {unknown[0]!r} (use editors, viewers, default, issuer)")
    default = str(roles.get("default", "none")).strip().casefold()
    if default not in ("none", Role.VIEWER.value):
        raise ConfigError(f"[prrt.roles] default = {default!r}: use 'none' or 'viewer' "
                          "(editors are always listed by address)")
    issuer = roles.get("issuer")
    if issuer is not None and (not isinstance(issuer, str) or not issuer or issuer != issuer.strip()):
        raise ConfigError(f"[prrt.roles] issuer = {issuer!r}: give the provider's issuer URL exactly "
                          "(the `issuer` of its .well-known/openid-configuration)")
    editors = _addresses(roles.get("editors"), "[prrt.roles] editors")
    viewers = _addresses(roles.get("viewers"), "[prrt.roles] viewers")
    return editors, viewers, default == Role.VIEWER.value, issuer


def sign_in(claims: Mapping[str, Any] | None, roles: Mapping[str, Any] | None) -> SignIn:
    """The role that the claims of a signed-in user (``st.user``) give under a ``[prrt.roles]`` table.

    Checked in this order, the first failure refusing: the ``iss`` claim equals the table's
    ``issuer`` when set; an ``email`` claim is present and well formed (:func:`normalise_address`);
    ``email_verified`` is exactly true; the address is listed (or ``default = "viewer"``).
    Raises :class:`ConfigError` for an invalid table, whatever the claims.
    """
    if claims is not None and not isinstance(claims, Mapping):
        raise TypeError(f"sign_in takes the sign-in claims (a mapping), got {type(claims).__name__}")
    editors, viewers, default_viewer, issuer = _settings(roles)
    claims = claims or {}
    if issuer is not None and claims.get("iss") != issuer:
        return SignIn(None, refusal=Refusal.WRONG_ISSUER)
    email = claims.get("email")
    if email is None or (isinstance(email, str) and not email.strip()):
        return SignIn(None, refusal=Refusal.NO_EMAIL)
    address = normalise_address(email)
    if address is None:
        return SignIn(None, refusal=Refusal.MALFORMED)
    email = email.strip()
    if claims.get("email_verified") is not True:
        return SignIn(None, email, Refusal.UNVERIFIED)
    if address in editors:
        return SignIn(Role.EDITOR, email)
    if address in viewers or default_viewer:
        return SignIn(Role.VIEWER, email)
    return SignIn(None, email, Refusal.NOT_LISTED)


def role_for(claims: Mapping[str, Any] | None, roles: Mapping[str, Any] | None) -> Role | None:
    """The role of a signed-in user's ``claims`` under a ``[prrt.roles]`` table; None means no access."""
    return sign_in(claims, roles).role


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
