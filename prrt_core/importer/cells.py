"""From cell text to typed values: which column (and unit) each header names, and every cell
parsed, converted to the canonical unit and checked against its :class:`ColumnSpec`, vectorised
per column. Dates are ISO ``YYYY-MM-DD``; identifying columns (names, birth dates, ...) are
refused, never stored."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prrt_core.importer.decisions import decision_rules
from prrt_core.importer.files import RawTable
from prrt_core.importer.problems import problem, problems_where
from prrt_core.importer.spec import (
    EXAMPLE_PATIENT_ID,
    MAX_JSON_CHARS,
    TABLES,
    ColumnKind,
    ColumnSpec,
    TableSpec,
    Unit,
)

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_ISO_DATE = r"\d{4}-\d{2}-\d{2}"
_UTC_TIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"
_ID = r"[A-Za-z0-9_-]{1,32}"  # schema.py: length 1-32, NOT GLOB '*[^A-Za-z0-9_-]*'
_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]"  # and bidi controls
_IDENTIFYING = {"name", "first_name", "last_name", "surname", "given_name", "full_name",
                "patient_name", "birth_date", "date_of_birth", "dob", "birthdate", "birthday",
                "address", "street", "phone", "telephone", "email", "e_mail", "mrn",
                "hospital_number", "insurance_number", "ssn", "social_security_number"}


def _unit_key(unit: str) -> str:
    return (unit.casefold().replace("µ", "u").replace("μ", "u").replace("²", "2")
            .replace("⁹", "9").replace("³", "3").replace(" ", ""))


_HEADER = re.compile(r"^(?P<stem>[^()\[\]]*?)\s*(?:[(\[](?P<unit>[^()\[\]]*)[)\]])?$")


def _map_headers(spec: TableSpec, raw: RawTable) -> tuple[dict[int, tuple[ColumnSpec, Unit | None]], list[dict]]:
    """Which spec column (and unit) each header names; problems for the rest."""
    by_stem = {c.stem: c for c in spec.columns} | {c.name: c for c in spec.columns}
    mapped: dict[int, tuple[ColumnSpec, Unit | None]] = {}
    problems, seen = [], {}
    for pos, header in enumerate(raw.headers):
        if not header:
            if (raw.cells[pos] != "").any():
                problems.append(problem(raw.source, 1, f"column {pos + 1}", None,
                                        "values in a column without a header"))
            continue
        m = _HEADER.match(header)
        stem = re.sub(r"[\s-]+", "_", m["stem"].strip().casefold()) if m else header
        unit_text = (m["unit"] or "").strip() if m else ""
        col = by_stem.get(stem)
        if col is None:
            reason = ("identifying data is never stored: remove this column" if stem in _IDENTIFYING
                      else "unknown column; this table has: " + ", ".join(c.header for c in spec.columns))
            problems.append(problem(raw.source, 1, header, None, reason))
            continue
        unit = None
        if col.unit and not unit_text:
            if stem != col.name:
                problems.append(problem(raw.source, 1, header, None, "unit missing: write "
                                        + " or ".join(f"{col.stem} ({u.label})" for u in col.units)))
                continue
            unit = col.units[0]  # the store name carries the canonical unit
        elif col.unit:
            unit = {_unit_key(u.label): u for u in col.units}.get(_unit_key(unit_text))
            if unit is None:
                problems.append(problem(raw.source, 1, header, unit_text, f"unknown unit for "
                                        f"{col.stem}; accepted: " + ", ".join(u.label for u in col.units)))
                continue
            if stem == col.name and unit is not col.units[0]:
                problems.append(problem(raw.source, 1, header, unit_text, f"{col.name} is in "
                                        f"{col.unit}: write {col.stem} ({unit.label})"))
                continue
        elif unit_text:
            problems.append(problem(raw.source, 1, header, unit_text, f"{col.stem} takes no unit"))
            continue
        if col.name in seen:
            problems.append(problem(raw.source, 1, header, None,
                                    f"{col.stem} given twice (also column {seen[col.name] + 1})"))
            continue
        seen[col.name] = pos
        mapped[pos] = (col, unit)
    for col in spec.columns:
        if col.required and col.name not in seen:
            problems.append(problem(raw.source, 1, col.header, None, "required column missing"))
    return mapped, problems


def _parse_column(col: ColumnSpec, unit: Unit | None, texts: pd.Series, source: str,
                  decimal_comma: bool) -> tuple[pd.Series, list[dict]]:
    """Typed values of one column (canonical unit) and the problems of its cells (vectorised)."""
    name, empty = col.header, texts == ""
    problems: list[dict] = []
    if col.required:
        problems += problems_where(source, texts, empty, name, "required")
    if col.kind.numeric:
        s = texts.str.replace(",", ".", regex=False) if decimal_comma else texts
        ok = _match(s, _NUMBER)
        problems += problems_where(source, texts, ~empty & ~ok, name, "not a number")
        raw_num = pd.to_numeric(s.where(ok), errors="coerce")
        num = raw_num * (unit.mul if unit else 1.0) / (unit.div if unit else 1.0)
        if col.kind == ColumnKind.INT:
            frac = ok & (raw_num % 1 != 0)
            problems += problems_where(source, texts, frac, name, "not a whole number")
            ok &= ~frac
        above_low = num > col.low if col.low_open else num >= col.low
        below_high = num < col.high if col.high_open else num <= col.high
        out = ok & ~(above_low & below_high)
        if unit is not None and (unit.mul, unit.div) != (1.0, 1.0):
            why = (texts + f" {unit.label} = " + num.map(lambda v: f"{v:.4g}") + f" {col.unit}: "
                   f"outside {col.range_text()}")
        else:
            why = f"outside {col.range_text()}"
        problems += problems_where(source, texts, out, name, why)
        ok &= ~out
        if col.step:
            off = ok & (num % col.step != 0)
            problems += problems_where(source, texts, off, name, f"not a multiple of {col.step}")
            ok &= ~off
        values = num.where(ok)
        return (values.round().astype("Int64") if col.kind == ColumnKind.INT else values.astype(float)), problems
    if col.kind == ColumnKind.DATE:
        iso = _match(texts, _ISO_DATE)
        days = pd.to_datetime(texts.where(iso), format="%Y-%m-%d", errors="coerce")
        problems += problems_where(source, texts, ~empty & ~iso, name, "not a date: write YYYY-MM-DD")
        # pandas holds dates from 1677-09-22 to 2262-04-11 (nanoseconds in 64 bits): outside them a
        # real calendar date is refused for its year, not called impossible.
        year = pd.to_numeric(texts.where(iso).str[:4], errors="coerce")
        far = iso & days.isna() & ((year <= 1677) | (year >= 2262))
        problems += problems_where(source, texts, far, name, "year out of range: dates from 1678 to 2261")
        problems += problems_where(source, texts, iso & days.isna() & ~far, name, "no such calendar date")
        return days.dt.strftime("%Y-%m-%d").astype(object).where(days.notna(), None), problems
    if col.kind == ColumnKind.TIMESTAMP:
        form = _match(texts, _UTC_TIME)
        when = pd.to_datetime(texts.where(form), format="%Y-%m-%dT%H:%M:%SZ", errors="coerce")
        problems += problems_where(source, texts, ~empty & ~form, name, "not a UTC time: write "
                                   "YYYY-MM-DDTHH:MM:SSZ")
        problems += problems_where(source, texts, form & when.isna(), name, "no such date or time")
        return texts.where(form & when.notna(), None).astype(object), problems
    if col.kind == ColumnKind.JSON:
        bad = ~empty & ~texts.map(_json_object)
        problems += problems_where(source, texts, bad, name, col.allowed() + " (strict JSON: no NaN or "
                                   "Infinity)")
        return texts.where(~empty & ~bad, None).astype(object), problems
    if col.kind == ColumnKind.BOOL:
        key = texts.str.casefold()
        truth = key.map({"1": 1, "1.0": 1, "true": 1, "yes": 1, "y": 1,
                         "0": 0, "0.0": 0, "false": 0, "no": 0, "n": 0})
        problems += problems_where(source, texts, ~empty & truth.isna(), name, "not yes/no: write 1 or 0")
        return truth.astype("Int64"), problems
    if col.kind == ColumnKind.ENUM:
        canonical = texts.str.casefold().map({c.casefold(): c for c in col.choices})
        problems += problems_where(source, texts, ~empty & canonical.isna(), name, col.allowed())
        return canonical.astype(object).where(canonical.notna(), None), problems
    # id and free text
    bad = texts.str.contains(_CONTROL, regex=True).fillna(False).astype(bool)
    problems += problems_where(source, texts, bad, name, "contains control or text-direction characters")
    long = texts.str.len() > (32 if col.kind == ColumnKind.ID else col.max_chars)
    if col.kind == ColumnKind.ID:
        invalid = ~empty & ~bad & ~_match(texts, _ID)
        problems += problems_where(source, texts, invalid, name, "not a pseudonymous id: " + col.allowed())
        bad |= invalid
    else:
        problems += problems_where(source, texts, long, name, f"longer than {col.max_chars} characters")
        bad |= long
    values = texts.where(~empty & ~bad, None if col.empty is None else col.empty)
    return values.where(~bad, None).astype(object), problems


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _json_object(text: str) -> bool:
    """True for a strict JSON object of at most MAX_JSON_CHARS characters (json.loads alone
    accepts NaN and Infinity)."""
    if len(text) > MAX_JSON_CHARS:
        return False
    try:
        return isinstance(json.loads(text, parse_constant=_refuse_constant), dict)
    except (ValueError, RecursionError):
        return False


def _match(texts: pd.Series, pattern: str) -> pd.Series:
    return texts.str.fullmatch(pattern).fillna(False).astype(bool)


def _row_rules(spec: TableSpec, typed: pd.DataFrame, texts: pd.DataFrame, source: str) -> list[dict]:
    """Rules across the columns of one row (as in schema.py, plus the template's example row)."""
    problems = []
    blank = pd.Series("", index=typed.index, dtype=object)
    pid = typed.get("patient_id")
    if pid is not None:
        example = pid == EXAMPLE_PATIENT_ID
        problems += problems_where(source, texts["patient_id"], example, "patient_id",
                                   "the template's example row: replace it with real data or delete it")
    if spec.name == "events" and {"event_type", "phase"} <= set(typed):
        progression = typed["event_type"] == "progression"
        has_phase = typed["phase"].notna()
        problems += problems_where(source, texts["phase"], progression & ~has_phase, "phase",
                                   "required for a progression: initial or salvage")
        problems += problems_where(source, texts["phase"], typed["event_type"].notna() & ~progression
                                   & has_phase, "phase", "only a progression has a phase: leave it empty")
    if spec.name == "board_decisions":
        problems += decision_rules(typed, texts, source)
    if spec.name == "performance_status":
        given = [typed[c].notna() for c in ("ecog", "karnofsky_pct") if c in typed]
        none = ~np.logical_or.reduce(given) if given else pd.Series(True, index=typed.index)
        problems += problems_where(source, blank, pd.Series(none, index=typed.index), "ecog, karnofsky (%)",
                                   "give ECOG or Karnofsky")
    return problems


@dataclass
class Typed:
    """One table's rows after cell parsing: canonical values, row numbers, rows with problems."""

    table: str
    source: str
    frame: pd.DataFrame        # spec columns present + _row, _source, _bad
    present: tuple[str, ...]   # spec columns the input carries


def parse_table(raw: RawTable) -> tuple[Typed, list[dict]]:
    """Typed rows of a raw table and the problems of its headers, cells and rows."""
    spec = TABLES[raw.table]
    mapped, problems = _map_headers(spec, raw)
    cells = raw.cells.loc[(raw.cells != "").any(axis=1)] if len(raw.cells.columns) else raw.cells
    typed = pd.DataFrame(index=cells.index)
    texts = pd.DataFrame(index=cells.index)
    cell_problems: list[dict] = []
    for pos, (col, unit) in mapped.items():
        texts[col.name] = cells[pos] if pos in cells else ""
        typed[col.name], found = _parse_column(col, unit, texts[col.name], raw.source, raw.decimal_comma)
        cell_problems += found
    present = tuple(c.name for c in spec.columns if c.name in typed)
    for col in spec.columns:  # a key column the file lacks holds its empty value (label "")
        if col.name in spec.key and col.name not in typed:
            texts[col.name], typed[col.name] = "", col.empty
    cell_problems += _row_rules(spec, typed, texts, raw.source)
    bad_rows = {p["Row"] for p in cell_problems}
    typed["_row"] = typed.index
    typed["_source"] = raw.source
    # Without a required column no row is complete: leave the rows out of cross-row checks.
    incomplete = any(c.required and c.name not in present for c in spec.columns)
    typed["_bad"] = incomplete | typed.index.isin(list(bad_rows))
    return Typed(raw.table, raw.source, typed.reset_index(drop=True), present), problems + cell_problems

