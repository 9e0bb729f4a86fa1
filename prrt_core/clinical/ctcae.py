"""CTCAE v5.0 grade of a laboratory value: blood counts and renal function.

Grading follows NCI CTCAE v5.0 (27 Nov 2017) as encoded in the pharmaverse
``admiral`` grading metadata (data-raw/adlb_grading/ncictcaev5.json) and its
semantics (R/derive_var_atoxgr.R):
- grade 0 only when it can be derived; NaN when the value, or a limit the
  grade needs, is missing (e.g. Hb >= 10.0 g/dL without an LLN: grade 0 or 1
  is unknown). Grades 2-4 of the blood counts use absolute cut-offs and need
  no LLN;
- anaemia from the lab value alone stops at grade 3 (grade 4 is clinical);
- creatinine: v5.0 dropped v4's ">1-1.5 x baseline" grade 1; grades 2 and 3
  keep both the x ULN and x baseline criteria and the worse applies when a
  baseline is given; grade 4 needs the ULN;
- comparisons use values and limits rounded to 12 significant digits (as
  admiral's ``signif``), so 1.8 mg/dL with ULN 1.2 is exactly 1.5 x ULN.

Chronic kidney disease (eGFR, mL/min/1.73 m^2) is graded from the CTCAE v5.0
document (not in admiral's v5 metadata): grade 1 <LLN-60, 2 59-30, 3 29-15,
4 <15; proteinuria criteria are not used here. A single eGFR value is graded
as if it were sustained.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from prrt_core.errors import InputError


class LabTest(StrEnum):
    """Laboratory tests graded here (value = the plain name accepted by ctcae_grade)."""

    HEMOGLOBIN = "hemoglobin"
    PLATELETS = "platelets"
    WBC = "wbc"
    NEUTROPHILS = "neutrophils"
    LYMPHOCYTES = "lymphocytes"
    CREATININE = "creatinine"
    EGFR = "egfr"


HAEMATOLOGICAL = (LabTest.HEMOGLOBIN, LabTest.PLATELETS, LabTest.WBC,
                  LabTest.NEUTROPHILS, LabTest.LYMPHOCYTES)
RENAL = (LabTest.CREATININE, LabTest.EGFR)
TEST_GROUP = {**{t: "haematological" for t in HAEMATOLOGICAL}, **{t: "renal" for t in RENAL}}

TEST_UNIT = {
    LabTest.HEMOGLOBIN: "g/dL",
    LabTest.PLATELETS: "10^9/L",
    LabTest.WBC: "10^9/L",
    LabTest.NEUTROPHILS: "10^9/L",
    LabTest.LYMPHOCYTES: "10^9/L",
    LabTest.CREATININE: "mg/dL",
    LabTest.EGFR: "mL/min/1.73 m^2",
}

CTCAE_TERM = {
    LabTest.HEMOGLOBIN: "Anemia",
    LabTest.PLATELETS: "Platelet count decreased",
    LabTest.WBC: "White blood cell decreased",
    LabTest.NEUTROPHILS: "Neutrophil count decreased",
    LabTest.LYMPHOCYTES: "Lymphocyte count decreased",
    LabTest.CREATININE: "Creatinine increased",
    LabTest.EGFR: "Chronic kidney disease",
}


@dataclass(frozen=True)
class LowCutoffs:
    """Grade g applies when value < below_g (grade 1: value < LLN); None = no lab-only grade."""

    below_2: float
    below_3: float
    below_4: float | None


# CTCAE v5.0 absolute cut-offs, in the units of TEST_UNIT (admiral ncictcaev5.json;
# CKD from the CTCAE v5.0 document, Renal and urinary disorders).
LOW_CUTOFFS = {
    LabTest.HEMOGLOBIN: LowCutoffs(10.0, 8.0, None),   # Anemia: <10.0, <8.0 g/dL; G4 clinical only
    LabTest.PLATELETS: LowCutoffs(75.0, 50.0, 25.0),   # Platelet count decreased, 10^9/L
    LabTest.WBC: LowCutoffs(3.0, 2.0, 1.0),            # White blood cell decreased, 10^9/L
    LabTest.NEUTROPHILS: LowCutoffs(1.5, 1.0, 0.5),    # Neutrophil count decreased, 10^9/L
    LabTest.LYMPHOCYTES: LowCutoffs(0.8, 0.5, 0.2),    # Lymphocyte count decreased, 10^9/L
    LabTest.EGFR: LowCutoffs(60.0, 30.0, 15.0),        # CKD: 59-30, 29-15, <15 mL/min/1.73 m^2
}

# Creatinine increased (CTCAE v5.0): G1 >ULN-1.5xULN; G2 >1.5-3.0xbaseline or
# >1.5-3.0xULN; G3 >3.0xbaseline or >3.0-6.0xULN; G4 >6.0xULN.
CREATININE_G2_ULN_MULTIPLE = 1.5
CREATININE_G3_ULN_MULTIPLE = 3.0
CREATININE_G4_ULN_MULTIPLE = 6.0
CREATININE_G2_BASELINE_MULTIPLE = 1.5
CREATININE_G3_BASELINE_MULTIPLE = 3.0

_SIGNIF_DIGITS = 12


@dataclass(frozen=True)
class ReferenceLimits:
    """Adult reference limits used when the lab reports none (override per site).

    Sources:
    - Hb LLN 13.0 g/dL men, 12.0 g/dL women: WHO, Haemoglobin concentrations for
      the diagnosis of anaemia and assessment of severity, WHO/NMH/NHD/MNM/11.1
      (2011); the same as Dacie and Lewis Practical Haematology 12th ed. (2017)
      adult ranges 130-170 / 120-150 g/L.
    - Platelets LLN 150, WBC 4.0, neutrophils 2.0, lymphocytes 1.0 x 10^9/L:
      Dacie and Lewis Practical Haematology 12th ed. (2017) adult ranges
      150-410, 4.0-10.0, 2.0-7.0, 1.0-3.0 x 10^9/L.
    - Creatinine ULN 1.18 mg/dL (104 umol/L) men, 1.02 mg/dL (90 umol/L) women:
      IFCC C-RIDL, Ceriotti et al., Clin Chem 2008;54:559-566 (IDMS-traceable
      enzymatic assays, white adults).
    - eGFR LLN 90 mL/min/1.73 m^2: KDIGO 2012 CKD guideline (Kidney Int Suppl
      2013;3:1-150), category G1 "normal or high" >= 90.
    """

    hb_lln_g_dl_male: float = 13.0
    hb_lln_g_dl_female: float = 12.0
    plt_lln_10e9_l: float = 150.0
    wbc_lln_10e9_l: float = 4.0
    neut_lln_10e9_l: float = 2.0
    lymph_lln_10e9_l: float = 1.0
    creatinine_uln_mg_dl_male: float = 1.18
    creatinine_uln_mg_dl_female: float = 1.02
    egfr_lln_ml_min_173m2: float = 90.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
                raise InputError(f"ReferenceLimits.{f.name} must be a positive number; got {value!r}")

    def limits(self, test: LabTest | str, sex: Any) -> tuple[np.ndarray, np.ndarray]:
        """(lln, uln) arrays shaped like ``sex`` ('M'/'F'); NaN where not used or sex unknown."""
        test = _as_test(test)
        sex_arr = _sex_array(sex)
        nan = np.full(sex_arr.shape, np.nan)
        male, female = sex_arr == "M", sex_arr == "F"

        def by_sex(m: float, f: float) -> np.ndarray:
            return np.select([male, female], [m, f], np.nan)

        if test is LabTest.HEMOGLOBIN:
            return by_sex(self.hb_lln_g_dl_male, self.hb_lln_g_dl_female), nan
        if test is LabTest.CREATININE:
            return nan, by_sex(self.creatinine_uln_mg_dl_male, self.creatinine_uln_mg_dl_female)
        single = {
            LabTest.PLATELETS: self.plt_lln_10e9_l,
            LabTest.WBC: self.wbc_lln_10e9_l,
            LabTest.NEUTROPHILS: self.neut_lln_10e9_l,
            LabTest.LYMPHOCYTES: self.lymph_lln_10e9_l,
            LabTest.EGFR: self.egfr_lln_ml_min_173m2,
        }[test]
        return np.full(sex_arr.shape, single), nan


DEFAULT_REFERENCE_LIMITS = ReferenceLimits()


def reference_limits(test: LabTest | str, sex: Any,
                     limits: ReferenceLimits = DEFAULT_REFERENCE_LIMITS) -> tuple[np.ndarray, np.ndarray]:
    """(lln, uln) for each sex ('M'/'F'; None/NaN = unknown -> NaN for sex-specific limits)."""
    return limits.limits(test, sex)


# --------------------------------------------------------------------------
# grading
# --------------------------------------------------------------------------

def _as_test(test: LabTest | str) -> LabTest:
    try:
        return LabTest(str(test).strip().lower())
    except ValueError:
        raise InputError(f"test must be one of {[t.value for t in LabTest]}; got {test!r}") from None


def _sex_array(sex: Any) -> np.ndarray:
    """'M', 'F' or '' (unknown), shaped like ``sex``; normalised once per distinct value."""
    values = np.atleast_1d(np.asarray(sex, dtype=object)).ravel()
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    distinct = pd.Series(np.asarray(uniques, dtype=object), dtype=object)
    norm = distinct.where(distinct.isna(), distinct.astype(str).str.strip().str.upper())
    bad = norm.notna() & ~norm.isin(["M", "F"])
    if bad.any():
        raise InputError(f"sex must be 'M', 'F' or missing; got {sorted(set(norm[bad]))}")
    return norm.where(norm.notna(), "").to_numpy(dtype=object)[codes].reshape(np.shape(sex))


def _as_float(name: str, x: Any, *, positive: bool) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numeric; got {x!r}") from exc
    bad = (arr <= 0) if positive else (arr < 0)
    if np.any(bad):
        rule = "> 0" if positive else ">= 0"
        raise InputError(f"{name} must be {rule} (NaN = missing); got {arr[bad].ravel()[:5].tolist()}")
    return arr


def _signif(x: np.ndarray) -> np.ndarray:
    """Round to _SIGNIF_DIGITS significant digits (admiral's signif before comparing)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.floor(np.log10(np.abs(x)))
    magnitude = np.where(np.isfinite(magnitude), magnitude, 0.0)
    scale = 10.0 ** (_SIGNIF_DIGITS - 1 - magnitude)
    return np.round(x * scale) / scale


def _grade_low(v: np.ndarray, lln: np.ndarray, cut: LowCutoffs) -> np.ndarray:
    below_4 = -np.inf if cut.below_4 is None else cut.below_4
    v_r, lln_r = _signif(v), _signif(lln)
    grade = np.select(
        [np.isnan(v), v_r < below_4, v_r < cut.below_3, v_r < cut.below_2, np.isnan(lln), v_r < lln_r],
        [np.nan, 4.0, 3.0, 2.0, np.nan, 1.0],
        0.0,
    )
    return grade


def _grade_creatinine(v: np.ndarray, uln: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    v_r = _signif(v)
    has_uln, has_base = ~np.isnan(uln), ~np.isnan(baseline)

    def above_uln(multiple: float) -> np.ndarray:
        return has_uln & (v_r > _signif(multiple * uln))

    def above_base(multiple: float) -> np.ndarray:
        return has_base & (v_r > _signif(multiple * baseline))

    return np.select(
        [np.isnan(v),
         above_uln(CREATININE_G4_ULN_MULTIPLE),
         above_uln(CREATININE_G3_ULN_MULTIPLE) | above_base(CREATININE_G3_BASELINE_MULTIPLE),
         above_uln(CREATININE_G2_ULN_MULTIPLE) | above_base(CREATININE_G2_BASELINE_MULTIPLE),
         ~has_uln,
         above_uln(1.0)],
        [np.nan, 4.0, 3.0, 2.0, np.nan, 1.0],
        0.0,
    )


def ctcae_grade(test: LabTest | str, values: Any, *, lln: Any = None, uln: Any = None,
                baseline: Any = None) -> np.ndarray:
    """CTCAE v5.0 grade (0-4 as float, NaN = cannot be derived) for lab values.

    ``values`` in the units of TEST_UNIT; ``lln`` (low-side tests), ``uln`` and
    ``baseline`` (creatinine only) are scalars or arrays broadcastable to values,
    NaN/None = unknown. See the module docstring for the rules and sources.
    """
    test = _as_test(test)
    v = _as_float("values", values, positive=False)
    if test is LabTest.CREATININE:
        if lln is not None:
            raise InputError("lln is not used for creatinine (graded against uln and baseline)")
        uln_a = _as_float("uln", np.nan if uln is None else uln, positive=True)
        base_a = _as_float("baseline", np.nan if baseline is None else baseline, positive=True)
        v, uln_a, base_a = np.broadcast_arrays(v, uln_a, base_a)
        return _grade_creatinine(v, uln_a, base_a)
    if uln is not None:
        raise InputError(f"uln is not used for {test.value} (a low-side test graded against lln)")
    if baseline is not None:
        raise InputError(f"baseline is not used for {test.value}: CTCAE v5.0 grades it on absolute cut-offs")
    lln_a = _as_float("lln", np.nan if lln is None else lln, positive=True)
    v, lln_a = np.broadcast_arrays(v, lln_a)
    return _grade_low(v, lln_a, LOW_CUTOFFS[test])
