"""The checklist configuration, ``data/eligibility.toml``: one typed rule per criterion, the verdict's
lists of unknowns, the clinical activity range; read and checked by :func:`load_config`.

The file is the one home of the kidney limits and what crossing each means (``[kidney_dose]``,
``[kidney_bed]``): :func:`default_settings` gives the ``KidneyModelSettings`` the planner, the patient
review and the summary start from (docs/architecture.md, "Kidney limits").
"""
from __future__ import annotations

import math
import tomllib
import typing
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import ClassVar

from prrt_core.clinical.eligibility.items import Severity
from prrt_core.errors import ConfigError
from prrt_core.paths import DATA_DIR
from prrt_core.projection.settings import KidneyModelSettings

DEFAULT_CONFIG_PATH = DATA_DIR / "eligibility.toml"


@dataclass(frozen=True)
class Rule:
    """A criterion's severity and published source; subclasses add its thresholds."""

    severity: Severity
    source: str

    # Allowed words of a list-valued field; fields whose number must be > 0 (not only >= 0).
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {}
    POSITIVE: ClassVar[tuple[str, ...]] = ()


@dataclass(frozen=True)
class ResponseRule(Rule):
    accepted: tuple[str, ...]
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"accepted": ("CR", "PR", "SD")}


@dataclass(frozen=True)
class PfsRule(Rule):
    min_months: float


@dataclass(frozen=True)
class SstrRule(Rule):
    min_krenning_score: int


@dataclass(frozen=True)
class LabMinimum(Rule):
    """A lab value at or above ``min`` passes."""

    min: float


@dataclass(frozen=True)
class LabAbove(Rule):
    """A lab value strictly above ``min_exclusive`` passes (the boundary fails)."""

    min_exclusive: float


@dataclass(frozen=True)
class BilirubinRule(Rule):
    max_x_uln: float
    uln_mg_dl: float
    POSITIVE: ClassVar[tuple[str, ...]] = ("uln_mg_dl",)


@dataclass(frozen=True)
class RenalRule(Rule):
    min_ml_min: float


@dataclass(frozen=True)
class PerformanceRule(Rule):
    max_ecog: int
    min_karnofsky_pct: int


@dataclass(frozen=True)
class IntervalRule(Rule):
    min_weeks_since_last_cycle: float


@dataclass(frozen=True)
class SsaRule(Rule):
    min_weeks_since_long_acting: float


@dataclass(frozen=True)
class PregnancyRule(Rule):
    max_age_days: int
    POSITIVE: ClassVar[tuple[str, ...]] = ("max_age_days",)


@dataclass(frozen=True)
class GradeRule(Rule):
    max_ki67_pct: float
    caution_grades: tuple[str, ...]
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"caution_grades": ("G1", "G2", "G3")}


@dataclass(frozen=True)
class FindingRule(Rule):
    """A criterion read from dated findings (present / checked and absent)."""


@dataclass(frozen=True)
class DoseLimitRule(Rule):
    limit_gy: float
    POSITIVE: ClassVar[tuple[str, ...]] = ("limit_gy",)


@dataclass(frozen=True)
class BedLimitRule(Rule):
    limit_renal_risk_gy: float
    limit_no_renal_risk_gy: float
    POSITIVE: ClassVar[tuple[str, ...]] = ("limit_renal_risk_gy", "limit_no_renal_risk_gy")


@dataclass(frozen=True)
class ActivityRange:
    """Activity per further cycle the planner's options stay within, GBq; ``reduced_gbq``: at or
    below it an option reads "reduced"."""

    min_gbq: float
    max_gbq: float
    reduced_gbq: float
    source: str


# Section -> rule class, in checklist order.
RULES: dict[str, type[Rule]] = {
    "initial_response": ResponseRule, "pfs_after_initial": PfsRule, "sstr_expression": SstrRule,
    "tumour_grade": GradeRule, "fdg_mismatch": FindingRule,
    "hemoglobin": LabMinimum, "platelets": LabMinimum, "wbc": LabMinimum, "neutrophils": LabMinimum,
    "renal_function": RenalRule, "bilirubin": BilirubinRule, "albumin": LabAbove,
    "performance": PerformanceRule, "pregnancy": PregnancyRule, "urinary": FindingRule,
    "interval": IntervalRule, "ssa_washout": SsaRule, "kidney_dose": DoseLimitRule, "kidney_bed": BedLimitRule,
}
_EVALUATION_KEYS = ("lab_max_age_days", "pet_max_age_days", "performance_max_age_days")
_VERDICT_KEYS = ("blocking_unknowns", "checked_when_recorded")


@dataclass(frozen=True)
class Config:
    """The whole checklist configuration (see ``data/eligibility.toml``).

    blocking_unknowns: criteria whose unknown value makes the verdict "cannot assess";
    checked_when_recorded: criteria whose unknown value leaves the verdict as it is.
    """

    lab_max_age_days: int
    pet_max_age_days: int
    performance_max_age_days: int
    blocking_unknowns: tuple[str, ...]
    checked_when_recorded: tuple[str, ...]
    activity: ActivityRange
    initial_response: ResponseRule
    pfs_after_initial: PfsRule
    sstr_expression: SstrRule
    tumour_grade: GradeRule
    fdg_mismatch: FindingRule
    hemoglobin: LabMinimum
    platelets: LabMinimum
    wbc: LabMinimum
    neutrophils: LabMinimum
    renal_function: RenalRule
    bilirubin: BilirubinRule
    albumin: LabAbove
    performance: PerformanceRule
    pregnancy: PregnancyRule
    urinary: FindingRule
    interval: IntervalRule
    ssa_washout: SsaRule
    kidney_dose: DoseLimitRule
    kidney_bed: BedLimitRule


def default_settings(config: Config, base: KidneyModelSettings | None = None) -> KidneyModelSettings:
    """``base`` (default ``KidneyModelSettings()``) with the kidney limits of ``config``."""
    return replace(base if base is not None else KidneyModelSettings(),
                   dose_limit_gy=config.kidney_dose.limit_gy,
                   bed_limit_risk_gy=config.kidney_bed.limit_renal_risk_gy,
                   bed_limit_no_risk_gy=config.kidney_bed.limit_no_renal_risk_gy)


def _number(value, *, integer: bool, positive: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        return False
    return math.isfinite(value) and (value > 0 if positive else value >= 0)


def _rule(path: Path, section: str, cls: type[Rule], table: dict) -> Rule:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    for key in sorted(set(table) - set(names)):
        raise ConfigError(f"{path}: [{section}] unknown key {key!r}")
    for key in names:
        if key not in table:
            raise ConfigError(f"{path}: [{section}] {key} is missing")
    try:
        severity = Severity(table["severity"])
    except ValueError:
        raise ConfigError(f"{path}: [{section}] severity must be 'exclude' or 'caution', "
                          f"got {table['severity']!r}") from None
    if not isinstance(table["source"], str) or len(table["source"].strip()) < 10:
        raise ConfigError(f"{path}: [{section}] source must name the published source, got {table['source']!r}")
    values: dict = {"severity": severity, "source": table["source"]}
    for key in names[2:]:
        value, kind = table[key], hints[key]
        if key in cls.CHOICES:
            ok = isinstance(value, list) and bool(value) and set(value) <= set(cls.CHOICES[key])
            value = tuple(value) if ok else value
        else:
            ok = _number(value, integer=kind is int, positive=key in cls.POSITIVE)
            value = float(value) if ok and kind is float else value
        if not ok:
            raise ConfigError(f"{path}: [{section}] {key} has an invalid value {table[key]!r}")
        values[key] = value
    return cls(**values)


def _activity(path: Path, table: dict | None) -> ActivityRange:
    if table is None:
        raise ConfigError(f"{path}: section [activity_per_cycle] is missing")
    names = [f.name for f in fields(ActivityRange)]
    for key in sorted(set(table) - set(names)):
        raise ConfigError(f"{path}: [activity_per_cycle] unknown key {key!r}")
    for key in names:
        if key not in table:
            raise ConfigError(f"{path}: [activity_per_cycle] {key} is missing")
        if key != "source" and not _number(table[key], integer=False, positive=True):
            raise ConfigError(f"{path}: [activity_per_cycle] {key} has an invalid value {table[key]!r}")
    if not table["min_gbq"] < table["max_gbq"]:
        raise ConfigError(f"{path}: [activity_per_cycle] min_gbq {table['min_gbq']!r} must be below "
                          f"max_gbq {table['max_gbq']!r}")
    return ActivityRange(float(table["min_gbq"]), float(table["max_gbq"]), float(table["reduced_gbq"]),
                         str(table["source"]))


def _criteria_list(path: Path, verdict: dict, key: str) -> tuple[str, ...]:
    value = verdict.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: [verdict] {key} must be a list of criteria (section names), got {value!r}")
    for name in value:
        if name not in RULES:
            raise ConfigError(f"{path}: [verdict] {key} names an unknown criterion {name!r}")
    return tuple(value)


def load_config(path: str | Path = DEFAULT_CONFIG_PATH) -> Config:
    """Read and check the TOML checklist; errors (``ConfigError``) name the file, section and key."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
    unknown = sorted(set(raw) - set(RULES) - {"evaluation", "verdict", "activity_per_cycle"})
    if unknown:
        raise ConfigError(f"{path}: unknown section [{unknown[0]}]")
    evaluation = raw.get("evaluation", {})
    for key in _EVALUATION_KEYS:
        if not _number(evaluation.get(key), integer=True, positive=True):
            raise ConfigError(f"{path}: [evaluation] {key} must be a positive whole number of days, "
                              f"got {evaluation.get(key)!r}")
    verdict = raw.get("verdict", {})
    for key in sorted(set(verdict) - set(_VERDICT_KEYS)):
        raise ConfigError(f"{path}: [verdict] unknown key {key!r}")
    blocking, when_recorded = (_criteria_list(path, verdict, key) for key in _VERDICT_KEYS)
    both = sorted(set(blocking) & set(when_recorded))
    if both:
        raise ConfigError(f"{path}: [verdict] {both[0]!r} is in both blocking_unknowns and checked_when_recorded")
    rules = {}
    for section, cls in RULES.items():
        if section not in raw:
            raise ConfigError(f"{path}: section [{section}] is missing")
        rules[section] = _rule(path, section, cls, raw[section])
    bed = rules["kidney_bed"]
    if bed.limit_renal_risk_gy > bed.limit_no_renal_risk_gy:
        raise ConfigError(f"{path}: [kidney_bed] limit_renal_risk_gy {bed.limit_renal_risk_gy:g} is above "
                          f"limit_no_renal_risk_gy {bed.limit_no_renal_risk_gy:g}")
    return Config(**{k: evaluation[k] for k in _EVALUATION_KEYS}, blocking_unknowns=blocking,
                  checked_when_recorded=when_recorded, activity=_activity(path, raw.get("activity_per_cycle")),
                  **rules)

