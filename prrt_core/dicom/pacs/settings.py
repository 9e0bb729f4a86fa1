"""How to reach a PACS over DICOMweb: its URL, authentication and time-out (one settings object).

The URL comes from configuration only (``[prrt.pacs]`` of the app's secrets, ``--pacs`` of the
command line), never typed on a page: a free-typed URL would let a user make the server fetch
any address (SSRF). Credentials are never part of the URL and never shown: ``server`` is what
messages name.
"""
from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from prrt_core.errors import ConfigError, InputError

# Seconds to wait for a connection and for each read of an answer; the whole answer of one
# request is also bounded by TOTAL_TIME_FACTOR x timeout_s (prrt_core.dicom.pacs.client).
DEFAULT_TIMEOUT_S = 30.0
TIMEOUT_RANGE_S = (1.0, 600.0)
# A PACS patient ID is a DICOM LO value: at most 64 characters (PS3.5 Table 6.2-1).
MAX_PATIENT_ID_CHARS = 64
# Characters QIDO-RS treats as wildcards or value separators (PS3.18 8.3.4.6, PS3.4 C.2.2.2.4):
# an ID holding one would match other patients.
PATIENT_ID_REFUSED = re.compile(r"[*?\\\x00-\x1f\x7f]")
# The command line's environment variables (never arguments: those are visible in ps).
ENV_TOKEN, ENV_USER, ENV_PASSWORD = "PRRT_PACS_TOKEN", "PRRT_PACS_USER", "PRRT_PACS_PASSWORD"


@dataclass(frozen=True)
class PacsSettings:
    """A DICOMweb server (the base URL of its QIDO-RS/WADO-RS services, e.g.
    ``https://pacs.example.org/dicom-web``), a bearer token or a user name and password, and
    the time-out in seconds. ``where`` names the configuration in messages. Plain ``http://`` only
    to a loopback host (127.0.0.0/8, ::1, localhost) or with ``allow_http`` (the patient ID and
    the credentials would cross the network in clear)."""

    url: str
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_s: float = DEFAULT_TIMEOUT_S
    where: str = "[prrt.pacs]"
    allow_http: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.strip():
            raise ConfigError(f"{self.where} url: missing (the base URL of the DICOMweb services)")
        object.__setattr__(self, "url", self.url.strip().rstrip("/"))
        parts = urlsplit(self.url)
        problem = None
        if parts.scheme not in ("http", "https"):
            problem = f"scheme {parts.scheme!r} is not http or https"
        elif parts.username is not None or parts.password is not None or "@" in parts.netloc:
            problem = "holds a user name or password: give them as username and password (or a token) instead"
        elif not parts.hostname:
            problem = "has no host"
        elif parts.fragment or "#" in self.url:
            problem = "has a fragment (#...)"
        elif parts.query:
            problem = "has a query (?...): give the base URL of the DICOMweb services"
        else:
            try:
                parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
            except ValueError:
                problem = "has an invalid port"
        if not isinstance(self.allow_http, bool):
            raise ConfigError(f"{self.where} allow_http: {self.allow_http!r} is not true or false")
        if not problem and parts.scheme == "http" and not self.allow_http and not is_loopback(parts.hostname):
            problem = ("plain http to a host that is not loopback would send the patient ID and the credentials "
                       "in clear: use https (or set allow_http = true, e.g. inside a closed network)")
        if problem:
            raise ConfigError(f"{self.where} url {self.server!r}: {problem}")
        if self.token is not None and (self.username is not None or self.password is not None):
            raise ConfigError(f"{self.where}: give either token or username and password, not both")
        if (self.username is None) != (self.password is None):
            raise ConfigError(f"{self.where}: give username and password together")
        for name in ("token", "username", "password"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value or re.search(r"[\r\n]", value)):
                raise ConfigError(f"{self.where} {name}: must be non-empty text on one line (value not shown)")
        try:
            timeout = float(self.timeout_s)
        except (TypeError, ValueError):
            raise ConfigError(f"{self.where} timeout_s: {self.timeout_s!r} is not a number") from None
        if not (math.isfinite(timeout) and TIMEOUT_RANGE_S[0] <= timeout <= TIMEOUT_RANGE_S[1]):
            raise ConfigError(f"{self.where} timeout_s: {self.timeout_s!r} must be {TIMEOUT_RANGE_S[0]:g}-"
                              f"{TIMEOUT_RANGE_S[1]:g} s")
        object.__setattr__(self, "timeout_s", timeout)

    @property
    def server(self) -> str:
        """The URL as messages name it: scheme, host, port and path, never credentials."""
        parts = urlsplit(self.url)
        host = parts.hostname or "?"
        try:
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            port = ""
        return f"{parts.scheme}://{host}{port}{parts.path}"

    @property
    def authentication(self) -> str:
        """'bearer token', 'basic (user NAME)' or 'none', for display."""
        if self.token:
            return "bearer token"
        return f"basic (user {self.username})" if self.username else "none"

    @classmethod
    def from_mapping(cls, table: Mapping, where: str = "[prrt.pacs]") -> PacsSettings:
        """Settings from a configuration table (``url``; ``token`` or ``username`` + ``password``;
        optional ``timeout_s`` and ``allow_http``); ConfigError naming ``where`` and the key for anything else."""
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}: must be a table")
        known = {"url", "token", "username", "password", "timeout_s", "allow_http"}
        unknown = sorted(str(k) for k in table if k not in known)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(known))}")
        return cls(url=table.get("url"), token=table.get("token"), username=table.get("username"),
                   password=table.get("password"), timeout_s=table.get("timeout_s", DEFAULT_TIMEOUT_S), where=where,
                   allow_http=table.get("allow_http", False))

    @classmethod
    def from_environment(cls, url: str, environ: Mapping[str, str] | None = None,
                         timeout_s: float = DEFAULT_TIMEOUT_S, allow_http: bool = False) -> PacsSettings:
        """Settings for the command line: ``url`` with a token from PRRT_PACS_TOKEN, or a user and
        password from PRRT_PACS_USER and PRRT_PACS_PASSWORD (none when neither is set)."""
        env = os.environ if environ is None else environ
        return cls(url=url, token=env.get(ENV_TOKEN) or None, username=env.get(ENV_USER) or None,
                   password=env.get(ENV_PASSWORD) or None, timeout_s=timeout_s, where="--pacs",
                   allow_http=allow_http)


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is this computer: localhost, 127.0.0.0/8 or ::1."""
    if not host:
        return False
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def checked_patient_id(pacs_patient_id: str) -> str:
    """The PACS patient ID stripped, refused (value never shown) when empty, longer than 64
    characters, or holding a wildcard, backslash or control character."""
    text = pacs_patient_id.strip() if isinstance(pacs_patient_id, str) else ""
    if not text:
        raise InputError("PACS patient ID: missing")
    if len(text) > MAX_PATIENT_ID_CHARS:
        raise InputError(f"PACS patient ID: longer than {MAX_PATIENT_ID_CHARS} characters (value not shown)")
    if PATIENT_ID_REFUSED.search(text):
        raise InputError("PACS patient ID: holds a wildcard (* ?), backslash or control character, which would "
                          "match other patients (value not shown)")
    return text
