"""SPECT/PET straight from a PACS over DICOMweb (QIDO-RS search, WADO-RS retrieval).

- ``settings``: :class:`PacsSettings` (URL, bearer token or basic auth, time-out), the PACS
  patient ID check.
- ``client``: one bounded DICOMweb session (dicomweb-client); every failure a PacsError.
- ``search``: :func:`search_pacs` -> :class:`PacsSearch` (series as :class:`PacsSeries`, no patient
  data; notes on what was dropped or left out), :func:`search_series`, :func:`series_table`.
- ``retrieve``: :func:`retrieve_series` -> ``(name, bytes)`` files for ``study_dose.analyse``.

The PACS patient ID is typed at query time and never stored, logged or shown; no link between
it and the pseudonymous id is kept.
"""
from prrt_core.dicom.pacs.retrieve import RetrievalLimits, retrieve_series
from prrt_core.dicom.pacs.search import PacsSearch, PacsSeries, search_pacs, search_series, series_table
from prrt_core.dicom.pacs.settings import PacsSettings, checked_patient_id
from prrt_core.errors import PacsError

__all__ = ["PacsError", "PacsSearch", "PacsSeries", "PacsSettings", "RetrievalLimits", "checked_patient_id",
           "retrieve_series", "search_pacs", "search_series", "series_table"]
