"""The physicist's dosimetry report as downloads (HTML, PDF) on the Dosimetry page, built only when
clicked (prrt_core.reports.dosimetry_report)."""
from __future__ import annotations

import datetime as dt
import functools

import streamlit as st

from prrt_core.reports import dosimetry_report, pdf
from ui.dosimetry_save import PATIENT_KEY


def _report(result, patient_id: str | None, cycle_number: int | None, source: str, demo: bool,
            as_pdf: bool = False) -> str | bytes:
    """The report, HTML or PDF; runs on the download click, so only prrt_core calls on the bound arguments."""
    request = dosimetry_report.DosimetryReportRequest(patient_id, cycle_number, source, dt.datetime.now(), demo)
    if as_pdf:
        return dosimetry_report.report_pdf(result, request)
    return dosimetry_report.report_html(result, request)


def downloads(result, source: str) -> None:
    """Two download buttons; the report names the patient chosen for saving (pseudonymous id) and its cycle."""
    patient_id = st.session_state.get(PATIENT_KEY)
    cycle_number = st.session_state.get(f"dosimetry_cycle_{patient_id}") if patient_id else None
    demo = bool(st.session_state.get("dosimetry_demo"))
    report = functools.partial(_report, result, patient_id, cycle_number, str(source), demo)
    stem = f"{patient_id}_cycle{cycle_number}_dosimetry" if patient_id and cycle_number else "dosimetry_report"
    problem = pdf.engine_problem()
    with st.container(horizontal=True):
        st.download_button("Download the dosimetry report (HTML)", report, file_name=f"{stem}.html", mime="text/html",
                           icon=":material/download:", on_click="ignore",
                           help="Inputs with series UIDs, TAC fits, doses by every method with uncertainty, DVH, "
                                "method and constants with sources, software version.")
        st.download_button("Download the dosimetry report (PDF)", functools.partial(report, as_pdf=True),
                           file_name=f"{stem}.pdf", mime="application/pdf", icon=":material/picture_as_pdf:",
                           on_click="ignore", disabled=problem is not None, help=problem or "The same report as PDF (A4).")
