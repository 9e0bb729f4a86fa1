"""Single-time-point dosimetry on the Dosimetry page: a study with one SPECT time point, T_eff from the
patient's earlier cycles, the cohort median, or typed (stated with the result), and both methods
(Hänscheid 2018, Madsen 2018) side by side (prrt_core.dicom.study_stp)."""
from __future__ import annotations

import streamlit as st

from prrt_core.dicom import DicomStudy
from prrt_core.dicom.study_stp import SingleTimePointDosimetry, StpMethod, compute_single_time_point
from prrt_core.dosimetry.single_time_point import MAX_T_EFF_H, TEffEstimate, TEffSource
from prrt_core.errors import PrrtError
from prrt_core.importer import dosimetry_results
from ui import database
from ui.dosimetry_save import patient_picker
from ui.dosimetry_show import stp_table
from ui.text import md

T_EFF_CHOICES = {TEffSource.PATIENT: "The patient's earlier cycles (median)", TEffSource.COHORT: "The cohort median",
                 TEffSource.ENTERED: "Enter T_eff"}


def stp_section(study: DicomStudy, density_g_per_ml: float) -> tuple[SingleTimePointDosimetry, StpMethod,
                                                                      str | None] | None:
    """The section; returns (result, method chosen, patient id) or None when no T_eff is there yet."""
    st.subheader("Single-time-point dosimetry")
    st.info(f"One SPECT time point ({study.times_h[0]:.1f} h after injection): voxel dosimetry needs two or more. "
            "Single-time-point dosimetry needs the kidneys' effective half-life T_eff.")
    c1, c2, c3 = st.columns(3)
    with c1:
        patient_id = patient_picker("Patient (pseudonymous ID; T_eff of the earlier cycles, and saving)")
    use = c2.radio("T_eff from", list(T_EFF_CHOICES), format_func=T_EFF_CHOICES.get, key="dosimetry_t_eff_from")
    before = study.injection.time.date() if study.injection is not None else None
    if use is TEffSource.ENTERED:
        typed = c3.number_input("T_eff (h)", min_value=1.0, max_value=MAX_T_EFF_H, value=None, step=1.0,
                                key="dosimetry_t_eff_h")
        estimate = None if typed is None else TEffEstimate(float(typed), TEffSource.ENTERED, 1)
    else:
        estimate = dosimetry_results.t_eff_estimate(database.tables(), patient_id, before, use=use)
    if estimate is None:
        st.warning("No kidney T_eff " + ("typed yet." if use is TEffSource.ENTERED else
                                         f"stored for {md(T_EFF_CHOICES[use].lower())}: choose another source."))
        return None
    source_text = dosimetry_results.t_eff_text(estimate, patient_id)
    c3.metric("T_eff used (h)", f"{estimate.t_eff_h:.1f}", help=md(source_text))
    st.caption(md(source_text))
    try:
        result = compute_single_time_point(study, estimate.t_eff_h, source_text, density_g_per_ml)
    except PrrtError as exc:
        st.error(f"Nothing was computed. {md(exc)}")
        return None
    methods = list(StpMethod)  # Madsen first chosen, as on the command line (every VOI; Hänscheid: kidneys)
    method = StpMethod(st.radio("Dose shown and saved", methods, index=methods.index(StpMethod.MADSEN),
                                format_func=lambda m: m.label.capitalize(), horizontal=True,
                                key="dosimetry_stp_method"))
    kidneys = result.organs[result.organs["organ"].isin(("kidneys", "kidney_left", "kidney_right"))]
    for col, row in zip(st.columns(max(len(kidneys), 1)), kidneys.itertuples()):
        col.metric(md(f"{row.voi} (Gy)"), f"{getattr(row, method.column):.2f}",
                   help=md(f"Hänscheid {row.hanscheid_dose_gy:.2f} Gy, Madsen {row.madsen_dose_gy:.2f} Gy; {source_text}"))
    st.dataframe(stp_table(result.organs), hide_index=True, width="stretch")
    st.caption(f"Hänscheid's constant (0.125 Gy·mL/(MBq·h), Hänscheid 2018) holds for kidney tissue of 1 g/mL as "
               f"published; Madsen's dose uses the density chosen here ({density_g_per_ml:.2f} g/mL), so the two "
               "differ by that ratio as well as by their methods.")
    return result, method, patient_id
