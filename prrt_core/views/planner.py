"""The salvage planner: a scenario of further cycles judged at an evaluation date, the activity
options within the kidney limits, and scenarios side by side.

Only what was recorded by the evaluation date is used (``Tables.as_of``). The eligibility
checklist and the projection share one ``projection.KidneyModelSettings``, which starts from
``data/eligibility.toml`` (``default_scenario``: the kidney limits); its default tolerance, 5 %
(the projection's 95th percentile stays under each limit), is a planning choice of issue 5
(the board may change it), not a published threshold. A patient who died on or before the
evaluation date has no verdict, no projection and no options: only the history.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prrt_core import projection
from prrt_core.clinical import eligibility
from prrt_core.clinical.eligibility import ActivityRange, LimitPolicy
from prrt_core.errors import InputError
from prrt_core.projection import DEFAULT_SETTINGS, KidneyModelSettings
from prrt_core.projection.estimates import DoseSource
from prrt_core.tables import Tables
from prrt_core.views.patient import cycle_table

# Standard salvage scenario: 2 further cycles of 7.4 GBq (van der Zwan et al., EJNMMI
# 2019;46:704: 2 x 7.4 GBq per retreatment; 7.4 GBq per cycle, Lutathera US PI).
DEFAULT_SALVAGE_CYCLES = 2
DEFAULT_ACTIVITY_GBQ = 7.4
# Scenarios compared side by side by default: the same 14.8 GBq as 2 x 7.4, and the
# reduced-activity schedules of Severi (EJNMMI 2015: 4-5 low-activity cycles) with the
# Lutathera PI reduced dose of 3.7 GBq.
DEFAULT_SCENARIOS = ((2, 7.4), (3, 5.5), (4, 3.7))
MAX_SCENARIOS = 3


@dataclass(frozen=True)
class Scenario:
    """A salvage plan to evaluate: further cycles, activity per cycle (GBq) and the kidney model settings."""

    n_cycles: int = DEFAULT_SALVAGE_CYCLES
    activity_gbq: float = DEFAULT_ACTIVITY_GBQ
    settings: KidneyModelSettings = DEFAULT_SETTINGS

    @property
    def label(self) -> str:
        """'2 x 7.4 GBq'."""
        return f"{self.n_cycles} x {self.activity_gbq:.1f} GBq"


def default_scenario(config: eligibility.Config) -> Scenario:
    """The standard salvage scenario with the kidney limits of ``config`` (the planner's start)."""
    return Scenario(settings=eligibility.default_settings(config))


@dataclass(frozen=True)
class LimitHelp:
    """Help texts of the planner's kidney limit inputs, from ``data/eligibility.toml``: the shipped
    threshold (Gy), what crossing it means, and its source."""

    dose: str
    bed_risk: str
    bed_no_risk: str


def limit_help(config: eligibility.Config) -> LimitHelp:
    """The kidney limit inputs' help texts under the policy of ``config``."""
    dose, bed = config.kidney_dose, config.kidney_bed

    def text(limit_gy: float, whom: str, severity: eligibility.Severity, source: str) -> str:
        return f"Default {limit_gy:g} Gy{whom}, {severity.value} limit (data/eligibility.toml). Source: {source}"
    return LimitHelp(text(dose.limit_gy, "", dose.severity, dose.source),
                     text(bed.limit_renal_risk_gy, " with renal risk factors", bed.severity, bed.source),
                     text(bed.limit_no_renal_risk_gy, " without renal risk factors", bed.severity, bed.source))


NO_FURTHER_CYCLE = "no further cycle within the limits"
FURTHER_CYCLE_CHOICES = (1, 2, 3, 4)  # the numbers of further cycles the options cover


@dataclass(frozen=True)
class ActivityOption:
    """n further cycles of the largest activity per cycle within the excluding kidney limits (GBq,
    rounded down to 0.1 GBq, within the clinical range); ``caution_crossed``: caution limits that
    activity crosses (P > tolerance), e.g. ('absorbed dose 23 Gy',)."""

    n_cycles: int
    activity_gbq: float
    reduced: bool
    caution_crossed: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """'2 x 7.4 GBq', 'reduced: 4 x 3.5 GBq', '3 x 5.5 GBq (caution: above absorbed dose 23 Gy)'."""
        text = f"{'reduced: ' if self.reduced else ''}{self.n_cycles} x {self.activity_gbq:.1f} GBq"
        if self.caution_crossed:
            text += f" (caution: above {' and '.join(self.caution_crossed)})"
        return text


@dataclass(frozen=True)
class ActivityOptions:
    """The options the board can act on, for 1-4 further cycles; ``within``: the limits they keep."""

    options: tuple[ActivityOption, ...]
    within: str
    activity: ActivityRange

    @property
    def text(self) -> str:
        """'2 x 7.4 GBq; 3 x 5.5 GBq', or 'no further cycle within the limits'; never '0.0 GBq'."""
        return "; ".join(o.text for o in self.options) or NO_FURTHER_CYCLE

    def title(self, tolerance: float) -> str:
        """What the options are: 'Options within the excluding limits (BED 40 Gy; P(> limit) <= 5 %, ...)'."""
        return (f"Options within the excluding limits ({self.within}; P(> limit) ≤ {100 * tolerance:g} %, "
                f"{self.activity.min_gbq:g}–{self.activity.max_gbq:g} GBq per cycle, rounded down to 0.1 GBq)")

    @property
    def lines(self) -> tuple[str, ...]:
        """One text per option, or the one line 'no further cycle within the limits'."""
        return tuple(o.text for o in self.options) or (NO_FURTHER_CYCLE,)


def _limit_name(quantity: str, row: pd.Series) -> str:
    return f"{'absorbed dose' if quantity == 'dose' else 'BED'} {float(row[f'{quantity}_limit_gy']):g} Gy"


def option_for(row: pd.Series, policy: LimitPolicy, activity: ActivityRange) -> ActivityOption | None:
    """The option of one ``projection.project`` row (its n_cycles): the largest activity within the
    excluding limits, rounded down to 0.1 GBq and clipped to the range; None below its minimum."""
    excluding = policy.excluding()
    a_max = min((float(row[f"max_safe_activity_{q}_gbq"]) for q in excluding), default=activity.max_gbq)
    # Rounded down to 0.1 GBq (the round() absorbs binary noise such as 7.4 * 10 = 74.00000000000001).
    a = math.floor(round(min(a_max, activity.max_gbq) * 10.0, 6)) / 10.0
    if a < activity.min_gbq:
        return None
    crossed = tuple(_limit_name(q, row) for q in ("bed", "dose")
                    if q not in excluding and a > float(row[f"max_safe_activity_{q}_gbq"]))
    return ActivityOption(int(row["n_cycles"]), a, a <= activity.reduced_gbq, crossed)


def activity_options(history: pd.DataFrame, patients: pd.DataFrame, patient_id: str,
                     settings: KidneyModelSettings, policy: LimitPolicy, activity: ActivityRange) -> ActivityOptions:
    """For 1-4 further cycles, the largest activity per cycle within the excluding kidney limits
    (P(> limit) <= tolerance), from one ``projection.project`` run per number of cycles."""
    options, row = [], None
    for n in FURTHER_CYCLE_CHOICES:
        row = projection.project(history, n, activity.max_gbq, patients=patients, patient_ids=[patient_id],
                                 settings=settings).iloc[0]
        option = option_for(row, policy, activity)
        if option is not None:
            options.append(option)
    within = " and ".join(_limit_name(q, row) for q in policy.excluding()) or "no excluding kidney limit"
    return ActivityOptions(tuple(options), within, activity)


@dataclass(frozen=True)
class PlannerResult:
    """The planner's result for one patient, evaluation date and scenario."""

    patient_id: str
    as_of: dt.date
    scenario: Scenario
    checklist: eligibility.Checklist  # verdict None when the patient died by as_of (deceased_on)
    projection: pd.Series | None  # projection.project row (None: no cycle by as_of, no model, or deceased)
    path: pd.DataFrame  # projection.project_path rows (empty when no projection)
    history: pd.DataFrame  # cycle_table of the cycles given by as_of
    fan: pd.DataFrame  # fan_table: history and projection on one axis, for the fan chart
    options: ActivityOptions | None = None  # activity options for 1-4 further cycles (None without projection)

    @property
    def deceased_on(self) -> dt.date | None:
        """The date of death when on or before the evaluation date (then no verdict, no projection)."""
        return self.checklist.deceased_on

    @property
    def no_projection_reason(self) -> str:
        """Why there is no projection ('' when there is one)."""
        if self.projection is not None:
            return ""
        if self.deceased_on is not None:
            return f"{self.patient_id} died on {self.deceased_on.isoformat()}: no projection and no verdict."
        return str(self.checklist.items.set_index("key").loc["kidney_dose", "reason"])


def fan_table(history: pd.DataFrame, path: pd.DataFrame) -> pd.DataFrame:
    """History and projection on one axis of total cycle number, for the fan chart.

    Rows: one per past cycle (source 'history': cumulative kidney dose and BED after that
    cycle; when it includes an estimated cycle, ``estimated`` is True, value_gy is the median and
    p05_gy/p95_gy its 90 % interval) and one per future cycle 0..n (source 'projection': median,
    5th and 95th percentiles and point projection of the cumulative totals; cycle = past + k).
    Columns: cycle, source, quantity ('Kidney dose' | 'Kidney BED'), estimated, value_gy, p05_gy,
    p50_gy, p95_gy, point_gy, limit_gy.
    """
    rows = []
    n_past = len(history)
    estimated = (history["kidney_dose_source"] != DoseSource.MEASURED).cumsum().to_numpy() > 0
    for quantity, prefix, limit_col in (("Kidney dose", "dose", "dose_limit_gy"), ("Kidney BED", "bed", "bed_limit_gy")):
        limit = float(path[limit_col].iat[0]) if not path.empty else math.nan
        hist = f"cumulative_kidney_{prefix}"
        rows.append(pd.DataFrame({
            "cycle": np.arange(1, n_past + 1), "source": "history", "quantity": quantity, "estimated": estimated,
            "value_gy": history[f"{hist}_gy"].to_numpy(dtype=float),
            "p05_gy": np.where(estimated, history[f"{hist}_p05_gy"].to_numpy(dtype=float), np.nan), "p50_gy": np.nan,
            "p95_gy": np.where(estimated, history[f"{hist}_p95_gy"].to_numpy(dtype=float), np.nan),
            "point_gy": np.nan, "limit_gy": limit}))
        if not path.empty:
            rows.append(pd.DataFrame({
                "cycle": n_past + path["future_cycle"].to_numpy(), "source": "projection", "quantity": quantity,
                "estimated": False,
                "value_gy": path[f"{prefix}_p50_gy"].to_numpy(), "p05_gy": path[f"{prefix}_p05_gy"].to_numpy(),
                "p50_gy": path[f"{prefix}_p50_gy"].to_numpy(), "p95_gy": path[f"{prefix}_p95_gy"].to_numpy(),
                "point_gy": path[f"point_{prefix}_gy"].to_numpy(), "limit_gy": limit}))
    return pd.concat(rows, ignore_index=True)


def plan(tables: Tables, patient_id: str, as_of: dt.date, scenario: Scenario, *,
         config: eligibility.Config) -> PlannerResult:
    """Eligibility checklist, projection and fan-chart path for one scenario at ``as_of``.

    The projection row is the one ``eligibility.assess`` judged; the path comes from
    ``projection.project_path`` with the same settings (model, seed and samples).
    """
    checklist, row = eligibility.assess(tables, patient_id, as_of=as_of, n_cycles=scenario.n_cycles,
                                        activity_gbq=scenario.activity_gbq, config=config,
                                        settings=scenario.settings)
    known = tables.as_of(as_of)
    history = cycle_table(known, patient_id, settings=scenario.settings)
    path, options = pd.DataFrame(), None
    if row is not None:
        hist, patients = projection.inputs_from_tables(known)
        path = projection.project_path(hist, scenario.n_cycles, scenario.activity_gbq, patients=patients,
                                       patient_ids=[patient_id], settings=scenario.settings)
        options = activity_options(hist, patients, patient_id, scenario.settings, checklist.policy, config.activity)
    return PlannerResult(patient_id, as_of, scenario, checklist, row, path, history, fan_table(history, path),
                         options)


SCENARIO_COLUMNS = {
    "scenario": "Scenario", "n_cycles": "Further cycles", "activity_gbq": "Activity per cycle (GBq)",
    "total_activity_gbq": "Further activity (GBq)",
    "dose_p50_gy": "Cumulative kidney dose, median (Gy)", "dose_p95_gy": "Cumulative kidney dose, 95th pct (Gy)",
    "p_exceed_dose_pct": "P(dose > limit) (%)", "bed_p50_gy": "Cumulative kidney BED, median (Gy)",
    "bed_p95_gy": "Cumulative kidney BED, 95th pct (Gy)", "p_exceed_bed_pct": "P(BED > limit) (%)",
    "largest_activity_gbq": "Largest activity per cycle within the excluding limits (GBq)",
    "limits_crossed": "Kidney limits crossed (P > tolerance)",
}
# Not shown as rows: what the medians, 95th percentiles and probabilities are read against.
SCENARIO_LIMIT_COLUMNS = ("dose_limit_gy", "bed_limit_gy", "tolerance_pct")


def limits_crossed(row: pd.Series, settings: KidneyModelSettings, policy: LimitPolicy) -> str:
    """'none', or the limits a projection crosses with their severity: 'absorbed dose 23 Gy (caution)'."""
    crossed = [f"{_limit_name(q, row)} ({policy.severity_of(q).value})" for q in ("bed", "dose")
               if row[f"p_exceed_{q}"] > settings.tolerance]
    return "; ".join(crossed) or "none"


def compare_scenarios(tables: Tables, patient_id: str, as_of: dt.date,
                      scenarios: Sequence[tuple[int, float]],
                      settings: KidneyModelSettings, *, config: eligibility.Config) -> pd.DataFrame:
    """Up to MAX_SCENARIOS (further cycles, GBq per cycle) side by side, from what was known on ``as_of``.

    One ``projection.project`` call per scenario with ``settings`` (tolerance, limits, model,
    seed and samples); ``config``: the limit policy and the clinical activity range. Rows in
    the given order; ValueError names a scenario out of range or a patient without cycles by
    ``as_of``. Columns: SCENARIO_COLUMNS keys (percentages in %; largest_activity_gbq and
    limits_crossed as text), then SCENARIO_LIMIT_COLUMNS (the limits in Gy, the tolerance in %).
    """
    policy = eligibility.policy(config, settings)
    if not 1 <= len(scenarios) <= MAX_SCENARIOS:
        raise InputError(f"between 1 and {MAX_SCENARIOS} scenarios are compared, got {len(scenarios)}")
    hist, patients = projection.inputs_from_tables(tables.as_of(as_of))
    if not (hist["patient_id"] == patient_id).any():
        raise InputError(f"{patient_id}: no cycle recorded by {as_of.isoformat()}")
    rows = []
    for n_cycles, activity_gbq in scenarios:
        scenario = Scenario(int(n_cycles), float(activity_gbq), settings)
        row = projection.project(hist, scenario.n_cycles, scenario.activity_gbq, patients=patients,
                                 patient_ids=[patient_id], settings=settings).iloc[0]
        option = option_for(row, policy, config.activity)
        rows.append({"scenario": scenario.label, "n_cycles": scenario.n_cycles,
                     "activity_gbq": scenario.activity_gbq,
                     "total_activity_gbq": scenario.n_cycles * scenario.activity_gbq,
                     "dose_p50_gy": row["dose_p50_gy"], "dose_p95_gy": row["dose_p95_gy"],
                     "p_exceed_dose_pct": 100.0 * row["p_exceed_dose"], "bed_p50_gy": row["bed_p50_gy"],
                     "bed_p95_gy": row["bed_p95_gy"], "p_exceed_bed_pct": 100.0 * row["p_exceed_bed"],
                     "largest_activity_gbq": NO_FURTHER_CYCLE if option is None else f"{option.activity_gbq:.1f}",
                     "limits_crossed": limits_crossed(row, settings, policy),
                     "dose_limit_gy": float(row["dose_limit_gy"]), "bed_limit_gy": float(row["bed_limit_gy"]),
                     "tolerance_pct": 100.0 * settings.tolerance})
    return pd.DataFrame(rows, columns=[*SCENARIO_COLUMNS, *SCENARIO_LIMIT_COLUMNS])
