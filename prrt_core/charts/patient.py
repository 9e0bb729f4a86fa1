"""Altair charts of one patient (units on every axis title); the planner's fan chart is in
``charts.planner`` (re-exported here, where the pages and the summary import it).

Each function takes the tables of ``views.patient`` or ``views.labs`` and
returns a top-level ``alt.Chart`` or layered chart with its data inline, sized for a
projector: the pages render its :func:`spec` (``st.vega_lite_chart``), ``report`` turns it
into inline SVG. ``width`` is a number of pixels or "container" (the page's width; the SVG
export needs pixels). No streamlit here.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from prrt_core.charts.base import (
    BAND_OPACITY,
    DATE_AXIS,
    GRADE_DOMAIN,
    GRADE_RANGE,
    PHASE_DOMAIN,
    PHASE_RANGE,
    RESPONSE_DOMAIN,
    RESPONSE_RANGE,
    Data,
    Width,
    cycle_rules,
    limit_rules,
    spec,
    style,
)
from prrt_core.charts.planner import FAN_NOTE, FAN_SERIES, FAN_TITLES, fan_chart
from prrt_core.views.format import TIMELINE_COLUMNS
from prrt_core.views.labs import LAB_TESTS, LIVER_TESTS, lab_title
from prrt_core.views.patient import DoseSource, PatientReview

# The planner's fan chart and the Vega-Lite dict, where the pages and the summary import them.
__all__ = ["FAN_NOTE", "FAN_SERIES", "FAN_TITLES", "cumulative_kidney", "dose_per_cycle", "fan_chart", "lab_chart",
           "liver_charts", "mag3_chart", "patient_charts", "recist_chart", "spec", "timeline_chart"]


# An estimated kidney dose (the cohort model's, ``projection.estimates``): hollow, dashed marks
# with its 90 % interval; never a 0 Gy bar or point.
SOURCE_MEASURED = "measured"
SOURCE_ESTIMATED = "estimated (cohort model)"
SOURCE_DOMAIN = [SOURCE_MEASURED, SOURCE_ESTIMATED]
ORGAN_DOMAIN = ["Kidneys", "Tumour (index lesion)"]
ORGAN_RANGE = ["#4c78a8", "#b279a2"]


def _source_labels(sources: pd.Series) -> list[str]:
    """Chart labels of ``DoseSource`` values: 'measured' or 'estimated (cohort model)'."""
    return [SOURCE_ESTIMATED if s == DoseSource.ESTIMATED else SOURCE_MEASURED for s in sources]


def dose_per_cycle(cycles: pd.DataFrame, *, width: Width = "container", height: int = 260) -> alt.TopLevelMixin:
    """Grouped bars: kidney and tumour (index lesion) absorbed dose per cycle, Gy; an estimated
    kidney dose as a hollow dashed bar at its median with its 90 % interval as an error bar.
    A cycle with neither a measured nor an estimated dose has no bar."""
    data = Data()
    kidney = pd.DataFrame({"Cycle": cycles["cycle_number"], "Date": cycles["cycle_date"], "Phase": cycles["phase"],
                           "Organ": ORGAN_DOMAIN[0], "Dose (Gy)": cycles["kidney_dose_p50_gy"],
                           "Source": _source_labels(cycles["kidney_dose_source"]),
                           "5th percentile (Gy)": cycles["kidney_dose_p05_gy"],
                           "95th percentile (Gy)": cycles["kidney_dose_p95_gy"]})
    tumour = pd.DataFrame({"Cycle": cycles["cycle_number"], "Date": cycles["cycle_date"], "Phase": cycles["phase"],
                           "Organ": ORGAN_DOMAIN[1], "Dose (Gy)": cycles["tumour_dose_gy"], "Source": SOURCE_MEASURED})
    long = pd.concat([kidney, tumour], ignore_index=True).dropna(subset=["Dose (Gy)"])
    x = alt.X("Cycle:O", title="Cycle number", axis=alt.Axis(labelAngle=0))
    offset = alt.XOffset("Organ:N", scale=alt.Scale(domain=ORGAN_DOMAIN))
    y_title = "Absorbed dose per cycle (Gy)"
    estimated = long[long["Source"] == SOURCE_ESTIMATED]
    source_legend = alt.Legend(title="Kidney dose (bar: 90 % interval)", symbolType="square",
                               symbolFillColor=ORGAN_RANGE[0], symbolStrokeColor=ORGAN_RANGE[0],
                               symbolStrokeWidth=1.5, titleLimit=400) if len(estimated) else None  # only then
    bars = alt.Chart(data(long)).mark_bar(strokeWidth=2).encode(
        x=x, xOffset=offset, y=alt.Y("Dose (Gy):Q", title=y_title),
        color=alt.Color("Organ:N", scale=alt.Scale(domain=ORGAN_DOMAIN, range=ORGAN_RANGE), title="Organ"),
        stroke=alt.Stroke("Organ:N", scale=alt.Scale(domain=ORGAN_DOMAIN, range=ORGAN_RANGE), legend=None),
        opacity=alt.Opacity("Phase:N", scale=alt.Scale(domain=PHASE_DOMAIN, range=[1.0, 0.6]), title="Phase"),
        fillOpacity=alt.FillOpacity("Source:N", scale=alt.Scale(domain=SOURCE_DOMAIN, range=[1.0, 0.12]),
                                    legend=source_legend),
        strokeDash=alt.StrokeDash("Source:N", scale=alt.Scale(domain=SOURCE_DOMAIN, range=[[1, 0], [4, 2]]),
                                  legend=source_legend),
        tooltip=[alt.Tooltip("Cycle:O"), alt.Tooltip("Date:T"), alt.Tooltip("Phase:N"), alt.Tooltip("Organ:N"),
                 alt.Tooltip("Source:N", title="Dose"), alt.Tooltip("Dose (Gy):Q", format=".2f"),
                 alt.Tooltip("5th percentile (Gy):Q", format=".2f"),
                 alt.Tooltip("95th percentile (Gy):Q", format=".2f")],
    )
    layers = [bars]
    if len(estimated):
        layers.append(alt.Chart(data(estimated)).mark_rule(color="#263238", strokeWidth=2).encode(
            x=x, xOffset=offset, y=alt.Y("5th percentile (Gy):Q", title=y_title), y2=alt.Y2("95th percentile (Gy):Q"),
            tooltip=[alt.Tooltip("Cycle:O"), alt.Tooltip("Source:N", title="Dose"),
                     alt.Tooltip("5th percentile (Gy):Q", format=".2f"),
                     alt.Tooltip("95th percentile (Gy):Q", format=".2f")]))
    return style(alt.layer(*layers), data, "Kidney and tumour dose per cycle", width, height)


def cumulative_kidney(cycles: pd.DataFrame, dose_limit_gy: float, bed_limit_gy: float, *,
                      width: Width = "container", height: int = 260) -> alt.TopLevelMixin:
    """Cumulative kidney absorbed dose and BED after each cycle (Gy), with both limits as rules.

    Once an estimated cycle is included the point is a hollow diamond at the median and a
    band shows the 90 % interval; no point after a cycle with neither a dose nor an estimate.
    """
    data = Data()
    incl = (cycles["kidney_dose_source"] == DoseSource.ESTIMATED).cumsum() > 0
    long = pd.concat([
        pd.DataFrame({"Cycle": cycles["cycle_number"], "Date": cycles["cycle_date"], "Quantity": quantity,
                      "Cumulative (Gy)": cycles[f"{column}_gy"], "5th percentile (Gy)": cycles[f"{column}_p05_gy"],
                      "95th percentile (Gy)": cycles[f"{column}_p95_gy"],
                      "Source": np.where(incl, SOURCE_ESTIMATED, SOURCE_MEASURED)})
        for quantity, column in (("Kidney dose", "cumulative_kidney_dose"),
                                 ("Kidney BED", "cumulative_kidney_bed"))], ignore_index=True)
    long = long.dropna(subset=["Cumulative (Gy)"])
    limits = pd.DataFrame({"Limit": [f"Dose limit {dose_limit_gy:g} Gy", f"BED limit {bed_limit_gy:g} Gy"],
                           "Limit (Gy)": [dose_limit_gy, bed_limit_gy]})
    top = max(float(long["95th percentile (Gy)"].max()) if len(long) else 0.0, dose_limit_gy, bed_limit_gy) * 1.08
    y_title = "Cumulative kidney dose and BED (Gy)"
    x = alt.X("Cycle:Q", title="Cycle number", axis=alt.Axis(tickMinStep=1, format="d"))
    y = alt.Y("Cumulative (Gy):Q", title=y_title, scale=alt.Scale(domain=[0, top]))
    estimates = bool(incl.any())
    colour = alt.Color("Quantity:N", scale=alt.Scale(domain=["Kidney dose", "Kidney BED"],
                                                     range=["#4c78a8", "#54a24b"]),
                       legend=alt.Legend(title="Cumulative" + (" (band: 90 % interval)" if estimates else ""),
                                         direction="vertical", titleLimit=400))
    shape = alt.Shape("Source:N", scale=alt.Scale(domain=SOURCE_DOMAIN, range=["circle", "diamond"]),
                      legend=alt.Legend(title="Cycles included", direction="vertical") if estimates else None)
    tooltip = [alt.Tooltip("Cycle:Q"), alt.Tooltip("Date:T"), alt.Tooltip("Quantity:N"),
               alt.Tooltip("Source:N", title="Cycles included"),
               alt.Tooltip("Cumulative (Gy):Q", title="Cumulative, median (Gy)", format=".2f"),
               alt.Tooltip("5th percentile (Gy):Q", format=".2f"), alt.Tooltip("95th percentile (Gy):Q", format=".2f")]
    rows = data(long)
    layers = [alt.Chart(rows).mark_line(strokeWidth=2.5).encode(x=x, y=y, color=colour)]  # first: its legend
    if estimates:
        layers.append(alt.Chart(rows).mark_area(opacity=BAND_OPACITY).encode(
            x=x, y=alt.Y("5th percentile (Gy):Q", title=y_title, scale=alt.Scale(domain=[0, top])),
            y2=alt.Y2("95th percentile (Gy):Q"), color=colour))
    layers.append(alt.Chart(rows).transform_filter(alt.datum.Source == SOURCE_MEASURED).mark_point(
        filled=True, size=60, opacity=1).encode(x=x, y=y, color=colour, shape=shape, tooltip=tooltip))
    layers.append(alt.Chart(rows).transform_filter(alt.datum.Source == SOURCE_ESTIMATED).mark_point(
        filled=False, size=80, strokeWidth=2, opacity=1).encode(x=x, y=y, color=colour, shape=shape, tooltip=tooltip))
    return style(alt.layer(*layers, limit_rules(data, limits, y_title)), data, "Cumulative kidney dose and BED",
                 width, height)


def lab_chart(labs: pd.DataFrame, bands: pd.DataFrame, treatment_dates: pd.DataFrame, test: str, *,
              width: Width = "container", height: int = 200) -> alt.TopLevelMixin:
    """One lab test over time on its CTCAE v5.0 grade bands, points coloured by grade, cycles as rules.

    ``labs``: views.labs.lab_values (or liver_values) rows; ``bands``: views.labs.grade_bands
    (or liver_bands) rows (all tests, this one is picked).
    """
    data = Data()
    title = lab_title(test)  # a blood count, renal or liver test (ValueError otherwise)
    test = str(test)
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
        layers.append(cycle_rules(data, treatment_dates))
    return style(alt.layer(*layers), data, title, width, height)


def mag3_chart(mag3: pd.DataFrame, treatment_dates: pd.DataFrame, *, width: Width = "container",
               height: int = 200) -> alt.TopLevelMixin:
    """MAG3 tubular extraction rate over time with its least-squares trend line; cycles as rules.
    The y axis starts at 0 mL/min/1.73 m², so a decline is drawn to scale."""
    data = Data()
    title = "MAG3 TER (mL/min/1.73 m²)"
    frame = mag3.rename(columns={"lab_date": "Date", "mag3_ter_ml_min_173m2": "TER"})
    base = alt.Chart(data(frame)).encode(x=alt.X("Date:T", title="Date", axis=DATE_AXIS),
                                         y=alt.Y("TER:Q", title=title, scale=alt.Scale(zero=True)))
    layers = [base.mark_line(point=True, color="#4c78a8", strokeWidth=1.5).encode(
        tooltip=[alt.Tooltip("Date:T"), alt.Tooltip("TER:Q", title=title, format=".0f")])]
    if len(frame) >= 2:
        layers.append(base.transform_regression("Date", "TER").mark_line(color="#37474f", strokeDash=[6, 4]))
    if len(treatment_dates):
        layers.append(cycle_rules(data, treatment_dates))
    return style(alt.layer(*layers), data, "MAG3 tubular extraction rate", width, height)


def recist_chart(imaging: pd.DataFrame, treatment_dates: pd.DataFrame, *, width: Width = "container",
                 height: int = 260) -> alt.TopLevelMixin:
    """RECIST 1.1 target-lesion sum over time per phase, baseline and follow-ups, response labelled."""
    data = Data()
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
        layers.append(cycle_rules(data, treatment_dates))
    chart = alt.layer(*layers).resolve_scale(color="independent")
    return style(chart, data, "RECIST 1.1 target-lesion sum and response", width, height)


def timeline_chart(timeline: pd.DataFrame, *, width: Width = "container", height: int = 170) -> alt.TopLevelMixin:
    """Cycles, imaging and events on one date axis, each labelled ('C3', 'PR', 'Death'; hover for details)."""
    data = Data()
    frame = timeline.rename(columns={**TIMELINE_COLUMNS, "label": "Label"})
    frame["Phase"] = frame["Phase"].replace("", "none")
    frame["Above"] = frame.groupby("Record").cumcount() % 2 == 0
    rows = data(frame)
    x = alt.X("Date:T", title="Date", axis=DATE_AXIS)
    y = alt.Y("Record:N", title=None, sort=["cycle", "imaging", "event"])
    points = alt.Chart(rows).mark_point(filled=True, size=110, opacity=0.9).encode(
        x=x, y=y,
        color=alt.Color("Phase:N", scale=alt.Scale(domain=PHASE_DOMAIN + ["none"],
                                                   range=PHASE_RANGE + ["#37474f"]), title="Phase"),
        shape=alt.Shape("Record:N", scale=alt.Scale(domain=["cycle", "imaging", "event"],
                                                    range=["triangle-up", "square", "diamond"]), legend=None),
        tooltip=[alt.Tooltip("Date:T"), alt.Tooltip("Record:N"), alt.Tooltip("Phase:N"), alt.Tooltip("Details:N")],
    )
    # Labels alternate above and below the marks of a row, so that neighbours do not overlap.
    labels = [alt.Chart(rows).transform_filter(alt.datum.Above == above).mark_text(
        dy=-13 if above else 15, fontSize=11, color="#263238").encode(
        x=x, y=y, text=alt.Text("Label:N"), tooltip=[alt.Tooltip("Details:N")]) for above in (True, False)]
    return style(alt.layer(points, *labels), data, "Timeline", width, height)


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


def liver_charts(review: PatientReview, width: Width = "container") -> dict[str, alt.TopLevelMixin]:
    """Bilirubin and albumin on their CTCAE v5.0 grade bands, by name ('liver_bilirubin',
    'liver_albumin'), for the tests with values."""
    return {f"liver_{test.value}": lab_chart(review.liver, review.liver_bands, review.treatment_dates,
                                             test.value, width=width)
            for test in LIVER_TESTS if (review.liver["test"] == test.value).any()}
