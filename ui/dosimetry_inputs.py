"""The Dosimetry page's inputs: files taken from uploads, the PACS or the demo study, the values not in
the files, and reading/computing the study (one time point: read only, for single-time-point dosimetry)."""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import streamlit as st

from prrt_core import dicom
from prrt_core.dicom import study_dose
from prrt_core.dosimetry import voxel
from prrt_core.testing import phantom
from ui import network
from ui.text import md

UPLOADER = "dosimetry_upload"  # its widget key until the first release (ui/network.py)
STATE_KEYS = ("dosimetry_files", "dosimetry_digest", "dosimetry_result", "dosimetry_demo")


def held_files() -> list[tuple[str, bytes]]:
    """The files this session holds for the next computation."""
    return list(st.session_state.get("dosimetry_files") or [])


def add_files(new: list[tuple[str, bytes]], *, demo: bool = False) -> None:
    """Add files (uploaded, retrieved from the PACS, or the demo study) to those taken before (same name: replaced)."""
    taken = dict(st.session_state.get("dosimetry_files") or []) | dict(new)
    digest = hashlib.sha256()
    for name, content in taken.items():
        digest.update(name.encode() + len(content).to_bytes(8, "little") + hashlib.sha256(content).digest())
    st.session_state["dosimetry_files"] = list(taken.items())
    st.session_state["dosimetry_digest"] = digest.hexdigest()
    st.session_state["dosimetry_demo"] = demo or bool(st.session_state.get("dosimetry_demo"))


def take_upload() -> None:
    """Take the uploaded files, then release the uploads: Streamlit's copy is dropped and the
    uploader comes back empty for more files."""
    uploads = st.session_state.get(network.uploader_key(UPLOADER)) or []
    add_files([(f.name, f.getvalue()) for f in uploads])
    network.release(UPLOADER, uploads)


def load_demo() -> None:
    """Replace the loaded files by the demo SPECT study (the analytic phantom, one zip)."""
    remove_files()
    add_files([(phantom.DEMO_ZIP_NAME, phantom.demo_study_zip())], demo=True)


def remove_files() -> None:
    for key in STATE_KEYS:
        st.session_state.pop(key, None)


def files_caption(files: list[tuple[str, bytes]]) -> None:
    names = [name for name, _ in files]
    size = sum(len(c) for _, c in files)
    st.caption(f"{len(files)} file(s) loaded, " + (f"{size / 1e6:.1f} MB: " if size >= 1e5 else f"{size / 1e3:.0f} kB: ")
               + md(", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")))
    if st.session_state.get("dosimetry_demo"):
        st.caption("The demo SPECT study: an analytic phantom (two kidneys and a lesion, five time points), "
                   "not a patient. Its left kidney receives 3.20 Gy (voxel mean, local deposition).")


@dataclass(frozen=True)
class StudyInputs:
    """The values entered instead of the files' (None: the files' value)."""

    activity_mbq: float | None
    injection_time: dt.datetime | None
    calibration_cps_per_mbq: float | None
    acquisition_duration_s: float | None
    density_g_per_ml: float


def values_form() -> StudyInputs:
    """The expander of values not in the files; warns when only one of injection date and time is given."""
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
    return StudyInputs(activity_mbq, injection_time, calibration, duration_s, density)


def read_and_compute(files, values: StudyInputs, progress):
    """The study read (dicom.read_study) and, with two or more time points, its voxel dosimetry
    (study_dose.compute); with one time point the study itself, for single-time-point dosimetry."""
    study = dicom.read_study(files, activity_mbq=values.activity_mbq, injection_time=values.injection_time,
                             calibration_cps_per_mbq=values.calibration_cps_per_mbq,
                             acquisition_duration_s=values.acquisition_duration_s,
                             progress=lambda f, m: progress(0.6 * f, m))
    if len(study.time_points) == 1:
        return study
    return study_dose.compute(study, density_g_per_ml=values.density_g_per_ml,
                              progress=lambda f, m: progress(0.6 + 0.4 * f, m))
