"""Dosimetry: quantitative SPECT/CT time series (or an RTDOSE) and VOIs -> kidney and tumour dose per cycle."""

import datetime as dt
import hashlib

import streamlit as st

from prrt_core.charts import dosimetry as dosimetry_charts
from prrt_core.dicom import study_dose
from prrt_core.dosimetry import voxel
from prrt_core.errors import InputError, PrrtError
from prrt_core.importer import dosimetry_results
from prrt_core.store import Store
from prrt_core.views import dosimetry as dose_view
from ui import database, identity, navigation, network, pacs
from ui.text import md

navigation.ensure_navigation()

st.title("Dosimetry")
database.demo_notice()
st.caption("Quantitative SPECT/CT at two or more time points (NM RECON TOMO in Bq/mL or counts, or PET), "
           "VOIs as DICOM SEG, RTSTRUCT or a NIfTI label map (TotalSegmentator), or an RTDOSE from other "
           "software. Files may have any name; a zip of a folder works too. Patient names, IDs and birth "
           "dates in the files are neither shown nor stored.")

SOURCE_LABELS = {"voxel": "Voxel mean (local deposition)", "organ": "Organ level (VOI TAC, S-value)",
                 "rtdose": "RTDOSE mean (other software)"}
UPLOADER = "dosimetry_upload"  # its widget key until the first release (ui/network.py)


def _add_files(new: list[tuple[str, bytes]]) -> None:
    """Add files (uploaded or retrieved from the PACS) to those taken before (same name: replaced)."""
    taken = dict(st.session_state.get("dosimetry_files") or []) | dict(new)
    digest = hashlib.sha256()
    for name, content in taken.items():
        digest.update(name.encode() + len(content).to_bytes(8, "little") + hashlib.sha256(content).digest())
    st.session_state["dosimetry_files"] = list(taken.items())
    st.session_state["dosimetry_digest"] = digest.hexdigest()


def _take_upload() -> None:
    """Take the uploaded files, then release the uploads: Streamlit's copy is dropped and the
    uploader comes back empty for more files."""
    uploads = st.session_state.get(network.uploader_key(UPLOADER)) or []
    _add_files([(f.name, f.getvalue()) for f in uploads])
    network.release(UPLOADER, uploads)


def _remove_files() -> None:
    for key in ("dosimetry_files", "dosimetry_digest", "dosimetry_result"):
        st.session_state.pop(key, None)


if pacs.configured() and st.radio("Source", ("Upload files", "PACS (DICOMweb)"), horizontal=True,
                                 key="dosimetry_source") == "PACS (DICOMweb)":
    pacs.retrieve_form(_add_files)  # [prrt.pacs] in the secrets (ui/pacs.py)
else:
    st.file_uploader("DICOM files, NIfTI label maps or a zip", accept_multiple_files=True,
                     key=network.uploader_key(UPLOADER), on_change=_take_upload)
files = st.session_state.get("dosimetry_files") or []
if files:
    names = [name for name, _ in files]
    st.caption(f"{len(files)} file(s) loaded, {sum(len(c) for _, c in files) / 1e6:.1f} MB: "
               + md(", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")))

with st.expander("Values not in the files (leave empty to use the files' values)"):
    c1, c2, c3 = st.columns(3)
    activity_mbq = c1.number_input("Injected activity (MBq)", min_value=1.0, max_value=15000.0, value=None,
                                   step=10.0, help="Overrides RadionuclideTotalDose of the files")
    inj_date = c2.date_input("Injection date", value=None)
    inj_time = c3.time_input("Injection time", value=None, step=60)
    c1, c2, c3 = st.columns(3)
    calibration = c1.number_input("Calibration factor (cps/MBq)", min_value=0.001, value=None, step=0.1,
                                  help="Only for images in counts: reconstructed counts per second of scan per MBq")
    duration_s = c2.number_input("Scan duration (s)", min_value=1.0, value=None, step=60.0,
                                 help="Only for counts; overrides views × frame duration from the files")
    density = c3.number_input("Tissue density (g/mL)", min_value=0.5, max_value=2.0,
                              value=voxel.TISSUE_DENSITY_G_PER_ML, step=0.01, format="%.2f",
                              help="Default 1.04 g/mL, between ICRU 46 average soft tissue (1.03) and kidney (1.05)")

injection_time = None
if (inj_date is None) != (inj_time is None):
    st.warning("Enter both the injection date and time, or neither.")
elif inj_date is not None:
    injection_time = dt.datetime.combine(inj_date, inj_time)

inputs = dict(activity_mbq=activity_mbq, injection_time=injection_time, calibration_cps_per_mbq=calibration,
              acquisition_duration_s=duration_s, density_g_per_ml=density)
signature = (st.session_state.get("dosimetry_digest"), repr(sorted(inputs.items())))

with st.container(horizontal=True):
    run = st.button("Read and compute dosimetry", type="primary", disabled=not files)
    st.button("Remove the loaded files", disabled=not files, on_click=_remove_files, key="dosimetry_remove")
if run:
    bar = st.progress(0.0, text="Reading files")
    try:
        result = study_dose.analyse(files, progress=lambda f, m: bar.progress(min(max(f, 0.0), 1.0), text=md(m)), **inputs)
    except InputError as exc:
        st.session_state.pop("dosimetry_result", None)
        st.error(f"Nothing was computed or stored. {md(exc)}")  # names the file
    else:
        st.session_state["dosimetry_result"] = (signature, result)
    bar.empty()

stored = st.session_state.get("dosimetry_result")
if stored is None:
    st.info("Upload the time series and VOIs, then press **Read and compute dosimetry**." if files
            else "No files yet.")
    st.stop()
if stored[0] != signature:
    st.info("The files or values changed since the last computation: press **Read and compute dosimetry** again.")
    st.stop()
result = stored[1]
study = result.study

st.subheader("What was read")
cols = st.columns(4)
if study.injection is not None:
    cols[0].metric("Injected activity (MBq)", f"{study.injection.activity_mbq:.0f}",
                   help=f"Source: {md(study.injection.activity_source)}")
    cols[1].metric("SPECT time points", len(study.time_points),
                   help=f"Injection time from {md(study.injection.time_source)}")
cols[2].metric("VOIs", len(study.vois))
cols[3].metric("RTDOSE maps", len(study.dose_maps))
st.dataframe(study.summary(), hide_index=True, width="stretch")
for note in study.notes:
    st.caption(md(note))

st.subheader("Kidney and tumour dose")
sources = result.dose_sources
source = st.radio("Dose shown and saved", sources, format_func=SOURCE_LABELS.get, horizontal=True)
metrics = dose_view.headline_doses(result, source)
for col, (label, value, help_text) in zip(st.columns(max(len(metrics), 1)), metrics):
    col.metric(md(label), f"{value:.2f}", help=md(help_text))  # VOI names come from the files
st.dataframe(dose_view.organ_table(result), hide_index=True, width="stretch",
             column_config={c: st.column_config.NumberColumn(format="%.3g") for c in dose_view.organ_table(result)
                            if c not in ("VOI", "Organ", "Organ-level method", "TAC model", "Voxels")})

if result.has_spect:
    left, right = st.columns(2)
    log_scale = left.toggle("Logarithmic activity axis", value=False)
    left.altair_chart(dosimetry_charts.tac_chart(result, log_scale=log_scale), width="stretch")
    right.altair_chart(dosimetry_charts.dvh_chart(result), width="stretch")

    st.subheader("Slice view")
    c1, c2, c3 = st.columns(3)
    centre_on = c1.selectbox("Centre on VOI", list(result.masks))
    times = study.times_h
    time_index = c2.selectbox("SPECT time point", range(len(times)), format_func=lambda i: f"{times[i]:.1f} h")
    n_slices = study.geometry.shape[0]
    slice_index = c3.slider("Slice", 1, n_slices, dosimetry_charts.centre_slice(result, centre_on) + 1,
                            key=f"slice_{centre_on}") - 1
    left, right = st.columns(2)
    left.altair_chart(dosimetry_charts.slice_chart(result, "activity", slice_index, time_index), width="content")
    right.altair_chart(dosimetry_charts.slice_chart(result, "dose", slice_index), width="content")
elif not result.dvh.empty:
    st.altair_chart(dosimetry_charts.dvh_chart(result), width="stretch")

if identity.can_write():
    st.subheader("Save to a cycle")
    tables = database.tables()
    patients = sorted(tables.patients["patient_id"])
    if not patients:
        st.info("The database has no patients yet.")
        st.stop()
    c1, c2 = st.columns(2)
    patient_id = c1.selectbox("Patient (pseudonymous ID)", patients)
    cycles = tables.cycles[tables.cycles["patient_id"] == patient_id].sort_values("cycle_number")
    if cycles.empty:
        st.info(f"Patient {md(patient_id)} has no cycles yet.")
        st.stop()
    labels = {int(r.cycle_number): f"Cycle {int(r.cycle_number)} ({r.cycle_date:%Y-%m-%d}, {r.activity_gbq:.2f} GBq)"
              for r in cycles.itertuples()}
    cycle_number = c2.selectbox("Cycle", list(labels), format_func=labels.get)
    st.caption(f"Writes one row per VOI ({SOURCE_LABELS[source].lower()}); rows that exist for this cycle "
               "(same organ and label) are updated, with the change in the audit log.")
    if st.button(f"Save to cycle {cycle_number} of patient {md(patient_id)}"):
        try:
            with Store(database.db_path()) as store:
                done = dosimetry_results.save_to_cycle(store, result, patient_id, cycle_number,
                                                       actor=identity.current_actor(), source=source)
        except PrrtError as exc:  # refused input, or a write without an editor
            st.error(f"Nothing was stored. {md(exc)}")
        else:
            st.success(f"Saved {len(done)} dosimetry rows to cycle {cycle_number} of patient {md(patient_id)}.")
            st.dataframe(done, hide_index=True)
