"""Projection inputs from the store's tables: the cycle history with kidney dosimetry, and renal risk."""
from __future__ import annotations

import pandas as pd

from prrt_core.tables import Tables


def kidney_per_cycle(cycles: pd.DataFrame, dosimetry_rows: pd.DataFrame) -> pd.DataFrame:
    """``cycles`` (row order kept) with kidney_dose_gy (Gy) and kidney_t_eff_h (h) added.

    From the cycle's 'kidneys' dosimetry row (the first, if several labels exist);
    NaN where the cycle has none.
    """
    kidney = (dosimetry_rows.loc[dosimetry_rows["organ"] == "kidneys", ["cycle_id", "dose_gy", "t_eff_h"]]
              .drop_duplicates("cycle_id").set_index("cycle_id"))
    out = cycles.copy()
    out["kidney_dose_gy"] = out["cycle_id"].map(kidney["dose_gy"]).astype(float)
    out["kidney_t_eff_h"] = out["cycle_id"].map(kidney["t_eff_h"]).astype(float)
    return out


def inputs_from_tables(tables: Tables) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``history`` and ``patients`` for :func:`project` from the store's tables.

    history: one row per cycle (patient_id, cycle_id, cycle_date, activity_gbq,
    kidney_dose_gy and kidney_t_eff_h from the 'kidneys' dosimetry row, NaN when
    the cycle has none). patients: patient_id and renal_risk (hypertension,
    diabetes or another recorded renal risk factor).
    """
    patients = tables.patients
    history = (kidney_per_cycle(tables.cycles[["patient_id", "cycle_id", "cycle_date", "activity_gbq"]],
                                tables.dosimetry)
               .sort_values(["patient_id", "cycle_date"], kind="stable").reset_index(drop=True))
    other = patients["other_renal_risk"].fillna("").astype(str).str.strip() != ""
    risk = patients["hypertension"].astype(bool) | patients["diabetes"].astype(bool) | other
    return history, pd.DataFrame({"patient_id": patients["patient_id"], "renal_risk": risk.to_numpy()})
