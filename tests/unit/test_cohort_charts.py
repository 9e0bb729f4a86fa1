"""Cohort charts (Altair specs) and their PNG/SVG export through vl-convert."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import pytest

from prrt_core import cohort
from prrt_core.charts import cohort as charts
from prrt_core.charts import export as chart_export
from prrt_core.clinical import survival


@pytest.fixture(scope="module")
def attributes(demo_tables):
    return cohort.patient_attributes(demo_tables)


@pytest.fixture(scope="module")
def km_by_sex(demo_tables, attributes):
    ends = survival.endpoints(demo_tables.cycles, demo_tables.events, demo_tables.assessments)
    return cohort.kaplan_meier(ends, attributes, cohort.Endpoint.PFS_SALVAGE, cohort.Stratum.SEX)


def _marks(spec: dict) -> list:
    return [layer["mark"] for layer in spec["vconcat"][0]["layer"]]


def test_km_chart_has_steps_bands_censor_ticks_and_at_risk_row(km_by_sex):
    spec = charts.km_chart(km_by_sex).to_dict()
    area, line, tick = _marks(spec)
    assert (area["type"], area["interpolate"]) == ("area", "step-after")
    assert (line["type"], line["interpolate"]) == ("line", "step-after")
    assert tick["type"] == "tick"
    layers = spec["vconcat"][0]["layer"]
    assert layers[1]["encoding"]["y"]["title"] == "PFS (%)"
    assert layers[1]["encoding"]["x"]["title"] == "Time since start (months)"
    assert layers[0]["encoding"]["y2"]["field"] == "ci_upper_pct"
    assert layers[2]["transform"] == [{"filter": "(datum.censored > 0)"}]
    table = spec["vconcat"][1]
    assert table["mark"]["type"] == "text" and table["encoding"]["text"]["field"] == "at_risk"
    assert table["title"]["text"] == "Number at risk (n)"


def test_km_chart_data_one_row_per_distinct_time_and_at_risk_counts(km_by_sex, demo_tables, attributes):
    ends = survival.endpoints(demo_tables.cycles, demo_tables.events, demo_tables.assessments)
    sex = ends["patient_id"].map(attributes.set_index("patient_id")["sex"])
    for label, code in (("Female", "F"), ("Male", "M")):
        t = ends.loc[sex == code, "pfs_salvage_months"].to_numpy()
        curve = km_by_sex.curves[km_by_sex.curves["group"] == label]
        assert len(curve) == 1 + np.unique(t).size  # time 0 and every distinct time
        risk = km_by_sex.at_risk[km_by_sex.at_risk["group"] == label]
        assert risk["at_risk"].tolist() == [int((t >= s).sum()) for s in risk["time_months"]]


def test_dose_histogram_bins_every_patient_and_draws_the_23_gy_line(attributes):
    data = charts.dose_histogram_data(attributes["cumulative_kidney_dose_gy"])
    assert data["patients"].sum() == 35
    assert (data["bin_end_gy"] - data["bin_start_gy"]).eq(1.0).all()
    dose = attributes["cumulative_kidney_dose_gy"]
    below = data.loc[data["bin_end_gy"] <= 23, "patients"].sum()
    assert below == int((dose < 23).sum())
    spec = charts.dose_histogram(attributes).to_dict()
    rule = [layer for layer in spec["layer"] if layer["mark"]["type"] == "rule"][0]
    values = spec["datasets"][rule["data"]["name"]]
    assert values == [{"dose_gy": 23.0, "label": "23 Gy limit"}]
    bars = spec["layer"][0]["encoding"]
    assert bars["x"]["title"] == "Cumulative kidney absorbed dose (Gy)" and bars["y"]["title"] == "Patients (n)"


def test_egfr_scatter_labels_its_unit(attributes):
    for measure, unit in ((charts.EgfrMeasure.ABSOLUTE, "mL/min/1.73 m²"),
                          (charts.EgfrMeasure.PCT_PER_YEAR, "%/year")):
        spec = charts.egfr_scatter(attributes, measure).to_dict()
        assert unit in spec["layer"][0]["encoding"]["y"]["title"]
        points = spec["datasets"][spec["layer"][0]["data"]["name"]]
        assert len(points) == int(attributes[measure.column].notna().sum())


def test_png_and_svg_export(km_by_sex):
    chart = charts.km_chart(km_by_sex)
    png = chart_export.png_bytes(chart, scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    svg = chart_export.svg_bytes(chart).decode()
    assert svg.lstrip().startswith("<svg") and "PFS after salvage start" in svg


def test_export_keeps_every_row_beyond_altairs_5000_limit():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.random(6000), "y": rng.random(6000)})
    chart = alt.Chart(frame).mark_point().encode(x="x:Q", y="y:Q") + alt.Chart(frame.head(3)).mark_rule().encode(x="x:Q")
    with pytest.raises(alt.MaxRowsError):
        chart.to_dict()  # Altair's own serialisation refuses, and stays so (no global switch)
    spec = chart_export.vega_lite_spec(chart)
    sizes = sorted(len(v) for v in spec["datasets"].values())
    assert sizes == [3, 6000]
    with pytest.raises(alt.MaxRowsError):
        chart.to_dict()
    assert chart_export.svg_bytes(chart).count(b"<path") >= 6000
