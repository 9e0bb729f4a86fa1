"""Checks across rows and tables, on the store as a change would leave it (``merge_view``):
duplicate natural keys, references to unknown patients or cycles, labs without a value, cycle
dates and phases in order, follow-ups after their baseline, nothing dated after death.
Problems are reported on the changed rows only."""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from prrt_core.importer.cells import Typed
from prrt_core.importer.decisions import decision_checks
from prrt_core.importer.natural import joined_keys
from prrt_core.importer.problems import problem
from prrt_core.importer.spec import TABLES, TableSpec


def _blame(pairs: pd.DataFrame, column: str, reason_first: pd.Series, reason_second: pd.Series,
           column_second: str | None = None) -> list[dict]:
    """For each violating pair (columns *_1 for one row, *_2 for the other), flag the
    changed row: the first if changed, else the second."""
    problems = []
    for i in range(len(pairs)):
        row = pairs.iloc[i]
        for side, reason, col in (("1", reason_first.iloc[i], column),
                                  ("2", reason_second.iloc[i], column_second or column)):
            if row[f"_changed_{side}"]:
                problems.append(problem(row[f"_source_{side}"], row[f"_row_{side}"], col,
                                        row[f"{col}_{side}"], reason))
                break
    return problems


def duplicate_keys(frame: pd.DataFrame, spec: TableSpec) -> list[dict]:
    """Rows sharing a natural key; each changed one is reported with the others' rows."""
    problems = []
    key = joined_keys(frame, spec.key)
    dups = frame.assign(_key=key)[key.duplicated(keep=False).to_numpy()]
    for value, group in dups.groupby("_key", sort=False):
        for i in group.index[group["_changed"].astype(bool).to_numpy()]:
            others = group.drop(index=i)
            where = ", ".join("an existing row" if pd.isna(r) else f"row {r}"
                              if s == group.at[i, "_source"] else f"{s} row {r}"
                              for s, r in zip(others["_source"], others["_row"]))
            problems.append(problem(group.at[i, "_source"], group.at[i, "_row"],
                                    ", ".join(spec.key), value.replace("\x1f", " / ").rstrip(" /"),
                                    "duplicate key: also " + where))
    return problems


def cross_checks(merged: dict[str, pd.DataFrame], inputs: Mapping[str, Typed], *,
                 duplicates: bool) -> list[dict]:
    """Duplicates (if ``duplicates``), unknown references, date order: problems on changed rows
    only. A patient or cycle is known if it exists after the change or is named in ``inputs``."""
    patients, cycles = _known(merged, inputs)
    problems: list[dict] = []
    for name, frame in merged.items():
        spec = TABLES[name]
        changed = frame["_changed"].astype(bool)
        if duplicates:
            problems += duplicate_keys(frame, spec)
        if name != "patients":
            unknown = changed & ~frame["patient_id"].isin(patients)
            problems += [problem(s, r, "patient_id", p, "unknown patient: not in the patients "
                                 "table or the database") for s, r, p in
                         zip(frame["_source"][unknown], frame["_row"][unknown], frame["patient_id"][unknown])]
        if name == "dosimetry":
            cyc = joined_keys(frame, ("patient_id", "cycle_number"))
            missing = changed & frame["patient_id"].isin(patients) & ~cyc.isin(cycles)
            problems += [problem(s, r, "cycle_number", c, f"patient {p} has no cycle {c}")
                         for s, r, p, c in zip(frame["_source"][missing], frame["_row"][missing],
                                               frame["patient_id"][missing], frame["cycle_number"][missing])]
    labs = merged["labs"]
    empty = labs["_changed"].astype(bool) & labs[[c.name for c in TABLES["labs"].columns[2:]]].isna().all(axis=1)
    problems += [problem(s, r, "lab values", None, "no lab value in this row")
                 for s, r in zip(labs["_source"][empty], labs["_row"][empty])]
    problems += _cycle_order(merged["cycles"])
    problems += _assessment_order(merged["assessments"])
    problems += _after_death(merged)
    problems += decision_checks(merged["board_decisions"])
    return problems


def _known(merged: dict[str, pd.DataFrame], typed: Mapping[str, Typed]) -> tuple[set, set]:
    """Patients and cycles that exist after the change (or are named in the input at all)."""
    patients = set(merged["patients"]["patient_id"].dropna())
    cycles = set(joined_keys(merged["cycles"], ("patient_id", "cycle_number")))
    if "patients" in typed:
        patients |= set(typed["patients"].frame["patient_id"].dropna())
    if "cycles" in typed:
        f = typed["cycles"].frame.dropna(subset=["patient_id", "cycle_number"])
        cycles |= set(joined_keys(f, ("patient_id", "cycle_number")))
    return patients, cycles



def _cycle_order(cycles: pd.DataFrame) -> list[dict]:
    c = cycles.dropna(subset=["cycle_number", "cycle_date"]).sort_values(["patient_id", "cycle_number"])
    later, earlier = c.iloc[1:].reset_index(drop=True), c.iloc[:-1].reset_index(drop=True)
    same = later["patient_id"].to_numpy() == earlier["patient_id"].to_numpy()
    pairs = later.add_suffix("_1").join(earlier.add_suffix("_2"))[same]
    if pairs.empty:
        return []
    problems = []
    bad_date = pairs[pairs["cycle_date_1"] <= pairs["cycle_date_2"]]
    problems += _blame(bad_date, "cycle_date",
                       "not after cycle " + bad_date["cycle_number_2"].astype(str) + " on " + bad_date["cycle_date_2"],
                       "not before cycle " + bad_date["cycle_number_1"].astype(str) + " on " + bad_date["cycle_date_1"])
    bad_phase = pairs[(pairs["phase_1"] == "initial") & (pairs["phase_2"] == "salvage")]
    problems += _blame(bad_phase, "phase",
                       "an initial cycle after salvage cycle " + bad_phase["cycle_number_2"].astype(str),
                       "a salvage cycle before initial cycle " + bad_phase["cycle_number_1"].astype(str))
    return problems


def _assessment_order(assessments: pd.DataFrame) -> list[dict]:
    a = assessments.dropna(subset=["assessment_date", "phase", "role"])
    follow, base = a[a["role"] == "follow-up"], a[a["role"] == "baseline"]
    pairs = follow.add_suffix("_1").merge(base.add_suffix("_2"), left_on=["patient_id_1", "phase_1"],
                                          right_on=["patient_id_2", "phase_2"])
    pairs = pairs[pairs["assessment_date_1"] <= pairs["assessment_date_2"]]
    return _blame(pairs, "assessment_date",
                  "not after the " + pairs["phase_1"] + " baseline on " + pairs["assessment_date_2"],
                  "baseline not before the " + pairs["phase_1"] + " follow-up on " + pairs["assessment_date_1"])


def _after_death(merged: dict[str, pd.DataFrame]) -> list[dict]:
    events = merged["events"]
    death = events[events["event_type"] == "death"].dropna(subset=["event_date"])
    problems = []
    for name, spec in TABLES.items():
        if spec.date is None or death.empty:
            continue
        rows = merged[name].dropna(subset=[spec.date])
        pairs = rows.add_suffix("_1").merge(death.add_suffix("_2"), left_on="patient_id_1",
                                            right_on="patient_id_2")
        pairs = pairs[pairs[f"{spec.date}_1"] > pairs["event_date_2"]]
        problems += _blame(pairs, spec.date, "after the patient's death on " + pairs["event_date_2"],
                           "death before a " + name + " record on " + pairs[f"{spec.date}_1"],
                           column_second="event_date")
    return problems

