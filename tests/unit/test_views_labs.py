"""One patient's lab values: CTCAE v5.0 grade bands (the cut-offs of clinical_reference.md §1
as toxicity.ctcae_grade applies them) and the MAG3 TER trend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prrt_core.clinical import toxicity
from prrt_core.views import labs, patient


@pytest.mark.parametrize("test", [t for t in toxicity.LabTest])
@pytest.mark.parametrize("sex", ["M", "F"])
def test_grade_bands_are_the_grades_ctcae_grade_applies(test, sex):
    """Every band's interior and its edges grade as the band says (toxicity.ctcae_grade)."""
    lln, uln = (float(x[0]) for x in toxicity.DEFAULT_REFERENCE_LIMITS.limits(test, np.array([sex], dtype=object)))
    bands = labs.grade_bands(test, [0.01, 1000.0], lln=lln, uln=uln)  # values spanning every band
    assert list(bands["grade"]) == (["0", "1", "2", "3", "4"] if test != "hemoglobin" else ["0", "1", "2", "3"])
    kwargs = {"uln": uln} if test == "creatinine" else {"lln": lln}
    mid = (bands["lower"] + bands["upper"]) / 2
    assert toxicity.ctcae_grade(test, mid, **kwargs).tolist() == bands["grade"].astype(float).tolist()
    inner = bands.iloc[1:-1]  # clipped outer edges are the chart range, not grade boundaries
    # Low-side tests: grade g while value < upper, so the lower edge belongs to the band;
    # creatinine: grade g while value > lower, so the upper edge belongs to it.
    edge = inner["upper"] if test == "creatinine" else inner["lower"]
    assert toxicity.ctcae_grade(test, edge, **kwargs).tolist() == inner["grade"].astype(float).tolist()


def test_grade_band_range_shows_grades_0_to_2_and_follows_the_values(demo_tables):
    # Platelets, LLN 150, grade 2 below 75 (CTCAE v5.0): range 0.9 x 75 to 1.1 x 250.
    bands = labs.grade_bands("platelets", [180.0, 250.0], lln=150.0, uln=np.nan)
    assert (bands["y_min"].iat[0], bands["y_max"].iat[0]) == pytest.approx((67.5, 275.0))
    assert list(bands["grade"]) == ["0", "1", "2"]
    low = labs.grade_bands("platelets", [42.0], lln=150.0, uln=np.nan)  # the demo's grade-3 nadir adds band 3
    assert list(low["grade"]) == ["0", "1", "2", "3"] and low["y_min"].iat[0] == pytest.approx(37.8)
    unknown = labs.grade_bands("hemoglobin", [12.0], lln=np.nan, uln=np.nan)  # sex unknown: no Hb LLN
    assert list(unknown["grade"]) == ["0-1", "2"]
    # The review draws each test with the patient's own limits (NET-004 is male: Hb LLN 13.0).
    bands = patient.review(demo_tables, "NET-004").bands
    hb = bands[bands["test"] == "hemoglobin"].set_index("grade")
    assert hb.loc["1", "upper"] == hb.loc["0", "lower"] == 13.0


def test_mag3_trend_is_the_least_squares_slope_per_year():
    mag3 = pd.DataFrame({"lab_date": pd.to_datetime(["2021-01-01", "2022-01-01", "2023-01-01"]),
                         "mag3_ter_ml_min_173m2": [240.0, 230.0, 220.0]})
    trend = labs.mag3_trend(mag3)
    # Collinear points, -10 mL/min/1.73 m² per 365 days = -10 / (365 / 365.25) per year.
    assert trend.slope_per_year == pytest.approx(-10.0 / (365 / 365.25), rel=1e-9)
    assert (trend.n_values, trend.first_value, trend.last_value) == (3, 240.0, 220.0)
    assert np.isnan(labs.mag3_trend(mag3.iloc[:1]).slope_per_year)




# CTCAE v5.0 (27 Nov 2017): "Blood bilirubin increased" (baseline normal) G1 >ULN-1.5 x ULN,
# G2 >1.5-3.0 x ULN, G3 >3.0-10.0 x ULN, G4 >10.0 x ULN; "Hypoalbuminemia" G1 <LLN-3 g/dL,
# G2 <3-2 g/dL, G3 <2 g/dL. Edges by hand with ULN 1.2 mg/dL and LLN 3.5 g/dL.
@pytest.mark.parametrize(("test", "value", "grade"), [
    ("bilirubin", 1.2, 0), ("bilirubin", 1.21, 1), ("bilirubin", 1.8, 1), ("bilirubin", 1.81, 2),
    ("bilirubin", 3.6, 2), ("bilirubin", 3.61, 3), ("bilirubin", 12.0, 3), ("bilirubin", 12.01, 4),
    ("albumin", 3.5, 0), ("albumin", 3.49, 1), ("albumin", 3.0, 1), ("albumin", 2.99, 2), ("albumin", 2.0, 2),
    ("albumin", 1.99, 3),
])
def test_liver_grades_at_the_ctcae_edges(test, value, grade):
    assert labs.liver_grade(test, [value], lln=3.5, uln=1.2).tolist() == [float(grade)]


@pytest.mark.parametrize("test", list(labs.LiverTest))
def test_liver_bands_are_the_grades_liver_grade_applies(test):
    bands = labs.liver_bands(test, [0.05, 30.0])  # values spanning every band
    assert list(bands["grade"]) == (["0", "1", "2", "3", "4"] if test == "bilirubin" else ["0", "1", "2", "3"])
    mid = (bands["lower"] + bands["upper"]) / 2
    assert labs.liver_grade(test, mid).tolist() == bands["grade"].astype(float).tolist()
    # Bilirubin grade g while value > lower edge (the upper edge belongs to it); albumin while value < upper.
    inner = bands.iloc[1:-1]
    edge = inner["upper"] if test == "bilirubin" else inner["lower"]
    assert labs.liver_grade(test, edge).tolist() == inner["grade"].astype(float).tolist()
    assert labs.lab_title(test) == {"bilirubin": "Bilirubin (mg/dL)", "albumin": "Albumin (g/dL)"}[test]


def test_liver_values_of_a_patient(demo_tables):
    liver = labs.liver_values(demo_tables, "NET-004")
    rows = demo_tables.labs.query("patient_id == 'NET-004'")
    for test, column in labs.LIVER_COLUMN.items():
        got = liver[liver["test"] == test.value]
        expected = rows.loc[rows[column].notna()].sort_values("lab_date")[column]
        assert got["value"].tolist() == expected.tolist() and len(got)
        assert got["grade_label"].tolist() == [str(int(g)) for g in labs.liver_grade(test, expected)]
    bands = labs.all_liver_bands(liver)
    assert set(bands["test"]) == {"bilirubin", "albumin"}
