"""One patient's outcome for the review: worst CTCAE grade per test and period, best RECIST 1.1
response per phase, PFS and OS with their dates.

Grades from ``views.labs`` (``toxicity.grade_labs``), responses from ``response``, PFS/OS
from ``survival.endpoints`` (months of DAYS_PER_MONTH days).
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prrt_core.clinical import response, survival, toxicity
from prrt_core.clinical.dates import DAYS_PER_MONTH
from prrt_core.tables import Tables
from prrt_core.views import labs as lab_view


@dataclass(frozen=True)
class EndpointStatus:
    """One survival endpoint of the patient: months from its start, event or censored."""

    name: str
    start_date: dt.date | None
    months: float
    event: bool
    end_date: dt.date | None  # the event date, or the censoring date


@dataclass(frozen=True)
class PatientStatus:
    """Worst CTCAE grade per test and phase, best response per phase, PFS and OS."""

    worst_grades: pd.DataFrame  # test, lab title, worst before salvage, worst after salvage (NaN = none)
    best_response: dict[str, response.Response | None]  # 'initial', 'salvage' -> None: the phase has no cycle
    endpoints: tuple[EndpointStatus, ...]
    alive: bool
    death_date: dt.date | None


_ENDPOINTS = (("pfs_initial", "PFS after initial PRRT"), ("os_initial", "OS after initial PRRT"),
              ("pfs_salvage", "PFS after salvage start"), ("os_salvage", "OS after salvage start"))


def status(tables: Tables, patient_id: str,
           limits: toxicity.ReferenceLimits = toxicity.DEFAULT_REFERENCE_LIMITS,
           graded: pd.DataFrame | None = None) -> PatientStatus:
    """Status summary: worst grades before/after salvage start, best response, PFS/OS with dates.

    ``graded``: :func:`labs.lab_values` of the patient when already computed (same ``limits``).
    """
    t = tables.for_patient(patient_id)
    graded = lab_view.lab_values(tables, patient_id, limits) if graded is None else graded
    phases = (toxicity.ToxicityPhase.BEFORE_SALVAGE.value, toxicity.ToxicityPhase.AFTER_SALVAGE.value)
    tests = [test.value for test in lab_view.LAB_TESTS]
    if graded.empty:
        worst = pd.DataFrame(index=tests, columns=list(phases), dtype=float)
    else:
        worst = (graded[graded["phase"].isin(phases)].groupby(["test", "phase"])["grade"].max()
                 .unstack("phase").reindex(index=tests, columns=list(phases)))
    worst = worst.reset_index().rename(columns={"index": "test"})
    worst.columns.name = None
    worst.insert(1, "title", [lab_view.lab_title(x) for x in worst["test"]])

    best: dict[str, response.Response | None] = {}
    for phase in ("initial", "salvage"):
        treated = (t.cycles["phase"] == phase).any()
        best[phase] = response.Response(response.response_by_patient(t.assessments, t.cycles, phase)
                                        ["best_overall_response"].iat[0]) if treated else None
    ends: list[EndpointStatus] = []
    death = t.events.loc[t.events["event_type"] == "death", "event_date"]
    if not t.cycles.empty:
        row = survival.endpoints(t.cycles, t.events, t.assessments).iloc[0]
        for key, name in _ENDPOINTS:
            phase = key.split("_")[1]
            start = row[f"{phase}_start_date"]
            months = float(row[f"{key}_months"])
            if pd.isna(start) or not np.isfinite(months):
                ends.append(EndpointStatus(name, None, math.nan, False, None))
                continue
            end = (start + pd.Timedelta(days=round(months * DAYS_PER_MONTH))).date()
            ends.append(EndpointStatus(name, start.date(), months, bool(row[f"{key}_event"] == 1), end))
    return PatientStatus(worst, best, tuple(ends), death.empty,
                         None if death.empty else death.min().date())
