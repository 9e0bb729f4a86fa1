"""Display tables of the cohort page: worst CTCAE grades, grade >= 3 values, best response.

Counts with percentages rounded half up to one decimal, as published (``round_half_up``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from prrt_core.clinical import toxicity
from prrt_core.clinical.response import RESPONSES

PHASE_LABEL = {toxicity.ToxicityPhase.BEFORE_SALVAGE.value: "Before salvage (initial PRRT)",
               toxicity.ToxicityPhase.AFTER_SALVAGE.value: "After salvage start"}


def lab_test_label(test: str) -> str:
    """'Anemia (hemoglobin, g/dL)': CTCAE term, test and unit."""
    t = toxicity.LabTest(test)
    return f"{toxicity.CTCAE_TERM[t]} ({t.value}, {toxicity.TEST_UNIT[t]})"


def round_half_up(value, digits: int = 1):
    """Round halves away from zero, as publications do (26/32 = 81.25 % -> 81.3 %, not 81.2 %).

    A small relative nudge absorbs binary representation error (0.15 is 0.1499...).
    """
    x = np.asarray(value, dtype=float)
    scale = 10.0 ** digits
    out = np.sign(x) * np.floor(np.abs(x) * scale * (1 + 1e-12) + 0.5) / scale
    return float(out) if out.ndim == 0 else out


def _n_pct(n: pd.Series, total: pd.Series) -> pd.Series:
    pct = 100.0 * n / total.where(total > 0)
    return n.astype(int).astype(str) + pct.map(
        lambda p: "" if math.isnan(p) else f" ({round_half_up(p):.1f} %)")


def toxicity_table(worst_grades: pd.DataFrame) -> pd.DataFrame:
    """Patients per worst CTCAE grade, n (%), one row per lab test and treatment phase.

    ``worst_grades`` from toxicity_per_patient; the denominator is every patient
    treated in the phase (toxicity.grade_counts), 'unknown' = no gradable value.
    """
    counts = toxicity.grade_counts(worst_grades)
    if counts.empty:
        return pd.DataFrame(columns=["Lab test (CTCAE v5.0 term, unit)", "Phase", "Patients (n)"])
    counts["cell"] = _n_pct(counts["n_patients"], counts["n_total"])
    wide = counts.pivot_table(index=["test", "phase"], columns="grade", values="cell",
                              aggfunc="first", sort=False)
    wide = wide.reindex(columns=list(toxicity.GRADE_LABELS))
    wide.columns = [f"Grade {g}, n (%)" if g != "unknown" else "Unknown, n (%)" for g in wide.columns]
    totals = counts.groupby(["test", "phase"], sort=False)["n_total"].first()
    out = wide.reset_index()
    out.insert(2, "Patients (n)", totals.to_numpy())
    out["test"] = out["test"].map(lab_test_label)
    out["phase"] = out["phase"].map(PHASE_LABEL)
    return out.rename(columns={"test": "Lab test (CTCAE v5.0 term, unit)", "phase": "Phase"})


def high_grade_table(high_grade: pd.DataFrame) -> pd.DataFrame:
    """Every lab value of CTCAE grade >= 3 on treatment, by patient id and date."""
    return pd.DataFrame({
        "Patient": high_grade["patient_id"].to_numpy(),
        "Lab test (CTCAE v5.0 term, unit)": high_grade["test"].map(lab_test_label).to_numpy(),
        "Phase": high_grade["phase"].map(PHASE_LABEL).to_numpy(),
        "CTCAE grade": high_grade["grade"].astype(int).to_numpy(),
        "Value (unit as in the test column)": high_grade["value"].to_numpy(),
        "Date": high_grade["lab_date"].dt.date.to_numpy(),
    })


def response_table(responses: pd.DataFrame) -> pd.DataFrame:
    """Best overall response (RECIST 1.1) among patients with follow-up imaging, n and %.

    Percentages are rounded half up to one decimal, as published.

    ``responses`` is response.response_by_patient output; patients without
    follow-up imaging are not evaluable and not in the denominator.
    """
    imaged = responses.loc[responses["has_follow_up_imaging"], "best_overall_response"]
    counts = imaged.value_counts().reindex(list(RESPONSES), fill_value=0)
    n = len(imaged)
    return pd.DataFrame({
        "Best overall response": list(RESPONSES),
        "Patients (n)": counts.to_numpy(dtype=int),
        "% of evaluable": [round_half_up(100.0 * c / n) if n else math.nan for c in counts],
    })
