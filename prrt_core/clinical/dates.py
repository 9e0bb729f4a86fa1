"""Treatment timeline conventions shared by the clinical modules: phases, starts, years, months."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from prrt_core.errors import InputError

DAYS_PER_YEAR = 365.25  # Julian year, the project's year for rates per year
# Months between dates = days / 30.4375: a twelfth of the Julian year, 365.25 d / 12 (the
# convention of R lubridate and SAS); the project's single definition of a month.
DAYS_PER_MONTH = DAYS_PER_YEAR / 12

PHASES = ("initial", "salvage")


def require_columns(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    """Raise InputError naming the table and the missing columns."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{name} lacks column(s) {missing}; has {list(frame.columns)}")


def treatment_start_dates(cycles: pd.DataFrame) -> pd.DataFrame:
    """First cycle date of each phase per patient.

    Index patient_id; columns initial_start_date, salvage_start_date (NaT if none).
    """
    require_columns(cycles, "cycles", ("patient_id", "phase", "cycle_date"))
    bad = ~cycles["phase"].isin(PHASES)
    if bad.any():
        got = sorted(map(str, cycles.loc[bad, "phase"].unique()))
        raise InputError(f"cycles.phase must be one of {PHASES}; got {got}")
    dates = pd.to_datetime(cycles["cycle_date"])
    if dates.isna().any():
        raise InputError("cycles.cycle_date has missing dates")
    first = (dates.groupby([cycles["patient_id"], cycles["phase"]]).min()
             .unstack("phase").reindex(columns=list(PHASES)))
    first.columns = [f"{phase}_start_date" for phase in PHASES]
    first.columns.name = None
    return first.astype("datetime64[ns]")

