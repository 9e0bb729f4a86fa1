"""One patient's laboratory values for the review: CTCAE v5.0 grades, grade bands, MAG3 TER trend.

Grades from ``toxicity.grade_labs`` (LLN/ULN from ``toxicity.DEFAULT_REFERENCE_LIMITS`` by
sex); the bands drawn behind each test are exactly the cut-offs ``toxicity.ctcae_grade`` applies.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prrt_core.clinical import toxicity
from prrt_core.clinical.dates import DAYS_PER_YEAR
from prrt_core.tables import Tables

# The grade bands drawn here must be exactly the cut-offs toxicity.ctcae_grade applies
# (toxicity.LOW_CUTOFFS and the creatinine x ULN multiples; tests/unit/test_views_labs.py checks each edge).

LAB_TESTS = tuple(toxicity.LabTest)
LAB_NAMES = {
    toxicity.LabTest.HEMOGLOBIN: "Haemoglobin", toxicity.LabTest.PLATELETS: "Platelets",
    toxicity.LabTest.WBC: "White blood cells", toxicity.LabTest.NEUTROPHILS: "Neutrophils",
    toxicity.LabTest.LYMPHOCYTES: "Lymphocytes", toxicity.LabTest.CREATININE: "Creatinine",
    toxicity.LabTest.EGFR: "eGFR",
}
UNIT_TEXT = {"10^9/L": "10⁹/L", "mL/min/1.73 m^2": "mL/min/1.73 m²"}


def lab_title(test: str) -> str:
    """'Platelets (10⁹/L)': the test's name with its unit, for axis titles and headers."""
    test = toxicity.LabTest(test)
    unit = toxicity.TEST_UNIT[test]
    return f"{LAB_NAMES[test]} ({UNIT_TEXT.get(unit, unit)})"


def lab_values(tables: Tables, patient_id: str,
               limits: toxicity.ReferenceLimits = toxicity.DEFAULT_REFERENCE_LIMITS) -> pd.DataFrame:
    """The patient's graded lab values, long format (``toxicity.grade_labs``), missing values dropped.

    Columns as grade_labs (lab_date, phase, test, value, unit, lln, uln, baseline_value,
    grade ...) plus grade_label ('0'-'4', 'n/a' when it cannot be derived).
    """
    t = tables.for_patient(patient_id)
    if t.labs.empty:
        return pd.DataFrame(columns=["lab_date", "phase", "test", "value", "unit", "lln", "uln",
                                     "baseline_value", "grade", "grade_label"])
    graded = toxicity.grade_labs(t.labs, t.patients, t.cycles, limits)
    graded = graded[graded["value"].notna()].sort_values(["test", "lab_date"], kind="stable")
    graded["grade_label"] = np.where(graded["grade"].isna(), "n/a",
                                     graded["grade"].fillna(0).astype(int).astype(str))
    return graded.reset_index(drop=True)


def _band_rows(test: toxicity.LabTest, lln: float, uln: float) -> list[tuple[str, float, float]]:
    """(grade, lower, upper) in the test's unit; +-inf for open ends (clipped by the caller)."""
    inf = math.inf
    if test is toxicity.LabTest.CREATININE:
        if not np.isfinite(uln):
            return []
        m2, m3, m4 = (toxicity.CREATININE_G2_ULN_MULTIPLE, toxicity.CREATININE_G3_ULN_MULTIPLE,
                      toxicity.CREATININE_G4_ULN_MULTIPLE)
        return [("0", -inf, uln), ("1", uln, m2 * uln), ("2", m2 * uln, m3 * uln),
                ("3", m3 * uln, m4 * uln), ("4", m4 * uln, inf)]
    cut = toxicity.LOW_CUTOFFS[test]
    rows = [("0", lln, inf), ("1", cut.below_2, lln)] if np.isfinite(lln) else [("0-1", cut.below_2, inf)]
    rows += [("2", cut.below_3, cut.below_2)]
    if cut.below_4 is None:  # anaemia: grade 4 is clinical only
        rows += [("3", -inf, cut.below_3)]
    else:
        rows += [("3", cut.below_4, cut.below_3), ("4", -inf, cut.below_4)]
    return rows


def grade_bands(test: str, values: Sequence[float] | np.ndarray, *, lln: float, uln: float) -> pd.DataFrame:
    """CTCAE v5.0 grade bands of one test for a chart of ``values`` (test units).

    ``lln``/``uln``: the patient's reference limits in the test's unit (NaN when unknown or
    not used), e.g. ``toxicity.DEFAULT_REFERENCE_LIMITS.limits(test, sex)`` or the lln/uln
    columns of :func:`lab_values`.

    The y range runs from 10 % below the lower of the smallest value and the grade-2
    boundary to 10 % above the higher of the largest value and the normal limit (for
    creatinine: 1.5 x ULN), so grades 0-2 are always visible and a worse value brings
    its band in. Bands are clipped to that range; empty ones are dropped. Creatinine bands
    are the x ULN criteria (the x baseline criterion can raise a point's grade above its
    band). Columns: test, grade, lower, upper, y_min, y_max.
    """
    test = toxicity.LabTest(test)
    lln, uln = float(lln), float(uln)
    rows = _band_rows(test, lln, uln)
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if test is toxicity.LabTest.CREATININE:
        anchors_low = [0.0]
        anchors_high = [toxicity.CREATININE_G2_ULN_MULTIPLE * uln] if np.isfinite(uln) else []
    else:
        cut = toxicity.LOW_CUTOFFS[test]
        anchors_low = [cut.below_2]
        anchors_high = [lln] if np.isfinite(lln) else [cut.below_2]
    y_min = 0.9 * min([*v.tolist(), *anchors_low])
    y_max = 1.1 * max([*v.tolist(), *anchors_high])
    bands = pd.DataFrame(rows, columns=["grade", "lower", "upper"])
    bands["lower"] = bands["lower"].clip(lower=y_min, upper=y_max)
    bands["upper"] = bands["upper"].clip(lower=y_min, upper=y_max)
    bands = bands[bands["upper"] > bands["lower"]].copy()
    bands.insert(0, "test", test.value)
    bands["y_min"], bands["y_max"] = y_min, y_max
    return bands.reset_index(drop=True)


def all_grade_bands(labs: pd.DataFrame) -> pd.DataFrame:
    """:func:`grade_bands` of every test in ``labs`` (:func:`lab_values` rows), each with the patient's limits."""
    bands = [grade_bands(test, rows["value"], lln=rows["lln"].iat[0], uln=rows["uln"].iat[0])
             for test, rows in labs.groupby("test", sort=False)]
    return pd.concat(bands, ignore_index=True) if bands else pd.DataFrame(
        columns=["test", "grade", "lower", "upper", "y_min", "y_max"])


def mag3_values(tables: Tables, patient_id: str) -> pd.DataFrame:
    """MAG3 tubular extraction rate over time: lab_date, mag3_ter_ml_min_173m2 (measured rows only)."""
    labs = tables.for_patient(patient_id).labs
    if "mag3_ter_ml_min_173m2" not in labs.columns:
        return pd.DataFrame(columns=["lab_date", "mag3_ter_ml_min_173m2"])
    rows = labs.loc[labs["mag3_ter_ml_min_173m2"].notna(), ["lab_date", "mag3_ter_ml_min_173m2"]]
    return rows.sort_values("lab_date", kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class Trend:
    """Least-squares slope of a value over time: per year (value units / year)."""

    n_values: int
    first_date: dt.date | None
    last_date: dt.date | None
    slope_per_year: float
    first_value: float
    last_value: float


def mag3_trend(mag3: pd.DataFrame) -> Trend:
    """Linear trend of MAG3 TER, mL/min/1.73 m² per year (NaN with fewer than 2 dates).

    The annual TER change by linear regression is the measure of Rudisile 2019 (BMC Cancer
    19:788) after Werner 2016 (Oncotarget 7:41233); years of 365.25 days.
    """
    n = len(mag3)
    if n == 0:
        return Trend(0, None, None, math.nan, math.nan, math.nan)
    dates, values = mag3["lab_date"], mag3["mag3_ter_ml_min_173m2"].to_numpy(dtype=float)
    years = ((dates - dates.iloc[0]).dt.days / DAYS_PER_YEAR).to_numpy(dtype=float)
    slope = float(np.polyfit(years, values, 1)[0]) if np.ptp(years) > 0 else math.nan
    return Trend(n, dates.iloc[0].date(), dates.iloc[-1].date(), slope, float(values[0]), float(values[-1]))
