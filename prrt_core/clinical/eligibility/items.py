"""The checklist's vocabulary: a criterion's status and severity, the verdict, one evaluated item,
and the lookups every criterion shares (the latest dated value, its age)."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import StrEnum

import pandas as pd


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"


class Severity(StrEnum):
    """What failing a criterion (or crossing a kidney limit) means for the verdict."""

    EXCLUDE = "exclude"
    CAUTION = "caution"


class Verdict(StrEnum):
    ELIGIBLE = "eligible"
    CAUTION = "caution"
    NOT_ELIGIBLE = "not eligible"
    CANNOT_ASSESS = "cannot assess"


@dataclass(frozen=True)
class Item:
    """One evaluated criterion. ``key``: its section in ``data/eligibility.toml``."""

    key: str
    criterion: str
    status: Status
    value: str
    threshold: str
    severity: Severity
    source: str
    reason: str


ITEM_COLUMNS = ("criterion", "status", "value", "threshold", "severity", "source", "reason", "key")


def frame(items: list[Item]) -> pd.DataFrame:
    """The items as the checklist's table (ITEM_COLUMNS; status and severity as their text)."""
    rows = [{**dataclasses.asdict(i), "status": i.status.value, "severity": i.severity.value} for i in items]
    return pd.DataFrame(rows, columns=list(ITEM_COLUMNS))


def latest(frame_: pd.DataFrame, date_column: str, value_column: str) -> tuple[float, pd.Timestamp | None]:
    """The most recent non-missing numeric value of ``value_column`` (NaN, None when there is none)."""
    if value_column not in frame_.columns:
        return math.nan, None
    rows = frame_[frame_[value_column].notna()]
    if rows.empty:
        return math.nan, None
    row = rows.loc[rows[date_column].idxmax()]
    return float(row[value_column]), row[date_column]


def latest_row(frame_: pd.DataFrame, date_column: str) -> pd.Series | None:
    """The most recent row (the last one of the latest date), None when the frame is empty."""
    if frame_.empty:
        return None
    return frame_.sort_values(date_column, kind="stable").iloc[-1]


def day(when: pd.Timestamp) -> str:
    return when.date().isoformat()


def age_days(now: pd.Timestamp, when: pd.Timestamp) -> int:
    return int((now - when).days)
