"""The salvage planner's fan chart: history and projection of the cumulative kidney dose or BED.

Takes ``views.planner.fan_table`` rows; sized and styled as the patient charts (``charts.base``).
No streamlit here.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from prrt_core.charts.base import Data, Width, limit_rules, style

FAN_TITLES = {"Kidney dose": "Cumulative kidney dose (Gy)", "Kidney BED": "Cumulative kidney BED (Gy)"}
# Line series of the fan chart: colour and dash.
FAN_SERIES = {"History": ("#4c78a8", [1, 0]), "Projected median": ("#f58518", [1, 0]),
              "Point projection": ("#37474f", [4, 3])}
FAN_NOTE = ("Band: 5th to 95th percentile of the projected cumulative total; dashed: deterministic point "
            "projection (mean Gy/GBq); red: the limit; hollow diamonds with bars: a history total that includes "
            "cycles without dosimetry, estimated by the cohort model (median, 90 % interval).")
ESTIMATED_LABEL = "estimated (cohort model), 90 % interval"


def fan_chart(fan: pd.DataFrame, quantity: str, *, width: Width = "container", height: int = 300) -> alt.TopLevelMixin:
    """History (cumulative per past cycle) and projection (median, 5-95 % band, point) with the limit.

    ``fan``: views.planner.fan_table rows; ``quantity``: 'Kidney dose' or 'Kidney BED'.
    """
    if quantity not in FAN_TITLES:
        raise ValueError(f"quantity must be one of {list(FAN_TITLES)}, got {quantity!r}")
    data = Data()
    title = FAN_TITLES[quantity]
    rows = fan[fan["quantity"] == quantity]
    hist = rows[rows["source"] == "history"].rename(columns={"cycle": "Cycle", "value_gy": "Gy"})
    proj = rows[rows["source"] == "projection"].rename(columns={"cycle": "Cycle"})
    limit = float(rows["limit_gy"].iat[0]) if len(rows) else float("nan")
    top = max([limit, *(proj["p95_gy"].dropna().tolist() or [0.0]), *(hist["Gy"].dropna().tolist() or [0.0])]) * 1.08
    y_scale = alt.Scale(domain=[0, top])
    x = alt.X("Cycle:Q", title="Cycle number (past and further cycles)", axis=alt.Axis(tickMinStep=1, format="d"))
    series = pd.concat([
        pd.DataFrame({"Cycle": hist["Cycle"], "Series": "History", "Gy": hist["Gy"]}),
        pd.DataFrame({"Cycle": proj["Cycle"], "Series": "Projected median", "Gy": proj["p50_gy"]}),
        pd.DataFrame({"Cycle": proj["Cycle"], "Series": "Point projection", "Gy": proj["point_gy"]}),
    ], ignore_index=True)
    layers = []
    if len(proj):
        layers.append(alt.Chart(data(proj)).mark_area(opacity=0.25, color="#f58518").encode(
            x=x, y=alt.Y("p05_gy:Q", title=title, scale=y_scale), y2=alt.Y2("p95_gy:Q"),
            tooltip=[alt.Tooltip("Cycle:Q"), alt.Tooltip("p05_gy:Q", title="5th percentile (Gy)", format=".1f"),
                     alt.Tooltip("p50_gy:Q", title="median (Gy)", format=".1f"),
                     alt.Tooltip("p95_gy:Q", title="95th percentile (Gy)", format=".1f")]))
    layers.append(alt.Chart(data(series)).mark_line(strokeWidth=2.5, point=True).encode(
        x=x, y=alt.Y("Gy:Q", title=title, scale=y_scale),
        color=alt.Color("Series:N", title="Cumulative", scale=alt.Scale(
            domain=list(FAN_SERIES), range=[FAN_SERIES[k][0] for k in FAN_SERIES])),
        strokeDash=alt.StrokeDash("Series:N", title="Cumulative", scale=alt.Scale(
            domain=list(FAN_SERIES), range=[FAN_SERIES[k][1] for k in FAN_SERIES])),
        tooltip=[alt.Tooltip("Cycle:Q"), alt.Tooltip("Series:N"), alt.Tooltip("Gy:Q", title=title, format=".2f")]))
    guessed = hist[hist["estimated"].astype(bool)].assign(Estimate=ESTIMATED_LABEL)
    if len(guessed):  # never drawn as if measured: hollow marks and the interval of the estimate
        tips = [alt.Tooltip("Cycle:Q"), alt.Tooltip("Gy:Q", title="median (Gy)", format=".1f"),
                alt.Tooltip("p05_gy:Q", title="5th percentile (Gy)", format=".1f"),
                alt.Tooltip("p95_gy:Q", title="95th percentile (Gy)", format=".1f")]
        layers.append(alt.Chart(data(guessed)).mark_rule(strokeWidth=1.5, color="#4c78a8").encode(
            x=x, y=alt.Y("p05_gy:Q", title=title, scale=y_scale), y2=alt.Y2("p95_gy:Q"), tooltip=tips))
        layers.append(alt.Chart(data(guessed)).mark_point(shape="diamond", filled=True, fill="white", size=130,
                                                          strokeWidth=2.5, stroke="#1f3f66", opacity=1).encode(
            x=x, y=alt.Y("Gy:Q", title=title, scale=y_scale),
            shape=alt.Shape("Estimate:N", title="History", legend=alt.Legend(labelLimit=400),
                            scale=alt.Scale(domain=[ESTIMATED_LABEL], range=["diamond"])),
            tooltip=tips))
    limits = pd.DataFrame({"Limit": [f"{'BED' if 'BED' in quantity else 'Dose'} limit {limit:g} Gy"],
                           "Limit (Gy)": [limit]})
    layers.append(limit_rules(data, limits, title))
    chart = alt.layer(*layers).resolve_scale(color="independent", strokeDash="independent", shape="independent")
    return style(chart, data, f"Cumulative {quantity.replace('Kidney', 'kidney')}: history and projection",
                  width, height)
