"""One patient's laboratory values for the review: CTCAE v5.0 grades, grade bands, MAG3 TER trend.

Grades from ``toxicity.grade_labs`` (LLN/ULN from ``toxicity.DEFAULT_REFERENCE_LIMITS`` by
sex); the bands drawn behind each test are exactly the cut-offs ``toxicity.ctcae_grade`` applies.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

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
    """'Platelets (10⁹/L)': the test's name with its unit, for axis titles and headers
    (a :class:`LiverTest` too: 'Bilirubin (mg/dL)')."""
    if test in LIVER_TESTS:
        return liver_title(test)
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


# --------------------------------------------------------------------------
# liver function: bilirubin and albumin (CTCAE v5.0, graded here; the blood counts and
# renal tests are graded by toxicity.ctcae_grade)
# --------------------------------------------------------------------------

class LiverTest(StrEnum):
    """Liver-function tests shown with CTCAE v5.0 grades (value = the name used in the frames)."""

    BILIRUBIN = "bilirubin"
    ALBUMIN = "albumin"


LIVER_TESTS = tuple(LiverTest)
LIVER_COLUMN = {LiverTest.BILIRUBIN: "bilirubin_mg_dl", LiverTest.ALBUMIN: "albumin_g_dl"}
LIVER_UNIT = {LiverTest.BILIRUBIN: "mg/dL", LiverTest.ALBUMIN: "g/dL"}
LIVER_NAMES = {LiverTest.BILIRUBIN: "Bilirubin", LiverTest.ALBUMIN: "Albumin"}
# Adult reference limits used when the lab reports none: total bilirubin ULN 1.2 mg/dL (Mayo
# Clinic Laboratories adult reference interval 0.1-1.2 mg/dL, as data/eligibility.toml);
# albumin LLN 3.5 g/dL (Mayo Clinic Laboratories, serum albumin, adults 3.5-5.0 g/dL).
BILIRUBIN_ULN_MG_DL = 1.2
ALBUMIN_LLN_G_DL = 3.5
# CTCAE v5.0 (27 Nov 2017), Investigations, "Blood bilirubin increased", baseline normal:
# G1 >ULN-1.5 x ULN, G2 >1.5-3.0 x ULN, G3 >3.0-10.0 x ULN, G4 >10.0 x ULN (the x baseline
# criteria for an abnormal baseline are not applied).
BILIRUBIN_ULN_MULTIPLES = (1.0, 1.5, 3.0, 10.0)  # lower edges (exclusive) of grades 1-4, x ULN
# CTCAE v5.0, Metabolism and nutrition disorders, "Hypoalbuminemia": G1 <LLN-3 g/dL,
# G2 <3-2 g/dL, G3 <2 g/dL; G4 (life-threatening) is clinical, not graded from the value.
ALBUMIN_BELOW_G_DL = (3.0, 2.0)  # grade 2 below 3 g/dL, grade 3 below 2 g/dL
LIVER_NOTE = ("Bilirubin and albumin: CTCAE v5.0 'Blood bilirubin increased' (>ULN, >1.5, >3, >10 x ULN; ULN "
              f"{BILIRUBIN_ULN_MG_DL:g} mg/dL) and 'Hypoalbuminemia' (<LLN-3, <3-2, <2 g/dL; LLN {ALBUMIN_LLN_G_DL:g} g/dL).")


def _round(x: np.ndarray) -> np.ndarray:
    """Values and cut-offs compared at 12 significant digits (as toxicity.ctcae_grade), so
    1.8 mg/dL with ULN 1.2 is exactly 1.5 x ULN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(np.isfinite(x) & (x != 0), np.floor(np.log10(np.abs(x))), 0.0)
    scale = 10.0 ** (11 - mag)
    return np.where(np.isfinite(x), np.round(x * scale) / scale, x)


def liver_grade(test: str, values, *, lln: float = ALBUMIN_LLN_G_DL,
                uln: float = BILIRUBIN_ULN_MG_DL) -> np.ndarray:
    """CTCAE v5.0 grade (0-4 as float, NaN where the value is missing) of bilirubin (mg/dL,
    against ``uln``) or albumin (g/dL, against ``lln``)."""
    test = LiverTest(test)
    v = _round(np.asarray(values, dtype=float))
    if test is LiverTest.BILIRUBIN:
        edges = _round(np.asarray(BILIRUBIN_ULN_MULTIPLES) * uln)
        grade = np.sum(v[..., None] > edges, axis=-1).astype(float)
    else:
        below_2, below_3 = ALBUMIN_BELOW_G_DL
        grade = np.select([v < below_3, v < below_2, v < _round(np.asarray(lln))], [3.0, 2.0, 1.0], 0.0)
    return np.where(np.isfinite(v), grade, np.nan)


def liver_title(test: str) -> str:
    """'Bilirubin (mg/dL)'."""
    test = LiverTest(test)
    return f"{LIVER_NAMES[test]} ({LIVER_UNIT[test]})"


def liver_values(tables: Tables, patient_id: str) -> pd.DataFrame:
    """The patient's bilirubin and albumin values with CTCAE v5.0 grades, long format, in date order.

    Columns as :func:`lab_values` uses for the charts: lab_date, test, value, unit, lln, uln,
    grade, grade_label, phase ('' here: the liver tests are not split by treatment phase).
    """
    labs = tables.for_patient(patient_id).labs
    parts = []
    for test, column in LIVER_COLUMN.items():
        if column not in labs.columns:
            continue
        rows = labs.loc[labs[column].notna(), ["lab_date", column]].sort_values("lab_date", kind="stable")
        values = rows[column].to_numpy(dtype=float)
        parts.append(pd.DataFrame({
            "lab_date": rows["lab_date"].to_numpy(), "test": test.value, "value": values,
            "unit": LIVER_UNIT[test], "lln": ALBUMIN_LLN_G_DL if test is LiverTest.ALBUMIN else np.nan,
            "uln": BILIRUBIN_ULN_MG_DL if test is LiverTest.BILIRUBIN else np.nan,
            "grade": liver_grade(test, values), "phase": ""}))
    columns = ["lab_date", "test", "value", "unit", "lln", "uln", "grade", "grade_label", "phase"]
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True)
    out["grade_label"] = out["grade"].astype(int).astype(str)
    return out[columns]


def liver_bands(test: str, values, *, lln: float = ALBUMIN_LLN_G_DL,
                uln: float = BILIRUBIN_ULN_MG_DL) -> pd.DataFrame:
    """CTCAE v5.0 grade bands of bilirubin or albumin for a chart of ``values`` (columns as
    :func:`grade_bands`). Bilirubin from 0 to 10 % above the larger of the values and 1.5 x ULN;
    albumin from 10 % below the smaller of the values and 3 g/dL to 10 % above the larger of
    the values and the LLN: grades 0-1 always visible, a worse value brings its band in."""
    test = LiverTest(test)
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)].tolist()
    inf = math.inf
    if test is LiverTest.BILIRUBIN:
        m = [x * uln for x in BILIRUBIN_ULN_MULTIPLES]
        rows = [("0", -inf, m[0]), ("1", m[0], m[1]), ("2", m[1], m[2]), ("3", m[2], m[3]), ("4", m[3], inf)]
        y_min, y_max = 0.0, 1.1 * max([*v, m[1]])
    else:
        below_2, below_3 = ALBUMIN_BELOW_G_DL
        rows = [("0", lln, inf), ("1", below_2, lln), ("2", below_3, below_2), ("3", -inf, below_3)]
        y_min, y_max = 0.9 * min([*v, below_2]), 1.1 * max([*v, lln])
    bands = pd.DataFrame(rows, columns=["grade", "lower", "upper"])
    bands[["lower", "upper"]] = bands[["lower", "upper"]].clip(lower=y_min, upper=y_max)
    bands = bands[bands["upper"] > bands["lower"]].copy()
    bands.insert(0, "test", test.value)
    bands["y_min"], bands["y_max"] = y_min, y_max
    return bands.reset_index(drop=True)


def all_liver_bands(liver: pd.DataFrame) -> pd.DataFrame:
    """:func:`liver_bands` of every test in ``liver`` (:func:`liver_values` rows)."""
    bands = [liver_bands(test, rows["value"]) for test, rows in liver.groupby("test", sort=False)]
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
