"""Per-patient figures of the whole store, computed once and then restricted by the filter.

``patient_attributes``: demographics, cycles, cumulative activity, kidney dose and BED
against their limits, eGFR change (what the filter and Table 1 need);
``toxicity_per_patient`` / ``high_grade_events``: CTCAE v5.0 worst grades and grade >= 3
values on treatment (``prrt_core.clinical.toxicity``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prrt_core import dosimetry, projection
from prrt_core.clinical import toxicity
from prrt_core.clinical.dates import DAYS_PER_YEAR, require_columns
from prrt_core.tables import Tables


def patient_attributes(tables: Tables) -> pd.DataFrame:
    """One row per patient of ``tables.patients``: what the filter and Table 1 need.

    Columns: patient_id, sex, age_years, primary_site, renal_risk (hypertension,
    diabetes or another recorded renal risk factor), first_cycle_date,
    salvage_start_date, n_cycles, n_initial_cycles, n_salvage_cycles,
    cumulative_activity_gbq, cumulative_kidney_dose_gy and cumulative_kidney_bed_gy
    (NaN unless every cycle has a kidney dose), n_cycles_t_eff_imputed,
    t_eff_fallback_h, bed_limit_gy, over_dose_limit, over_bed_limit (boolean, <NA>
    when the dose or BED is unknown), egfr_first/egfr_last_ml_min_173m2,
    egfr_change_ml_min_173m2 (last minus first recorded eGFR), egfr_years
    (between them) and egfr_change_pct_per_year.

    BED per cycle: dosimetry.bed with the cycle's measured kidney T_eff; where it is
    missing, the median of all measured kidney T_eff of ``tables`` (the loaded
    cohort), stored in t_eff_fallback_h (NaN if no cycle has one: BED unknown).
    Limits: 23 Gy absorbed dose; BED 28 Gy with, 40 Gy without renal risk factors
    (dosimetry.DOSE_LIMIT_GY, BED_LIMIT_GY_RISK / _NO_RISK, with their sources).
    """
    patients, cycles, labs = tables.patients, tables.cycles, tables.labs
    require_columns(patients, "patients", ("patient_id", "sex", "age_at_first_prrt_years",
                                           "primary_site", "hypertension", "diabetes",
                                           "other_renal_risk"))
    history, risk = projection.inputs_from_tables(tables)
    ids = pd.Index(patients["patient_id"], name="patient_id")
    out = pd.DataFrame({
        "sex": patients["sex"].to_numpy(),
        "age_years": patients["age_at_first_prrt_years"].to_numpy(dtype=float),
        "primary_site": patients["primary_site"].to_numpy(),
        "renal_risk": risk["renal_risk"].to_numpy(dtype=bool),
    }, index=ids)

    salvage = cycles["phase"] == "salvage"
    by_patient = cycles.assign(salvage=salvage, initial=cycles["phase"] == "initial",
                               salvage_date=cycles["cycle_date"].where(salvage)).groupby("patient_id")
    per = by_patient.agg(first_cycle_date=("cycle_date", "min"), salvage_start_date=("salvage_date", "min"),
                         n_initial_cycles=("initial", "sum"), n_salvage_cycles=("salvage", "sum"),
                         cumulative_activity_gbq=("activity_gbq", "sum")).reindex(ids)
    out["first_cycle_date"] = per["first_cycle_date"]
    out["salvage_start_date"] = per["salvage_start_date"]
    out["n_initial_cycles"] = per["n_initial_cycles"].fillna(0).astype(int)
    out["n_salvage_cycles"] = per["n_salvage_cycles"].fillna(0).astype(int)
    out["n_cycles"] = out["n_initial_cycles"] + out["n_salvage_cycles"]
    out["cumulative_activity_gbq"] = per["cumulative_activity_gbq"].fillna(0.0)

    dose = history["kidney_dose_gy"].to_numpy(dtype=float)
    t_eff = history["kidney_t_eff_h"].to_numpy(dtype=float)
    measured = np.isfinite(t_eff) & np.isfinite(dose)
    fallback = float(np.median(t_eff[measured])) if measured.any() else math.nan
    imputed = np.isfinite(dose) & ~np.isfinite(t_eff)
    bed_gy = dosimetry.bed(dose, np.where(imputed, fallback, t_eff))
    per_cycle = pd.DataFrame({"patient_id": history["patient_id"], "dose": dose, "bed": bed_gy,
                              "incomplete": ~np.isfinite(dose), "bed_unknown": ~np.isfinite(bed_gy),
                              "imputed": imputed})
    grouped = per_cycle.groupby("patient_id")
    incomplete = grouped["incomplete"].any().reindex(ids, fill_value=True)
    bed_unknown = grouped["bed_unknown"].any().reindex(ids, fill_value=True)
    out["cumulative_kidney_dose_gy"] = grouped["dose"].sum().reindex(ids).where(~incomplete)
    out["cumulative_kidney_bed_gy"] = grouped["bed"].sum().reindex(ids).where(~bed_unknown)
    out["n_cycles_t_eff_imputed"] = grouped["imputed"].sum().reindex(ids, fill_value=0).astype(int)
    out["t_eff_fallback_h"] = fallback
    out["bed_limit_gy"] = np.where(out["renal_risk"], dosimetry.BED_LIMIT_GY_RISK,
                                   dosimetry.BED_LIMIT_GY_NO_RISK)
    out["over_dose_limit"] = _over(out["cumulative_kidney_dose_gy"], dosimetry.DOSE_LIMIT_GY)
    out["over_bed_limit"] = _over(out["cumulative_kidney_bed_gy"], out["bed_limit_gy"])
    out = out.join(_egfr_change(labs), how="left")
    return out.reset_index()


def _over(value: pd.Series, limit) -> pd.Series:
    return pd.Series(pd.array(value > limit, dtype="boolean"), index=value.index).where(value.notna())


def _egfr_change(labs: pd.DataFrame) -> pd.DataFrame:
    """First and last recorded eGFR per patient, their difference and the change in %/year."""
    egfr = labs.loc[labs["egfr_ml_min_173m2"].notna(), ["patient_id", "lab_date", "egfr_ml_min_173m2"]]
    egfr = egfr.sort_values(["patient_id", "lab_date"], kind="stable")
    grouped = egfr.groupby("patient_id")
    first, last = grouped.first(), grouped.last()
    years = (last["lab_date"] - first["lab_date"]).dt.days / DAYS_PER_YEAR
    change = last["egfr_ml_min_173m2"] - first["egfr_ml_min_173m2"]
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = (100.0 * change / first["egfr_ml_min_173m2"] / years).where(
            (years > 0) & (first["egfr_ml_min_173m2"] > 0))
    return pd.DataFrame({"egfr_first_ml_min_173m2": first["egfr_ml_min_173m2"],
                         "egfr_last_ml_min_173m2": last["egfr_ml_min_173m2"],
                         "egfr_change_ml_min_173m2": change.where(years > 0),
                         "egfr_years": years, "egfr_change_pct_per_year": pct})


@dataclass(frozen=True)
class ToxicityPerPatient:
    """Worst CTCAE grade per patient, test and treatment phase, and every grade >= 3 value."""

    worst_grades: pd.DataFrame   # toxicity.worst_grades with cycles, treatment phases only
    high_grade: pd.DataFrame     # toxicity.high_grade_events(min_grade=3), treatment phases


def _graded(tables: Tables, limits: toxicity.ReferenceLimits) -> pd.DataFrame:
    return toxicity.grade_labs(tables.labs, tables.patients, tables.cycles, limits)


def high_grade_events(tables: Tables,
                      limits: toxicity.ReferenceLimits = toxicity.DEFAULT_REFERENCE_LIMITS) -> pd.DataFrame:
    """Every lab value of CTCAE v5.0 grade >= 3 on treatment (toxicity.high_grade_events).

    The part of toxicity_per_patient that the published comparison needs, without the
    per-patient worst-grade table (about a third of the work for a large cohort).
    """
    return toxicity.high_grade_events(_graded(tables, limits), min_grade=3)


def toxicity_per_patient(tables: Tables,
                         limits: toxicity.ReferenceLimits = toxicity.DEFAULT_REFERENCE_LIMITS
                         ) -> ToxicityPerPatient:
    """CTCAE v5.0 grades of every lab value, reduced to worst grades and grade >= 3 events.

    Phases: before salvage (after the first initial cycle, before salvage start)
    and after salvage start; pre-treatment baseline values are not toxicity.
    ``limits``: reference limits where the lab reports none (toxicity.ReferenceLimits).
    """
    graded = _graded(tables, limits)
    needed = graded[["patient_id", "test", "phase", "value", "grade"]]
    worst = toxicity.worst_grades(needed, tables.cycles)
    worst = worst[worst["phase"].isin([p.value for p in toxicity.TREATMENT_PHASES])]
    return ToxicityPerPatient(worst.reset_index(drop=True),
                              toxicity.high_grade_events(graded, min_grade=3))
