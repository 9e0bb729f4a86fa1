"""The checklist's criteria other than renal function and the kidney limits: each gives one
:class:`Item` (pass / fail / unknown with value, threshold and source) from one patient's tables,
already cut at the evaluation date ``now``.

The interval since the last cycle, the somatostatin-analogue washout and the pregnancy test are
conditions of the day of the dose, not of the board's verdict (``data/eligibility.toml``): their
reasons name the earliest date the next dose can be given, or what to verify before it.
"""
from __future__ import annotations

import math

import pandas as pd

from prrt_core.clinical import response, survival
from prrt_core.clinical.eligibility.config import (
    Config,
    FindingRule,
    GradeRule,
    IntervalRule,
    LabAbove,
    LabMinimum,
    PregnancyRule,
    Rule,
    SsaRule,
)
from prrt_core.clinical.eligibility.items import Item, Status, age_days, day, latest, latest_row
from prrt_core.clinical.eligibility.numbers import beside_limit
from prrt_core.tables import Tables

# Long-acting somatostatin analogues, stopped >= 4 weeks before each dose: Lutathera US PI, Dosage
# and Administration, "Premedication and Concomitant Medications".
LONG_ACTING_SSA = ("octreotide LAR", "lanreotide")
DAYS_PER_WEEK = 7.0


def _item(key: str, label: str, rule: Rule, status: Status, value: str, threshold: str, reason: str) -> Item:
    return Item(key, label, status, value, threshold, rule.severity, rule.source, reason)


def response_items(t: Tables, now: pd.Timestamp, config: Config) -> list[Item]:
    """Best response to initial PRRT and PFS after it."""
    rule = config.initial_response
    label, accepted = "Response to initial PRRT", "/".join(rule.accepted)
    initial = (t.cycles["phase"] == "initial").any()
    bor = (response.response_by_patient(t.assessments, t.cycles, "initial")["best_overall_response"].iat[0]
           if initial else "NE")
    if bor == "NE":
        items = [_item("initial_response", label, rule, Status.UNKNOWN, "not evaluable", accepted,
                       f"{label}: no evaluable follow-up imaging")]
    else:
        ok = bor in rule.accepted
        items = [_item("initial_response", label, rule, Status.PASS if ok else Status.FAIL, bor, accepted,
                       f"Best response to initial PRRT {bor}" + ("" if ok else f", not one of {accepted}"))]
    rule = config.pfs_after_initial
    label, threshold = "PFS after initial PRRT", f">= {rule.min_months:g} months"
    ends = survival.endpoints(t.cycles, t.events) if initial else pd.DataFrame()
    if ends.empty or pd.isna(ends["pfs_initial_months"].iat[0]):
        return items + [_item("pfs_after_initial", label, rule, Status.UNKNOWN, "not recorded", threshold,
                              f"{label}: no initial cycles recorded")]
    months, event = float(ends["pfs_initial_months"].iat[0]), ends["pfs_initial_event"].iat[0] == 1
    shown = f"{beside_limit(months, rule.min_months)} months" + ("" if event else " (no progression recorded)")
    status = Status.PASS if months >= rule.min_months else (Status.FAIL if event else Status.UNKNOWN)
    return items + [_item("pfs_after_initial", label, rule, status, shown, threshold,
                          f"{label} {shown}, threshold {threshold}")]


def sstr_item(t: Tables, now: pd.Timestamp, config: Config) -> Item:
    """SSTR expression: Krenning-scale score on the latest SSTR PET (uptake relative to liver)."""
    rule, max_age = config.sstr_expression, config.pet_max_age_days
    label = "SSTR expression"
    threshold = (f"Krenning >= {rule.min_krenning_score} (uptake >= normal liver): planar SSTR scintigraphy, "
                 "or SSTR PET scored against liver")
    pets = t.assessments[t.assessments["modality"] == "Ga-68 DOTATATE PET/CT"]
    score, when = latest(pets, "assessment_date", "sstr_krenning_score")
    if when is None or age_days(now, when) > max_age:
        shown = "not recorded" if when is None else f"Krenning {score:g} on Ga-68 DOTATATE PET/CT ({day(when)})"
        why = ("no SSTR PET with a Krenning score" if when is None
               else f"latest SSTR PET is {age_days(now, when)} days old (limit {max_age})")
        return _item("sstr_expression", label, rule, Status.UNKNOWN, shown, threshold, f"{label}: {why}")
    shown = f"Krenning {score:g} on Ga-68 DOTATATE PET/CT, uptake relative to liver ({day(when)})"
    ok = score >= rule.min_krenning_score
    return _item("sstr_expression", label, rule, Status.PASS if ok else Status.FAIL, shown, threshold,
                 f"SSTR uptake Krenning {score:g} {'meets' if ok else 'is below'} {rule.min_krenning_score}")


def grade_item(patient: pd.Series, rule: GradeRule) -> Item:
    """Tumour grade G3 or Ki-67 above the threshold (WHO 2019)."""
    label = "Tumour grade / Ki-67"
    threshold = f"not {'/'.join(rule.caution_grades)} and Ki-67 <= {rule.max_ki67_pct:g} %"
    grade, ki67 = patient.get("tumour_grade"), patient.get("ki67_pct")
    grade = grade if isinstance(grade, str) and grade else None
    ki67 = None if ki67 is None or pd.isna(ki67) else float(ki67)
    if grade is None and ki67 is None:
        return _item("tumour_grade", label, rule, Status.UNKNOWN, "not recorded", threshold,
                     f"{label}: neither grade nor Ki-67 recorded")
    shown = f"{grade or 'grade not recorded'}, Ki-67 {'not recorded' if ki67 is None else f'{ki67:g} %'}"
    bad = grade in rule.caution_grades or (ki67 is not None and ki67 > rule.max_ki67_pct)
    return _item("tumour_grade", label, rule, Status.FAIL if bad else Status.PASS, shown, threshold,
                 f"Tumour {shown}: " + (f"high grade (threshold: {threshold})" if bad else f"meets {threshold}"))


def lab_items(labs: pd.DataFrame, now: pd.Timestamp, config: Config) -> list[Item]:
    """Blood counts and liver function: the latest value within the lab age limit."""
    c = config
    uln = c.bilirubin.uln_mg_dl
    # Rounded: 3 x 1.2 is 3.5999999999999996 in binary floating point.
    bili_max = round(c.bilirubin.max_x_uln * uln, 9)
    specs = (("hemoglobin", "Haemoglobin", "hb_g_dl", "g/dL", c.hemoglobin, None),
             ("platelets", "Platelets", "plt_10e9_l", "x10^9/L", c.platelets, None),
             ("wbc", "White blood cells", "wbc_10e9_l", "x10^9/L", c.wbc, None),
             ("neutrophils", "Neutrophils", "neut_10e9_l", "x10^9/L", c.neutrophils, None),
             ("bilirubin", "Bilirubin", "bilirubin_mg_dl", "mg/dL", c.bilirubin, bili_max),
             ("albumin", "Albumin", "albumin_g_dl", "g/dL", c.albumin, None))
    out = []
    for key, label, column, unit, rule, maximum in specs:
        value, when = latest(labs, "lab_date", column)
        if isinstance(rule, LabMinimum):
            threshold, ok = f">= {rule.min:g} {unit}", value >= rule.min
        elif isinstance(rule, LabAbove):
            threshold, ok = f"> {rule.min_exclusive:g} {unit}", value > rule.min_exclusive
        else:
            threshold, ok = f"<= {c.bilirubin.max_x_uln:g} x ULN ({maximum:g} {unit})", value <= maximum
        if when is None:
            out.append(_item(key, label, rule, Status.UNKNOWN, "not recorded", threshold, f"{label}: no value recorded"))
            continue
        shown = f"{value:g} {unit} ({day(when)})"
        old = age_days(now, when)
        if old > c.lab_max_age_days:
            out.append(_item(key, label, rule, Status.UNKNOWN, shown, threshold,
                             f"{label}: latest value is {old} days old (limit {c.lab_max_age_days} days)"))
            continue
        out.append(_item(key, label, rule, Status.PASS if ok else Status.FAIL, shown, threshold,
                         f"{label} {value:g} {unit} {'meets' if ok else 'fails'} {threshold}"))
    return out


def performance_item(t: Tables, now: pd.Timestamp, config: Config) -> Item:
    """ECOG preferred, Karnofsky when ECOG is absent, within the age limit."""
    rule, max_age = config.performance, config.performance_max_age_days
    label = "Performance status"
    threshold = f"ECOG <= {rule.max_ecog} or Karnofsky >= {rule.min_karnofsky_pct} %"
    ps = t.performance_status
    found = [(when, value, kind) for kind, column in (("ECOG", "ecog"), ("Karnofsky", "karnofsky_pct"))
             for value, when in [latest(ps, "status_date", column)]
             if when is not None and age_days(now, when) <= max_age]
    if not found:
        return _item("performance", label, rule, Status.UNKNOWN, "not recorded", threshold,
                     f"{label}: none in the last {max_age} days")
    when, value, kind = found[0]
    ok = value <= rule.max_ecog if kind == "ECOG" else value >= rule.min_karnofsky_pct
    shown = f"{kind} {value:g}" + (" %" if kind == "Karnofsky" else "") + f" ({day(when)})"
    return _item("performance", label, rule, Status.PASS if ok else Status.FAIL, shown, threshold,
                 f"{shown} {'meets' if ok else 'fails'} {threshold}")


def _finding(findings: pd.DataFrame, name: str) -> pd.Series | None:
    return latest_row(findings[findings["finding"] == name], "finding_date")


VERIFY_PREGNANCY = "verify pregnancy status before the dose (label 8.3)"


def pregnancy_item(patient: pd.Series, findings: pd.DataFrame, now: pd.Timestamp, rule: PregnancyRule) -> Item:
    """Pregnancy or breast-feeding in a woman of child-bearing potential excludes (Lutathera PI 8.1-8.3);
    a negative pregnancy test within ``max_age_days`` passes. Without one (or with child-bearing
    potential not recorded) the item is unknown, "verify pregnancy status before the dose": the test
    belongs to the day of the dose, and the config does not let this unknown block the verdict.
    A positive finding holds until a later record says otherwise."""
    label = "Pregnancy / breast-feeding"
    threshold = (f"not pregnant (negative test within {rule.max_age_days} days, verified before the dose) and "
                 "not breast-feeding (women of child-bearing potential)")

    def item(status: Status, value: str, reason: str) -> Item:
        return _item("pregnancy", label, rule, status, value, threshold, reason)

    if patient.get("sex") != "F":
        return item(Status.PASS, "not applicable (male)", f"{label}: not applicable (male)")
    potential = patient.get("childbearing_potential")
    if potential is None or pd.isna(potential):
        return item(Status.UNKNOWN, "child-bearing potential not recorded",
                    f"{label}: child-bearing potential not recorded; {VERIFY_PREGNANCY}")
    if not bool(potential):
        return item(Status.PASS, "no child-bearing potential", f"{label}: no child-bearing potential")
    test, feeding = _finding(findings, "pregnancy"), _finding(findings, "breast-feeding")
    present = [f"{what} ({day(row['finding_date'])})" for what, row in (("pregnant", test), ("breast-feeding", feeding))
               if row is not None and bool(row["present"])]
    feeding_text = ("breast-feeding not recorded" if feeding is None
                    else f"not breast-feeding ({day(feeding['finding_date'])})")
    if present:
        return item(Status.FAIL, "; ".join(present), f"{label}: {', '.join(present)}")
    if test is None or age_days(now, test["finding_date"]) > rule.max_age_days:
        when = "no pregnancy test recorded" if test is None else \
            f"latest pregnancy test {age_days(now, test['finding_date'])} days old ({day(test['finding_date'])})"
        return item(Status.UNKNOWN, f"{when}; {feeding_text}",
                    f"{label}: {VERIFY_PREGNANCY}; {when} (limit {rule.max_age_days} days)")
    shown = f"pregnancy test negative ({day(test['finding_date'])}); {feeding_text}"
    return item(Status.PASS, shown, f"{label}: {shown}")


def finding_item(key: str, label: str, names: tuple[str, ...], findings: pd.DataFrame, now: pd.Timestamp,
                 rule: FindingRule, max_age_days: int | None = None) -> Item:
    """A caution finding: the latest record of each of ``names`` (older than ``max_age_days``, when
    given, counts as not recorded); any present fails, all recorded ones absent passes."""
    threshold = "not present"
    rows = [(name, row) for name in names for row in [_finding(findings, name)] if row is not None
            and (max_age_days is None or age_days(now, row["finding_date"]) <= max_age_days)]
    present = [f"{name} ({day(row['finding_date'])})" for name, row in rows if bool(row["present"])]
    if present:
        return _item(key, label, rule, Status.FAIL, "present: " + ", ".join(present), threshold,
                     f"{label}: {', '.join(present)}")
    if not rows:
        within = "" if max_age_days is None else f" within {max_age_days} days"
        return _item(key, label, rule, Status.UNKNOWN, f"not recorded{within}", threshold,
                     f"{label}: not recorded{within}")
    absent = ", ".join(f"{name} ({day(row['finding_date'])})" for name, row in rows)
    return _item(key, label, rule, Status.PASS, f"checked, absent: {absent}", threshold, f"{label}: absent")


def earliest_dose(last: pd.Timestamp, weeks: float) -> pd.Timestamp:
    """The first day ``weeks`` after ``last`` (whole days, rounded up)."""
    return last + pd.Timedelta(days=math.ceil(round(weeks * DAYS_PER_WEEK, 9)))


def interval_item(cycles: pd.DataFrame, now: pd.Timestamp, rule: IntervalRule) -> Item:
    """Weeks since the last cycle (8 +- 1 weeks: 7 weeks passes). Before then the item fails with the
    earliest cycle date as its reason (a caution by default: the timing of the next dose)."""
    label = "Interval since last cycle"
    limit = rule.min_weeks_since_last_cycle
    threshold = f">= {limit:g} weeks since the last cycle (on the day of the dose)"
    if cycles.empty:
        return _item("interval", label, rule, Status.UNKNOWN, "no cycle", threshold, f"{label}: no cycle recorded")
    last = cycles["cycle_date"].max()
    earliest = earliest_dose(last, limit)
    weeks = (now - last).days / DAYS_PER_WEEK
    shown = f"{beside_limit(weeks, limit)} weeks (last {day(last)})"
    if now >= earliest:
        return _item("interval", label, rule, Status.PASS, shown, threshold, f"{label}: {shown}, meets {threshold}")
    return _item("interval", label, rule, Status.FAIL, shown, threshold,
                 f"{label}: earliest cycle date: {day(earliest)} ({limit:g} weeks after the last cycle on "
                 f"{day(last)}); {beside_limit(weeks, limit)} weeks on {day(now)}")


def ssa_item(ssa: pd.DataFrame, now: pd.Timestamp, rule: SsaRule) -> Item:
    """Long-acting somatostatin analogue stopped >= 4 weeks before each dose (Lutathera US PI, Dosage
    and Administration, "Premedication and Concomitant Medications"). Before then the item fails with
    the earliest dose date as its reason (a caution by default: the timing of the next dose)."""
    label = "Long-acting SSA stopped"
    limit = rule.min_weeks_since_long_acting
    threshold = (f">= {limit:g} weeks since the last long-acting SSA on the day of the dose "
                 "(short-acting octreotide: up to 24 h before)")
    if ssa.empty:
        return _item("ssa_washout", label, rule, Status.UNKNOWN, "no SSA administrations recorded", threshold,
                     f"{label}: no SSA administrations recorded")
    long_acting = latest_row(ssa[ssa["drug"].isin(LONG_ACTING_SSA)], "administration_date")
    if long_acting is None:
        short = latest_row(ssa, "administration_date")
        shown = f"no long-acting SSA recorded; {short['drug']} last on {day(short['administration_date'])}"
        return _item("ssa_washout", label, rule, Status.PASS, shown, threshold, f"{label}: {shown}")
    when = long_acting["administration_date"]
    earliest = earliest_dose(when, limit)
    weeks = (now - when).days / DAYS_PER_WEEK
    shown = f"{beside_limit(weeks, limit)} weeks since {long_acting['drug']} ({day(when)})"
    if now >= earliest:
        return _item("ssa_washout", label, rule, Status.PASS, shown, threshold, f"{label}: {shown}")
    return _item("ssa_washout", label, rule, Status.FAIL, shown, threshold,
                 f"{label}: earliest cycle date: {day(earliest)} ({limit:g} weeks after the last long-acting "
                 f"injection on {day(when)}); {shown} on {day(now)}")
