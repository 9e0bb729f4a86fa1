"""The Dosimetry page's results: what was read (series UIDs behind an expander), the dose chosen (LDM,
DVK, organ level, RTDOSE) with its uncertainty, every method in the VOI table, the TAC, DVH and the
larger slice views."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from prrt_core.charts import dosimetry as dosimetry_charts
from prrt_core.dicom import DicomStudy
from prrt_core.dicom.study_dose import DoseSource, VoxelDosimetry
from prrt_core.importer.dosimetry_results import dose_sd_gy
from prrt_core.views import dosimetry as dose_view
from ui.text import md

SOURCE_LABELS = dose_view.SOURCE_LABELS  # one name per dose source, as in the report
HEADLINE_ORDER = ("kidneys", "kidney_left", "kidney_right", "tumour", "liver", "spleen")
TEXT_COLUMNS = ("VOI", "Organ", "Organ-level method", "TAC model", "Voxels")


def with_sd(dose: float, sd: float | None) -> str:
    """'3.20 ± 0.05' (Gy); '± <0.01' for an uncertainty below the shown precision; the dose alone when unknown."""
    if sd is None or not np.isfinite(sd):
        return f"{dose:.2f}"
    return f"{dose:.2f} ± {sd:.2f}" if sd >= 0.005 else f"{dose:.2f} ± <0.01"


def what_was_read(study: DicomStudy) -> None:
    """Activity, time points, VOIs, RTDOSE; the series table, its UIDs behind an expander; the notes."""
    cols = st.columns(4)
    if study.injection is not None:
        cols[0].metric("Injected activity (MBq)", f"{study.injection.activity_mbq:.0f}",
                       help=f"Source: {md(study.injection.activity_source)}")
        cols[1].metric("SPECT time points", len(study.time_points),
                       help=f"Injection time from {md(study.injection.time_source)}")
    cols[2].metric("VOIs", len(study.vois))
    cols[3].metric("RTDOSE maps", len(study.dose_maps))
    summary = study.summary()
    st.dataframe(summary.drop(columns=["Series Instance UID"]), hide_index=True, width="stretch")
    with st.expander("Series and UIDs"):
        st.dataframe(summary[["Item", "Modality", "Series Instance UID", "Files"]], hide_index=True, width="stretch")
    for note in study.notes:
        st.caption(md(note))


def headline(result: VoxelDosimetry, source: DoseSource) -> None:
    """One metric per kidney, side, lesion, liver and spleen: the chosen dose with its 1-sigma."""
    rows = [row for organ in HEADLINE_ORDER for _, row in result.organs[result.organs["organ"] == organ].iterrows()]
    metrics = dose_view.headline_doses(result, source)
    for col, (label, value, help_text), row in zip(st.columns(max(len(metrics), 1)), metrics, rows):
        sd = dose_sd_gy(row, source)
        extra = "" if sd is None else f"; 1 sigma {sd:.3g} Gy from the TAC fit (Gear et al. EJNMMI 2018;45:2456)"
        col.metric(md(label), with_sd(value, sd), help=md(help_text + extra))  # VOI names come from the files


def organ_table(result: VoxelDosimetry) -> None:
    """Every VOI with every method's dose (LDM, DVK, organ level with its 1-sigma, RTDOSE)."""
    table = dose_view.organ_table(result)  # with the organ-level dose's SD (1 sigma) when computed
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.3g") for c in table
                                if c not in TEXT_COLUMNS})


def charts(result: VoxelDosimetry) -> None:
    """TAC and DVH side by side; the activity and dose slices below them, one above the other."""
    if not result.has_spect:
        if not result.dvh.empty:
            st.altair_chart(dosimetry_charts.dvh_chart(result), width="stretch")
        return
    left, right = st.columns(2)
    log_scale = left.toggle("Logarithmic activity axis", value=False)
    left.altair_chart(dosimetry_charts.tac_chart(result, log_scale=log_scale), width="stretch")
    right.altair_chart(dosimetry_charts.dvh_chart(result), width="stretch")

    st.subheader("Slice view")
    c1, c2, c3 = st.columns(3)
    centre_on = c1.selectbox("Centre on VOI", list(result.masks))
    times = result.study.times_h
    time_index = c2.selectbox("SPECT time point", range(len(times)), format_func=lambda i: f"{times[i]:.1f} h")
    n_slices = result.study.geometry.shape[0]
    slice_index = c3.slider("Slice", 1, n_slices, dosimetry_charts.centre_slice(result, centre_on) + 1,
                            key=f"slice_{centre_on}") - 1
    # The larger slice charts (charts.dosimetry.SLICE_SIZE_PX) stacked: two side by side overflow the
    # main area beside the sidebar at common screen widths.
    st.altair_chart(dosimetry_charts.slice_chart(result, "activity", slice_index, time_index), width="content")
    st.altair_chart(dosimetry_charts.slice_chart(result, "dose", slice_index), width="content")


def dose_choice(result: VoxelDosimetry) -> DoseSource:
    """The 'Dose shown and saved' radio over the sources this result has."""
    choice = DoseSource(st.radio("Dose shown and saved", result.dose_sources, format_func=SOURCE_LABELS.get,
                                 horizontal=True))
    if result.dvk_note:
        st.caption(md(result.dvk_note))
    return choice


def stp_table(organs: pd.DataFrame) -> pd.DataFrame:
    """A single-time-point result's VOI table with unit-bearing headers."""
    return organs.rename(columns={
        "voi": "VOI", "organ": "Organ", "label": "Label", "n_voxels": "Voxels", "volume_ml": "Volume (mL)",
        "mass_g": "Mass (g)", "time_h": "Time after injection (h)", "concentration_mbq_per_ml": "Concentration (MBq/mL)",
        "activity_mbq": "Activity (MBq)", "t_eff_h": "T_eff used (h)", "hanscheid_dose_gy": "Hänscheid 2018 (Gy)",
        "madsen_dose_gy": "Madsen 2018 (Gy)"})
