"""The cohort at a glance: counts and means shown on the Home page."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


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
    kidney = dosimetry.loc[dosimetry["organ"] == "kidneys", ["cycle_id", "dose_gy"]]
    per_cycle = cycles[["cycle_id", "patient_id", "phase", "activity_gbq"]].merge(
        kidney, on="cycle_id", how="left")
    grouped = per_cycle.groupby("patient_id")
    out = pd.DataFrame({
        "n_cycles": grouped.size(),
        "n_salvage_cycles": grouped["phase"].apply(lambda p: int((p == "salvage").sum())),
        "cumulative_activity_gbq": grouped["activity_gbq"].sum(),
        "cumulative_kidney_dose_gy": grouped["dose_gy"].sum(min_count=1),
    })
    complete = grouped["dose_gy"].apply(lambda d: bool(d.notna().all()))
    out.loc[~complete, "cumulative_kidney_dose_gy"] = np.nan
    return out


def overview(patients: pd.DataFrame, cycles: pd.DataFrame,
             dosimetry: pd.DataFrame) -> CohortOverview:
    """Counts, median cycles per patient, mean cumulative activity and kidney dose."""
    per_patient = cumulative_per_patient(cycles, dosimetry)
    kidney = per_patient["cumulative_kidney_dose_gy"].dropna()
    return CohortOverview(
        n_patients=len(patients),
        n_cycles=len(cycles),
        n_salvage_patients=int((per_patient["n_salvage_cycles"] > 0).sum()),
        median_cycles_per_patient=float(per_patient["n_cycles"].median()) if len(per_patient) else np.nan,
        mean_cumulative_activity_gbq=float(per_patient["cumulative_activity_gbq"].mean()) if len(per_patient) else np.nan,
        mean_cumulative_kidney_dose_gy=float(kidney.mean()) if len(kidney) else np.nan,
        n_patients_with_complete_kidney_dosimetry=len(kidney),
    )
