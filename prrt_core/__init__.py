"""Salvage PRRT Board domain library: store, import, dosimetry, projection, DICOM, clinical rules,
cohort statistics, views and charts. Pure Python over numpy/pandas; never imports streamlit.

The layers and what each subpackage holds: docs/architecture.md. The public API
(docs/architecture.md, "Public API")::

    from prrt_core import dosimetry, projection, toxicity, response, survival
"""
from prrt_core import dosimetry, projection
from prrt_core.clinical import response, survival, toxicity

__all__ = ["dosimetry", "projection", "response", "survival", "toxicity"]
