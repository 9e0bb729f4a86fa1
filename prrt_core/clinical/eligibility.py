"""Salvage PRRT eligibility checklist: pass / fail / unknown per criterion and a verdict.

Thresholds and their sources live in ``data/eligibility.toml`` (a clinic edits it);
:func:`load_config` reads and checks it. :func:`evaluate` judges one patient at an
evaluation date from the store's tables and the patient's row of
``projection.project``. Unknown (missing or out-of-date value) is never a pass: it
makes the verdict at least "caution".

Verdict: "not eligible" when an ``exclude`` criterion fails; otherwise "caution"
when any criterion fails or is unknown; otherwise "eligible".
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path

import pandas as pd

from prrt_core import projection
from prrt_core.clinical import response, survival
from prrt_core.errors import ConfigError, InputError
from prrt_core.paths import DATA_DIR
from prrt_core.projection.settings import KidneyModelSettings
from prrt_core.tables import Tables

DEFAULT_CONFIG_PATH = DATA_DIR / "eligibility.toml"


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"


class Severity(StrEnum):
    EXCLUDE = "exclude"
    CAUTION = "caution"


class Verdict(StrEnum):
    ELIGIBLE = "eligible"
    CAUTION = "caution"
    NOT_ELIGIBLE = "not eligible"


@dataclass(frozen=True)
class Rule:
    """One criterion's threshold(s), severity and source as configured."""

    severity: Severity
    source: str
    min: float | None = None
    max_x_uln: float | None = None
    uln_mg_dl: float | None = None
    accepted: tuple[str, ...] = ()
    min_months: float | None = None
    min_krenning_score: int | None = None
    max_ecog: int | None = None
    min_karnofsky_pct: int | None = None
    min_weeks_since_last_cycle: float | None = None


@dataclass(frozen=True)
class Config:
    """The whole checklist configuration (see ``data/eligibility.toml``)."""

    lab_max_age_days: int
    pet_max_age_days: int
    performance_max_age_days: int
    initial_response: Rule
    pfs_after_initial: Rule
    sstr_expression: Rule
    hemoglobin: Rule
    platelets: Rule
    wbc: Rule
    neutrophils: Rule
    egfr: Rule
    bilirubin: Rule
    albumin: Rule
    performance: Rule
    interval: Rule
    kidney_dose: Rule
    kidney_bed: Rule


# Which fields each section must set (beyond severity and source).
_REQUIRED = {
    "initial_response": ("accepted",), "pfs_after_initial": ("min_months",),
    "sstr_expression": ("min_krenning_score",), "hemoglobin": ("min",), "platelets": ("min",),
    "wbc": ("min",), "neutrophils": ("min",), "egfr": ("min",),
    "bilirubin": ("max_x_uln", "uln_mg_dl"), "albumin": ("min",),
    "performance": ("max_ecog", "min_karnofsky_pct"), "interval": ("min_weeks_since_last_cycle",),
    "kidney_dose": (), "kidney_bed": (),
}
_EVALUATION_KEYS = ("lab_max_age_days", "pet_max_age_days", "performance_max_age_days")


def load_config(path: str | Path = DEFAULT_CONFIG_PATH) -> Config:
    """Read and check the TOML checklist; errors name the file, section and key."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(raw) - set(_REQUIRED) - {"evaluation"})
    if unknown:
        raise ConfigError(f"{path}: unknown section [{unknown[0]}]")
    evaluation = raw.get("evaluation", {})
    for key in _EVALUATION_KEYS:
        value = evaluation.get(key)
        if not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{path}: [evaluation] {key} must be a positive whole number of days, "
                             f"got {value!r}")
    rule_fields = {f.name for f in fields(Rule)}
    rules = {}
    for section, required in _REQUIRED.items():
        table = raw.get(section)
        if table is None:
            raise ConfigError(f"{path}: section [{section}] is missing")
        for key in sorted(set(table) - rule_fields):
            raise ConfigError(f"{path}: [{section}] unknown key {key!r}")
        for key in ("severity", "source", *required):
            if key not in table:
                raise ConfigError(f"{path}: [{section}] {key} is missing")
        try:
            severity = Severity(table["severity"])
        except ValueError:
            raise ConfigError(f"{path}: [{section}] severity must be 'exclude' or 'caution', "
                             f"got {table['severity']!r}") from None
        for key in required:
            value = table[key]
            if key == "accepted":
                ok = isinstance(value, list) and set(value) <= {"CR", "PR", "SD"} and value
            else:
                ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
            if not ok:
                raise ConfigError(f"{path}: [{section}] {key} has an invalid value {value!r}")
        values = dict(table, severity=severity)
        if "accepted" in values:
            values["accepted"] = tuple(values["accepted"])
        rules[section] = Rule(**values)
    return Config(**{k: evaluation[k] for k in _EVALUATION_KEYS}, **rules)


@dataclass(frozen=True)
class Checklist:
    """The evaluated checklist of one patient.

    ``items`` columns: criterion, status (pass|fail|unknown), value, threshold,
    severity, source, reason. ``reasons``: the items that shape the verdict.
    """

    patient_id: str
    as_of: dt.date
    verdict: Verdict
    reasons: tuple[str, ...]
    items: pd.DataFrame


def _item(criterion: str, status: Status, value: str, threshold: str, rule: Rule,
          reason: str) -> dict:
    return {"criterion": criterion, "status": status.value, "value": value,
            "threshold": threshold, "severity": rule.severity.value, "source": rule.source,
            "reason": reason}


def _latest(frame: pd.DataFrame, date_column: str, value_column: str,
            as_of: pd.Timestamp) -> tuple[float, pd.Timestamp | None]:
    """The most recent non-missing value on or before ``as_of`` (NaN, None when absent)."""
    rows = frame[(frame[date_column] <= as_of) & frame[value_column].notna()]
    if rows.empty:
        return math.nan, None
    row = rows.loc[rows[date_column].idxmax()]
    return float(row[value_column]), row[date_column]


def _dated(value: float, unit: str, when: pd.Timestamp | None) -> str:
    return "not recorded" if when is None else f"{value:g} {unit} ({when.date().isoformat()})"


def _lab_item(name: str, label: str, column: str, unit: str, rule: Rule, labs: pd.DataFrame,
              as_of: pd.Timestamp, max_age_days: int, *, maximum: float | None = None) -> dict:
    value, when = _latest(labs, "lab_date", column, as_of)
    if maximum is None:
        threshold, ok = f">= {rule.min:g} {unit}", value >= (rule.min or 0.0)
    else:
        threshold = f"<= {rule.max_x_uln:g} x ULN ({maximum:g} {unit})"
        ok = value <= maximum
    shown = _dated(value, unit, when)
    if when is None:
        return _item(label, Status.UNKNOWN, shown, threshold, rule, f"{label}: no value recorded")
    age = (as_of - when).days
    if age > max_age_days:
        return _item(label, Status.UNKNOWN, shown, threshold, rule,
                     f"{label}: latest value is {age} days old (limit {max_age_days} days)")
    status = Status.PASS if ok else Status.FAIL
    return _item(label, status, shown, threshold, rule,
                 f"{label} {value:g} {unit} {'meets' if ok else 'fails'} {threshold}")


def assess(tables: Tables, patient_id: str, *, as_of: dt.date, n_cycles: int,
           activity_gbq: float, config: Config, settings: KidneyModelSettings
           ) -> tuple[Checklist, pd.Series | None]:
    """Checklist and kidney projection for one patient as known on ``as_of``.

    The tables are cut at ``as_of`` (``Tables.as_of``) before anything is
    computed, so the projection uses only the cycles given by then. Returns the
    checklist and the patient's ``projection.project`` row (None when no
    projection could be made; the reason is then in the kidney criteria).
    """
    known = tables.as_of(as_of)
    history, patients = projection.inputs_from_tables(known)
    row, note = None, None
    if not (history["patient_id"] == patient_id).any():
        note = "no cycle recorded by the evaluation date"
    else:
        try:
            row = projection.project(history, n_cycles, activity_gbq, patients=patients,
                                     patient_ids=[patient_id], settings=settings).iloc[0]
        except ValueError as exc:  # e.g. too little dosimetry in the cohort to fit the model
            note = str(exc)
    checklist = evaluate(patient_id, known, row, as_of=as_of, tolerance=settings.tolerance, config=config,
                         projection_note=note)
    return checklist, row


def evaluate(patient_id: str, tables: Tables, projection_row: pd.Series | None,
             *, as_of: dt.date, tolerance: float, config: Config,
             projection_note: str | None = None) -> Checklist:
    """Evaluate the salvage checklist for one patient at the date ``as_of``.

    ``tables``: the store's clinical tables (``Store.read_all()``); rows after
    ``as_of`` are ignored. ``projection_row``: this patient's row of
    ``projection.project`` for the planned further cycles, computed from the
    history known on ``as_of`` (see :func:`assess`); None = no projection, the
    kidney criteria are then unknown (``projection_note`` says why).
    ``tolerance``: the accepted probability of crossing a kidney limit (0-1).
    """
    if not 0.0 < tolerance < 1.0:
        raise InputError(f"tolerance must be between 0 and 1, got {tolerance!r}")
    t = tables.for_patient(patient_id)
    now = pd.Timestamp(as_of)
    items = []

    # Response to initial PRRT and PFS after it.
    rule = config.initial_response
    accepted = "/".join(rule.accepted)
    cycles_until = t.cycles[t.cycles["cycle_date"] <= now]
    if (cycles_until["phase"] == "initial").any():
        bor = response.response_by_patient(t.assessments[t.assessments["assessment_date"] <= now],
                                           cycles_until, "initial")["best_overall_response"].iat[0]
    else:
        bor = "NE"
    if bor == "NE":
        items.append(_item("Response to initial PRRT", Status.UNKNOWN, "not evaluable", accepted, rule,
                           "Response to initial PRRT: no evaluable follow-up imaging"))
    else:
        ok = bor in rule.accepted
        items.append(_item("Response to initial PRRT", Status.PASS if ok else Status.FAIL, bor,
                           accepted, rule, f"Best response to initial PRRT {bor}"
                           + ("" if ok else f", not one of {accepted}")))

    rule = config.pfs_after_initial
    threshold = f">= {rule.min_months:g} months"
    ends = survival.endpoints(cycles_until, t.events[t.events["event_date"] <= now]) \
        if (cycles_until["phase"] == "initial").any() else pd.DataFrame()
    if ends.empty or pd.isna(ends["pfs_initial_months"].iat[0]):
        items.append(_item("PFS after initial PRRT", Status.UNKNOWN, "not recorded", threshold, rule,
                           "PFS after initial PRRT: no initial cycles recorded"))
    else:
        months, event = float(ends["pfs_initial_months"].iat[0]), ends["pfs_initial_event"].iat[0] == 1
        shown = f"{months:.1f} months" + ("" if event else " (no progression recorded)")
        if months >= rule.min_months:
            status = Status.PASS
        else:
            status = Status.FAIL if event else Status.UNKNOWN
        items.append(_item("PFS after initial PRRT", status, shown, threshold, rule,
                           f"PFS after initial PRRT {shown}, threshold {threshold}"))

    # SSTR expression on the latest somatostatin-receptor PET.
    rule = config.sstr_expression
    pets = t.assessments[t.assessments["modality"] == "Ga-68 DOTATATE PET/CT"]
    score, when = _latest(pets, "assessment_date", "sstr_krenning_score", now)
    threshold = f"Krenning >= {rule.min_krenning_score}"
    shown = "not recorded" if when is None else f"Krenning {score:g} ({when.date().isoformat()})"
    if when is None or (now - when).days > config.pet_max_age_days:
        why = ("no SSTR PET with a Krenning score" if when is None
               else f"latest SSTR PET is {(now - when).days} days old (limit {config.pet_max_age_days})")
        items.append(_item("SSTR expression", Status.UNKNOWN, shown, threshold, rule,
                           f"SSTR expression: {why}"))
    else:
        ok = score >= rule.min_krenning_score
        items.append(_item("SSTR expression", Status.PASS if ok else Status.FAIL, shown, threshold,
                           rule, f"SSTR uptake {shown} {'meets' if ok else 'fails'} {threshold}"))

    # Blood counts, renal and liver function (latest value within the age limit).
    labs, age = t.labs, config.lab_max_age_days
    items += [
        _lab_item("hemoglobin", "Haemoglobin", "hb_g_dl", "g/dL", config.hemoglobin, labs, now, age),
        _lab_item("platelets", "Platelets", "plt_10e9_l", "x10^9/L", config.platelets, labs, now, age),
        _lab_item("wbc", "White blood cells", "wbc_10e9_l", "x10^9/L", config.wbc, labs, now, age),
        _lab_item("neutrophils", "Neutrophils", "neut_10e9_l", "x10^9/L", config.neutrophils, labs,
                  now, age),
        _lab_item("egfr", "eGFR", "egfr_ml_min_173m2", "mL/min/1.73 m2", config.egfr, labs, now, age),
        _lab_item("bilirubin", "Bilirubin", "bilirubin_mg_dl", "mg/dL", config.bilirubin, labs, now,
                  # Rounded: 3 x 1.2 is 3.5999999999999996 in binary floating point.
                  age, maximum=round(config.bilirubin.max_x_uln * config.bilirubin.uln_mg_dl, 9)),
        _lab_item("albumin", "Albumin", "albumin_g_dl", "g/dL", config.albumin, labs, now, age),
    ]

    # Performance status: ECOG preferred, Karnofsky when ECOG is absent.
    rule = config.performance
    threshold = f"ECOG <= {rule.max_ecog} or Karnofsky >= {rule.min_karnofsky_pct} %"
    ecog, ecog_when = _latest(t.performance_status, "status_date", "ecog", now)
    kps, kps_when = _latest(t.performance_status, "status_date", "karnofsky_pct", now)
    recent = [(w, v, kind) for w, v, kind in ((ecog_when, ecog, "ECOG"), (kps_when, kps, "Karnofsky"))
              if w is not None and (now - w).days <= config.performance_max_age_days]
    if not recent:
        items.append(_item("Performance status", Status.UNKNOWN, "not recorded", threshold, rule,
                           f"Performance status: none in the last {config.performance_max_age_days} days"))
    else:
        when, value, kind = recent[0]
        ok = value <= rule.max_ecog if kind == "ECOG" else value >= rule.min_karnofsky_pct
        shown = f"{kind} {value:g}" + (" %" if kind == "Karnofsky" else "") + f" ({when.date().isoformat()})"
        items.append(_item("Performance status", Status.PASS if ok else Status.FAIL, shown, threshold,
                           rule, f"{shown} {'meets' if ok else 'fails'} {threshold}"))

    # Interval since the last cycle.
    rule = config.interval
    threshold = f">= {rule.min_weeks_since_last_cycle:g} weeks"
    if cycles_until.empty:
        items.append(_item("Interval since last cycle", Status.UNKNOWN, "no cycle", threshold, rule,
                           "Interval since last cycle: no cycle recorded"))
    else:
        last = cycles_until["cycle_date"].max()
        weeks = (now - last).days / 7.0
        ok = weeks >= rule.min_weeks_since_last_cycle
        items.append(_item("Interval since last cycle", Status.PASS if ok else Status.FAIL,
                           f"{weeks:.1f} weeks (last {last.date().isoformat()})", threshold, rule,
                           f"{weeks:.1f} weeks since the last cycle, threshold {threshold}"))

    items += _kidney_items(projection_row, tolerance, config, projection_note)
    frame = pd.DataFrame(items)
    verdict, reasons = _verdict(frame)
    return Checklist(patient_id, as_of, verdict, reasons, frame)


def _kidney_items(row: pd.Series | None, tolerance: float, config: Config,
                  note: str | None) -> list[dict]:
    out = []
    specs = (("Projected kidney dose", config.kidney_dose, "p_exceed_dose", "dose", "dose_limit_gy",
              "absorbed dose"),
             ("Projected kidney BED", config.kidney_bed, "p_exceed_bed", "bed", "bed_limit_gy", "BED"))
    for label, rule, p_column, prefix, limit_column, what in specs:
        if row is None:
            out.append(_item(label, Status.UNKNOWN, "no projection", f"P(> limit) <= {100 * tolerance:g} %",
                             rule, f"{label}: no projection ({note or 'not computed'})"))
            continue
        limit = float(row[limit_column])
        threshold = f"P(> {limit:g} Gy) <= {100 * tolerance:g} %"
        p = float(row[p_column])
        shown = (f"P = {100 * p:.1f} %; median {row[f'{prefix}_p50_gy']:.1f} Gy "
                 f"(90 % interval {row[f'{prefix}_p05_gy']:.1f}-{row[f'{prefix}_p95_gy']:.1f} Gy)")
        ok = p <= tolerance
        reason = (f"Cumulative kidney {what} exceeds {limit:g} Gy with probability {100 * p:.1f} %"
                  + ("" if ok else f"; largest safe activity {row['max_safe_activity_gbq']:.1f} GBq per cycle"))
        out.append(_item(label, Status.PASS if ok else Status.FAIL, shown, threshold, rule, reason))
    return out


def _verdict(items: pd.DataFrame) -> tuple[Verdict, tuple[str, ...]]:
    failed = items["status"] == Status.FAIL.value
    excluding = failed & (items["severity"] == Severity.EXCLUDE.value)
    doubtful = failed | (items["status"] == Status.UNKNOWN.value)
    if excluding.any():
        return Verdict.NOT_ELIGIBLE, tuple(items.loc[excluding, "reason"])
    if doubtful.any():
        return Verdict.CAUTION, tuple(items.loc[doubtful, "reason"])
    return Verdict.ELIGIBLE, ("All criteria met",)
