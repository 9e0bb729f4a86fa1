"""Altair charts of the cohort statistics page: Kaplan–Meier curves, kidney dose, eGFR change.

Builders take prrt_core results and return Altair charts with units on every axis.
Data are aggregated before charting where possible (one row per distinct time for a
Kaplan–Meier curve, one row per 1-Gy bin for the dose histogram); the eGFR scatter
keeps one point per patient.
"""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from prrt_core import dosimetry
from prrt_core.cohort.km import ColumnChoice, KaplanMeier, Stratum

KM_WIDTH_PX = 430
KM_HEIGHT_PX = 230
ROW_HEIGHT_PX = 18
DOSE_LIMIT_COLOUR = "#c0392b"


def _group_scale(groups: list) -> alt.Scale:
    return alt.Scale(domain=[str(g) for g in groups], scheme="tableau10")


def km_chart(km: KaplanMeier, *, width: int = KM_WIDTH_PX, height: int = KM_HEIGHT_PX) -> alt.VConcatChart:
    """Step Kaplan–Meier curves with 95 % CI bands and censoring ticks, numbers at risk below.

    The at-risk row counts #(T >= t) at each tick (km.at_risk). Survival in %, time in months.
    """
    curves = km.curves.assign(
        group=km.curves["group"].astype(str),
        survival_pct=100.0 * km.curves["survival"].astype(float),
        ci_lower_pct=100.0 * km.curves["ci_lower"].astype(float),
        ci_upper_pct=100.0 * km.curves["ci_upper"].astype(float))
    groups = list(dict.fromkeys(curves["group"]))
    domain_max = km.max_months if math.isfinite(km.max_months) and km.max_months > 0 else 1.0
    x_scale = alt.Scale(domain=[0.0, domain_max], nice=False)
    legend_title = "Group" if km.stratum is Stratum.NONE else km.stratum.value.capitalize()
    legend = (None if km.stratum is Stratum.NONE else
              alt.Legend(orient="top", labelLimit=220, symbolType="stroke", symbolOpacity=1,
                         symbolStrokeWidth=2))
    colour = alt.Color("group:N", scale=_group_scale(groups), title=legend_title, legend=legend)
    unlabelled = colour
    ticks_months = sorted(km.at_risk["time_months"].astype(float).unique().tolist())
    x = alt.X("time_months:Q", scale=x_scale, title="Time since start (months)",
              axis=alt.Axis(values=ticks_months) if ticks_months else alt.Axis())
    base = alt.Chart(curves)
    band = base.mark_area(interpolate="step-after", opacity=0.15).encode(
        x=x, y=alt.Y("ci_lower_pct:Q"), y2="ci_upper_pct:Q", color=unlabelled)
    tooltip = [alt.Tooltip("group:N", title="Group"),
               alt.Tooltip("time_months:Q", title="Time (months)", format=".1f"),
               alt.Tooltip("survival_pct:Q", title="Survival (%)", format=".1f"),
               alt.Tooltip("ci_lower_pct:Q", title="95 % CI lower (%)", format=".1f"),
               alt.Tooltip("ci_upper_pct:Q", title="95 % CI upper (%)", format=".1f"),
               alt.Tooltip("at_risk:Q", title="At risk (n)")]
    line = base.mark_line(interpolate="step-after").encode(
        x=x, y=alt.Y("survival_pct:Q", title=f"{km.endpoint.title.split(' ')[0]} (%)",
                      scale=alt.Scale(domain=[0, 100])),
        color=colour, tooltip=tooltip)
    ticks = base.transform_filter(alt.datum.censored > 0).mark_tick(
        orient="vertical", size=9, thickness=1.5).encode(x=x, y="survival_pct:Q", color=unlabelled,
                                                         tooltip=tooltip)
    plot = (band + line + ticks).properties(width=width, height=height, title=km.endpoint.title)
    table = alt.Chart(km.at_risk.assign(group=km.at_risk["group"].astype(str))).mark_text(
        fontSize=11).encode(
        x=alt.X("time_months:Q", scale=x_scale, axis=None),
        y=alt.Y("group:N", sort=groups, axis=alt.Axis(title=None, labelLimit=150, domain=False,
                                                      ticks=False, labelPadding=14)),
        text="at_risk:Q", color=unlabelled,
    ).properties(width=width, height=ROW_HEIGHT_PX * max(1, len(groups)),
                 title=alt.TitleParams("Number at risk (n)", anchor="start", fontSize=11))
    return alt.vconcat(plot, table, spacing=96, bounds="flush").resolve_scale(color="shared")


def dose_histogram_data(cumulative_kidney_dose_gy: pd.Series, *, bin_width_gy: float = 1.0) -> pd.DataFrame:
    """Patients per bin of cumulative kidney dose: bin_start_gy, bin_end_gy, patients (n)."""
    dose = cumulative_kidney_dose_gy.dropna().to_numpy(dtype=float)
    if dose.size == 0:
        return pd.DataFrame({"bin_start_gy": [], "bin_end_gy": [], "patients": []})
    lo = math.floor(dose.min() / bin_width_gy) * bin_width_gy
    hi = max(math.ceil(dose.max() / bin_width_gy) * bin_width_gy, lo + bin_width_gy)
    edges = np.arange(lo, hi + bin_width_gy / 2, bin_width_gy)
    counts, edges = np.histogram(dose, bins=edges)
    return pd.DataFrame({"bin_start_gy": edges[:-1], "bin_end_gy": edges[1:], "patients": counts})


def dose_histogram(attributes: pd.DataFrame, *, bin_width_gy: float = 1.0,
                   width: int = 560) -> alt.LayerChart:
    """Histogram of cumulative kidney absorbed dose (Gy) with the 23 Gy limit line."""
    data = dose_histogram_data(attributes["cumulative_kidney_dose_gy"], bin_width_gy=bin_width_gy)
    n = int(data["patients"].sum())
    bars = alt.Chart(data).mark_bar(color="#4c78a8").encode(
        x=alt.X("bin_start_gy:Q", bin="binned", title="Cumulative kidney absorbed dose (Gy)"),
        x2="bin_end_gy:Q",
        y=alt.Y("patients:Q", title="Patients (n)"),
        tooltip=[alt.Tooltip("bin_start_gy:Q", title="From (Gy)"),
                 alt.Tooltip("bin_end_gy:Q", title="To (Gy)"),
                 alt.Tooltip("patients:Q", title="Patients (n)")])
    limit = pd.DataFrame({"dose_gy": [dosimetry.DOSE_LIMIT_GY],
                          "label": [f"{dosimetry.DOSE_LIMIT_GY:g} Gy limit"]})
    rule = alt.Chart(limit).mark_rule(color=DOSE_LIMIT_COLOUR, strokeDash=[6, 3], size=2).encode(
        x="dose_gy:Q")
    text = alt.Chart(limit).mark_text(color=DOSE_LIMIT_COLOUR, align="left", dx=4, dy=-6,
                                      baseline="top").encode(x="dose_gy:Q", y=alt.value(0), text="label:N")
    return (bars + rule + text).properties(
        width=width, height=340,
        title=f"Cumulative kidney absorbed dose (n = {n} patients with complete dosimetry)")


class EgfrMeasure(ColumnChoice):
    """eGFR change shown against kidney dose: (column of patient_attributes, axis title)."""

    ABSOLUTE = ("egfr_change_ml_min_173m2", "eGFR change (mL/min/1.73 m²)")
    PCT_PER_YEAR = ("egfr_change_pct_per_year", "eGFR change (%/year)")


def egfr_scatter(attributes: pd.DataFrame, measure: EgfrMeasure = EgfrMeasure.ABSOLUTE, *,
                 width: int = 560) -> alt.LayerChart:
    """Cumulative kidney dose (Gy) against eGFR change, one point per patient, by renal risk."""
    data = pd.DataFrame({
        "patient_id": attributes["patient_id"].to_numpy(),
        "dose_gy": attributes["cumulative_kidney_dose_gy"].to_numpy(dtype=float),
        "change": attributes[measure.column].to_numpy(dtype=float),
        "risk": np.where(attributes["renal_risk"].to_numpy(dtype=bool),
                         "Renal risk factors", "No renal risk factors"),
    }).dropna(subset=["dose_gy", "change"])
    points = alt.Chart(data).mark_circle(size=28, opacity=0.55 if len(data) < 1000 else 0.25).encode(
        x=alt.X("dose_gy:Q", title="Cumulative kidney absorbed dose (Gy)", scale=alt.Scale(zero=False)),
        y=alt.Y("change:Q", title=measure.title),
        color=alt.Color("risk:N", title="Renal risk", legend=alt.Legend(orient="top"),
                        scale=alt.Scale(domain=["No renal risk factors", "Renal risk factors"],
                                        range=["#4c78a8", "#e45756"])),
        tooltip=[alt.Tooltip("patient_id:N", title="Patient"),
                 alt.Tooltip("dose_gy:Q", title="Kidney dose (Gy)", format=".1f"),
                 alt.Tooltip("change:Q", title=measure.title, format=".1f")])
    limit = alt.Chart(pd.DataFrame({"dose_gy": [dosimetry.DOSE_LIMIT_GY]})).mark_rule(
        color=DOSE_LIMIT_COLOUR, strokeDash=[6, 3]).encode(x="dose_gy:Q")
    zero = alt.Chart(pd.DataFrame({"change": [0.0]})).mark_rule(color="#888888").encode(y="change:Q")
    return (points + limit + zero).properties(
        width=width, height=340,
        title=f"Kidney dose and eGFR change (n = {len(data)} patients)")
