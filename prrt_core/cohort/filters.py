"""The cohort filter: which patients the statistics page shows, and the widgets' choices.

``CohortFilter`` is a hashable set of criteria (a cache key); ``select_patients`` applies
it to ``patient_attributes`` and ``restrict_frame`` keeps those patients' rows of any
per-patient table, so a new filter never recomputes grades, responses or endpoints.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from prrt_core.errors import InputError


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
                    raise InputError(f"CohortFilter.{name} must be a collection or None; got {value!r}")
                object.__setattr__(self, name, tuple(sorted(set(value))))
        if self.sexes is not None and not set(self.sexes) <= {"M", "F"}:
            raise InputError(f"CohortFilter.sexes must be 'M' and/or 'F'; got {self.sexes!r}")
        if self.salvage_cycles is not None and not all(
                isinstance(k, (int, np.integer)) and k >= 0 for k in self.salvage_cycles):
            raise InputError(f"CohortFilter.salvage_cycles must be counts >= 0; got {self.salvage_cycles!r}")
        if self.renal_risk not in (None, True, False):
            raise InputError(f"CohortFilter.renal_risk must be True, False or None; got {self.renal_risk!r}")
        for lo, hi in (("age_min_years", "age_max_years"), ("first_cycle_from", "first_cycle_to")):
            a, b = getattr(self, lo), getattr(self, hi)
            if a is not None and b is not None and a > b:
                raise InputError(f"CohortFilter.{lo} ({a}) is after {hi} ({b})")

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


class SexChoice(StrEnum):
    """The sex options of the filter (value = label shown)."""

    ALL = "All"
    MALE = "Male"
    FEMALE = "Female"

    @property
    def sexes(self) -> tuple[str, ...] | None:
        """CohortFilter.sexes of this choice (None = no restriction)."""
        return {SexChoice.MALE: ("M",), SexChoice.FEMALE: ("F",)}.get(self)


class RenalRiskChoice(StrEnum):
    """The renal risk factor options of the filter (value = label shown)."""

    ALL = "All"
    WITH = "With"
    WITHOUT = "Without"

    @property
    def renal_risk(self) -> bool | None:
        """CohortFilter.renal_risk of this choice (None = no restriction)."""
        return {RenalRiskChoice.WITH: True, RenalRiskChoice.WITHOUT: False}.get(self)


def filter_from_choices(options: FilterOptions, *, primary_sites: Iterable[str] = (),
                        sex: SexChoice | str = SexChoice.ALL, age_years: tuple[float, float] | None = None,
                        salvage_cycles: Iterable[int] = (), renal_risk: RenalRiskChoice | str = RenalRiskChoice.ALL,
                        first_cycle_dates: tuple = ()) -> CohortFilter:
    """The CohortFilter of the page's widgets: nothing chosen, or a full range, = no restriction.

    sex and renal_risk are SexChoice / RenalRiskChoice (or their labels); first_cycle_dates
    is what a date-range input returns (one date while the range is being picked).
    """
    ages = options.age_range_years
    age_set = age_years is not None and ages is not None and tuple(age_years) != tuple(ages)
    span, dates = options.first_cycle_range, tuple(first_cycle_dates or ())
    return CohortFilter(
        primary_sites=tuple(primary_sites) or None,
        sexes=SexChoice(sex).sexes,
        age_min_years=age_years[0] if age_set and age_years[0] != ages[0] else None,
        age_max_years=age_years[1] if age_set and age_years[1] != ages[1] else None,
        salvage_cycles=tuple(salvage_cycles) or None,
        renal_risk=RenalRiskChoice(renal_risk).renal_risk,
        first_cycle_from=dates[0] if span and dates and dates[0] != span[0] else None,
        first_cycle_to=dates[1] if span and len(dates) == 2 and dates[1] != span[1] else None,
    )
