"""Settings that differ from the defaults, for the printed summary: the kidney model's and the checklist's.

``settings_changes`` compares a ``KidneyModelSettings`` with ``DEFAULT_SETTINGS`` field by
field (``dataclasses.fields``), so a field added to the settings later is compared without a
change here. ``config_origin`` says whether the checklist file in force is ``data/eligibility.toml``
as shipped (its SHA-256 is ``SHIPPED_CONFIG_SHA256``) or edited by the clinic; ``config_changes``
compares two ``eligibility.Config`` objects field by field, labelled with the file's section and
key ('[verdict] blocking_unknowns'). The defaults and their sources are in
``projection.settings`` and ``data/eligibility.toml``.
"""
from __future__ import annotations

import dataclasses
import enum
import hashlib
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from prrt_core.clinical import eligibility
from prrt_core.errors import ConfigError
from prrt_core.projection import DEFAULT_SETTINGS, KidneyModelSettings

# SHA-256 of the shipped data/eligibility.toml (its bytes with LF line endings, so a Windows
# checkout reads as shipped too). tests/unit/test_reports_summary.py checks it against the file in
# the repository: whoever edits the shipped file updates this constant.
SHIPPED_CONFIG_SHA256 = "406644e6f19ae9d1d2a1873ba649ba20dd551e522fbcf595142ef1af5b74d880"
SHA_SHOWN_HEX = 12  # hex digits of the hash printed for an edited file (enough to tell versions apart)


@dataclass(frozen=True)
class SettingChange:
    """One setting whose value differs from its default: the label (unit in it), both values as text."""

    name: str  # the field's name (dotted for nested fields: 'kidney_dose.severity')
    label: str
    value: str
    default: str


# Labels of the kidney model's fields (units in them); a field not listed is labelled by its name.
SETTING_LABELS = {
    "alpha_beta_gy": "Kidney α/β (Gy)", "t_rep_h": "Kidney repair half-time T_rep (h)",
    "dose_limit_gy": "Kidney absorbed-dose limit (Gy)",
    "bed_limit_risk_gy": "Kidney BED limit with renal risk factors (Gy)",
    "bed_limit_no_risk_gy": "Kidney BED limit without renal risk factors (Gy)",
    "n_samples": "Monte-Carlo samples", "seed": "Random seed",
    "tolerance": "Tolerance: accepted probability of crossing a limit (%)",
    "cycles_cap": "Largest number of further cycles searched",
    "within_sd_log": "Cycle-to-cycle SD of ln(kidney Gy/GBq)",
}
# Fields shown in another unit than stored: tolerance is a probability, shown in %.
_SHOWN_AS = {"tolerance": lambda v: f"{100 * v:g}"}
_NOT_SET = {"within_sd_log": "estimated from the cohort"}
_UNIT_SUFFIX = {"_gy": "Gy", "_h": "h", "_gbq": "GBq", "_pct": "%", "_days": "days", "_weeks": "weeks",
                "_months": "months"}


def _text(value: object) -> str:
    """A setting's value as text: numbers with :g, enums by value, sequences joined."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, numbers.Real):
        return f"{value:g}"
    if isinstance(value, (tuple, list, frozenset, set)):
        return ", ".join(_text(v) for v in value) or "none"
    return str(value)


def _same(a: object, b: object) -> bool:
    if isinstance(a, numbers.Real) and isinstance(b, numbers.Real) and not isinstance(a, bool):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def _flatten(value: object, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], object]:
    """Leaf values of nested dataclasses and mappings, keyed by their path of field names."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[tuple[str, ...], object] = {}
        for field in dataclasses.fields(value):
            out |= _flatten(getattr(value, field.name), (*prefix, field.name))
        return out
    if isinstance(value, Mapping):
        out = {}
        for key in value:
            out |= _flatten(value[key], (*prefix, str(key)))
        return out
    return {prefix: value}


def _generic_label(name: str) -> str:
    """'max_activity_gbq' -> 'max activity (GBq)'."""
    for suffix, unit in _UNIT_SUFFIX.items():
        if name.endswith(suffix):
            return f"{name[: -len(suffix)].replace('_', ' ')} ({unit})"
    return name.replace("_", " ")


def _changes(value: object, default: object, label: Callable[[tuple[str, ...]], str],
             shown: Callable[[tuple[str, ...], object], str]) -> tuple[SettingChange, ...]:
    now, before = _flatten(value), _flatten(default)
    keys = list(before) + [k for k in now if k not in before]
    missing = object()
    out = []
    for key in keys:
        a, b = now.get(key, missing), before.get(key, missing)
        if a is not missing and b is not missing and _same(a, b):
            continue
        out.append(SettingChange(".".join(key), label(key), "not set" if a is missing else shown(key, a),
                                 "not set" if b is missing else shown(key, b)))
    return tuple(out)


def settings_changes(settings: KidneyModelSettings,
                     default: KidneyModelSettings = DEFAULT_SETTINGS) -> tuple[SettingChange, ...]:
    """Every field of ``settings`` whose value differs from ``default``, in field order."""
    def label(key: tuple[str, ...]) -> str:
        return " / ".join(SETTING_LABELS.get(part, _generic_label(part)) for part in key)

    def shown(key: tuple[str, ...], value: object) -> str:
        name = key[-1]
        if value is None and name in _NOT_SET:
            return _NOT_SET[name]
        return _SHOWN_AS[name](value) if name in _SHOWN_AS else _text(value)
    return _changes(settings, default, label, shown)


@dataclass(frozen=True)
class ConfigOrigin:
    """Which checklist file is in force: its SHA-256 (hex), compared with the shipped file's."""

    sha256: str

    @property
    def shipped(self) -> bool:
        return self.sha256 == SHIPPED_CONFIG_SHA256

    @property
    def text(self) -> str:
        """'as shipped' or 'edited by the clinic (SHA-256 0123456789ab)'."""
        return "as shipped" if self.shipped else f"edited by the clinic (SHA-256 {self.sha256[:SHA_SHOWN_HEX]})"


def config_sha256(path: str | Path = eligibility.DEFAULT_CONFIG_PATH) -> str:
    """SHA-256 (hex) of a checklist file's bytes with LF line endings; ConfigError when unreadable."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


def config_origin(path: str | Path = eligibility.DEFAULT_CONFIG_PATH) -> ConfigOrigin:
    """Whether the checklist file at ``path`` (the one the app reads) is as shipped or edited."""
    return ConfigOrigin(config_sha256(path))


# Config fields that are not a section of their own: the TOML section that holds them (the
# file's names; a test checks every label against data/eligibility.toml).
TOML_SECTION = {"lab_max_age_days": "evaluation", "pet_max_age_days": "evaluation",
                "performance_max_age_days": "evaluation", "blocking_unknowns": "verdict",
                "checked_when_recorded": "verdict"}
# Config fields holding a section under another name.
TOML_SECTION_NAME = {"activity": "activity_per_cycle"}


def config_label(key: tuple[str, ...]) -> str:
    """The TOML section and key of a Config field path: ('activity', 'max_gbq') ->
    '[activity_per_cycle] max_gbq', ('blocking_unknowns',) -> '[verdict] blocking_unknowns'."""
    if len(key) == 1:
        return f"[{TOML_SECTION.get(key[0], key[0])}] {key[0]}"
    return f"[{TOML_SECTION_NAME.get(key[0], key[0])}] {'.'.join(key[1:])}"


def config_changes(config: eligibility.Config, base: eligibility.Config) -> tuple[SettingChange, ...]:
    """Every checklist setting of ``config`` that differs from ``base`` (the file in force), labelled
    as in the TOML file (:func:`config_label`)."""
    return _changes(config, base, config_label, lambda key, value: _text(value))
