"""Problems found in input, one dict each (File, Row, Column, Value, Reason), and the table they
are reported in. Row is the spreadsheet row (the header is row 1), None for a whole file."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

PROBLEM_COLUMNS = ["File", "Row", "Column", "Value", "Reason"]


def problem(source: str, row: Any, column: str | None, value: Any, reason: str) -> dict:
    """One problem; a value longer than 80 characters is cut."""
    text = "" if value is None else str(value)
    return {"File": source, "Row": None if row is None else int(row), "Column": column or "",
            "Value": text if len(text) <= 80 else text[:77] + "...", "Reason": reason}


def problem_frame(problems: Iterable[dict]) -> pd.DataFrame:
    """Problems sorted by file and row; Row is "" for a problem of a whole file."""
    frame = pd.DataFrame(list(problems), columns=PROBLEM_COLUMNS)
    frame["Row"] = frame["Row"].astype("Int64")
    frame = frame.drop_duplicates().sort_values(["File", "Row"], na_position="first", kind="stable")
    frame["Row"] = frame["Row"].astype(object).where(frame["Row"].notna(), "")
    return frame.reset_index(drop=True)


def problems_where(source: str, texts: pd.Series, mask: pd.Series, column: str, reason: Any) -> list[dict]:
    """One problem per row where ``mask`` holds, the cell text as value; ``reason`` is a string or
    a Series of strings."""
    rows = texts.index[mask.to_numpy(dtype=bool)]
    reasons = reason[mask] if isinstance(reason, pd.Series) else [reason] * len(rows)
    return [problem(source, r, column, texts.loc[r], why) for r, why in zip(rows, reasons)]

