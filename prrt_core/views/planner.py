"""The salvage planner: a scenario of further cycles judged at an evaluation date, and scenarios side by side.

Only what was recorded by the evaluation date is used (``Tables.as_of``). The eligibility
checklist and the projection share one ``projection.KidneyModelSettings``; its default
tolerance, 5 % (the projection's 95th percentile stays under each limit), is a planning
choice of issue 5 (the board may change it), not a published threshold.
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
from prrt_core.errors import InputError
from prrt_core.projection import DEFAULT_SETTINGS, KidneyModelSettings
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


@dataclass(frozen=True)
class PlannerResult:
    """The planner's result for one patient, evaluation date and scenario."""

    patient_id: str
    as_of: dt.date
    scenario: Scenario
    checklist: eligibility.Checklist
    projection: pd.Series | None  # projection.project row (None: no cycle by as_of or no model)
    path: pd.DataFrame  # projection.project_path rows (empty when no projection)
    history: pd.DataFrame  # cycle_table of the cycles given by as_of
    fan: pd.DataFrame  # fan_table: history and projection on one axis, for the fan chart


def fan_table(history: pd.DataFrame, path: pd.DataFrame) -> pd.DataFrame:
    """History and projection on one axis of total cycle number, for the fan chart.

    Rows: one per past cycle (source 'history': cumulative kidney dose and BED after that
    cycle, no band) and one per future cycle 0..n (source 'projection': median, 5th and
    95th percentiles and point projection of the cumulative totals; cycle = past + k).
    Columns: cycle, source, quantity ('Kidney dose' | 'Kidney BED'), value_gy, p05_gy,
    p50_gy, p95_gy, point_gy, limit_gy.
    """
    rows = []
    n_past = len(history)
    for quantity, hist_col, prefix, limit_col in (("Kidney dose", "cumulative_kidney_dose_gy", "dose", "dose_limit_gy"),
                                                  ("Kidney BED", "cumulative_kidney_bed_gy", "bed", "bed_limit_gy")):
        limit = float(path[limit_col].iat[0]) if not path.empty else math.nan
        rows.append(pd.DataFrame({
            "cycle": np.arange(1, n_past + 1), "source": "history", "quantity": quantity,
            "value_gy": history[hist_col].to_numpy(dtype=float), "p05_gy": np.nan, "p50_gy": np.nan,
            "p95_gy": np.nan, "point_gy": np.nan, "limit_gy": limit}))
        if not path.empty:
            rows.append(pd.DataFrame({
                "cycle": n_past + path["future_cycle"].to_numpy(), "source": "projection", "quantity": quantity,
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
    path = pd.DataFrame()
    if row is not None:
        hist, patients = projection.inputs_from_tables(known)
        path = projection.project_path(hist, scenario.n_cycles, scenario.activity_gbq, patients=patients,
                                       patient_ids=[patient_id], settings=scenario.settings)
    return PlannerResult(patient_id, as_of, scenario, checklist, row, path, history, fan_table(history, path))


SCENARIO_COLUMNS = {
    "scenario": "Scenario", "n_cycles": "Further cycles", "activity_gbq": "Activity per cycle (GBq)",
    "total_activity_gbq": "Further activity (GBq)",
    "dose_p50_gy": "Cumulative kidney dose, median (Gy)", "dose_p95_gy": "Cumulative kidney dose, 95th pct (Gy)",
    "p_exceed_dose_pct": "P(dose > limit) (%)", "bed_p50_gy": "Cumulative kidney BED, median (Gy)",
    "bed_p95_gy": "Cumulative kidney BED, 95th pct (Gy)", "p_exceed_bed_pct": "P(BED > limit) (%)",
    "max_safe_activity_gbq": "Largest safe activity per cycle (GBq)", "within_tolerance": "Within tolerance",
}


def compare_scenarios(tables: Tables, patient_id: str, as_of: dt.date,
                      scenarios: Sequence[tuple[int, float]],
                      settings: KidneyModelSettings) -> pd.DataFrame:
    """Up to MAX_SCENARIOS (further cycles, GBq per cycle) side by side, from what was known on ``as_of``.

    One ``projection.project`` call per scenario with ``settings`` (tolerance, limits, model,
    seed and samples). Rows in the given order; ValueError names a scenario out of range or
    a patient without cycles by ``as_of``. Columns: SCENARIO_COLUMNS keys (percentages in %).
    """
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
        ok = row["p_exceed_dose"] <= settings.tolerance and row["p_exceed_bed"] <= settings.tolerance
        rows.append({"scenario": scenario.label, "n_cycles": scenario.n_cycles,
                     "activity_gbq": scenario.activity_gbq,
                     "total_activity_gbq": scenario.n_cycles * scenario.activity_gbq,
                     "dose_p50_gy": row["dose_p50_gy"], "dose_p95_gy": row["dose_p95_gy"],
                     "p_exceed_dose_pct": 100.0 * row["p_exceed_dose"], "bed_p50_gy": row["bed_p50_gy"],
                     "bed_p95_gy": row["bed_p95_gy"], "p_exceed_bed_pct": 100.0 * row["p_exceed_bed"],
                     "max_safe_activity_gbq": row["max_safe_activity_gbq"], "within_tolerance": bool(ok)})
    return pd.DataFrame(rows, columns=list(SCENARIO_COLUMNS))
