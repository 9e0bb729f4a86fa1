"""Salvage PRRT eligibility: a checklist of criteria (pass / fail / unknown with value, threshold
and source) and a verdict, from the record as known on an evaluation date.

Thresholds, severities, sources, the kidney limit policy and which unknowns block a verdict live
in ``data/eligibility.toml`` (``config``). One idea per module: ``items`` (statuses, severities,
verdicts, an item), ``numbers`` (values beside a limit), ``config``, ``renal`` (creatinine
clearance), ``criteria`` (the other criteria), ``kidney`` (the limit policy and the projected
kidney criteria), ``verdict`` (``Checklist``, ``evaluate``, ``assess``).
"""
from prrt_core.clinical.eligibility.config import (
    DEFAULT_CONFIG_PATH,
    ActivityRange,
    Config,
    Rule,
    default_settings,
    load_config,
)
from prrt_core.clinical.eligibility.items import Item, Severity, Status, Verdict
from prrt_core.clinical.eligibility.kidney import LimitPolicy, policy
from prrt_core.clinical.eligibility.numbers import beside_limit, of_limit
from prrt_core.clinical.eligibility.renal import bsa_mosteller_m2, cockcroft_gault_ml_min, deindexed_egfr_ml_min
from prrt_core.clinical.eligibility.verdict import Checklist, assess, death_date, decide, evaluate

__all__ = [
    "DEFAULT_CONFIG_PATH", "ActivityRange", "Checklist", "Config", "Item", "LimitPolicy", "Rule", "Severity",
    "Status", "Verdict", "assess", "beside_limit", "bsa_mosteller_m2", "cockcroft_gault_ml_min", "death_date",
    "decide", "default_settings", "deindexed_egfr_ml_min", "evaluate", "load_config", "of_limit", "policy",
]
