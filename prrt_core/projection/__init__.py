"""The kidney projection: a random-effects model of kidney Gy/GBq and its Monte Carlo.

Modules: ``settings`` (one settings object), ``model`` (validation, variance-component
fit, posterior), ``variance`` (posterior draws of tau^2, sigma^2), ``montecarlo`` (project, project_path), ``inputs`` (from the store's tables).
"""
from prrt_core.projection.inputs import inputs_from_tables, kidney_per_cycle
from prrt_core.projection.model import (
                                        HISTORY_COLUMNS,
                                        PATIENT_COLUMNS,
                                        CohortModel,
                                        fit_cohort_model,
                                        patient_posterior,
)
from prrt_core.projection.montecarlo import QUANTILES, project, project_path
from prrt_core.projection.settings import (
    DEFAULT_SETTINGS,
    MAX_SAFE_CYCLES_CAP,
    KidneyModelSettings,
    VarianceComponents,
)

__all__ = ["DEFAULT_SETTINGS", "HISTORY_COLUMNS", "MAX_SAFE_CYCLES_CAP", "PATIENT_COLUMNS", "QUANTILES",
           "CohortModel", "KidneyModelSettings", "fit_cohort_model", "inputs_from_tables", "kidney_per_cycle",
           "patient_posterior", "project", "project_path", "VarianceComponents"]
