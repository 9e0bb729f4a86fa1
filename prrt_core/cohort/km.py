"""Kaplan–Meier curves of the cohort page: endpoints, strata, at-risk ticks, summary rows.

Curves, medians, restricted means and the log-rank test come from
``prrt_core.clinical.survival``; here they are split by a stratum and formatted
(months with one decimal, 'not reached', p as reported).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum

import numpy as np
import pandas as pd

from prrt_core.clinical import survival
from prrt_core.cohort.filters import CohortFilter, restrict_frame, select_patients


class ColumnChoice(Enum):
    """A choice whose value is (column name, title shown with its unit)."""

    @property
    def column(self) -> str:
        return self.value[0]

    @property
    def title(self) -> str:
        return self.value[1]


class Endpoint(ColumnChoice):
    """Survival endpoints of survival.endpoints: (column stem, title)."""

    PFS_INITIAL = ("pfs_initial", "PFS after initial PRRT")
    PFS_SALVAGE = ("pfs_salvage", "PFS after salvage start")
    OS_INITIAL = ("os_initial", "OS after initial PRRT")
    OS_SALVAGE = ("os_salvage", "OS after salvage start")


class Stratum(StrEnum):
    """Variables the Kaplan–Meier curves can be split by (value = label shown)."""

    NONE = "none (all patients together)"
    PRIMARY_SITE = "primary site"
    SEX = "sex"
    RENAL_RISK = "renal risk factors"
    SALVAGE_CYCLES = "salvage cycles"


ALL_PATIENTS = "All patients"


def strata(attributes: pd.DataFrame, stratum: Stratum) -> pd.Series:
    """Group label per patient (index patient_id) for a stratification variable."""
    a = attributes.set_index("patient_id")
    if stratum is Stratum.NONE:
        labels = pd.Series(ALL_PATIENTS, index=a.index)
    elif stratum is Stratum.PRIMARY_SITE:
        labels = a["primary_site"].astype(str)
    elif stratum is Stratum.SEX:
        labels = a["sex"].map({"M": "Male", "F": "Female"})
    elif stratum is Stratum.RENAL_RISK:
        labels = a["renal_risk"].map({True: "Renal risk factors", False: "No renal risk factors"})
    else:
        labels = a["n_salvage_cycles"].map(lambda k: f"{k} salvage cycle{'s' if k != 1 else ''}")
    return labels.rename("group")


def at_risk_step_months(max_months: float) -> float:
    """Tick spacing (months) for the numbers-at-risk table: at most 10 ticks."""
    for step in (3.0, 6.0, 12.0, 24.0, 36.0, 60.0):
        if max_months / step <= 10:
            return step
    return 120.0


def format_months(value: float) -> str:
    """Months with one decimal; 'not reached' for inf, '—' for NaN (inf is never formatted)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return "not reached" if math.isinf(value) else f"{value:.1f}"


def format_p(p: float) -> str:
    """Log-rank p as reported: '< 0.001' or three decimals; '—' for NaN."""
    if math.isnan(p):
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


@dataclass(frozen=True)
class KaplanMeier:
    """Kaplan–Meier curves, at-risk counts and summaries of one endpoint by group."""

    endpoint: Endpoint
    stratum: Stratum
    curves: pd.DataFrame     # group, time_months, survival, ci_lower, ci_upper, at_risk, events, censored
    at_risk: pd.DataFrame    # group, time_months, at_risk (#(T >= t))
    summary: pd.DataFrame    # one display row per group (median, CI, restricted mean, CI)
    logrank_p: float         # NaN with fewer than two groups
    n_patients: int
    max_months: float        # largest observed time (NaN without patients)


def kaplan_meier(endpoints: pd.DataFrame, attributes: pd.DataFrame, endpoint: Endpoint,
                 stratum: Stratum = Stratum.NONE, *, alpha: float = 0.05) -> KaplanMeier:
    """Kaplan–Meier analysis of one endpoint (months) split by ``stratum``.

    Patients with the endpoint defined (e.g. a salvage start for 'after salvage')
    are included. Median and its CI: survival.km_summary (Brookmeyer–Crowley-type,
    log-log); restricted mean to each group's largest observed time (SPSS "mean");
    at risk = #(T >= t) every at_risk_step_months; log-rank test across groups.
    """
    months = endpoints.set_index("patient_id")[f"{endpoint.column}_months"]
    events = endpoints.set_index("patient_id")[f"{endpoint.column}_event"]
    data = pd.DataFrame({"t": months, "e": events}).dropna()
    data["group"] = strata(attributes, stratum).reindex(data.index)
    data = data.dropna(subset=["group"])
    empty_summary = pd.DataFrame(columns=list(_SUMMARY_COLUMNS))
    if data.empty:
        empty = pd.DataFrame(columns=["group", "time_months", "survival", "ci_lower", "ci_upper",
                                      "at_risk", "events", "censored"])
        return KaplanMeier(endpoint, stratum, empty, pd.DataFrame(columns=["group", "time_months", "at_risk"]),
                           empty_summary, math.nan, 0, math.nan)
    max_months = float(data["t"].max())
    ticks = np.arange(0.0, max_months + 1e-9, at_risk_step_months(max_months))
    t, e = data["t"].to_numpy(), data["e"].to_numpy()
    if data["group"].nunique() > 1:
        result = survival.compare_groups(t, e, data["group"], at_risk_times=ticks, alpha=alpha)
        summaries, p_value = result["groups"], result["logrank_p"]
    else:  # one group: no test to run
        summaries = {data["group"].iloc[0]: survival.km_summary(t, e, at_risk_times=ticks, alpha=alpha)}
        p_value = math.nan
    order = sorted(summaries, key=str)
    curves, risk, rows = [], [], []
    for group in order:
        mask = (data["group"] == group).to_numpy()
        curve = survival.km_curve(t[mask], e[mask], alpha=alpha)
        curves.append(curve.rename(columns={"time": "time_months"}).assign(group=group))
        s = summaries[group]
        risk.append(pd.DataFrame({"group": group, "time_months": list(s["at_risk"]),
                                  "at_risk": list(s["at_risk"].values())}))
        rows.append(_summary_row(group, s))
    curves_df = pd.concat(curves, ignore_index=True)
    curves_df = curves_df[["group"] + [c for c in curves_df.columns if c != "group"]]
    return KaplanMeier(endpoint, stratum, curves_df, pd.concat(risk, ignore_index=True),
                       pd.DataFrame(rows, columns=list(_SUMMARY_COLUMNS)), p_value,
                       len(data), max_months)


def filtered_kaplan_meier(endpoints: pd.DataFrame, attributes: pd.DataFrame, cohort_filter: CohortFilter,
                          endpoint: Endpoint, stratum: Stratum = Stratum.NONE) -> KaplanMeier:
    """kaplan_meier of the patients of ``attributes`` that pass ``cohort_filter``."""
    ids = select_patients(attributes, cohort_filter)
    return kaplan_meier(restrict_frame(endpoints, ids), restrict_frame(attributes, ids), endpoint, stratum)


_SUMMARY_COLUMNS = ("Group", "Patients (n)", "Events (n)", "Censored (n)", "Median (months)",
                    "Median 95 % CI (months)", "Restricted mean (months)",
                    "Restricted mean 95 % CI (months)", "Restricted to (months)")


def _summary_row(group, s: Mapping) -> tuple:
    lo, hi = s["median_ci"]
    rlo, rhi = s["rmst_ci"]
    return (group, s["n"], s["events"], s["censored"], format_months(s["median"]),
            f"{format_months(lo)} – {format_months(hi)}", format_months(s["rmst"]),
            f"{format_months(rlo)} – {format_months(rhi)}", format_months(s["tau"]))
