"""Cohort statistics: per-patient figures, the filter, display tables and Kaplan–Meier.

The names below are the cohort API (``from prrt_core import cohort; cohort.overview(...)``);
each lives in the module of its idea: ``headline`` (Home's headline figures),
``attributes`` (per-patient figures and toxicity), ``filters`` (the cohort filter),
``summaries`` (toxicity and response tables), ``km`` (Kaplan–Meier). Table 1 and the
published-study comparison are the submodules ``table1`` and ``published``.
"""
from prrt_core.cohort.attributes import ToxicityPerPatient, high_grade_events, patient_attributes, toxicity_per_patient
from prrt_core.cohort.filters import (
    CohortFilter,
    FilterOptions,
    RenalRiskChoice,
    SexChoice,
    filter_from_choices,
    filter_options,
    restrict_frame,
    select_patients,
)
from prrt_core.cohort.headline import CohortOverview, cumulative_per_patient, overview
from prrt_core.cohort.km import (
    ColumnChoice,
    Endpoint,
    KaplanMeier,
    Stratum,
    at_risk_step_months,
    filtered_kaplan_meier,
    format_months,
    format_p,
    kaplan_meier,
)
from prrt_core.cohort.summaries import high_grade_table, response_table, round_half_up, toxicity_table

__all__ = [
    "CohortFilter", "CohortOverview", "ColumnChoice", "Endpoint", "FilterOptions", "KaplanMeier", "RenalRiskChoice",
    "SexChoice", "Stratum", "ToxicityPerPatient", "at_risk_step_months", "cumulative_per_patient",
    "filter_from_choices", "filter_options", "filtered_kaplan_meier", "format_months", "format_p",
    "high_grade_events", "high_grade_table", "kaplan_meier", "overview", "patient_attributes", "response_table",
    "restrict_frame", "round_half_up", "select_patients", "toxicity_per_patient", "toxicity_table",
]
