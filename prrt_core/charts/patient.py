"""Altair charts of one patient and of the salvage planner (units on every axis title).

Each function takes the tables of ``views.patient``, ``views.labs`` or ``views.planner`` and
returns a top-level ``alt.Chart`` or layered chart with its data inline, sized for a
projector: the pages render its :func:`spec` (``st.vega_lite_chart``), ``report`` turns it
into inline SVG. ``width`` is a number of pixels or "container" (the page's width; the SVG
export needs pixels). No streamlit here.
"""

from __future__ import annotations

import json

import altair as alt
import pandas as pd

from prrt_core.clinical import toxicity
from prrt_core.views.format import TIMELINE_COLUMNS
from prrt_core.views.labs import LAB_TESTS, lab_title
from prrt_core.views.patient import PatientReview

Width = int | str

# CTCAE grade colours (green -> dark red), one scale for bands and points.
GRADE_DOMAIN = ["0", "1", "2", "3", "4", "0-1", "n/a"]
GRADE_RANGE = ["#2e7d32", "#c0ca33", "#fb8c00", "#e53935", "#7f0000", "#9ccc65", "#9e9e9e"]
PHASE_DOMAIN = ["initial", "salvage"]
PHASE_RANGE = ["#4c78a8", "#f58518"]
# Dates with the year: a patient's history spans several years.
DATE_AXIS = alt.Axis(format="%b %Y", labelAngle=0)
LIMIT_COLOUR = "#c62828"
RESPONSE_DOMAIN = ["CR", "PR", "SD", "PD", "NE"]
RESPONSE_RANGE = ["#1b5e20", "#66bb6a", "#4c78a8", "#c62828", "#9e9e9e"]
BAND_OPACITY = 0.18


class _Data:
    """A chart's rows as named top-level datasets (JSON values: dates as local ISO date-times,
    NaN as null), attached once by ``_style``.

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


def _style(chart: alt.TopLevelMixin, data: _Data, title: str, width: Width, height: int) -> alt.TopLevelMixin:
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


def _cycle_rules(data: _Data, treatment_dates: pd.DataFrame) -> alt.Chart:
    """Vertical rules at the cycle dates, dashed for salvage cycles."""
    frame = treatment_dates.rename(columns={"cycle_date": "Cycle date", "phase": "Cycle phase",
                                            "cycle_number": "Cycle"})
    return alt.Chart(data(frame)).mark_rule(color="#607d8b", strokeWidth=1.2, opacity=0.7).encode(
        x=alt.X("Cycle date:T", title="Date", axis=DATE_AXIS),
        strokeDash=alt.StrokeDash("Cycle phase:N", scale=alt.Scale(domain=PHASE_DOMAIN, range=[[1, 0], [5, 3]]),
                                  legend=alt.Legend(title="Treatment cycle")),
        tooltip=[alt.Tooltip("Cycle:Q"), alt.Tooltip("Cycle date:T"), alt.Tooltip("Cycle phase:N")])


# --------------------------------------------------------------------------
# patient review
# --------------------------------------------------------------------------

def dose_per_cycle(cycles: pd.DataFrame, *, width: Width = "container", height: int = 260) -> alt.TopLevelMixin:
    """Grouped bars: kidney and tumour (index lesion) absorbed dose per cycle, Gy."""
    data = _Data()
    long = pd.concat([
        pd.DataFrame({"Cycle": cycles["cycle_number"], "Date": cycles["cycle_date"], "Phase": cycles["phase"],
                      "Organ": organ, "Dose (Gy)": cycles[column]})
        for organ, column in (("Kidneys", "kidney_dose_gy"), ("Tumour (index lesion)", "tumour_dose_gy"))],
        ignore_index=True).dropna(subset=["Dose (Gy)"])
    chart = alt.Chart(data(long)).mark_bar().encode(
        x=alt.X("Cycle:O", title="Cycle number", axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("Organ:N"),
        y=alt.Y("Dose (Gy):Q", title="Absorbed dose per cycle (Gy)"),
        color=alt.Color("Organ:N", scale=alt.Scale(domain=["Kidneys", "Tumour (index lesion)"],
                                                   range=["#4c78a8", "#b279a2"]), title="Organ"),
        opacity=alt.Opacity("Phase:N", scale=alt.Scale(domain=PHASE_DOMAIN, range=[1.0, 0.6]), title="Phase"),
        tooltip=[alt.Tooltip("Cycle:O"), alt.Tooltip("Date:T"), alt.Tooltip("Phase:N"), alt.Tooltip("Organ:N"),
                 alt.Tooltip("Dose (Gy):Q", format=".2f")],
    )
    return _style(chart, data, "Kidney and tumour dose per cycle", width, height)


def _limit_rules(data: _Data, limits: pd.DataFrame, y_title: str) -> alt.LayerChart:
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


def cumulative_kidney(cycles: pd.DataFrame, dose_limit_gy: float, bed_limit_gy: float, *,
                      width: Width = "container", height: int = 260) -> alt.TopLevelMixin:
    """Cumulative kidney absorbed dose and BED after each cycle (Gy), with both limits as rules."""
    data = _Data()
    long = pd.concat([
        pd.DataFrame({"Cycle": cycles["cycle_number"], "Date": cycles["cycle_date"], "Quantity": quantity,
                      "Cumulative (Gy)": cycles[column]})
        for quantity, column in (("Kidney dose", "cumulative_kidney_dose_gy"),
                                 ("Kidney BED", "cumulative_kidney_bed_gy"))], ignore_index=True)
    limits = pd.DataFrame({"Limit": [f"Dose limit {dose_limit_gy:g} Gy", f"BED limit {bed_limit_gy:g} Gy"],
                           "Limit (Gy)": [dose_limit_gy, bed_limit_gy]})
    top = max(float(long["Cumulative (Gy)"].max()) if len(long) else 0.0, dose_limit_gy, bed_limit_gy) * 1.08
    lines = alt.Chart(data(long)).mark_line(point=True, strokeWidth=2.5).encode(
        x=alt.X("Cycle:Q", title="Cycle number", axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("Cumulative (Gy):Q", title="Cumulative kidney dose and BED (Gy)",
                scale=alt.Scale(domain=[0, top])),
        color=alt.Color("Quantity:N", scale=alt.Scale(domain=["Kidney dose", "Kidney BED"],
                                                      range=["#4c78a8", "#54a24b"]), title="Cumulative"),
        tooltip=[alt.Tooltip("Cycle:Q"), alt.Tooltip("Date:T"), alt.Tooltip("Quantity:N"),
                 alt.Tooltip("Cumulative (Gy):Q", format=".2f")])
    return _style(alt.layer(lines, _limit_rules(data, limits, "Cumulative kidney dose and BED (Gy)")), data,
                  "Cumulative kidney dose and BED", width, height)


def lab_chart(labs: pd.DataFrame, bands: pd.DataFrame, treatment_dates: pd.DataFrame, test: str, *,
              width: Width = "container", height: int = 200) -> alt.TopLevelMixin:
    """One lab test over time on its CTCAE v5.0 grade bands, points coloured by grade, cycles as rules.

    ``labs``: views.labs.lab_values rows; ``bands``: views.labs.grade_bands rows
    (all tests, this one is picked).
    """
    data = _Data()
    test = toxicity.LabTest(test).value
    title = lab_title(test)
    values = labs.loc[labs["test"] == test, ["lab_date", "value", "grade_label", "phase"]].rename(
        columns={"lab_date": "Date", "value": "Value", "grade_label": "CTCAE grade", "phase": "Period"})
    band = bands.loc[bands["test"] == test].rename(columns={"grade": "CTCAE grade"})
    y_domain = [float(band["y_min"].iat[0]), float(band["y_max"].iat[0])] if len(band) else None
    shown = [g for g in GRADE_DOMAIN if g in set(band["CTCAE grade"]) | set(values["CTCAE grade"])]
    colour = alt.Color("CTCAE grade:N", scale=alt.Scale(domain=GRADE_DOMAIN, range=GRADE_RANGE),
                       legend=alt.Legend(title="CTCAE v5.0 grade", values=shown))
    y = alt.Y("Value:Q", title=title, scale=alt.Scale(domain=y_domain, zero=False, nice=False)
              if y_domain else alt.Scale(zero=False))
    layers = []
    if len(band):
        layers.append(alt.Chart(data(band)).mark_rect(opacity=BAND_OPACITY).encode(
            y=alt.Y("lower:Q", title=title, scale=alt.Scale(domain=y_domain, zero=False, nice=False)),
            y2=alt.Y2("upper:Q"),
            color=colour, tooltip=[alt.Tooltip("CTCAE grade:N"), alt.Tooltip("lower:Q", title="from", format=".3g"),
                                   alt.Tooltip("upper:Q", title="to", format=".3g")]))
    points = data(values)
    layers.append(alt.Chart(points).mark_line(color="#37474f", strokeWidth=1.5).encode(
        x=alt.X("Date:T", title="Date", axis=DATE_AXIS), y=y))
    layers.append(alt.Chart(points).mark_point(filled=True, size=55, opacity=1).encode(
        x=alt.X("Date:T", title="Date", axis=DATE_AXIS), y=y, color=colour,
        tooltip=[alt.Tooltip("Date:T"), alt.Tooltip("Value:Q", title=title, format=".3g"),
                 alt.Tooltip("CTCAE grade:N"), alt.Tooltip("Period:N")]))
    if len(treatment_dates):
        layers.append(_cycle_rules(data, treatment_dates))
    return _style(alt.layer(*layers), data, title, width, height)


def mag3_chart(mag3: pd.DataFrame, treatment_dates: pd.DataFrame, *, width: Width = "container",
               height: int = 200) -> alt.TopLevelMixin:
    """MAG3 tubular extraction rate over time with its least-squares trend line; cycles as rules."""
    data = _Data()
    title = "MAG3 TER (mL/min/1.73 m²)"
    frame = mag3.rename(columns={"lab_date": "Date", "mag3_ter_ml_min_173m2": "TER"})
    base = alt.Chart(data(frame)).encode(x=alt.X("Date:T", title="Date", axis=DATE_AXIS),
                                         y=alt.Y("TER:Q", title=title, scale=alt.Scale(zero=False)))
    layers = [base.mark_line(point=True, color="#4c78a8", strokeWidth=1.5).encode(
        tooltip=[alt.Tooltip("Date:T"), alt.Tooltip("TER:Q", title=title, format=".0f")])]
    if len(frame) >= 2:
        layers.append(base.transform_regression("Date", "TER").mark_line(color="#37474f", strokeDash=[6, 4]))
    if len(treatment_dates):
        layers.append(_cycle_rules(data, treatment_dates))
    return _style(alt.layer(*layers), data, "MAG3 tubular extraction rate", width, height)


def recist_chart(imaging: pd.DataFrame, treatment_dates: pd.DataFrame, *, width: Width = "container",
                 height: int = 260) -> alt.TopLevelMixin:
    """RECIST 1.1 target-lesion sum over time per phase, baseline and follow-ups, response labelled."""
    data = _Data()
    frame = imaging.loc[imaging["target_sum_mm"].notna(),
                        ["assessment_date", "phase", "role", "modality", "target_sum_mm", "response"]].rename(
        columns={"assessment_date": "Date", "phase": "Phase", "role": "Scan", "modality": "Modality",
                 "target_sum_mm": "Target sum (mm)", "response": "RECIST"})
    frame["Label"] = frame["RECIST"].where(frame["RECIST"] != "", "baseline")
    base = alt.Chart(data(frame)).encode(x=alt.X("Date:T", title="Date", axis=DATE_AXIS),
                                         y=alt.Y("Target sum (mm):Q", title="Target-lesion sum (mm)",
                                                 scale=alt.Scale(zero=False)))
    line = base.mark_line(strokeWidth=2).encode(
        color=alt.Color("Phase:N", scale=alt.Scale(domain=PHASE_DOMAIN, range=PHASE_RANGE), legend=None),
        detail=alt.Detail("Phase:N"))
    points = base.mark_point(filled=True, size=80).encode(
        shape=alt.Shape("Scan:N", scale=alt.Scale(domain=["baseline", "follow-up"], range=["square", "circle"]),
                        title="Scan"),
        color=alt.Color("Phase:N", scale=alt.Scale(domain=PHASE_DOMAIN, range=PHASE_RANGE), title="Phase"),
        tooltip=[alt.Tooltip("Date:T"), alt.Tooltip("Phase:N"), alt.Tooltip("Scan:N"), alt.Tooltip("Modality:N"),
                 alt.Tooltip("Target sum (mm):Q", format=".1f"), alt.Tooltip("RECIST:N")])
    labels = base.mark_text(dy=-12, fontSize=12, fontWeight="bold").encode(
        text=alt.Text("Label:N"), color=alt.Color("RECIST:N", scale=alt.Scale(domain=RESPONSE_DOMAIN + [""],
                                                                     range=RESPONSE_RANGE + ["#607d8b"]),
                                        legend=None))
    layers = [line, points, labels]
    if len(treatment_dates):
        layers.append(_cycle_rules(data, treatment_dates))
    chart = alt.layer(*layers).resolve_scale(color="independent")
    return _style(chart, data, "RECIST 1.1 target-lesion sum and response", width, height)


def timeline_chart(timeline: pd.DataFrame, *, width: Width = "container", height: int = 140) -> alt.TopLevelMixin:
    """Cycles, imaging and events on one date axis (hover for details)."""
    data = _Data()
    frame = timeline.rename(columns=TIMELINE_COLUMNS)
    frame["Phase"] = frame["Phase"].replace("", "none")
    chart = alt.Chart(data(frame)).mark_point(filled=True, size=110, opacity=0.9).encode(
        x=alt.X("Date:T", title="Date", axis=DATE_AXIS),
        y=alt.Y("Record:N", title=None, sort=["cycle", "imaging", "event"]),
        color=alt.Color("Phase:N", scale=alt.Scale(domain=PHASE_DOMAIN + ["none"],
                                                   range=PHASE_RANGE + ["#37474f"]), title="Phase"),
        shape=alt.Shape("Record:N", scale=alt.Scale(domain=["cycle", "imaging", "event"],
                                                    range=["triangle-up", "square", "diamond"]), legend=None),
        tooltip=[alt.Tooltip("Date:T"), alt.Tooltip("Record:N"), alt.Tooltip("Phase:N"), alt.Tooltip("Details:N")],
    )
    return _style(chart, data, "Timeline", width, height)


def spec(chart: alt.TopLevelMixin) -> dict:
    """The Vega-Lite dict of a chart built here, not validated again (tests/unit/test_charts.py
    validates every chart function's output; validation triples the time on a page of charts)."""
    return chart.to_dict(validate=False)


def patient_charts(review: PatientReview, width: Width = "container") -> dict[str, alt.TopLevelMixin]:
    """The review page's charts by name, in page order (labs by test)."""
    head = review.header
    out = {"timeline": timeline_chart(review.timeline, width=width),
           "dose_per_cycle": dose_per_cycle(review.cycles, width=width),
           "cumulative_kidney": cumulative_kidney(review.cycles, head.kidney_dose.limit_gy,
                                                  head.kidney_bed.limit_gy, width=width)}
    for test in LAB_TESTS:
        if (review.labs["test"] == test.value).any():
            out[f"lab_{test.value}"] = lab_chart(review.labs, review.bands, review.treatment_dates,
                                                 test.value, width=width)
    if len(review.mag3):
        out["mag3"] = mag3_chart(review.mag3, review.treatment_dates, width=width)
    if review.imaging["target_sum_mm"].notna().any():
        out["recist"] = recist_chart(review.imaging, review.treatment_dates, width=width)
    return out


# --------------------------------------------------------------------------
# salvage planner
# --------------------------------------------------------------------------

FAN_TITLES = {"Kidney dose": "Cumulative kidney dose (Gy)", "Kidney BED": "Cumulative kidney BED (Gy)"}
# Line series of the fan chart: colour and dash.
FAN_SERIES = {"History": ("#4c78a8", [1, 0]), "Projected median": ("#f58518", [1, 0]),
              "Point projection": ("#37474f", [4, 3])}
FAN_NOTE = ("Band: 5th to 95th percentile of the projected cumulative total; dashed: deterministic point "
            "projection (mean Gy/GBq); red: the limit.")


def fan_chart(fan: pd.DataFrame, quantity: str, *, width: Width = "container", height: int = 300) -> alt.TopLevelMixin:
    """History (cumulative per past cycle) and projection (median, 5-95 % band, point) with the limit.

    ``fan``: views.planner.fan_table rows; ``quantity``: 'Kidney dose' or 'Kidney BED'.
    """
    if quantity not in FAN_TITLES:
        raise ValueError(f"quantity must be one of {list(FAN_TITLES)}, got {quantity!r}")
    data = _Data()
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
    limits = pd.DataFrame({"Limit": [f"{'BED' if 'BED' in quantity else 'Dose'} limit {limit:g} Gy"],
                           "Limit (Gy)": [limit]})
    layers.append(_limit_rules(data, limits, title))
    chart = alt.layer(*layers).resolve_scale(color="independent", strokeDash="independent")
    return _style(chart, data, f"Cumulative {quantity.replace('Kidney', 'kidney')}: history and projection",
                  width, height)
