"""Laboratory toxicity of a cohort: CTCAE v5.0 grades of the lab table by treatment phase.

``grade_labs`` grades every value of the store's lab table (``prrt_core.clinical.ctcae``
with the reference limits by sex) and places it in a phase relative to the treatment
starts; ``worst_grades``, ``grade_counts`` and ``high_grade_events`` reduce the grades.
The CTCAE names (LabTest, ctcae_grade, ReferenceLimits, ...) are re-exported here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from enum import StrEnum

import numpy as np
import pandas as pd

from prrt_core.clinical.ctcae import (
    CREATININE_G2_BASELINE_MULTIPLE,
    CREATININE_G2_ULN_MULTIPLE,
    CREATININE_G3_BASELINE_MULTIPLE,
    CREATININE_G3_ULN_MULTIPLE,
    CREATININE_G4_ULN_MULTIPLE,
    CTCAE_TERM,
    DEFAULT_REFERENCE_LIMITS,
    HAEMATOLOGICAL,
    LOW_CUTOFFS,
    RENAL,
    TEST_GROUP,
    TEST_UNIT,
    LabTest,
    LowCutoffs,
    ReferenceLimits,
    ctcae_grade,
    reference_limits,
)
from prrt_core.clinical.dates import require_columns, treatment_start_dates
from prrt_core.errors import InputError

__all__ = [
    # CTCAE v5.0 grading (prrt_core.clinical.ctcae)
    "CREATININE_G2_BASELINE_MULTIPLE", "CREATININE_G2_ULN_MULTIPLE", "CREATININE_G3_BASELINE_MULTIPLE",
    "CREATININE_G3_ULN_MULTIPLE", "CREATININE_G4_ULN_MULTIPLE", "CTCAE_TERM", "DEFAULT_REFERENCE_LIMITS",
    "HAEMATOLOGICAL", "LOW_CUTOFFS", "RENAL", "TEST_GROUP", "TEST_UNIT", "LabTest", "LowCutoffs", "ReferenceLimits",
    "ctcae_grade", "reference_limits",
    # the cohort's lab table
    "GRADE_LABELS", "LAB_COLUMN_TESTS", "TREATMENT_PHASES", "ToxicityPhase",
    "grade_counts", "grade_labs", "high_grade_events", "phase_patients", "worst_grades",
]

logger = logging.getLogger(__name__)


class ToxicityPhase(StrEnum):
    """Period a lab value belongs to, relative to the patient's treatment starts."""

    BASELINE = "baseline"              # on/before the first initial cycle: pre-treatment
    BEFORE_SALVAGE = "before_salvage"  # after the first initial cycle, before salvage start
    AFTER_SALVAGE = "after_salvage"    # on/after salvage start


TREATMENT_PHASES = (ToxicityPhase.BEFORE_SALVAGE, ToxicityPhase.AFTER_SALVAGE)

# Store lab columns (units in the name) and the test each one is graded as.
LAB_COLUMN_TESTS = {
    "hb_g_dl": LabTest.HEMOGLOBIN,
    "plt_10e9_l": LabTest.PLATELETS,
    "wbc_10e9_l": LabTest.WBC,
    "neut_10e9_l": LabTest.NEUTROPHILS,
    "lymph_10e9_l": LabTest.LYMPHOCYTES,
    "creatinine_mg_dl": LabTest.CREATININE,
    "egfr_ml_min_173m2": LabTest.EGFR,
}


def _creatinine_baseline(labs: pd.DataFrame, starts: pd.Series, *, inclusive: bool) -> pd.Series:
    """Last non-missing creatinine on/before (inclusive) or before each patient's start date."""
    usable = labs["creatinine_mg_dl"].notna() & labs["lab_date"].notna()
    creat = (labs.loc[usable, ["patient_id", "lab_date", "creatinine_mg_dl"]]
             .sort_values("lab_date", kind="stable"))
    ref = starts.dropna().rename("ref_date").reset_index().sort_values("ref_date", kind="stable")
    if ref.empty or creat.empty:
        return pd.Series(np.nan, index=starts.index, dtype=float)
    merged = pd.merge_asof(ref, creat, left_on="ref_date", right_on="lab_date", by="patient_id",
                           direction="backward", allow_exact_matches=inclusive)
    return merged.set_index("patient_id")["creatinine_mg_dl"].reindex(starts.index)


def grade_labs(labs: pd.DataFrame, patients: pd.DataFrame, cycles: pd.DataFrame,
               limits: ReferenceLimits = DEFAULT_REFERENCE_LIMITS) -> pd.DataFrame:
    """CTCAE grade of every lab value, one row per lab row and test (long format).

    Phase: 'baseline' = on/before the first initial cycle (pre-treatment, not
    toxicity); 'before_salvage' = after it and before salvage start;
    'after_salvage' = on/after salvage start; None when the patient has no cycle
    to place it. Creatinine baseline: the last creatinine on/before the first
    initial cycle for 'before_salvage' labs, the last creatinine before salvage
    start for 'after_salvage' labs, none for 'baseline' labs (x ULN rule only).
    Limits: ``limits`` by the patient's sex (sex unknown -> Hb/creatinine limits NaN).

    Columns: lab_id, patient_id, lab_date, phase, test, group, lab_column,
    value, unit, lln, uln, baseline_value, grade.
    """
    require_columns(labs, "labs", ("patient_id", "lab_date"))
    require_columns(patients, "patients", ("patient_id", "sex"))
    columns = [c for c in LAB_COLUMN_TESTS if c in labs.columns]
    if not columns:
        raise InputError(f"labs has none of the graded columns {list(LAB_COLUMN_TESTS)}")
    starts = treatment_start_dates(cycles)
    sex = patients.drop_duplicates("patient_id").set_index("patient_id")["sex"]

    base = pd.DataFrame({
        # lab_id is optional (tables not yet stored have none): <NA> then.
        "lab_id": (labs["lab_id"].to_numpy() if "lab_id" in labs.columns
                   else pd.array([pd.NA] * len(labs), dtype="Int64")),
        "patient_id": labs["patient_id"].to_numpy(),
        "lab_date": pd.to_datetime(labs["lab_date"]).to_numpy(),
    })
    initial = base["patient_id"].map(starts["initial_start_date"])
    salvage = base["patient_id"].map(starts["salvage_start_date"])
    after = base["lab_date"] >= salvage
    phase = np.select(
        [base["lab_date"] <= initial, after, base["lab_date"] > initial],
        [ToxicityPhase.BASELINE.value, ToxicityPhase.AFTER_SALVAGE.value,
         ToxicityPhase.BEFORE_SALVAGE.value],
        None,
    )
    base["phase"] = phase
    unplaced = pd.isna(phase)
    if unplaced.any():
        logger.warning("grade_labs: %d lab row(s) of %d patient(s) cannot be placed in a phase "
                       "(no initial cycle or no date)", int(unplaced.sum()),
                       base.loc[unplaced, "patient_id"].nunique())

    creat_baseline = np.full(len(base), np.nan)
    if "creatinine_mg_dl" in labs.columns:
        b_initial = _creatinine_baseline(labs, starts["initial_start_date"], inclusive=True)
        b_salvage = _creatinine_baseline(labs, starts["salvage_start_date"], inclusive=False)
        creat_baseline = np.select(
            [phase == ToxicityPhase.BEFORE_SALVAGE.value, phase == ToxicityPhase.AFTER_SALVAGE.value],
            [base["patient_id"].map(b_initial).to_numpy(dtype=float),
             base["patient_id"].map(b_salvage).to_numpy(dtype=float)],
            np.nan,
        )
    patient_sex = base["patient_id"].map(sex).to_numpy(dtype=object)

    parts = []
    for column in columns:
        test = LAB_COLUMN_TESTS[column]
        part = base.copy()
        part["test"] = test.value
        part["group"] = TEST_GROUP[test]
        part["lab_column"] = column
        part["value"] = labs[column].to_numpy(dtype=float)
        part["unit"] = TEST_UNIT[test]
        lln, uln = limits.limits(test, patient_sex)
        part["lln"], part["uln"] = lln, uln
        if test is LabTest.CREATININE:
            part["baseline_value"] = creat_baseline
            part["grade"] = ctcae_grade(test, part["value"], uln=uln, baseline=creat_baseline)
        else:
            part["baseline_value"] = np.nan
            part["grade"] = ctcae_grade(test, part["value"], lln=lln)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def phase_patients(cycles: pd.DataFrame) -> dict[str, list[str]]:
    """Patients treated in each toxicity phase: initial-cycle patients for 'baseline'
    and 'before_salvage', salvage-cycle patients for 'after_salvage'."""
    starts = treatment_start_dates(cycles)
    initial = starts.index[starts["initial_start_date"].notna()].tolist()
    salvage = starts.index[starts["salvage_start_date"].notna()].tolist()
    return {ToxicityPhase.BASELINE.value: initial, ToxicityPhase.BEFORE_SALVAGE.value: initial,
            ToxicityPhase.AFTER_SALVAGE.value: salvage}


def worst_grades(graded: pd.DataFrame, cycles: pd.DataFrame | None = None) -> pd.DataFrame:
    """Worst (highest) grade per patient, test and phase from grade_labs output.

    NaN when the patient has no gradable value in that phase. With ``cycles``
    the table lists, for each phase, every patient treated in it
    (phase_patients) and every test, NaN where there are no labs, so that
    grade_counts uses treated patients as the denominator; rows of other
    patients are dropped. Rows without a phase are left out.

    Columns: patient_id, test, group, phase, worst_grade, n_values, n_graded.
    """
    require_columns(graded, "graded", ("patient_id", "test", "phase", "value", "grade"))
    rows = graded[graded["phase"].notna()]
    agg = (rows.groupby(["patient_id", "test", "phase"])
           .agg(worst_grade=("grade", "max"), n_values=("value", "count"), n_graded=("grade", "count")))
    if cycles is not None:
        tests = list(dict.fromkeys(graded["test"])) or [t.value for t in LabTest]
        names = ["patient_id", "test", "phase"]
        grid = pd.concat(
            [pd.MultiIndex.from_product([ids, tests, [phase]], names=names).to_frame(index=False)
             for phase, ids in phase_patients(cycles).items()], ignore_index=True)
        agg = agg.reindex(pd.MultiIndex.from_frame(grid))
        agg[["n_values", "n_graded"]] = agg[["n_values", "n_graded"]].fillna(0)
    out = agg.reset_index()
    out["n_values"] = out["n_values"].astype(int)
    out["n_graded"] = out["n_graded"].astype(int)
    out.insert(2, "group", out["test"].map({t.value: g for t, g in TEST_GROUP.items()}))
    phase_rank = out["phase"].map({p.value: i for i, p in enumerate(ToxicityPhase)})
    order = np.lexsort((phase_rank.to_numpy(), out["test"].to_numpy(), out["patient_id"].to_numpy()))
    return out.iloc[order].reset_index(drop=True)


GRADE_LABELS = ("0", "1", "2", "3", "4", "unknown")


def grade_counts(worst: pd.DataFrame) -> pd.DataFrame:
    """Number and percentage of patients per worst grade, by test and phase.

    ``worst`` is worst_grades output (pass cycles there so treated patients
    without labs count as 'unknown'). pct is of all patients in the table for that test
    and phase; pct_of_graded of those with a known grade (NaN for 'unknown').

    Columns: test, group, phase, grade ('0'-'4', 'unknown'), n_patients,
    n_total, pct, pct_of_graded.
    """
    require_columns(worst, "worst", ("patient_id", "test", "phase", "worst_grade"))
    columns = ["test", "group", "phase", "grade", "n_patients", "n_total", "pct", "pct_of_graded"]
    if worst.empty:
        return pd.DataFrame(columns=columns)
    grade = worst["worst_grade"].to_numpy(dtype=float)
    label = pd.Series(np.where(np.isnan(grade), "unknown",
                               np.nan_to_num(grade).astype(int).astype(str)), index=worst.index)
    counts = (pd.crosstab([worst["test"], worst["phase"]], label)
              .reindex(columns=list(GRADE_LABELS), fill_value=0))
    counts.columns.name = "grade"
    long = counts.stack().rename("n_patients").reset_index()
    test_rank = long["test"].map({t.value: i for i, t in enumerate(LabTest)})
    phase_rank = long["phase"].map({p.value: i for i, p in enumerate(ToxicityPhase)})
    grade_rank = long["grade"].map({g: i for i, g in enumerate(GRADE_LABELS)})
    long = long.iloc[np.lexsort((grade_rank, phase_rank, test_rank))].reset_index(drop=True)
    totals = long.groupby(["test", "phase"])["n_patients"].transform("sum")
    graded_totals = (long["n_patients"].where(long["grade"] != "unknown", 0)
                     .groupby([long["test"], long["phase"]]).transform("sum"))
    long["n_total"] = totals
    long["pct"] = 100.0 * long["n_patients"] / totals
    long["pct_of_graded"] = np.where(
        (long["grade"] != "unknown") & (graded_totals > 0),
        100.0 * long["n_patients"] / graded_totals.where(graded_totals > 0), np.nan)
    long.insert(1, "group", long["test"].map({t.value: g for t, g in TEST_GROUP.items()}))
    return long[columns]


def high_grade_events(graded: pd.DataFrame, *, min_grade: int = 3,
                      phases: Sequence[str] = TREATMENT_PHASES) -> pd.DataFrame:
    """Lab values with grade >= min_grade (default 3) in the given phases (default: on treatment).

    Columns: patient_id, test, phase, grade, value, unit, lab_date, lab_id;
    sorted by patient, date and test.
    """
    columns = ["patient_id", "test", "phase", "grade", "value", "unit", "lab_date", "lab_id"]
    require_columns(graded, "graded", columns)
    if min_grade not in (1, 2, 3, 4):
        raise InputError(f"min_grade must be 1, 2, 3 or 4; got {min_grade!r}")
    phases = [ToxicityPhase(p).value for p in phases]
    rows = graded[(graded["grade"] >= min_grade) & graded["phase"].isin(phases)]
    return (rows[columns]
            .sort_values(["patient_id", "lab_date", "test"], kind="stable").reset_index(drop=True))
