"""Headline figures of the loaded cohort (the Home page): counts, cycles, activity, kidney dose."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from prrt_core import projection


@dataclass(frozen=True)
class CohortOverview:
    """Headline figures of the loaded cohort (units in the names)."""

    n_patients: int
    n_cycles: int
    n_salvage_patients: int
    median_cycles_per_patient: float
    mean_cumulative_activity_gbq: float
    mean_cumulative_kidney_dose_gy: float
    n_patients_with_complete_kidney_dosimetry: int


def cumulative_per_patient(cycles: pd.DataFrame, dosimetry: pd.DataFrame) -> pd.DataFrame:
    """Per patient: cycles, cumulative activity (GBq) and cumulative kidney dose (Gy).

    ``cumulative_kidney_dose_gy`` is NaN unless every cycle of the patient has a
    kidney dose: a partial sum would understate the dose.
    """
    per_cycle = (projection.kidney_per_cycle(cycles[["cycle_id", "patient_id", "phase", "activity_gbq"]],
                                             dosimetry)
                 .rename(columns={"kidney_dose_gy": "dose_gy"}))
    per_cycle["salvage"] = (per_cycle["phase"] == "salvage").astype(int)
    per_cycle["missing_dose"] = per_cycle["dose_gy"].isna()
    grouped = per_cycle.groupby("patient_id")
    out = pd.DataFrame({
        "n_cycles": grouped.size(),
        "n_salvage_cycles": grouped["salvage"].sum(),
        "cumulative_activity_gbq": grouped["activity_gbq"].sum(),
        "cumulative_kidney_dose_gy": grouped["dose_gy"].sum(min_count=1),
    })
    out.loc[grouped["missing_dose"].any(), "cumulative_kidney_dose_gy"] = np.nan
    return out


def overview(patients: pd.DataFrame, cycles: pd.DataFrame,
             dosimetry: pd.DataFrame) -> CohortOverview:
    """Counts, median cycles per patient, mean cumulative activity and kidney dose."""
    per_patient = cumulative_per_patient(cycles, dosimetry)
    kidney = per_patient["cumulative_kidney_dose_gy"].dropna()
    any_cycles = len(per_patient) > 0
    return CohortOverview(
        n_patients=len(patients),
        n_cycles=len(cycles),
        n_salvage_patients=int((per_patient["n_salvage_cycles"] > 0).sum()),
        median_cycles_per_patient=float(per_patient["n_cycles"].median()) if any_cycles else np.nan,
        mean_cumulative_activity_gbq=float(per_patient["cumulative_activity_gbq"].mean()) if any_cycles else np.nan,
        mean_cumulative_kidney_dose_gy=float(kidney.mean()) if len(kidney) else np.nan,
        n_patients_with_complete_kidney_dosimetry=len(kidney),
    )
