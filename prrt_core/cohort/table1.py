"""Table 1 of a cohort: demographics, primaries, treatment, kidney dose and BED.

Input: ``cohort.patient_attributes`` (optionally restricted to a filtered set of
patients). Each row carries its numbers (n, %, mean, SD, median, min, max) and the
text shown; dose and BED rows are over the patients with a kidney dose for every
cycle. Limits: 23 Gy absorbed dose (Emami 1991; Konijnenberg 2003); BED 28 Gy
with, 40 Gy without renal risk factors (Bodei et al. EJNMMI 2008;35:1847), as in
``dosimetry``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from prrt_core import dosimetry
from prrt_core.cohort.summaries import round_half_up

COLUMNS = ("Characteristic", "Value", "n", "%", "mean", "SD", "median", "min", "max")


@dataclass(frozen=True)
class Table1:
    """The rows (COLUMNS: text in Characteristic/Value, numbers in the rest) and footnotes."""

    rows: pd.DataFrame
    footnotes: tuple[str, ...]


def _num(x: float, digits: int) -> str:
    return "—" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def _count_row(label: str, n: int, denominator: int) -> dict:
    pct = 100.0 * n / denominator if denominator else math.nan
    shown = round_half_up(pct, 1) if denominator else math.nan
    return {"Characteristic": label, "Value": f"{n} ({_num(shown, 1)} %)" if denominator else str(n),
            "n": n, "%": pct}


def _mean_sd_row(label: str, values: pd.Series, digits: int) -> dict:
    v = values.dropna()
    mean = float(v.mean()) if len(v) else math.nan
    sd = float(v.std(ddof=1)) if len(v) > 1 else math.nan
    return {"Characteristic": label, "Value": f"{_num(mean, digits)} ± {_num(sd, digits)}",
            "n": len(v), "mean": mean, "SD": sd}


def _range_row(label: str, values: pd.Series, digits: int) -> dict:
    v = values.dropna()
    lo, hi = (float(v.min()), float(v.max())) if len(v) else (math.nan, math.nan)
    return {"Characteristic": label, "Value": f"{_num(lo, digits)}–{_num(hi, digits)}",
            "n": len(v), "min": lo, "max": hi}


def _median_range_row(label: str, values: pd.Series, digits: int) -> dict:
    """Median (range); a median halfway between two counts keeps its .5."""
    v = values.dropna()
    med, lo, hi = ((float(v.median()), float(v.min()), float(v.max())) if len(v)
                   else (math.nan,) * 3)
    med_digits = digits if math.isnan(med) or med == round(med, digits) else digits + 1
    return {"Characteristic": label,
            "Value": f"{_num(med, med_digits)} ({_num(lo, digits)}–{_num(hi, digits)})",
            "n": len(v), "median": med, "min": lo, "max": hi}


def _mean_range_row(label: str, values: pd.Series, digits: int) -> dict:
    v = values.dropna()
    mean, lo, hi = ((float(v.mean()), float(v.min()), float(v.max())) if len(v)
                    else (math.nan,) * 3)
    return {"Characteristic": label,
            "Value": f"{_num(mean, digits)} ({_num(lo, digits)}–{_num(hi, digits)})",
            "n": len(v), "mean": mean, "min": lo, "max": hi}


def table1(attributes: pd.DataFrame) -> Table1:
    """Table 1 of the patients in ``attributes`` (cohort.patient_attributes rows).

    Percentages of sex, primary site and renal risk are of all patients; those of
    the dose and BED limits are of the patients with complete kidney dosimetry.
    SD is the sample SD (n - 1); percentages shown are rounded half up. BED per cycle: dosimetry.bed (alpha/beta 2.6 Gy,
    T_rep 2.8 h) with the measured T_eff, the cohort median where missing (footnote).
    """
    a = attributes
    n = len(a)
    rows = [{"Characteristic": "Patients, n", "Value": str(n), "n": n}]
    for code, name in (("M", "male"), ("F", "female")):
        rows.append(_count_row(f"Sex, {name}, n (%)", int((a["sex"] == code).sum()), n))
    rows.append(_mean_sd_row("Age at first PRRT (years), mean ± SD", a["age_years"], 1))
    rows.append(_range_row("Age at first PRRT (years), range", a["age_years"], 0))
    for site, count in a["primary_site"].value_counts().items():
        rows.append(_count_row(f"Primary site, {site}, n (%)", int(count), n))
    rows.append(_count_row("Renal risk factors (hypertension, diabetes or other), n (%)",
                           int(a["renal_risk"].sum()), n))
    rows.append(_median_range_row("PRRT cycles per patient, median (range)", a["n_cycles"], 0))
    rows.append(_median_range_row("Salvage cycles per patient, median (range)", a["n_salvage_cycles"], 0))
    rows.append(_mean_range_row("Cumulative activity (GBq), mean (range)", a["cumulative_activity_gbq"], 1))

    dose = a["cumulative_kidney_dose_gy"]
    complete = int(dose.notna().sum())
    rows.append(_count_row("Patients with a kidney dose for every cycle, n (%)", complete, n))
    rows.append(_mean_sd_row("Cumulative kidney absorbed dose (Gy), mean ± SD", dose, 1))
    rows.append(_range_row("Cumulative kidney absorbed dose (Gy), range", dose, 1))
    bed_gy = a["cumulative_kidney_bed_gy"]
    rows.append(_mean_sd_row("Cumulative kidney BED (Gy), mean ± SD", bed_gy, 1))
    rows.append(_range_row("Cumulative kidney BED (Gy), range", bed_gy, 1))
    rows.append(_count_row(f"Cumulative kidney dose > {dosimetry.DOSE_LIMIT_GY:g} Gy, n (%)",
                           int(a["over_dose_limit"].fillna(False).sum()), complete))
    bed_known = int(a["over_bed_limit"].notna().sum())
    rows.append(_count_row(
        f"Cumulative kidney BED over the patient's limit ({dosimetry.BED_LIMIT_GY_RISK:g} Gy with, "
        f"{dosimetry.BED_LIMIT_GY_NO_RISK:g} Gy without renal risk factors), n (%)",
        int(a["over_bed_limit"].fillna(False).sum()), bed_known))
    frame = pd.DataFrame(rows).reindex(columns=list(COLUMNS))
    return Table1(frame, _footnotes(a, complete, bed_known))


def _footnotes(a: pd.DataFrame, complete: int, bed_known: int) -> tuple[str, ...]:
    notes = [f"Dose and BED rows: the {complete} patient(s) with a kidney absorbed dose for every "
             "cycle (a partial sum would understate the dose); limit percentages are of them."]
    imputed = int(a.loc[a["cumulative_kidney_dose_gy"].notna(), "n_cycles_t_eff_imputed"].sum())
    fallback = a["t_eff_fallback_h"].dropna()
    bed_text = (f"BED per cycle = D·(1 + D/(α/β)·T_rep/(T_rep + T_eff)), α/β "
                f"{dosimetry.KIDNEY_ALPHA_BETA_GY:g} Gy, T_rep {dosimetry.KIDNEY_T_REP_H:g} h "
                "(Barone 2005; Bodei 2008), summed over cycles, with each cycle's measured kidney T_eff")
    if imputed and len(fallback):
        bed_text += (f"; {imputed} cycle(s) without a measured T_eff used the cohort median "
                     f"T_eff of {fallback.iloc[0]:.1f} h (all measured kidney cycles of the loaded cohort).")
    elif imputed:
        bed_text += f"; {imputed} cycle(s) lack a measured T_eff and no cohort median exists: BED unknown."
    else:
        bed_text += "; every cycle had a measured T_eff."
    notes.append(bed_text)
    missing_age = int(a["age_years"].isna().sum())
    if missing_age:
        notes.append(f"Age not recorded for {missing_age} patient(s); age rows are over the others.")
    if bed_known < complete:
        notes.append(f"BED unknown for {complete - bed_known} patient(s) with complete dose.")
    return tuple(notes)


def display(table: Table1) -> pd.DataFrame:
    """The two text columns shown on screen."""
    return table.rows[["Characteristic", "Value"]]
