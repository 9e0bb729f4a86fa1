"""The published study beside the loaded cohort: the same figures, tolerances, agreement.

Published figures: Rudisile et al., BMC Cancer 2019;19:788 (``data/published_cohort.json``,
``demo.published()``). Each figure is computed here through the product's own path
(cohort / toxicity / response / survival). Tolerances are those of
``tests/unit/test_demo.py`` (0 = exact count); figures that test does not check are shown
but "not compared" — in particular the confidence intervals: the study's are SPSS
normal-approximation intervals (median ± 1.96 SE, clinical_reference.md §7), ours
Brookmeyer–Crowley-type (log-log) for the median and normal-approximation for the
restricted mean, so they are not expected to match.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from prrt_core.clinical import survival, toxicity

NOT_REACHED = "not reached"


class Agreement(StrEnum):
    YES = "yes"
    NO = "no"
    NOT_COMPARED = "not compared"


@dataclass(frozen=True)
class Figure:
    """One published figure: key into the computed values, label (unit in it), tolerance.

    tolerance: absolute, in the figure's unit; 0 = exact; None = shown, not compared.
    published: a number, a (low, high) interval or "not reached".
    """

    key: str
    label: str
    published: Any
    tolerance: float | None
    digits: int = 0
    note: str = ""


_CI_NOTE = ("CI methods differ: study SPSS median ± 1.96 SE; here Brookmeyer–Crowley-type "
            "(log-log bands)")
_MEAN_CI_NOTE = "no tolerance in tests/unit/test_demo.py (both normal approximations)"


def published_figures(pub: Mapping[str, Any]) -> tuple[Figure, ...]:
    """The comparable figures of the published aggregates, with the tests' tolerances."""
    act = pub["cumulative_activity_gbq_incl_salvage"]
    bor = pub["best_response_after_salvage_recist11"]
    pfs, os_ = pub["pfs_months"], pub["os_months"]
    figures = [
        Figure("patients", "Patients (n)", pub["patients"], 0),
        Figure("sex_M", "Sex, male (n)", pub["sex"]["M"], 0),
        Figure("sex_F", "Sex, female (n)", pub["sex"]["F"], 0),
        # tests/unit/test_demo.py: age mean and SD within 0.5 years.
        Figure("age_mean", "Age, mean (years)", pub["age_years"]["mean"], 0.5, 1),
        Figure("age_sd", "Age, SD (years)", pub["age_years"]["sd"], 0.5, 1),
    ]
    figures += [Figure(f"site_{site}", f"Primary site, {site} (n)", count, 0)
                for site, count in pub["primary_site"].items()]
    figures += [
        Figure("initial_cycles", "Initial PRRT cycles per patient (min–max)",
               pub["initial_prrt_cycles"], 0),
    ]
    if pub.get("initial_response_required"):
        figures.append(Figure("initial_disease_control",
                              "Disease control (CR/PR/SD) after initial PRRT (n)", pub["patients"], 0,
                              note="inclusion criterion of the study: every patient"))
    figures += [
        # tests/unit/test_demo.py: mean within 0.1 GBq, extremes within 0.01 GBq.
        Figure("activity_mean", "Cumulative activity, mean (GBq)", act["mean"], 0.1, 1),
        Figure("activity_min", "Cumulative activity, minimum (GBq)", act["min"], 0.01, 2),
        Figure("activity_max", "Cumulative activity, maximum (GBq)", act["max"], 0.01, 2),
        Figure("cycles_median", "PRRT cycles per patient, median (n)", pub["total_cycles"]["median"], 0, 1),
        # tests/unit/test_demo.py: 0.2 Gy (per-cycle doses are rounded to 0.01 Gy).
        Figure("kidney_dose_mean", "Cumulative kidney absorbed dose, mean (Gy)",
               pub["cumulative_kidney_dose_gy"]["mean"], 0.2, 1,
               note="patients with a kidney dose for every cycle"),
        Figure("grade3_haem", "Patients with CTCAE grade ≥ 3 haematological toxicity (n)",
               pub["toxicity"]["grade3_hematotoxicity_patients"], 0),
        Figure("grade3_renal", "Patients with CTCAE grade ≥ 3 nephrotoxicity (n)",
               pub["toxicity"]["grade3_4_nephrotoxicity_patients"], 0),
        Figure("bor_evaluable", "Best response after salvage: evaluable (n)", bor["evaluable"], 0,
               note="patients with follow-up imaging after salvage start"),
    ]
    figures += [Figure(f"bor_{k}", f"Best response after salvage: {k} (n)", bor[k], 0)
                for k in ("CR", "PR", "SD", "PD")]
    figures += [
        # tests/unit/test_demo.py: PFS medians within 1.0 and 0.5 months; censored exact.
        Figure("pfs_initial_median", "PFS after initial PRRT, median (months)",
               pfs["after_initial_prrt"]["median"], 1.0, 1),
        Figure("pfs_initial_median_ci", "PFS after initial PRRT, median 95 % CI (months)",
               tuple(pfs["after_initial_prrt"]["ci95"]), None, 1, _CI_NOTE),
        Figure("pfs_salvage_median", "PFS after salvage, median (months)",
               pfs["after_salvage"]["median"], 0.5, 1),
        Figure("pfs_salvage_median_ci", "PFS after salvage, median 95 % CI (months)",
               tuple(pfs["after_salvage"]["ci95"]), None, 1, _CI_NOTE),
        Figure("pfs_salvage_censored", "PFS after salvage, censored (n)",
               pfs["after_salvage"]["censored"], 0),
    ]
    for key, label in (("initial", "OS after initial PRRT"), ("salvage", "OS after salvage")):
        block = os_[f"after_{'initial_prrt' if key == 'initial' else 'salvage'}"]
        figures += [
            # tests/unit/test_demo.py: "mean OS" = restricted mean to the largest time, within 3 months.
            Figure(f"os_{key}_mean", f"{label}, mean (restricted mean, months)", block["mean"], 3.0, 1),
            Figure(f"os_{key}_mean_ci", f"{label}, mean 95 % CI (months)", tuple(block["ci95"]),
                   None, 1, _MEAN_CI_NOTE),
            Figure(f"os_{key}_median", f"{label}, median (months)", block["median"], 0),
        ]
    # tests/unit/test_demo.py checks the follow-up after initial PRRT only (6 months).
    figures += [
        Figure("follow_up_initial", "Follow-up after initial PRRT, median observed time (months)",
               os_["after_initial_prrt"]["follow_up"], 6.0, 1),
        Figure("follow_up_salvage", "Follow-up after salvage, median observed time (months)",
               os_["after_salvage"]["follow_up"], None, 1, "no tolerance in tests/unit/test_demo.py"),
    ]
    return tuple(figures)


def cohort_figures(attributes: pd.DataFrame, high_grade: pd.DataFrame,
                   initial_response: pd.DataFrame, salvage_response: pd.DataFrame,
                   endpoints: pd.DataFrame) -> dict[str, Any]:
    """The published figures computed on a cohort.

    Inputs: cohort.patient_attributes, cohort.high_grade_events,
    response.response_by_patient for 'initial' and 'salvage', survival.endpoints.
    """
    a = attributes
    values: dict[str, Any] = {
        "patients": len(a),
        "sex_M": int((a["sex"] == "M").sum()),
        "sex_F": int((a["sex"] == "F").sum()),
        "age_mean": _stat(a["age_years"], "mean"),
        "age_sd": _stat(a["age_years"], "std"),
        "initial_cycles": (_stat(a["n_initial_cycles"], "min"), _stat(a["n_initial_cycles"], "max")),
        "activity_mean": _stat(a["cumulative_activity_gbq"], "mean"),
        "activity_min": _stat(a["cumulative_activity_gbq"], "min"),
        "activity_max": _stat(a["cumulative_activity_gbq"], "max"),
        "cycles_median": _stat(a["n_cycles"], "median"),
        "kidney_dose_mean": _stat(a["cumulative_kidney_dose_gy"], "mean"),
    }
    for site, count in a["primary_site"].value_counts().items():
        values[f"site_{site}"] = int(count)
    group = high_grade["test"].map(lambda t: toxicity.TEST_GROUP[toxicity.LabTest(t)])
    values["grade3_haem"] = int(high_grade.loc[group == "haematological", "patient_id"].nunique())
    values["grade3_renal"] = int(high_grade.loc[group == "renal", "patient_id"].nunique())
    control = initial_response["best_overall_response"].isin(["CR", "PR", "SD"])
    values["initial_disease_control"] = int(control.sum())
    imaged = salvage_response.loc[salvage_response["has_follow_up_imaging"], "best_overall_response"]
    values["bor_evaluable"] = len(imaged)
    for k in ("CR", "PR", "SD", "PD"):
        values[f"bor_{k}"] = int((imaged == k).sum())
    for stem, key in (("pfs_initial", "pfs_initial"), ("pfs_salvage", "pfs_salvage"),
                      ("os_initial", "os_initial"), ("os_salvage", "os_salvage")):
        data = endpoints[[f"{stem}_months", f"{stem}_event"]].dropna()
        if data.empty:
            continue
        s = survival.km_summary(data[f"{stem}_months"], data[f"{stem}_event"])
        values[f"{key}_median"] = s["median"]
        values[f"{key}_median_ci"] = s["median_ci"]
        values[f"{key}_censored"] = s["censored"]
        values[f"{key}_mean"] = s["rmst"]
        values[f"{key}_mean_ci"] = s["rmst_ci"]
    values["follow_up_initial"] = _stat(endpoints["os_initial_months"], "median")
    values["follow_up_salvage"] = _stat(endpoints["os_salvage_months"], "median")
    return values


def _stat(values: pd.Series, how: str) -> float:
    v = values.dropna().astype(float)
    if v.empty or (how == "std" and len(v) < 2):
        return math.nan
    return float(getattr(v, how)())


def _agrees(published: Any, ours: Any, tolerance: float | None) -> Agreement:
    if tolerance is None:
        return Agreement.NOT_COMPARED
    if published == NOT_REACHED:
        return Agreement.YES if isinstance(ours, float) and math.isinf(ours) else Agreement.NO
    values = np.atleast_1d(np.asarray(ours, dtype=float))
    ok = np.isfinite(values).all() and bool(np.all(np.abs(values - float(published)) <= tolerance + 1e-9))
    return Agreement.YES if ok else Agreement.NO


def _text(value: Any, digits: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, tuple):
        if len(value) == 2 and value[0] == value[1]:
            return _text(value[0], digits)
        return " – ".join(_text(v, digits) for v in value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return NOT_REACHED
    return f"{float(value):.{digits}f}"


def compare(figures: tuple[Figure, ...], values: Mapping[str, Any]) -> pd.DataFrame:
    """Published beside computed, one row per figure.

    Columns: Figure, Published, This cohort, Tolerance, Agrees ('yes', 'no',
    'not compared'), Note. A figure the cohort lacks shows '—' and does not agree.
    """
    rows = []
    for f in figures:
        ours = values.get(f.key, math.nan)
        tolerance = ("—" if f.tolerance is None else "exact" if f.tolerance == 0
                     else f"± {f.tolerance:g}")
        rows.append({"Figure": f.label, "Published": _text(f.published, f.digits),
                     "This cohort": _text(ours, f.digits), "Tolerance": tolerance,
                     "Agrees": _agrees(f.published, ours, f.tolerance).value, "Note": f.note})
    return pd.DataFrame(rows, columns=["Figure", "Published", "This cohort", "Tolerance", "Agrees", "Note"])


def cohort_comparison(pub: Mapping[str, Any], attributes: pd.DataFrame, high_grade: pd.DataFrame,
                      initial_response: pd.DataFrame, salvage_response: pd.DataFrame,
                      endpoints: pd.DataFrame) -> pd.DataFrame:
    """compare() of the published aggregates ``pub`` with the same figures of a cohort.

    Inputs after ``pub`` as cohort_figures; the page passes every patient of the store.
    """
    return compare(published_figures(pub), cohort_figures(attributes, high_grade, initial_response,
                                                          salvage_response, endpoints))


def agreement(comparison: pd.DataFrame) -> tuple[int, int]:
    """(figures that agree, figures compared) of a compare() table."""
    compared = comparison["Agrees"] != Agreement.NOT_COMPARED.value
    return int((comparison["Agrees"] == Agreement.YES.value).sum()), int(compared.sum())
