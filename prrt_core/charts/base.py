"""What every chart here shares: inline named datasets, size, title and fonts, colour scales,
cycle and limit rules, and the Vega-Lite dict. No streamlit here.
"""

from __future__ import annotations

import json

import altair as alt
import pandas as pd

Width = int | str

# CTCAE grade colours (green -> dark red), one scale for bands and points.
GRADE_DOMAIN = ["0", "1", "2", "3", "4", "0-1", "n/a"]
GRADE_RANGE = ["#2e7d32", "#c0ca33", "#fb8c00", "#e53935", "#7f0000", "#9ccc65", "#9e9e9e"]
PHASE_DOMAIN = ["initial", "salvage"]
PHASE_RANGE = ["#4c78a8", "#f58518"]
# Dates with the year: a patient's history spans several years; ticks at least a month apart
# (a short history would otherwise repeat "Jan 2024" at weekly ticks).
MONTH_MS = 30 * 24 * 3600 * 1000
DATE_AXIS = alt.Axis(format="%b %Y", labelAngle=0, tickMinStep=MONTH_MS)
LIMIT_COLOUR = "#c62828"
RESPONSE_DOMAIN = ["CR", "PR", "SD", "PD", "NE"]
RESPONSE_RANGE = ["#1b5e20", "#66bb6a", "#4c78a8", "#c62828", "#9e9e9e"]
BAND_OPACITY = 0.18


class Data:
    """A chart's rows as named top-level datasets (JSON values: dates as local ISO date-times,
    NaN as null), attached once by ``style``.

    Plain values bypass Altair's global data transformer, which Streamlit swaps while it
    serialises charts in another thread, so a spec is the same inside and outside Streamlit;
    naming them keeps Altair from deep-copying the rows at every ``encode``/``properties``.
    """

    def __init__(self) -> None:
        self.values: dict[str, list] = {}

    def __call__(self, frame: pd.DataFrame) -> alt.NamedData:
        name = f"rows_{len(self.values)}"  # Vega-Lite itself names datasets data_0, data_1, ...
        self.values[name] = json.loads(frame.to_json(orient="records", date_format="iso"))
        return alt.NamedData(name=name)


def style(chart: alt.TopLevelMixin, data: Data, title: str, width: Width, height: int) -> alt.TopLevelMixin:
    """Size, title, projector-readable fonts and the datasets, set in place on a chart built here.

    Attributes are assigned rather than chained (``properties``/``configure_*``): each chained
    call validates and deep-copies the whole chart, several times slower on a page of charts.
    fit-x autosize: the width (pixels or "container") includes axes and legends and the
    height is the plot's own, so legends below the plot never squeeze it (Streamlit keeps
    a spec's own autosize).
    """
    chart.width, chart.height = width, height
    chart.title = alt.TitleParams(title, anchor="start", fontSize=15)
    chart.autosize = alt.AutoSizeParams(type="fit-x", contains="padding")
    chart.config = alt.Config(axis=alt.AxisConfig(labelFontSize=12, titleFontSize=13),
                              legend=alt.LegendConfig(labelFontSize=12, titleFontSize=12, orient="bottom"),
                              view=alt.ViewConfig(strokeWidth=0))
    chart.datasets = data.values
    return chart


def cycle_rules(data: Data, treatment_dates: pd.DataFrame) -> alt.Chart:
    """Vertical rules at the cycle dates, dashed for salvage cycles."""
    frame = treatment_dates.rename(columns={"cycle_date": "Cycle date", "phase": "Cycle phase",
                                            "cycle_number": "Cycle"})
    return alt.Chart(data(frame)).mark_rule(color="#607d8b", strokeWidth=1.2, opacity=0.7).encode(
        x=alt.X("Cycle date:T", title="Date", axis=DATE_AXIS),
        strokeDash=alt.StrokeDash("Cycle phase:N", scale=alt.Scale(domain=PHASE_DOMAIN, range=[[1, 0], [5, 3]]),
                                  legend=alt.Legend(title="Treatment cycle")),
        tooltip=[alt.Tooltip("Cycle:Q"), alt.Tooltip("Cycle date:T"), alt.Tooltip("Cycle phase:N")])


def limit_rules(data: Data, limits: pd.DataFrame, y_title: str) -> alt.LayerChart:
    """Horizontal limit lines with their labels (columns 'Limit', 'Limit (Gy)') on the y axis ``y_title``."""
    rows = data(limits)
    rule = alt.Chart(rows).mark_rule(color=LIMIT_COLOUR, strokeWidth=2).encode(
        y=alt.Y("Limit (Gy):Q", title=y_title), strokeDash=alt.StrokeDash(
            "Limit:N", legend=None,  # each line carries its own label
            scale=alt.Scale(domain=list(limits["Limit"]), range=[[1, 0], [6, 3], [2, 2]][: len(limits)])),
        tooltip=[alt.Tooltip("Limit:N"), alt.Tooltip("Limit (Gy):Q")])
    text = alt.Chart(rows).mark_text(align="left", dx=4, dy=-7, color=LIMIT_COLOUR, fontSize=12).encode(
        y=alt.Y("Limit (Gy):Q", title=y_title), x=alt.XValue(0), text=alt.Text("Limit:N"))
    return alt.layer(rule, text)


def spec(chart: alt.TopLevelMixin) -> dict:
    """The Vega-Lite dict of a chart built here, not validated again (tests/unit/test_charts.py
    validates every chart function's output; validation triples the time on a page of charts)."""
    return chart.to_dict(validate=False)
