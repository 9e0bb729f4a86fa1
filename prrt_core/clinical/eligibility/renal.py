"""Renal function as NETTER-1 judged it: creatinine clearance in mL/min, absolute.

Cockcroft-Gault when creatinine, age, sex and weight are known; otherwise the latest eGFR
de-indexed by body surface area (Mosteller) when weight and height are known; otherwise unknown
(an eGFR per 1.73 m2 is not an absolute clearance), the value showing the indexed eGFR. The method
used, the eGFR equation and that weight and height are the record's (undated) are shown with the value.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from prrt_core.clinical.eligibility.config import RenalRule
from prrt_core.clinical.eligibility.items import Item, Status, age_days, day, latest
from prrt_core.clinical.eligibility.numbers import beside_limit

# Cockcroft & Gault, Nephron 1976;16:31-41: CrCl [mL/min] = (140 - age [y]) x weight [kg]
# / (72 x serum creatinine [mg/dL]), x 0.85 for women.
CG_AGE_OFFSET_YEARS = 140.0
CG_DIVISOR = 72.0
CG_FEMALE_FACTOR = 0.85
# Mosteller, NEJM 1987;317:1098: BSA [m2] = sqrt(height [cm] x weight [kg] / 3600).
MOSTELLER_DIVISOR = 3600.0
# eGFR equations (MDRD, CKD-EPI) report mL/min per 1.73 m2, the reference body surface area
# (Levey et al., Ann Intern Med 2009;150:604); de-indexed eGFR = eGFR x BSA / 1.73.
REFERENCE_BSA_M2 = 1.73
DAYS_PER_YEAR = 365.25  # Julian year, for age from dates
RECORD_BODY_SIZE = "patient record, undated"  # weight and height are not dated in the record


def cockcroft_gault_ml_min(age_years, weight_kg, creatinine_mg_dl, female):
    """Creatinine clearance, mL/min (absolute), by Cockcroft-Gault; broadcasts over arrays."""
    age, weight = np.asarray(age_years, dtype=float), np.asarray(weight_kg, dtype=float)
    creatinine = np.asarray(creatinine_mg_dl, dtype=float)
    factor = np.where(np.asarray(female, dtype=bool), CG_FEMALE_FACTOR, 1.0)
    return (CG_AGE_OFFSET_YEARS - age) * weight / (CG_DIVISOR * creatinine) * factor


def bsa_mosteller_m2(height_cm, weight_kg):
    """Body surface area, m2, by Mosteller; broadcasts."""
    return np.sqrt(np.asarray(height_cm, dtype=float) * np.asarray(weight_kg, dtype=float) / MOSTELLER_DIVISOR)


def deindexed_egfr_ml_min(egfr_ml_min_173m2, bsa_m2):
    """eGFR in mL/min from mL/min/1.73 m2: eGFR x BSA / 1.73; broadcasts."""
    return np.asarray(egfr_ml_min_173m2, dtype=float) * np.asarray(bsa_m2, dtype=float) / REFERENCE_BSA_M2


def _known(value) -> bool:
    return value is not None and not pd.isna(value)


def age_at(patient: pd.Series, cycles: pd.DataFrame, now: pd.Timestamp) -> float:
    """Age in years at ``now``: age at first PRRT plus the years since the first cycle (NaN when unknown)."""
    age0 = patient.get("age_at_first_prrt_years")
    if not _known(age0) or cycles.empty:
        return math.nan
    return float(age0) + (now - cycles["cycle_date"].min()).days / DAYS_PER_YEAR


def renal_item(rule: RenalRule, patient: pd.Series, labs: pd.DataFrame, cycles: pd.DataFrame,
               now: pd.Timestamp, max_age_days: int) -> Item:
    """The renal-function criterion of one patient at ``now`` (labs and cycles already cut at ``now``).

    Cockcroft-Gault, else the eGFR de-indexed by BSA, else unknown: an eGFR per 1.73 m2 is never
    compared with the absolute threshold. Weight and height are the patient record's (undated).
    The reasons of an unknown say what each route lacks."""
    label, limit = "Renal function", rule.min_ml_min
    threshold = f">= {limit:g} mL/min (creatinine clearance, absolute)"

    def item(status: Status, value: str, reason: str) -> Item:
        return Item("renal_function", label, status, value, threshold, rule.severity, rule.source, reason)

    def lab(column: str, name: str) -> tuple[float, pd.Timestamp | None, str | None]:
        """The latest value within the age limit, or NaN, None and why there is none."""
        value, when = latest(labs, "lab_date", column)
        if when is None:
            return math.nan, None, f"no {name} recorded"
        if age_days(now, when) > max_age_days:
            return math.nan, None, f"{name} {age_days(now, when)} days old (limit {max_age_days} days)"
        return value, when, None

    weight, height = patient.get("weight_kg"), patient.get("height_cm")
    female = patient.get("sex") == "F"
    age = age_at(patient, cycles, now)
    creatinine, c_when, c_missing = lab("creatinine_mg_dl", "creatinine")
    egfr, e_when, e_missing = lab("egfr_ml_min_173m2", "eGFR")
    no_weight = None if _known(weight) else "weight not recorded"
    no_height = None if _known(height) else "height not recorded"
    cg_missing = [m for m in (c_missing, no_weight, None if math.isfinite(age) else "age not recorded") if m]
    if not cg_missing:
        crcl = float(cockcroft_gault_ml_min(age, weight, creatinine, female))
        value = (f"CrCl {beside_limit(crcl, limit)} mL/min (Cockcroft-Gault: creatinine {creatinine:g} mg/dL "
                 f"on {day(c_when)}, weight {float(weight):g} kg ({RECORD_BODY_SIZE}), age {age:.1f} years, "
                 f"{'female' if female else 'male'})")
        return _judged(item, crcl, limit, value, "creatinine clearance")
    no_cg = f"Cockcroft-Gault not possible: {', '.join(cg_missing)}"
    if (c_missing, e_missing) == ("no creatinine recorded", "no eGFR recorded"):
        return item(Status.UNKNOWN, "not recorded", f"{label}: no creatinine or eGFR recorded")
    if e_when is None:
        return item(Status.UNKNOWN, f"{e_missing}; {no_cg}", f"{label}: {no_cg}; {e_missing}")
    equation = _equation(labs, e_when)
    de_index_missing = [m for m in (no_weight, no_height) if m]
    if not de_index_missing:
        bsa = float(bsa_mosteller_m2(height, weight))
        clearance = float(deindexed_egfr_ml_min(egfr, bsa))
        value = (f"eGFR de-indexed {beside_limit(clearance, limit)} mL/min = {egfr:g} mL/min/1.73 m2{equation} "
                 f"x BSA {bsa:.2f} m2 (Mosteller: {float(height):g} cm, {float(weight):g} kg, {RECORD_BODY_SIZE}) "
                 f"/ 1.73, on {day(e_when)}; {no_cg}")
        return _judged(item, clearance, limit, value, "de-indexed eGFR")
    value = (f"eGFR {egfr:g} mL/min/1.73 m2{equation} on {day(e_when)}, indexed: weight and height needed to "
             f"de-index ({', '.join(de_index_missing)}); {no_cg}")
    return item(Status.UNKNOWN, value, f"{label}: {no_cg}; the eGFR per 1.73 m2 cannot be de-indexed "
                                       f"({', '.join(de_index_missing)})")


def _equation(labs: pd.DataFrame, when: pd.Timestamp) -> str:
    if "egfr_equation" not in labs.columns:
        return ""
    names = labs.loc[(labs["lab_date"] == when) & labs["egfr_ml_min_173m2"].notna(), "egfr_equation"].dropna()
    return f" ({names.iat[-1]})" if len(names) else " (equation not recorded)"


def _judged(item, value: float, limit: float, shown: str, method: str) -> Item:
    ok = value >= limit
    reason = f"Renal function ({method}) {beside_limit(value, limit)} mL/min {'meets' if ok else 'is below'} {limit:g}"
    return item(Status.PASS if ok else Status.FAIL, shown, reason)
