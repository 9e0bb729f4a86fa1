"""Cohort statistics: per-patient figures, the cohort filter and the summary tables.

Everything the cohort statistics page shows is computed here (Table 1 lives in
``table1``, the published comparison in ``published``, charts in ``cohort_charts``).
The per-patient tables are computed once for the whole store and then restricted
to the patients a :class:`CohortFilter` selects (``restrict_frame``), so changing a
filter never recomputes CTCAE grades, RECIST responses or endpoints.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum

import numpy as np
import pandas as pd

from prrt_core.tables import Tables
from prrt_core import dosimetry
from prrt_core import projection
from prrt_core.clinical import survival
from prrt_core.clinical import toxicity
from prrt_core.clinical.response import RESPONSES
from prrt_core.clinical.dates import require_columns


@dataclass(frozen=True)
class CohortOverview:
    """Headline figures of the loaded cohort (units in the names)."""

    n_patients: int
    n_cycles: int
    n_salvage_patients: int
    median_cycles_per_patient: float
    mean_cumulative_activity_gbq: float
    mean_cumulative_kidney_dose_gy: float
    n_patients_with_complete_kidney_dosimetry: int


def cumulative_per_patient(cycles: pd.DataFrame, dosimetry: pd.DataFrame) -> pd.DataFrame:
    """Per patient: cycles, cumulative activity (GBq) and cumulative kidney dose (Gy).

    ``cumulative_kidney_dose_gy`` is NaN unless every cycle of the patient has a
    kidney dose: a partial sum would understate the dose.
    """
    per_cycle = (projection.kidney_per_cycle(cycles[["cycle_id", "patient_id", "phase", "activity_gbq"]],
                                             dosimetry)
                 .rename(columns={"kidney_dose_gy": "dose_gy"}))
    per_cycle["salvage"] = (per_cycle["phase"] == "salvage").astype(int)
    per_cycle["missing_dose"] = per_cycle["dose_gy"].isna()
    grouped = per_cycle.groupby("patient_id")
    out = pd.DataFrame({
        "n_cycles": grouped.size(),
        "n_salvage_cycles": grouped["salvage"].sum(),
        "cumulative_activity_gbq": grouped["activity_gbq"].sum(),
        "cumulative_kidney_dose_gy": grouped["dose_gy"].sum(min_count=1),
    })
    out.loc[grouped["missing_dose"].any(), "cumulative_kidney_dose_gy"] = np.nan
    return out


def overview(patients: pd.DataFrame, cycles: pd.DataFrame,
             dosimetry: pd.DataFrame) -> CohortOverview:
    """Counts, median cycles per patient, mean cumulative activity and kidney dose."""
    per_patient = cumulative_per_patient(cycles, dosimetry)
    kidney = per_patient["cumulative_kidney_dose_gy"].dropna()
    return CohortOverview(
        n_patients=len(patients),
        n_cycles=len(cycles),
        n_salvage_patients=int((per_patient["n_salvage_cycles"] > 0).sum()),
        median_cycles_per_patient=float(per_patient["n_cycles"].median()) if len(per_patient) else np.nan,
        mean_cumulative_activity_gbq=float(per_patient["cumulative_activity_gbq"].mean()) if len(per_patient) else np.nan,
        mean_cumulative_kidney_dose_gy=float(kidney.mean()) if len(kidney) else np.nan,
        n_patients_with_complete_kidney_dosimetry=len(kidney),
    )


# --------------------------------------------------------------------------
# per-patient figures
# --------------------------------------------------------------------------

DAYS_PER_YEAR = 365.25  # Julian year, the project's year for rates per year


def patient_attributes(tables: Tables) -> pd.DataFrame:
    """One row per patient of ``tables['patients']``: what the filter and Table 1 need.

    Columns: patient_id, sex, age_years, primary_site, renal_risk (hypertension,
    diabetes or another recorded renal risk factor), first_cycle_date,
    salvage_start_date, n_cycles, n_initial_cycles, n_salvage_cycles,
    cumulative_activity_gbq, cumulative_kidney_dose_gy and cumulative_kidney_bed_gy
    (NaN unless every cycle has a kidney dose), n_cycles_t_eff_imputed,
    t_eff_fallback_h, bed_limit_gy, over_dose_limit, over_bed_limit (boolean, <NA>
    when the dose or BED is unknown), egfr_first/egfr_last_ml_min_173m2,
    egfr_change_ml_min_173m2 (last minus first recorded eGFR), egfr_years
    (between them) and egfr_change_pct_per_year.

    BED per cycle: dosimetry.bed with the cycle's measured kidney T_eff; where it is
    missing, the median of all measured kidney T_eff of ``tables`` (the loaded
    cohort), stored in t_eff_fallback_h (NaN if no cycle has one: BED unknown).
    Limits: 23 Gy absorbed dose; BED 28 Gy with, 40 Gy without renal risk factors
    (dosimetry.DOSE_LIMIT_GY, BED_LIMIT_GY_RISK / _NO_RISK, with their sources).
    """
    patients, cycles, labs = tables.patients, tables.cycles, tables.labs
    require_columns(patients, "patients", ("patient_id", "sex", "age_at_first_prrt_years",
                                           "primary_site", "hypertension", "diabetes",
                                           "other_renal_risk"))
    history, risk = projection.inputs_from_tables(tables)
    ids = pd.Index(patients["patient_id"], name="patient_id")
    out = pd.DataFrame({
        "sex": patients["sex"].to_numpy(),
        "age_years": patients["age_at_first_prrt_years"].to_numpy(dtype=float),
        "primary_site": patients["primary_site"].to_numpy(),
        "renal_risk": risk["renal_risk"].to_numpy(dtype=bool),
    }, index=ids)

    salvage = cycles["phase"] == "salvage"
    by_patient = cycles.assign(salvage=salvage, initial=cycles["phase"] == "initial",
                               salvage_date=cycles["cycle_date"].where(salvage)).groupby("patient_id")
    per = by_patient.agg(first_cycle_date=("cycle_date", "min"), salvage_start_date=("salvage_date", "min"),
                         n_initial_cycles=("initial", "sum"), n_salvage_cycles=("salvage", "sum"),
                         cumulative_activity_gbq=("activity_gbq", "sum")).reindex(ids)
    out["first_cycle_date"] = per["first_cycle_date"]
    out["salvage_start_date"] = per["salvage_start_date"]
    out["n_initial_cycles"] = per["n_initial_cycles"].fillna(0).astype(int)
    out["n_salvage_cycles"] = per["n_salvage_cycles"].fillna(0).astype(int)
    out["n_cycles"] = out["n_initial_cycles"] + out["n_salvage_cycles"]
    out["cumulative_activity_gbq"] = per["cumulative_activity_gbq"].fillna(0.0)

    dose = history["kidney_dose_gy"].to_numpy(dtype=float)
    t_eff = history["kidney_t_eff_h"].to_numpy(dtype=float)
    measured = np.isfinite(t_eff) & np.isfinite(dose)
    fallback = float(np.median(t_eff[measured])) if measured.any() else math.nan
    imputed = np.isfinite(dose) & ~np.isfinite(t_eff)
    bed_gy = dosimetry.bed(dose, np.where(imputed, fallback, t_eff))
    per_cycle = pd.DataFrame({"patient_id": history["patient_id"], "dose": dose, "bed": bed_gy,
                              "incomplete": ~np.isfinite(dose), "bed_unknown": ~np.isfinite(bed_gy),
                              "imputed": imputed})
    grouped = per_cycle.groupby("patient_id")
    incomplete = grouped["incomplete"].any().reindex(ids, fill_value=True)
    bed_unknown = grouped["bed_unknown"].any().reindex(ids, fill_value=True)
    out["cumulative_kidney_dose_gy"] = grouped["dose"].sum().reindex(ids).where(~incomplete)
    out["cumulative_kidney_bed_gy"] = grouped["bed"].sum().reindex(ids).where(~bed_unknown)
    out["n_cycles_t_eff_imputed"] = grouped["imputed"].sum().reindex(ids, fill_value=0).astype(int)
    out["t_eff_fallback_h"] = fallback
    out["bed_limit_gy"] = np.where(out["renal_risk"], dosimetry.BED_LIMIT_GY_RISK,
                                   dosimetry.BED_LIMIT_GY_NO_RISK)
    out["over_dose_limit"] = _over(out["cumulative_kidney_dose_gy"], dosimetry.DOSE_LIMIT_GY)
    out["over_bed_limit"] = _over(out["cumulative_kidney_bed_gy"], out["bed_limit_gy"])
    out = out.join(_egfr_change(labs), how="left")
    return out.reset_index()


def _over(value: pd.Series, limit) -> pd.Series:
    return pd.Series(pd.array(value > limit, dtype="boolean"), index=value.index).where(value.notna())


def _egfr_change(labs: pd.DataFrame) -> pd.DataFrame:
    """First and last recorded eGFR per patient, their difference and the change in %/year."""
    egfr = labs.loc[labs["egfr_ml_min_173m2"].notna(), ["patient_id", "lab_date", "egfr_ml_min_173m2"]]
    egfr = egfr.sort_values(["patient_id", "lab_date"], kind="stable")
    grouped = egfr.groupby("patient_id")
    first, last = grouped.first(), grouped.last()
    years = (last["lab_date"] - first["lab_date"]).dt.days / DAYS_PER_YEAR
    change = last["egfr_ml_min_173m2"] - first["egfr_ml_min_173m2"]
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = (100.0 * change / first["egfr_ml_min_173m2"] / years).where(
            (years > 0) & (first["egfr_ml_min_173m2"] > 0))
    return pd.DataFrame({"egfr_first_ml_min_173m2": first["egfr_ml_min_173m2"],
                         "egfr_last_ml_min_173m2": last["egfr_ml_min_173m2"],
                         "egfr_change_ml_min_173m2": change.where(years > 0),
                         "egfr_years": years, "egfr_change_pct_per_year": pct})


@dataclass(frozen=True)
class ToxicityPerPatient:
    """Worst CTCAE grade per patient, test and treatment phase, and every grade >= 3 value."""

    worst_grades: pd.DataFrame   # toxicity.worst_grades with cycles, treatment phases only
    high_grade: pd.DataFrame     # toxicity.high_grade_events(min_grade=3), treatment phases


def _graded(tables: Tables, limits: toxicity.ReferenceLimits) -> pd.DataFrame:
    return toxicity.grade_labs(tables.labs, tables.patients, tables.cycles, limits)


def high_grade_events(tables: Tables,
                      limits: toxicity.ReferenceLimits = toxicity.DEFAULT_REFERENCE_LIMITS) -> pd.DataFrame:
    """Every lab value of CTCAE v5.0 grade >= 3 on treatment (toxicity.high_grade_events).

    The part of toxicity_per_patient that the published comparison needs, without the
    per-patient worst-grade table (about a third of the work for a large cohort).
    """
    return toxicity.high_grade_events(_graded(tables, limits), min_grade=3)


def toxicity_per_patient(tables: Tables,
                         limits: toxicity.ReferenceLimits = toxicity.DEFAULT_REFERENCE_LIMITS
                         ) -> ToxicityPerPatient:
    """CTCAE v5.0 grades of every lab value, reduced to worst grades and grade >= 3 events.

    Phases: before salvage (after the first initial cycle, before salvage start)
    and after salvage start; pre-treatment baseline values are not toxicity.
    ``limits``: reference limits where the lab reports none (toxicity.ReferenceLimits).
    """
    graded = _graded(tables, limits)
    needed = graded[["patient_id", "test", "phase", "value", "grade"]]
    worst = toxicity.worst_grades(needed, tables.cycles)
    worst = worst[worst["phase"].isin([p.value for p in toxicity.TREATMENT_PHASES])]
    return ToxicityPerPatient(worst.reset_index(drop=True),
                              toxicity.high_grade_events(graded, min_grade=3))


# --------------------------------------------------------------------------
# the filter
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class CohortFilter:
    """Which patients to include; ``None`` = no restriction on that criterion.

    primary_sites, sexes ('M'/'F') and salvage_cycles (number of salvage cycles per
    patient, 0 = none) are sets of allowed values; ages are inclusive bounds in
    years (a patient without a recorded age is excluded once an age bound is set);
    first_cycle_from / _to bound the date of the patient's first PRRT cycle
    (inclusive; a patient without cycles is excluded once a bound is set).
    """

    primary_sites: tuple[str, ...] | None = None
    sexes: tuple[str, ...] | None = None
    age_min_years: float | None = None
    age_max_years: float | None = None
    salvage_cycles: tuple[int, ...] | None = None
    renal_risk: bool | None = None
    first_cycle_from: dt.date | None = None
    first_cycle_to: dt.date | None = None

    def __post_init__(self) -> None:
        for name in ("primary_sites", "sexes", "salvage_cycles"):
            value = getattr(self, name)
            if value is not None:
                if isinstance(value, str) or not isinstance(value, Iterable):
                    raise ValueError(f"CohortFilter.{name} must be a collection or None; got {value!r}")
                object.__setattr__(self, name, tuple(sorted(set(value))))
        if self.sexes is not None and not set(self.sexes) <= {"M", "F"}:
            raise ValueError(f"CohortFilter.sexes must be 'M' and/or 'F'; got {self.sexes!r}")
        if self.salvage_cycles is not None and not all(
                isinstance(k, (int, np.integer)) and k >= 0 for k in self.salvage_cycles):
            raise ValueError(f"CohortFilter.salvage_cycles must be counts >= 0; got {self.salvage_cycles!r}")
        if self.renal_risk not in (None, True, False):
            raise ValueError(f"CohortFilter.renal_risk must be True, False or None; got {self.renal_risk!r}")
        for lo, hi in (("age_min_years", "age_max_years"), ("first_cycle_from", "first_cycle_to")):
            a, b = getattr(self, lo), getattr(self, hi)
            if a is not None and b is not None and a > b:
                raise ValueError(f"CohortFilter.{lo} ({a}) is after {hi} ({b})")

    def describe(self) -> str:
        """The active criteria in words ('all patients' when none)."""
        parts = []
        if self.primary_sites is not None:
            parts.append("primary site " + ", ".join(self.primary_sites))
        if self.sexes is not None:
            parts.append("sex " + ", ".join(self.sexes))
        if self.age_min_years is not None or self.age_max_years is not None:
            parts.append(f"age {_or(self.age_min_years, '…')}–{_or(self.age_max_years, '…')} years")
        if self.salvage_cycles is not None:
            parts.append("salvage cycles " + ", ".join(map(str, self.salvage_cycles)))
        if self.renal_risk is not None:
            parts.append("with renal risk factors" if self.renal_risk else "without renal risk factors")
        if self.first_cycle_from is not None or self.first_cycle_to is not None:
            parts.append(f"first PRRT cycle {_or(self.first_cycle_from, '…')} to {_or(self.first_cycle_to, '…')}")
        return "; ".join(parts) if parts else "all patients"


def _or(value, missing: str) -> str:
    return missing if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def select_patients(attributes: pd.DataFrame, cohort_filter: CohortFilter) -> pd.Index:
    """Ids of the patients in ``attributes`` (patient_attributes output) that pass the filter."""
    f = cohort_filter
    keep = pd.Series(True, index=attributes.index)
    if f.primary_sites is not None:
        keep &= attributes["primary_site"].isin(f.primary_sites)
    if f.sexes is not None:
        keep &= attributes["sex"].isin(f.sexes)
    if f.age_min_years is not None:
        keep &= attributes["age_years"] >= f.age_min_years
    if f.age_max_years is not None:
        keep &= attributes["age_years"] <= f.age_max_years
    if f.salvage_cycles is not None:
        keep &= attributes["n_salvage_cycles"].isin(f.salvage_cycles)
    if f.renal_risk is not None:
        keep &= attributes["renal_risk"] == f.renal_risk
    if f.first_cycle_from is not None:
        keep &= attributes["first_cycle_date"] >= pd.Timestamp(f.first_cycle_from)
    if f.first_cycle_to is not None:
        keep &= attributes["first_cycle_date"] <= pd.Timestamp(f.first_cycle_to)
    return pd.Index(attributes.loc[keep, "patient_id"], name="patient_id")


def restrict_frame(frame: pd.DataFrame, patient_ids: Iterable[str]) -> pd.DataFrame:
    """Rows of ``frame`` (with a patient_id column) that belong to the given patients."""
    return frame[frame["patient_id"].isin(pd.Index(patient_ids))]


@dataclass(frozen=True)
class FilterOptions:
    """The values the filter widgets offer for a cohort (from patient_attributes)."""

    primary_sites: tuple[str, ...]
    salvage_cycles: tuple[int, ...]
    age_range_years: tuple[int, int] | None
    first_cycle_range: tuple[dt.date, dt.date] | None


def filter_options(attributes: pd.DataFrame) -> FilterOptions:
    """Primary sites by frequency, salvage-cycle counts, age and first-cycle date ranges."""
    ages = attributes["age_years"].dropna()
    dates = attributes["first_cycle_date"].dropna()
    return FilterOptions(
        primary_sites=tuple(attributes["primary_site"].value_counts().index),
        salvage_cycles=tuple(sorted(int(k) for k in attributes["n_salvage_cycles"].unique())),
        age_range_years=(int(ages.min()), int(ages.max())) if len(ages) else None,
        first_cycle_range=(dates.min().date(), dates.max().date()) if len(dates) else None,
    )


SEX_CHOICES = {"All": None, "Male": ("M",), "Female": ("F",)}
RENAL_RISK_CHOICES = {"All": None, "With": True, "Without": False}


def filter_from_choices(options: FilterOptions, *, primary_sites: Iterable[str] = (), sex: str = "All",
                        age_years: tuple[float, float] | None = None, salvage_cycles: Iterable[int] = (),
                        renal_risk: str = "All", first_cycle_dates: tuple = ()) -> CohortFilter:
    """The CohortFilter of the page's widgets: nothing chosen, or a full range, = no restriction.

    sex and renal_risk are keys of SEX_CHOICES / RENAL_RISK_CHOICES; first_cycle_dates
    is what a date-range input returns (one date while the range is being picked).
    """
    ages = options.age_range_years
    age_set = age_years is not None and ages is not None and tuple(age_years) != tuple(ages)
    span, dates = options.first_cycle_range, tuple(first_cycle_dates or ())
    return CohortFilter(
        primary_sites=tuple(primary_sites) or None,
        sexes=SEX_CHOICES[sex],
        age_min_years=age_years[0] if age_set and age_years[0] != ages[0] else None,
        age_max_years=age_years[1] if age_set and age_years[1] != ages[1] else None,
        salvage_cycles=tuple(salvage_cycles) or None,
        renal_risk=RENAL_RISK_CHOICES[renal_risk],
        first_cycle_from=dates[0] if span and dates and dates[0] != span[0] else None,
        first_cycle_to=dates[1] if span and len(dates) == 2 and dates[1] != span[1] else None,
    )


# --------------------------------------------------------------------------
# toxicity and response tables
# --------------------------------------------------------------------------

PHASE_LABEL = {toxicity.ToxicityPhase.BEFORE_SALVAGE.value: "Before salvage (initial PRRT)",
               toxicity.ToxicityPhase.AFTER_SALVAGE.value: "After salvage start"}


def lab_test_label(test: str) -> str:
    """'Anemia (hemoglobin, g/dL)': CTCAE term, test and unit."""
    t = toxicity.LabTest(test)
    return f"{toxicity.CTCAE_TERM[t]} ({t.value}, {toxicity.TEST_UNIT[t]})"


def round_half_up(value, digits: int = 1):
    """Round halves away from zero, as publications do (26/32 = 81.25 % -> 81.3 %, not 81.2 %).

    A small relative nudge absorbs binary representation error (0.15 is 0.1499...).
    """
    x = np.asarray(value, dtype=float)
    scale = 10.0 ** digits
    out = np.sign(x) * np.floor(np.abs(x) * scale * (1 + 1e-12) + 0.5) / scale
    return float(out) if out.ndim == 0 else out


def _n_pct(n: pd.Series, total: pd.Series) -> pd.Series:
    pct = 100.0 * n / total.where(total > 0)
    return n.astype(int).astype(str) + pct.map(
        lambda p: "" if math.isnan(p) else f" ({round_half_up(p):.1f} %)")


def toxicity_table(worst_grades: pd.DataFrame) -> pd.DataFrame:
    """Patients per worst CTCAE grade, n (%), one row per lab test and treatment phase.

    ``worst_grades`` from toxicity_per_patient; the denominator is every patient
    treated in the phase (toxicity.grade_counts), 'unknown' = no gradable value.
    """
    counts = toxicity.grade_counts(worst_grades)
    if counts.empty:
        return pd.DataFrame(columns=["Lab test (CTCAE v5.0 term, unit)", "Phase", "Patients (n)"])
    counts["cell"] = _n_pct(counts["n_patients"], counts["n_total"])
    wide = counts.pivot_table(index=["test", "phase"], columns="grade", values="cell",
                              aggfunc="first", sort=False)
    wide = wide.reindex(columns=list(toxicity.GRADE_LABELS))
    wide.columns = [f"Grade {g}, n (%)" if g != "unknown" else "Unknown, n (%)" for g in wide.columns]
    totals = counts.groupby(["test", "phase"], sort=False)["n_total"].first()
    out = wide.reset_index()
    out.insert(2, "Patients (n)", totals.to_numpy())
    out["test"] = out["test"].map(lab_test_label)
    out["phase"] = out["phase"].map(PHASE_LABEL)
    return out.rename(columns={"test": "Lab test (CTCAE v5.0 term, unit)", "phase": "Phase"})


def high_grade_table(high_grade: pd.DataFrame) -> pd.DataFrame:
    """Every lab value of CTCAE grade >= 3 on treatment, by patient id and date."""
    return pd.DataFrame({
        "Patient": high_grade["patient_id"].to_numpy(),
        "Lab test (CTCAE v5.0 term, unit)": high_grade["test"].map(lab_test_label).to_numpy(),
        "Phase": high_grade["phase"].map(PHASE_LABEL).to_numpy(),
        "CTCAE grade": high_grade["grade"].astype(int).to_numpy(),
        "Value (unit as in the test column)": high_grade["value"].to_numpy(),
        "Date": high_grade["lab_date"].dt.date.to_numpy(),
    })


def response_table(responses: pd.DataFrame) -> pd.DataFrame:
    """Best overall response (RECIST 1.1) among patients with follow-up imaging, n and %.

    Percentages are rounded half up to one decimal, as published.

    ``responses`` is response.response_by_patient output; patients without
    follow-up imaging are not evaluable and not in the denominator.
    """
    imaged = responses.loc[responses["has_follow_up_imaging"], "best_overall_response"]
    counts = imaged.value_counts().reindex(list(RESPONSES), fill_value=0)
    n = len(imaged)
    return pd.DataFrame({
        "Best overall response": list(RESPONSES),
        "Patients (n)": counts.to_numpy(dtype=int),
        "% of evaluable": [round_half_up(100.0 * c / n) if n else math.nan for c in counts],
    })


# --------------------------------------------------------------------------
# Kaplan–Meier
# --------------------------------------------------------------------------

class ColumnChoice(Enum):
    """A choice whose value is (column name, title shown with its unit)."""

    @property
    def column(self) -> str:
        return self.value[0]

    @property
    def title(self) -> str:
        return self.value[1]


class Endpoint(ColumnChoice):
    """Survival endpoints of survival.endpoints: (column stem, title)."""

    PFS_INITIAL = ("pfs_initial", "PFS after initial PRRT")
    PFS_SALVAGE = ("pfs_salvage", "PFS after salvage start")
    OS_INITIAL = ("os_initial", "OS after initial PRRT")
    OS_SALVAGE = ("os_salvage", "OS after salvage start")


class Stratum(StrEnum):
    """Variables the Kaplan–Meier curves can be split by (value = label shown)."""

    NONE = "none (all patients together)"
    PRIMARY_SITE = "primary site"
    SEX = "sex"
    RENAL_RISK = "renal risk factors"
    SALVAGE_CYCLES = "salvage cycles"


ALL_PATIENTS = "All patients"


def strata(attributes: pd.DataFrame, stratum: Stratum) -> pd.Series:
    """Group label per patient (index patient_id) for a stratification variable."""
    a = attributes.set_index("patient_id")
    if stratum is Stratum.NONE:
        labels = pd.Series(ALL_PATIENTS, index=a.index)
    elif stratum is Stratum.PRIMARY_SITE:
        labels = a["primary_site"].astype(str)
    elif stratum is Stratum.SEX:
        labels = a["sex"].map({"M": "Male", "F": "Female"})
    elif stratum is Stratum.RENAL_RISK:
        labels = a["renal_risk"].map({True: "Renal risk factors", False: "No renal risk factors"})
    else:
        labels = a["n_salvage_cycles"].map(lambda k: f"{k} salvage cycle{'s' if k != 1 else ''}")
    return labels.rename("group")


def at_risk_step_months(max_months: float) -> float:
    """Tick spacing (months) for the numbers-at-risk table: at most 10 ticks."""
    for step in (3.0, 6.0, 12.0, 24.0, 36.0, 60.0):
        if max_months / step <= 10:
            return step
    return 120.0


def format_months(value: float) -> str:
    """Months with one decimal; 'not reached' for inf, '—' for NaN (inf is never formatted)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return "not reached" if math.isinf(value) else f"{value:.1f}"


def format_p(p: float) -> str:
    """Log-rank p as reported: '< 0.001' or three decimals; '—' for NaN."""
    if math.isnan(p):
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


@dataclass(frozen=True)
class KaplanMeier:
    """Kaplan–Meier curves, at-risk counts and summaries of one endpoint by group."""

    endpoint: Endpoint
    stratum: Stratum
    curves: pd.DataFrame     # group, time_months, survival, ci_lower, ci_upper, at_risk, events, censored
    at_risk: pd.DataFrame    # group, time_months, at_risk (#(T >= t))
    summary: pd.DataFrame    # one display row per group (median, CI, restricted mean, CI)
    logrank_p: float         # NaN with fewer than two groups
    n_patients: int
    max_months: float        # largest observed time (NaN without patients)


def kaplan_meier(endpoints: pd.DataFrame, attributes: pd.DataFrame, endpoint: Endpoint,
                 stratum: Stratum = Stratum.NONE, *, alpha: float = 0.05) -> KaplanMeier:
    """Kaplan–Meier analysis of one endpoint (months) split by ``stratum``.

    Patients with the endpoint defined (e.g. a salvage start for 'after salvage')
    are included. Median and its CI: survival.km_summary (Brookmeyer–Crowley-type,
    log-log); restricted mean to each group's largest observed time (SPSS "mean");
    at risk = #(T >= t) every at_risk_step_months; log-rank test across groups.
    """
    months = endpoints.set_index("patient_id")[f"{endpoint.column}_months"]
    events = endpoints.set_index("patient_id")[f"{endpoint.column}_event"]
    data = pd.DataFrame({"t": months, "e": events}).dropna()
    data["group"] = strata(attributes, stratum).reindex(data.index)
    data = data.dropna(subset=["group"])
    empty_summary = pd.DataFrame(columns=list(_SUMMARY_COLUMNS))
    if data.empty:
        empty = pd.DataFrame(columns=["group", "time_months", "survival", "ci_lower", "ci_upper",
                                      "at_risk", "events", "censored"])
        return KaplanMeier(endpoint, stratum, empty, pd.DataFrame(columns=["group", "time_months", "at_risk"]),
                           empty_summary, math.nan, 0, math.nan)
    max_months = float(data["t"].max())
    ticks = np.arange(0.0, max_months + 1e-9, at_risk_step_months(max_months))
    t, e = data["t"].to_numpy(), data["e"].to_numpy()
    if data["group"].nunique() > 1:
        result = survival.compare_groups(t, e, data["group"], at_risk_times=ticks, alpha=alpha)
        summaries, p_value = result["groups"], result["logrank_p"]
    else:  # one group: no test to run
        summaries = {data["group"].iloc[0]: survival.km_summary(t, e, at_risk_times=ticks, alpha=alpha)}
        p_value = math.nan
    order = sorted(summaries, key=str)
    curves, risk, rows = [], [], []
    for group in order:
        mask = (data["group"] == group).to_numpy()
        curve = survival.km_curve(t[mask], e[mask], alpha=alpha)
        curves.append(curve.rename(columns={"time": "time_months"}).assign(group=group))
        s = summaries[group]
        risk.append(pd.DataFrame({"group": group, "time_months": list(s["at_risk"]),
                                  "at_risk": list(s["at_risk"].values())}))
        rows.append(_summary_row(group, s))
    curves_df = pd.concat(curves, ignore_index=True)
    curves_df = curves_df[["group"] + [c for c in curves_df.columns if c != "group"]]
    return KaplanMeier(endpoint, stratum, curves_df, pd.concat(risk, ignore_index=True),
                       pd.DataFrame(rows, columns=list(_SUMMARY_COLUMNS)), p_value,
                       len(data), max_months)


_SUMMARY_COLUMNS = ("Group", "Patients (n)", "Events (n)", "Censored (n)", "Median (months)",
                    "Median 95 % CI (months)", "Restricted mean (months)",
                    "Restricted mean 95 % CI (months)", "Restricted to (months)")


def _summary_row(group, s: Mapping) -> tuple:
    lo, hi = s["median_ci"]
    rlo, rhi = s["rmst_ci"]
    return (group, s["n"], s["events"], s["censored"], format_months(s["median"]),
            f"{format_months(lo)} – {format_months(hi)}", format_months(s["rmst"]),
            f"{format_months(rlo)} – {format_months(rhi)}", format_months(s["tau"]))
