"""The typed clinical record: restricting to patients and to what was known on a date."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from prrt_core.tables import DATE_COLUMN, TABLE_NAMES, Tables


def small() -> Tables:
    """Two patients; P1 has cycles on 2024-01-10 (with kidney dosimetry) and 2024-03-10."""
    patients = pd.DataFrame({"patient_id": ["P1", "P2"]})
    cycles = pd.DataFrame({"cycle_id": [1, 2, 3], "patient_id": ["P1", "P1", "P2"],
                           "cycle_date": pd.to_datetime(["2024-01-10", "2024-03-10", "2024-02-01"])})
    dosimetry = pd.DataFrame({"dosimetry_id": [10, 11, 12], "cycle_id": [1, 2, 3], "dose_gy": [3.0, 3.5, 4.0]})
    labs = pd.DataFrame({"patient_id": ["P1", "P1", "P2"],
                         "lab_date": pd.to_datetime(["2024-01-01", "2024-03-01", "2024-01-20"])})

    def dated(column: str) -> pd.DataFrame:
        return pd.DataFrame({"patient_id": ["P1"], column: pd.to_datetime(["2024-02-15"])})

    return Tables(patients=patients, cycles=cycles, dosimetry=dosimetry, labs=labs,
                  assessments=dated("assessment_date"), events=dated("event_date"),
                  performance_status=dated("status_date"), ssa_administrations=dated("administration_date"),
                  findings=dated("finding_date"), board_decisions=dated("board_date"))


def test_for_patients_keeps_their_rows_and_dosimetry_through_cycles():
    p2 = small().for_patients(["P2"])
    assert p2.patients["patient_id"].tolist() == ["P2"]
    assert p2.cycles["cycle_id"].tolist() == [3]
    assert p2.dosimetry["dosimetry_id"].tolist() == [12]  # no patient_id: follows cycle 3
    assert p2.labs["lab_date"].tolist() == [pd.Timestamp("2024-01-20")]
    assert p2.events.empty and p2.assessments.empty and p2.performance_status.empty


def test_for_patient_names_an_unknown_patient():
    with pytest.raises(ValueError, match="'P9' is not in the store"):
        small().for_patient("P9")


def test_as_of_keeps_rows_dated_on_or_before_the_day():
    known = small().as_of(dt.date(2024, 2, 15))
    assert known.cycles["cycle_id"].tolist() == [1, 3]  # 2024-03-10 not yet given
    assert known.dosimetry["dosimetry_id"].tolist() == [10, 12]  # with their cycles
    assert len(known.labs) == 2  # 2024-03-01 not yet measured
    assert len(known.events) == len(known.assessments) == len(known.performance_status) == 1  # on the day
    assert len(small().as_of(dt.date(2024, 2, 14)).events) == 0  # the day before
    assert len(known.patients) == 2  # patients are not dated


def test_names_dates_and_lookup_by_name():
    t = small()
    assert [name for name, _ in t.items()] == list(TABLE_NAMES) == list(Tables.NAMES)
    assert set(DATE_COLUMN) == set(TABLE_NAMES) - {"patients", "dosimetry"}
    assert t.table("labs") is t.labs
    with pytest.raises(KeyError, match="no clinical table 'audit'"):
        t.table("audit")
    assert t.as_dict()["cycles"] is t.cycles and t.replace(labs=t.cycles).labs is t.cycles
