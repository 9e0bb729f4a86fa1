"""Dosimetry: quantitative SPECT/CT time series (or an RTDOSE) and VOIs -> kidney and tumour dose per cycle;
one time point -> single-time-point dosimetry; the physicist's report; saving to a cycle after a check."""

import streamlit as st

from prrt_core.dicom.study_dose import VoxelDosimetry
from prrt_core.errors import InputError
from ui import (
    database,
    dosimetry_report,
    dosimetry_save,
    dosimetry_show,
    dosimetry_stp,
    identity,
    navigation,
    network,
    pacs,
)
from ui import dosimetry_inputs as inputs
from ui.text import md

navigation.ensure_navigation()

st.title("Dosimetry")
database.demo_notice()
st.caption("Quantitative SPECT/CT at one or more time points (NM RECON TOMO in Bq/mL or counts, or PET), "
           "VOIs as DICOM SEG, RTSTRUCT or a NIfTI label map (TotalSegmentator), or an RTDOSE from other "
           "software. Files may have any name; a zip of a folder works too. Patient names, IDs and birth "
           "dates in the files are neither shown nor stored.")

if pacs.configured() and st.radio("Source", ("Upload files", "PACS (DICOMweb)"), horizontal=True,
                                 key="dosimetry_source") == "PACS (DICOMweb)":
    pacs.retrieve_form(inputs.add_files, inputs.held_files())  # [prrt.pacs] in the secrets (ui/pacs.py)
else:
    st.file_uploader("DICOM files, NIfTI label maps or a zip", accept_multiple_files=True,
                     key=network.uploader_key(inputs.UPLOADER), on_change=inputs.take_upload)
st.button("Load the demo SPECT study (phantom)", on_click=inputs.load_demo, icon=":material/science:",
          key="dosimetry_demo_load", help="An analytic phantom with a known answer (two kidneys and a lesion, five "
                                          "time points), so the pipeline can be tried without data.")
files = st.session_state.get("dosimetry_files") or []
if files:
    inputs.files_caption(files)

values = inputs.values_form()
signature = (st.session_state.get("dosimetry_digest"), repr(values))

with st.container(horizontal=True):
    run = st.button("Read and compute dosimetry", type="primary", disabled=not files, key="dosimetry_run")
    st.button("Remove the loaded files", disabled=not files, on_click=inputs.remove_files, key="dosimetry_remove")
if run:
    bar = st.progress(0.0, text="Reading files")
    try:
        computed = inputs.read_and_compute(files, values, lambda f, m: bar.progress(min(max(f, 0.0), 1.0), text=md(m)))
    except InputError as exc:
        st.session_state.pop("dosimetry_result", None)
        st.error(f"Nothing was computed or stored. {md(exc)}")  # names the file
    else:
        st.session_state["dosimetry_result"] = (signature, computed)
    bar.empty()

stored = st.session_state.get("dosimetry_result")
if stored is None:
    st.info("Upload the time series and VOIs (or load the demo study), then press **Read and compute dosimetry**."
            if files else "No files yet.")
    st.stop()
if stored[0] != signature:
    st.info("The files or values changed since the last computation: press **Read and compute dosimetry** again.")
    st.stop()

result = stored[1]
study = result.study if isinstance(result, VoxelDosimetry) else result
st.subheader("What was read")
dosimetry_show.what_was_read(study)

if not isinstance(result, VoxelDosimetry):  # one time point: single-time-point dosimetry
    chosen = dosimetry_stp.stp_section(study, values.density_g_per_ml)
    if chosen is not None:
        stp, method, patient_id = chosen
        if identity.can_write():
            dosimetry_save.save_section(stp, method, method.label, patient_id)
        st.subheader("Report")
        dosimetry_report.downloads(stp, method)
    st.stop()

st.subheader("Kidney and tumour dose")
source = dosimetry_show.dose_choice(result)
dosimetry_show.headline(result, source)
dosimetry_show.organ_table(result)
dosimetry_show.charts(result)

if identity.can_write():
    dosimetry_save.save_section(result, source, dosimetry_show.SOURCE_LABELS[source].lower())

st.subheader("Report")
dosimetry_report.downloads(result, source)
