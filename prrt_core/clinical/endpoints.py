"""PFS and OS endpoints from the store's tables: months from the start of initial PRRT and of
salvage to progression (RECIST PD or a recorded progression event), death, or last contact.

Months = days / 30.4375 (``clinical.dates.DAYS_PER_MONTH``).
"""
from __future__ import annotations

import logging

import pandas as pd

from prrt_core.clinical.dates import DAYS_PER_MONTH, require_columns, treatment_start_dates
from prrt_core.errors import InputError

logger = logging.getLogger(__name__)

EVENT_TYPES = ("progression", "death", "last_contact")

def _months(start: pd.Series, end: pd.Series) -> pd.Series:
    return (end - start).dt.days / DAYS_PER_MONTH


def endpoints(cycles: pd.DataFrame, events: pd.DataFrame,
              assessments: pd.DataFrame | None = None) -> pd.DataFrame:
    """PFS and OS after initial PRRT and after salvage start, one row per patient with cycles.

    Rules:
    - Starts: initial = first 'initial' cycle date; salvage = first 'salvage' cycle date.
    - PFS after initial PRRT: from the initial start to the first progression with
      phase 'initial' or death, whichever is first (event = 1). A patient who
      started salvage with no recorded initial progression is censored at the
      salvage start (salvage implies progression whose date is unknown; a later
      death must not count as an initial-PRRT PFS event); logged as a warning.
    - PFS after salvage: from the salvage start to the first progression with
      phase 'salvage' or death, whichever is first.
    - OS: from the same starts to death.
    - Otherwise censored (event = 0) at the last date the patient is known
      alive: the last_contact date, or the latest dated record among the given
      cycles, non-death events and assessments if that is later or
      last_contact is absent.
    - Months = days / DAYS_PER_MONTH (30.4375). Salvage columns are NaN for
      patients without salvage cycles, initial columns for patients without
      initial cycles.

    A death or a phase's progression dated before the start it is measured from
    raises InputError (contradictory record).

    Columns: patient_id, initial_start_date, salvage_start_date,
    last_known_alive_date, pfs_initial_months, pfs_initial_event,
    pfs_salvage_months, pfs_salvage_event, os_initial_months, os_initial_event,
    os_salvage_months, os_salvage_event (events as 1.0 / 0.0 / NaN).
    """
    starts = treatment_start_dates(cycles)
    require_columns(events, "events", ("patient_id", "event_date", "event_type", "phase"))
    bad = ~events["event_type"].isin(EVENT_TYPES)
    if bad.any():
        raise InputError(f"events.event_type must be one of {EVENT_TYPES}; "
                         f"got {sorted(map(str, events.loc[bad, 'event_type'].unique()))}")
    events = events.assign(event_date=pd.to_datetime(events["event_date"]))
    if events["event_date"].isna().any():
        raise InputError("events.event_date has missing dates")
    cycles = cycles.assign(cycle_date=pd.to_datetime(cycles["cycle_date"]))
    ids = starts.index

    def first(mask: pd.Series) -> pd.Series:
        return events.loc[mask].groupby("patient_id")["event_date"].min().reindex(ids)

    kind = events["event_type"]
    death = first(kind == "death")
    prog_initial = first((kind == "progression") & (events["phase"] == "initial"))
    prog_salvage = first((kind == "progression") & (events["phase"] == "salvage"))
    last_contact = events.loc[kind == "last_contact"].groupby("patient_id")["event_date"].max().reindex(ids)

    alive_events = events.loc[kind != "death", ["patient_id", "event_date"]]
    records = [cycles[["patient_id", "cycle_date"]].set_axis(["patient_id", "date"], axis=1),
               alive_events.set_axis(["patient_id", "date"], axis=1)]
    if assessments is not None:
        require_columns(assessments, "assessments", ("patient_id", "assessment_date"))
        records.append(pd.DataFrame({"patient_id": assessments["patient_id"],
                                     "date": pd.to_datetime(assessments["assessment_date"])}))
    latest = pd.concat(records).groupby("patient_id")["date"].max().reindex(ids)
    last_alive = pd.concat([last_contact, latest], axis=1).max(axis=1)

    init, salv = starts["initial_start_date"], starts["salvage_start_date"]
    for name, date, start in (("death", death, init), ("death", death, salv),
                              ("initial progression", prog_initial, init),
                              ("salvage progression", prog_salvage, salv)):
        wrong = date < start
        if wrong.any():
            raise InputError(f"events: {name} dated before the start it is measured from for "
                             f"patient(s) {sorted(wrong[wrong].index.astype(str))[:10]}")
    late = prog_initial >= salv
    if late.any():
        logger.warning("endpoints: initial-phase progression on/after salvage start for %s",
                       sorted(late[late].index.astype(str))[:10])

    out = pd.DataFrame(index=ids)
    out["initial_start_date"] = init
    out["salvage_start_date"] = salv
    out["last_known_alive_date"] = last_alive

    def endpoint(start: pd.Series, end_event: pd.Series, censor: pd.Series) -> tuple[pd.Series, pd.Series]:
        has_event = end_event.notna()
        end = end_event.where(has_event, censor)
        months = _months(start, end).where(start.notna())
        event = has_event.astype(float).where(start.notna())
        return months, event

    pfs_i_end = pd.concat([prog_initial, death], axis=1).min(axis=1)
    unknown_progression = salv.notna() & prog_initial.isna()
    if unknown_progression.any():
        logger.warning("endpoints: %d salvage patient(s) without an initial-phase progression; "
                       "PFS after initial PRRT censored at salvage start", int(unknown_progression.sum()))
    pfs_i_end = pfs_i_end.where(~unknown_progression)
    pfs_i_censor = last_alive.where(~unknown_progression, salv)
    out["pfs_initial_months"], out["pfs_initial_event"] = endpoint(init, pfs_i_end, pfs_i_censor)
    pfs_s_end = pd.concat([prog_salvage, death], axis=1).min(axis=1)
    out["pfs_salvage_months"], out["pfs_salvage_event"] = endpoint(salv, pfs_s_end, last_alive)
    out["os_initial_months"], out["os_initial_event"] = endpoint(init, death, last_alive)
    out["os_salvage_months"], out["os_salvage_event"] = endpoint(salv, death, last_alive)
    out.index.name = "patient_id"
    return out.reset_index()
