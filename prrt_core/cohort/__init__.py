"""Cohort statistics: per-patient attributes, filters, Table 1, toxicity and response tables,
Kaplan-Meier inputs, and the published-versus-cohort comparison."""
from prrt_core.cohort.cohort_all import *  # noqa: F401,F403  (split in progress)
from prrt_core.cohort.cohort_all import _egfr_change  # noqa: F401
