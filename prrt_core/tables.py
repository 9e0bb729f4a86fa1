"""The clinical record as one typed value: the ten tables of a store, or of some of its patients
or dates. The store returns it (``Store.read_all``); every domain function takes it.

``Tables`` is the one way to restrict the record: ``for_patients(ids)`` keeps those patients'
rows (dosimetry through its cycles), ``as_of(date)`` keeps what was recorded by a date
(dosimetry with its cycle). Column names carry their units (see ``prrt_core.store.schema``).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar

import pandas as pd

from prrt_core.errors import InputError

# Clinical tables in dependency order (a parent before its children).
TABLE_NAMES = ("patients", "cycles", "dosimetry", "labs", "assessments", "events", "performance_status",
               "ssa_administrations", "findings", "board_decisions")
# The column that dates a row of each dated table ("what was known on a date").
DATE_COLUMN = {"cycles": "cycle_date", "labs": "lab_date", "assessments": "assessment_date",
               "events": "event_date", "performance_status": "status_date",
               "ssa_administrations": "administration_date", "findings": "finding_date",
               "board_decisions": "board_date"}


@dataclass(frozen=True, eq=False)
class Tables:
    """The clinical tables (pandas DataFrames as ``Store.read`` returns them)."""

    patients: pd.DataFrame
    cycles: pd.DataFrame
    dosimetry: pd.DataFrame
    labs: pd.DataFrame
    assessments: pd.DataFrame
    events: pd.DataFrame
    performance_status: pd.DataFrame
    ssa_administrations: pd.DataFrame
    findings: pd.DataFrame
    board_decisions: pd.DataFrame

    NAMES: ClassVar[tuple[str, ...]] = TABLE_NAMES

    def items(self) -> Iterator[tuple[str, pd.DataFrame]]:
        """(name, frame) in dependency order."""
        return ((name, getattr(self, name)) for name in TABLE_NAMES)

    def as_dict(self) -> dict[str, pd.DataFrame]:
        return dict(self.items())

    def table(self, name: str) -> pd.DataFrame:
        """The table called ``name`` (for code that works on a table chosen at run time)."""
        if name not in TABLE_NAMES:
            raise KeyError(f"no clinical table {name!r}; tables: {', '.join(TABLE_NAMES)}")
        return getattr(self, name)

    def replace(self, **frames: pd.DataFrame) -> Tables:
        """A copy with some tables replaced."""
        return dataclasses.replace(self, **frames)

    def for_patients(self, patient_ids: Iterable[str]) -> Tables:
        """Only the rows of these patients; dosimetry rows follow their cycles."""
        ids = pd.Index(list(patient_ids) if not isinstance(patient_ids, str) else [patient_ids])
        kept = {name: frame[frame["patient_id"].isin(ids)] for name, frame in self.items()
                if name != "dosimetry"}
        return Tables(dosimetry=self._dosimetry_of(kept["cycles"]), **kept)

    def for_patient(self, patient_id: str) -> Tables:
        """Only this patient's rows; ValueError when the patient is not in the record."""
        own = self.for_patients([patient_id])
        if own.patients.empty:
            raise InputError(f"patient_id {patient_id!r} is not in the store")
        return own

    def as_of(self, when: dt.date) -> Tables:
        """What was known on ``when``: every dated row on or before it (dosimetry with its cycle)."""
        cutoff = pd.Timestamp(when)
        kept = {name: frame[frame[DATE_COLUMN[name]] <= cutoff] if name in DATE_COLUMN else frame
                for name, frame in self.items() if name != "dosimetry"}
        return Tables(dosimetry=self._dosimetry_of(kept["cycles"]), **kept)

    def _dosimetry_of(self, cycles: pd.DataFrame) -> pd.DataFrame:
        return self.dosimetry[self.dosimetry["cycle_id"].isin(cycles["cycle_id"])]
