"""Chart specs of the patient review and the salvage planner (Altair ``to_dict()``, validated).

Checked: the encodings, a unit in every quantitative axis title, the 23 Gy rule and the
patient's BED limit, the CTCAE bands, and that the data are inline (named datasets), so
a spec is the same inside Streamlit and in the SVG export.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from prrt_core.charts import patient as charts
from prrt_core.clinical import eligibility
from prrt_core.views import patient, planner


@pytest.fixture(scope="module")
def review(demo_tables):
    return patient.review(demo_tables, "NET-004")


@pytest.fixture(scope="module")
def plan(demo_tables):
    return planner.plan(demo_tables, "NET-004", dt.date(2025, 3, 17), planner.Scenario(),
                        config=eligibility.load_config())


def views(spec: dict):
    """The spec and every nested layer."""
    yield spec
    for child in spec.get("layer", []):
        yield from views(child)


def position_encodings(spec: dict) -> list[tuple[str, str, str | None]]:
    """(channel, type, title) of every x/y encoding with a field, over all layers."""
    out = []
    for view in views(spec):
        for channel in ("x", "y"):
            enc = view.get("encoding", {}).get(channel)
            if enc and "field" in enc:
                out.append((channel, enc.get("type"), enc.get("title")))
    return out


def rows(spec: dict) -> list[dict]:
    return [row for values in spec["datasets"].values() for row in values]


def assert_units_on_axes(spec: dict) -> None:
    encodings = position_encodings(spec)
    assert encodings
    for channel, kind, title in encodings:
        if kind == "quantitative" and title and title.startswith("Cycle number"):
            continue  # a count of cycles has no unit
        if kind == "quantitative":
            assert title and re.search(r"\((Gy|GBq|mm|g/dL|mg/dL|10⁹/L|mL/min/1\.73 m²)\)$", title), (channel, title)
        elif kind == "temporal":
            assert title == "Date"
        else:  # cycle numbers (ordinal) and record kinds are counts and categories
            assert kind in ("ordinal", "nominal") and (title is None or "Cycle" in title)


def test_every_patient_chart_validates_with_units_and_inline_data(review):
    specs = {name: chart.to_dict() for name, chart in charts.patient_charts(review).items()}  # validates
    assert list(specs) == ["timeline", "dose_per_cycle", "cumulative_kidney", "lab_hemoglobin", "lab_platelets",
                           "lab_wbc", "lab_neutrophils", "lab_lymphocytes", "lab_creatinine", "lab_egfr",
                           "mag3", "recist"]
    for name, spec in specs.items():
        assert_units_on_axes(spec)
        assert spec["autosize"] == {"type": "fit-x", "contains": "padding"}, name
        assert spec["datasets"] and all(view.get("data", {}).get("name", "").startswith("rows_")
                                        for view in views(spec) if "data" in view), name
        assert charts.spec(charts.patient_charts(review)[name]) == spec


def test_dose_per_cycle_bars(review):
    spec = charts.dose_per_cycle(review.cycles).to_dict()
    assert [v["mark"]["type"] for v in spec["layer"]] == ["bar"]  # every dose measured: no error bars
    enc = spec["layer"][0]["encoding"]
    assert (enc["x"]["field"], enc["xOffset"]["field"], enc["y"]["field"]) == ("Cycle", "Organ", "Dose (Gy)")
    assert enc["y"]["title"] == "Absorbed dose per cycle (Gy)"
    kidney = [r["Dose (Gy)"] for r in rows(spec) if r["Organ"] == "Kidneys"]
    assert kidney == review.cycles["kidney_dose_gy"].tolist()  # one bar per cycle, in cycle order
    assert {r["Source"] for r in rows(spec)} == {"measured"}
    assert enc["fillOpacity"]["legend"] is None  # no "estimated" legend without an estimate


def test_cumulative_chart_has_the_23_gy_rule_and_the_patients_bed_limit(review):
    spec = charts.cumulative_kidney(review.cycles, 23.0, 28.0).to_dict()
    rules = [v for v in views(spec) if v.get("mark", {}).get("type") == "rule"]
    assert rules and rules[0]["encoding"]["y"]["field"] == "Limit (Gy)"
    limits = {r["Limit"]: r["Limit (Gy)"] for r in rows(spec) if "Limit" in r}
    assert limits == {"Dose limit 23 Gy": 23.0, "BED limit 28 Gy": 28.0}
    line = next(v for v in views(spec) if v.get("mark", {}).get("type") == "line")
    assert line["encoding"]["y"]["title"] == "Cumulative kidney dose and BED (Gy)"
    assert line["encoding"]["y"]["scale"]["domain"][1] >= 28.0  # both limits in view
    cum = [r["Cumulative (Gy)"] for r in rows(spec) if r.get("Quantity") == "Kidney dose"]
    assert cum[-1] == pytest.approx(review.header.kidney_dose.value_gy)


def test_lab_chart_bands_points_and_cycle_rules(review):
    spec = charts.lab_chart(review.labs, review.bands, review.treatment_dates, "platelets").to_dict()
    layers = spec["layer"]
    assert [v["mark"]["type"] for v in layers] == ["rect", "line", "point", "rule"]
    rect, _, points, cycle_rules = layers
    assert rect["encoding"]["y"]["title"] == points["encoding"]["y"]["title"] == "Platelets (10⁹/L)"
    assert rect["encoding"]["y2"]["field"] == "upper"
    assert points["encoding"]["color"]["field"] == "CTCAE grade"
    band_rows = spec["datasets"][rect["data"]["name"]]
    # NET-004 is male: platelet LLN 150, grade 2 below 75 x 10^9/L (CTCAE v5.0).
    assert {(r["CTCAE grade"], r["upper"]) for r in band_rows if r["CTCAE grade"] in ("1", "2")} == {
        ("1", 150.0), ("2", 75.0)}
    assert len(spec["datasets"][cycle_rules["data"]["name"]]) == 5  # one rule per cycle
    assert cycle_rules["encoding"]["strokeDash"]["field"] == "Cycle phase"


def test_mag3_and_recist_charts(review):
    mag3 = charts.mag3_chart(review.mag3, review.treatment_dates).to_dict()
    assert mag3["layer"][0]["encoding"]["y"]["title"] == "MAG3 TER (mL/min/1.73 m²)"
    assert any("regression" in t for t in mag3["layer"][1].get("transform", []))
    recist = charts.recist_chart(review.imaging, review.treatment_dates).to_dict()
    text = next(v for v in recist["layer"] if v["mark"]["type"] == "text")
    labels = [r["Label"] for r in recist["datasets"][text["data"]["name"]]]
    assert labels == ["baseline", "SD", "SD", "SD", "SD", "PD", "baseline"]  # NET-004, date order


def test_fan_chart_history_band_median_point_and_limit(plan):
    for quantity, limit, title in (("Kidney dose", 23.0, "Cumulative kidney dose (Gy)"),
                                   ("Kidney BED", 28.0, "Cumulative kidney BED (Gy)")):
        spec = charts.fan_chart(plan.fan, quantity).to_dict()
        assert_units_on_axes(spec)
        marks = [v["mark"]["type"] for v in views(spec) if "mark" in v]
        assert marks[:2] == ["area", "line"] and "rule" in marks
        area = spec["layer"][0]
        assert (area["encoding"]["y"]["field"], area["encoding"]["y2"]["field"]) == ("p05_gy", "p95_gy")
        assert area["encoding"]["y"]["title"] == title
        data = rows(spec)
        assert {r["Limit (Gy)"] for r in data if "Limit" in r} == {limit}
        series = {r["Series"] for r in data if "Series" in r}
        assert series == {"History", "Projected median", "Point projection"}
        history = [r for r in data if r.get("Series") == "History"]
        assert len(history) == 4  # the four initial cycles known on 2025-03-17
    with pytest.raises(ValueError, match="quantity must be one of"):
        charts.fan_chart(plan.fan, "Kidney volume")


def test_svg_width_in_pixels(review):
    spec = charts.timeline_chart(review.timeline, width=600).to_dict()
    assert spec["width"] == 600 and spec["height"] == 170


def test_timeline_labels_every_event(review):
    spec = charts.timeline_chart(review.timeline).to_dict()
    texts = [v for v in spec["layer"] if v["mark"]["type"] == "text"]
    assert [t["encoding"]["text"]["field"] for t in texts] == ["Label", "Label"]  # above and below, alternating
    labels = [r["Label"] for r in rows(spec)]
    assert labels == review.timeline["label"].tolist() and "C5" in labels and "Death" in labels


def test_mag3_axis_starts_at_zero(review):
    spec = charts.mag3_chart(review.mag3, review.treatment_dates).to_dict()
    assert spec["layer"][0]["encoding"]["y"]["scale"] == {"zero": True}


def test_liver_charts_on_ctcae_bands(review):
    specs = {name: chart.to_dict() for name, chart in charts.liver_charts(review).items()}  # validates
    assert list(specs) == ["liver_bilirubin", "liver_albumin"]
    for spec in specs.values():
        assert_units_on_axes(spec)
        rect = spec["layer"][0]
        assert rect["mark"]["type"] == "rect" and rect["encoding"]["color"]["field"] == "CTCAE grade"
    albumin = {r["CTCAE grade"]: (r["lower"], r["upper"]) for r in rows(specs["liver_albumin"]) if "upper" in r}
    assert albumin["1"] == (3.0, 3.5)  # CTCAE v5.0 hypoalbuminemia grade 1: <LLN (3.5 g/dL) - 3 g/dL


# ---------------------------------------------------------------- a patient without kidney dosimetry

@pytest.fixture(scope="module")
def estimated(demo_tables):
    """NET-005 with kidney dosimetry removed from cycles 2 and 4 (estimated by the cohort model)."""
    cycles = demo_tables.cycles.query("patient_id == 'NET-005' and cycle_number in (2, 4)")
    d = demo_tables.dosimetry
    tables = demo_tables.replace(dosimetry=d[~(d["cycle_id"].isin(cycles["cycle_id"]) & (d["organ"] == "kidneys"))])
    return patient.review(tables, "NET-005")


def test_estimated_doses_have_their_own_marks_and_no_zero(estimated):
    spec = charts.dose_per_cycle(estimated.cycles).to_dict()
    kidney = [r for r in rows(spec) if r.get("Organ") == "Kidneys" and "Dose (Gy)" in r]
    by_cycle = {r["Cycle"]: r for r in kidney}
    assert {c: r["Source"] for c, r in by_cycle.items() if r["Source"] != "measured"} == {
        2: "estimated (cohort model)", 4: "estimated (cohort model)"}
    assert len(by_cycle) == 6 and all(r["Dose (Gy)"] > 0 for r in kidney)  # an estimate, never 0 Gy
    cycles = estimated.cycles.set_index("cycle_number")
    assert by_cycle[2]["Dose (Gy)"] == pytest.approx(cycles.loc[2, "kidney_dose_p50_gy"])
    bars, error = spec["layer"]
    assert bars["encoding"]["fillOpacity"]["field"] == bars["encoding"]["strokeDash"]["field"] == "Source"
    assert bars["encoding"]["fillOpacity"]["scale"]["domain"] == ["measured", "estimated (cohort model)"]
    assert (error["mark"]["type"], error["encoding"]["y"]["field"], error["encoding"]["y2"]["field"]) == (
        "rule", "5th percentile (Gy)", "95th percentile (Gy)")
    assert bars["encoding"]["fillOpacity"]["legend"]["title"] == "Kidney dose (bar: 90 % interval)"


def test_cumulative_estimate_is_a_hollow_median_with_a_band(estimated):
    head = estimated.header
    spec = charts.cumulative_kidney(estimated.cycles, head.kidney_dose.limit_gy, head.kidney_bed.limit_gy).to_dict()
    marks = [(v["mark"]["type"], v["mark"].get("filled")) for v in views(spec) if "mark" in v]
    assert marks[:4] == [("line", None), ("area", None), ("point", True), ("point", False)]
    hollow = spec["layer"][3]
    assert hollow["transform"] == [{"filter": "(datum.Source === 'estimated (cohort model)')"}]
    assert hollow["encoding"]["shape"]["scale"]["range"] == ["circle", "diamond"]
    data = [r for r in rows(spec) if r.get("Quantity") == "Kidney dose"]
    assert [r["Source"] for r in data] == ["measured"] + ["estimated (cohort model)"] * 5  # from cycle 2 on
    assert all(r["Cumulative (Gy)"] > 0 for r in data)
    assert data[-1]["Cumulative (Gy)"] == pytest.approx(head.kidney_dose.value_gy)
    assert data[-1]["5th percentile (Gy)"] < data[-1]["Cumulative (Gy)"] < data[-1]["95th percentile (Gy)"]


def test_date_axes_show_the_year(review):
    # A history spans years: "Nov" alone would be ambiguous on the board's projector.
    for name, chart in (("timeline", charts.timeline_chart(review.timeline)),
                        ("mag3", charts.mag3_chart(review.mag3, review.treatment_dates)),):
        spec = chart.to_dict()
        encodings = [spec.get("encoding", {})] + [layer.get("encoding", {}) for layer in spec.get("layer", [])]
        formats = {e["x"]["axis"]["format"] for e in encodings if "x" in e and "axis" in e["x"]}
        assert formats == {"%b %Y"}, name


# --- dosimetry: slice size, DVK slice, DVH title (issue 16) ------------------------------------
def test_dosimetry_slice_is_large_and_shows_the_dvk_map(tmp_path):
    from prrt_core.charts import dosimetry as dose_charts
    from prrt_core.dicom import study_dose
    from prrt_core.testing import phantom

    result = study_dose.analyse(phantom.write_phantom(tmp_path / "s").folder)
    index = dose_charts.centre_slice(result, "Kidney left")
    spec = dose_charts.slice_chart(result, "dose_dvk", index).to_dict()
    assert spec["width"] == spec["height"] == dose_charts.SLICE_SIZE_PX >= 420
    assert spec["title"]["text"].startswith("Absorbed dose (DVK convolution)")
    frame = dose_charts.slice_frame(result, "dose_dvk", index)
    assert frame["value"].max() == pytest.approx(float(result.dose_dvk_gy[index].max()))
    with pytest.raises(ValueError, match="dose_dvk"):
        dose_charts.slice_frame(result, "dose_mc", index)
    dvh = dose_charts.dvh_chart(result).to_dict()
    assert dvh["title"]["text"] == "Dose-volume histograms" and dvh["title"]["limit"] == 0  # never clipped
    assert dvh["config"]["axis"]["titleLimit"] == 0
    assert {"voxel (DVK convolution)", "voxel (local deposition)"} <= set(result.dvh["source"])
