"""The evaluated checklist of one patient at an evaluation date, and its verdict.

Precedence (``data/eligibility.toml`` sets which criterion is which): a known fail of an
"exclude" criterion -> not eligible; else an unknown criterion listed in ``blocking_unknowns``,
or nothing recorded by the date -> cannot assess; else any fail, or an unknown not listed in
``checked_when_recorded`` -> caution; else eligible. A patient who died on or before the
evaluation date gets no verdict (``verdict`` None, ``deceased_on`` set) and no projection.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from prrt_core import projection
from prrt_core.clinical.eligibility import criteria
from prrt_core.clinical.eligibility.config import Config
from prrt_core.clinical.eligibility.items import ITEM_COLUMNS, Severity, Status, Verdict, frame
from prrt_core.clinical.eligibility.kidney import LimitPolicy, kidney_items, policy
from prrt_core.clinical.eligibility.renal import renal_item
from prrt_core.errors import InputError
from prrt_core.projection.settings import KidneyModelSettings
from prrt_core.tables import DATE_COLUMN, Tables


@dataclass(frozen=True)
class Checklist:
    """The evaluated checklist of one patient.

    ``items`` columns: criterion, status (pass|fail|unknown), value, threshold, severity,
    source, reason, key (the criterion's section in the config). ``reasons``: the items that
    shape the verdict. ``policy``: the kidney limits in force. ``verdict`` is None only for a
    patient who died on or before ``as_of`` (``deceased_on``); ``items`` is then empty.
    """

    patient_id: str
    as_of: dt.date
    verdict: Verdict | None
    reasons: tuple[str, ...]
    items: pd.DataFrame
    policy: LimitPolicy
    deceased_on: dt.date | None = None

    @property
    def verdict_text(self) -> str:
        """'eligible', 'cannot assess', ... or 'no verdict (died on 2025-05-23)'."""
        if self.verdict is None:
            return f"no verdict (died on {self.deceased_on.isoformat()})"
        return self.verdict.value


def death_date(tables: Tables, patient_id: str, as_of: dt.date) -> dt.date | None:
    """The patient's recorded death on or before ``as_of`` (None when alive then, or not recorded)."""
    ev = tables.events
    died = ev.loc[(ev["patient_id"] == patient_id) & (ev["event_type"] == "death")
                  & (ev["event_date"] <= pd.Timestamp(as_of)), "event_date"]
    return None if died.empty else died.min().date()


def _nothing_recorded(t: Tables) -> bool:
    return all(getattr(t, name).empty for name in DATE_COLUMN if name != "board_decisions")


def decide(items: pd.DataFrame, config: Config) -> tuple[Verdict, tuple[str, ...]]:
    """The verdict of evaluated items and the reasons that shape it (see the module's precedence)."""
    status, key = items["status"], items["key"]
    failed, unknown = status == Status.FAIL.value, status == Status.UNKNOWN.value
    excluding = failed & (items["severity"] == Severity.EXCLUDE.value)
    if excluding.any():
        return Verdict.NOT_ELIGIBLE, tuple(items.loc[excluding, "reason"])
    blocking = unknown & key.isin(config.blocking_unknowns)
    if blocking.any():
        return Verdict.CANNOT_ASSESS, tuple(items.loc[blocking, "reason"])
    optional = unknown & key.isin(config.checked_when_recorded)
    doubtful = failed | (unknown & ~optional)
    if doubtful.any():
        return Verdict.CAUTION, tuple(items.loc[doubtful, "reason"])
    reasons = ("All criteria met",)
    if optional.any():
        reasons += ("Not recorded, checked only when recorded: " + ", ".join(items.loc[optional, "criterion"]),)
    return Verdict.ELIGIBLE, reasons


def evaluate(patient_id: str, tables: Tables, projection_row: pd.Series | None, *, as_of: dt.date,
             settings: KidneyModelSettings, config: Config, projection_note: str | None = None) -> Checklist:
    """Evaluate the salvage checklist for one patient at the date ``as_of``.

    ``tables``: the store's clinical tables (``Store.read_all()``); rows after ``as_of`` are
    ignored. ``projection_row``: this patient's row of ``projection.project`` for the planned
    further cycles from the history known on ``as_of`` (see :func:`assess`); None = no
    projection, the kidney criteria are then unknown (``projection_note`` says why).
    ``settings``: the kidney model the projection used (limits, tolerance).
    """
    if not isinstance(settings, KidneyModelSettings):
        raise InputError(f"settings must be a KidneyModelSettings, got {type(settings).__name__}")
    in_force = policy(config, settings)
    own = tables.for_patient(patient_id)
    died = death_date(own, patient_id, as_of)
    if died is not None:
        return Checklist(patient_id, as_of, None, (f"{patient_id} died on {died.isoformat()}: no verdict and no "
                                                   "projection, only the history",),
                         pd.DataFrame(columns=list(ITEM_COLUMNS)), in_force, died)
    t, now = own.as_of(as_of), pd.Timestamp(as_of)
    patient = t.patients.iloc[0]
    labs = criteria.lab_items(t.labs, now, config)
    items = [*criteria.response_items(t, now, config), criteria.sstr_item(t, now, config),
             criteria.grade_item(patient, config.tumour_grade),
             criteria.finding_item("fdg_mismatch", "FDG-positive SSTR-negative disease",
                                   ("FDG-positive SSTR-negative disease",), t.findings, now, config.fdg_mismatch,
                                   config.pet_max_age_days),
             *labs[:4], renal_item(config.renal_function, patient, t.labs, t.cycles, now, config.lab_max_age_days),
             *labs[4:], criteria.performance_item(t, now, config),
             criteria.pregnancy_item(patient, t.findings, now, config.pregnancy),
             criteria.finding_item("urinary", "Urinary obstruction / incontinence",
                                   ("urinary obstruction", "urinary incontinence"), t.findings, now, config.urinary),
             criteria.interval_item(t.cycles, now, config.interval),
             criteria.ssa_item(t.ssa_administrations, now, config.ssa_washout),
             *kidney_items(projection_row, settings, config, projection_note)]
    table = frame(items)
    if _nothing_recorded(t):
        unknown = int((table["status"] == Status.UNKNOWN).sum())
        verdict, reasons = Verdict.CANNOT_ASSESS, (f"Nothing recorded for {patient_id} by {as_of.isoformat()}: "
                                                   f"{unknown} of {len(items)} criteria unknown",)
    else:
        verdict, reasons = decide(table, config)
    return Checklist(patient_id, as_of, verdict, reasons, table, in_force)


def assess(tables: Tables, patient_id: str, *, as_of: dt.date, n_cycles: int,
           activity_gbq: float, config: Config, settings: KidneyModelSettings
           ) -> tuple[Checklist, pd.Series | None]:
    """Checklist and kidney projection for one patient as known on ``as_of``.

    The tables are cut at ``as_of`` (``Tables.as_of``) before anything is computed, so the
    projection uses only the cycles given by then. Returns the checklist and the patient's
    ``projection.project`` row (None when no projection could be made, the reason then in the
    kidney criteria; None too for a patient who died on or before ``as_of``).
    """
    known = tables.as_of(as_of)
    row, note = None, None
    if death_date(known, patient_id, as_of) is None:
        history, patients = projection.inputs_from_tables(known)
        if not (history["patient_id"] == patient_id).any():
            note = "no cycle recorded by the evaluation date"
        else:
            try:
                row = projection.project(history, n_cycles, activity_gbq, patients=patients,
                                         patient_ids=[patient_id], settings=settings).iloc[0]
            except InputError as exc:  # e.g. too little dosimetry in the cohort to fit the model
                note = str(exc)
    checklist = evaluate(patient_id, known, row, as_of=as_of, settings=settings, config=config,
                         projection_note=note)
    return checklist, row
