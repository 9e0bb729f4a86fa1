"""Who may do what: viewer and editor roles, the acting user, and the audit log view.

A viewer reads; an editor also writes. ``Store`` writes call :func:`require_editor`
on the store's actor, so a write without an editor is refused in the core, not
only hidden in the app. Roles come from lists of e-mail addresses and from the groups
(or app roles) the identity provider puts in a claim of the ID token, both in the
``[prrt.roles]`` table of ``.streamlit/secrets.toml``::

    [prrt.roles]
    editors = ["a.physicist@clinic.example"]
    viewers = ["an.oncologist@clinic.example"]
    editor_groups = ["prrt-editors"]          # values of the groups claim (exact, case-sensitive)
    viewer_groups = ["prrt-viewers"]
    groups_claim = "groups"                   # Keycloak: "groups"; Entra ID: "groups" or "roles"
    email_verified_claim = "email_verified"   # Entra ID: "xms_edov" (it sends no email_verified)
    default = "none"   # role of a signed-in address in no list or group: "none" or "viewer"
    issuer = "https://login.clinic.example"   # optional: the only accepted ``iss`` claim

A sign-in's claims give a role (:func:`sign_in`) only when the ``email_verified_claim`` is true
(a JSON true: missing, false or the string "true" refuse), the ``iss`` claim equals ``issuer``
exactly when one is set, and the address is well formed: blanks at either end are removed
and case is ignored (``casefold``), but an address with blanks, control or format characters
inside, or with a non-ASCII character that folds to ASCII (the Kelvin sign K folds to "k"),
is refused rather than repaired. The address is what the audit log records, so a group gives a
role only with such an address too. The normalised address must equal a listed one exactly;
a group must equal a value of the groups claim exactly. A groups claim that is present but not a
list of short printable strings refuses the sign-in. Address and groups together give the
higher role (an editor by either is an editor).
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
    GROUPS_MALFORMED = ("the groups claim sent by the identity provider is not a list of group names "
                        "(short printable text)")
    NOT_LISTED = "neither the address nor a group of the sign-in is listed in `[prrt.roles]`"


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


# A group name or app-role value longer than this is refused: Entra ID object IDs are 36
# characters, Keycloak group paths rarely pass 100.
MAX_GROUP_CHARS = 256
# More groups than this in one token is refused (Entra ID sends at most 200 in an ID token,
# then an overage claim instead: https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference).
MAX_GROUPS = 1000
ROLE_KEYS = ("editors", "viewers", "editor_groups", "viewer_groups", "groups_claim", "email_verified_claim",
             "default", "issuer")


@dataclass(frozen=True)
class RoleSettings:
    """A checked ``[prrt.roles]`` table (see the module docstring)."""

    editors: frozenset[str] = frozenset()
    viewers: frozenset[str] = frozenset()
    editor_groups: frozenset[str] = frozenset()
    viewer_groups: frozenset[str] = frozenset()
    groups_claim: str = "groups"
    email_verified_claim: str = "email_verified"
    default_viewer: bool = False
    issuer: str | None = None


def _group_name(value: Any) -> str | None:
    """``value`` if it is a group name: a non-empty string of printable characters, not too long."""
    if not isinstance(value, str) or not value or len(value) > MAX_GROUP_CHARS:
        return None
    if any(unicodedata.category(ch)[0] == "C" for ch in value):
        return None
    return value


def _groups(values: Any, where: str) -> frozenset[str]:
    if values is None:
        return frozenset()
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ConfigError(f"{where} must be a list of group names, got {values!r}")
    out = set()
    for value in values:
        if _group_name(value) is None:
            raise ConfigError(f"{where}: {value!r} is not a group name (printable text, at most "
                              f"{MAX_GROUP_CHARS} characters)")
        out.add(value)
    return frozenset(out)


def _claim_name(roles: Mapping[str, Any], key: str, default: str) -> str:
    value = roles.get(key, default)
    if not isinstance(value, str) or not value.isidentifier():
        raise ConfigError(f"[prrt.roles] {key} = {value!r}: give the name of a claim of the ID token, "
                          f"e.g. {default!r}")
    return value


def role_settings(roles: Mapping[str, Any] | None) -> RoleSettings:
    """The checked ``[prrt.roles]`` table; :class:`ConfigError` names the key and value if it is invalid."""
    roles = roles or {}
    unknown = sorted(set(roles) - set(ROLE_KEYS))
    if unknown:
        raise ConfigError(f"[prrt.roles]: unknown key {unknown[0]!r} (use {', '.join(ROLE_KEYS)})")
    default = str(roles.get("default", "none")).strip().casefold()
    if default not in ("none", Role.VIEWER.value):
        raise ConfigError(f"[prrt.roles] default = {default!r}: use 'none' or 'viewer' "
                          "(editors are always listed by address or group)")
    issuer = roles.get("issuer")
    if issuer is not None and (not isinstance(issuer, str) or not issuer or issuer != issuer.strip()):
        raise ConfigError(f"[prrt.roles] issuer = {issuer!r}: give the provider's issuer URL exactly "
                          "(the `issuer` of its .well-known/openid-configuration)")
    return RoleSettings(
        editors=frozenset(_addresses(roles.get("editors"), "[prrt.roles] editors")),
        viewers=frozenset(_addresses(roles.get("viewers"), "[prrt.roles] viewers")),
        editor_groups=_groups(roles.get("editor_groups"), "[prrt.roles] editor_groups"),
        viewer_groups=_groups(roles.get("viewer_groups"), "[prrt.roles] viewer_groups"),
        groups_claim=_claim_name(roles, "groups_claim", "groups"),
        email_verified_claim=_claim_name(roles, "email_verified_claim", "email_verified"),
        default_viewer=default == Role.VIEWER.value, issuer=issuer)


def claimed_groups(claims: Mapping[str, Any], claim: str) -> frozenset[str] | None:
    """The group names in ``claims[claim]`` (none if absent); None if the claim is malformed."""
    values = claims.get(claim)
    if values is None:
        return frozenset()
    if isinstance(values, str) or not isinstance(values, list | tuple) or len(values) > MAX_GROUPS:
        return None
    names = [_group_name(v) for v in values]
    return None if any(n is None for n in names) else frozenset(names)


def sign_in(claims: Mapping[str, Any] | None, roles: Mapping[str, Any] | None) -> SignIn:
    """The role that the claims of a signed-in user (``st.user``) give under a ``[prrt.roles]`` table.

    Checked in this order, the first failure refusing: the ``iss`` claim equals the table's
    ``issuer`` when set; an ``email`` claim is present and well formed (:func:`normalise_address`);
    the ``email_verified_claim`` is exactly true; the groups claim, if present, is well formed;
    the address or a group is listed (or ``default = "viewer"``).
    Raises :class:`ConfigError` for an invalid table, whatever the claims.
    """
    if claims is not None and not isinstance(claims, Mapping):
        raise TypeError(f"sign_in takes the sign-in claims (a mapping), got {type(claims).__name__}")
    settings = role_settings(roles)
    claims = claims or {}
    if settings.issuer is not None and claims.get("iss") != settings.issuer:
        return SignIn(None, refusal=Refusal.WRONG_ISSUER)
    email = claims.get("email")
    if email is None or (isinstance(email, str) and not email.strip()):
        return SignIn(None, refusal=Refusal.NO_EMAIL)
    address = normalise_address(email)
    if address is None:
        return SignIn(None, refusal=Refusal.MALFORMED)
    email = email.strip()
    if claims.get(settings.email_verified_claim) is not True:
        return SignIn(None, email, Refusal.UNVERIFIED)
    groups = claimed_groups(claims, settings.groups_claim)
    if groups is None:
        return SignIn(None, email, Refusal.GROUPS_MALFORMED)
    if address in settings.editors or groups & settings.editor_groups:
        return SignIn(Role.EDITOR, email)
    if address in settings.viewers or groups & settings.viewer_groups or settings.default_viewer:
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
