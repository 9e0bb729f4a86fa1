"""Renal function as NETTER-1 judged it: creatinine clearance in mL/min, absolute.

Cockcroft-Gault when creatinine, age, sex and weight are known; otherwise the latest eGFR
de-indexed by body surface area (Mosteller) when weight and height are known; otherwise the
indexed eGFR as is, saying so. The method used and the eGFR equation are shown with the value.
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
    """The renal-function criterion of one patient at ``now`` (labs and cycles already cut at ``now``)."""
    label, limit = "Renal function", rule.min_ml_min
    threshold = f">= {limit:g} mL/min (creatinine clearance, absolute)"

    def item(status: Status, value: str, reason: str, threshold_: str = threshold) -> Item:
        return Item("renal_function", label, status, value, threshold_, rule.severity, rule.source, reason)

    def fresh(column: str) -> tuple[float, pd.Timestamp | None]:
        value, when = latest(labs, "lab_date", column)
        return (value, when) if when is not None and age_days(now, when) <= max_age_days else (math.nan, None)

    weight, height = patient.get("weight_kg"), patient.get("height_cm")
    female = patient.get("sex") == "F"
    age = age_at(patient, cycles, now)
    creatinine, c_when = fresh("creatinine_mg_dl")
    egfr, e_when = fresh("egfr_ml_min_173m2")
    missing = [name for name, ok in (("creatinine", c_when is not None), ("weight", _known(weight)),
                                     ("age", math.isfinite(age))) if not ok]
    if not missing:
        crcl = float(cockcroft_gault_ml_min(age, weight, creatinine, female))
        value = (f"CrCl {beside_limit(crcl, limit)} mL/min (Cockcroft-Gault: creatinine {creatinine:g} mg/dL "
                 f"on {day(c_when)}, {float(weight):g} kg, age {age:.1f} years, {'female' if female else 'male'})")
        return _judged(item, crcl, limit, value, "creatinine clearance")
    if e_when is None:
        old = [f"{name} {age_days(now, when)} days old" for name, (_, when) in
               (("creatinine", latest(labs, "lab_date", "creatinine_mg_dl")),
                ("eGFR", latest(labs, "lab_date", "egfr_ml_min_173m2"))) if when is not None]
        why = f"latest {', '.join(old)} (limit {max_age_days} days)" if old else "no creatinine or eGFR recorded"
        return item(Status.UNKNOWN, "not recorded", f"{label}: {why}")
    equation = _equation(labs, e_when)
    no_cg = f"Cockcroft-Gault not possible: {', '.join(missing)} not recorded"
    if _known(weight) and _known(height):
        bsa = float(bsa_mosteller_m2(height, weight))
        clearance = float(deindexed_egfr_ml_min(egfr, bsa))
        value = (f"eGFR de-indexed {beside_limit(clearance, limit)} mL/min = {egfr:g} mL/min/1.73 m2{equation} "
                 f"x BSA {bsa:.2f} m2 (Mosteller) / 1.73, on {day(e_when)}; {no_cg}")
        return _judged(item, clearance, limit, value, "de-indexed eGFR")
    value = (f"eGFR {beside_limit(egfr, limit)} mL/min/1.73 m2{equation} on {day(e_when)}, indexed, used as is "
             f"(weight or height not recorded; {no_cg})")
    return _judged(item, egfr, limit, value, "indexed eGFR",
                   f">= {limit:g} mL/min (indexed eGFR in mL/min/1.73 m2 compared as is)")


def _equation(labs: pd.DataFrame, when: pd.Timestamp) -> str:
    if "egfr_equation" not in labs.columns:
        return ""
    names = labs.loc[(labs["lab_date"] == when) & labs["egfr_ml_min_173m2"].notna(), "egfr_equation"].dropna()
    return f" ({names.iat[-1]})" if len(names) else " (equation not recorded)"


def _judged(item, value: float, limit: float, shown: str, method: str, threshold: str | None = None) -> Item:
    ok = value >= limit
    reason = f"Renal function ({method}) {beside_limit(value, limit)} mL/min {'meets' if ok else 'is below'} {limit:g}"
    status = Status.PASS if ok else Status.FAIL
    return item(status, shown, reason) if threshold is None else item(status, shown, reason, threshold)
