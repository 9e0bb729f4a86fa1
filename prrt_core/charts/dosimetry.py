"""Altair charts of a voxel dosimetry result: VOI time-activity curves, DVH, slice views.

Every function returns an ``alt.Chart`` (or layer) with units on every axis and legend
title; pages only render them.
"""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from prrt_core.dicom.study_dose import VoxelDosimetry

MAX_SLICE_PIXELS = 128  # a slice view is subsampled to at most this many voxels per side
SLICE_SIZE_PX = 440  # a slice view's plot area: two side by side fit a wide layout, a VOI can be judged
SLICE_KINDS = {"activity": ("SPECT activity", "Activity (kBq/mL)"),
               "dose": ("Absorbed dose (local deposition)", "Absorbed dose (Gy)"),
               "dose_dvk": ("Absorbed dose (DVK convolution)", "Absorbed dose (Gy)")}
OUTLINE_COLOURS = ["#00e5ff", "#76ff03", "#ffffff", "#ff4081", "#2979ff", "#ffea00"]  # visible on 'inferno'


def tac_chart(result: VoxelDosimetry, *, log_scale: bool = False) -> alt.LayerChart:
    """Measured VOI activity (points) and the fitted curve (line) against time after injection."""
    if result.tac.empty:
        raise ValueError("no SPECT time series: no time-activity curves to show")
    scale = alt.Scale(type="log") if log_scale else alt.Scale(zero=True)
    color = alt.Color("voi:N", title="VOI")
    x = alt.X("time_h:Q", title="Time after injection (h)")
    y = alt.Y("activity_mbq:Q", title="Activity in VOI (MBq)", scale=scale)
    fit = result.tac_fit[result.tac_fit["activity_mbq"] > 0] if log_scale else result.tac_fit
    line = alt.Chart(fit).mark_line().encode(x=x, y=y, color=color)
    points = alt.Chart(result.tac).mark_point(filled=True, size=60).encode(
        x=x, y=y, color=color,
        tooltip=[alt.Tooltip("voi:N", title="VOI"), alt.Tooltip("time_h:Q", title="Time (h)", format=".1f"),
                 alt.Tooltip("activity_mbq:Q", title="Activity (MBq)", format=".2f")])
    title = alt.TitleParams("VOI time-activity curves", subtitle="points measured, lines fitted")
    return (line + points).properties(title=title, height=380).configure_legend(orient="bottom", columns=2)


def dvh_chart(result: VoxelDosimetry) -> alt.Chart:
    """Cumulative dose-volume histograms of every VOI (and of an RTDOSE when one was given)."""
    if result.dvh.empty:
        raise ValueError("no dose map: no dose-volume histogram to show")
    several = result.dvh["source"].nunique() > 1
    subtitle = "dash: dose map (see legend)" if several else str(result.dvh["source"].iloc[0])
    dash = (alt.StrokeDash("source:N", title="Dose map", legend=alt.Legend(orient="bottom", direction="vertical", labelLimit=0))
            if several else alt.StrokeDash())
    return alt.Chart(result.dvh).mark_line().encode(
        x=alt.X("dose_gy:Q", title="Absorbed dose (Gy)"),
        y=alt.Y("volume_pct:Q", title="Volume receiving at least this dose (%)", scale=alt.Scale(domain=[0, 100])),
        color=alt.Color("voi:N", title="VOI"),
        strokeDash=dash,
        tooltip=[alt.Tooltip("voi:N", title="VOI"), alt.Tooltip("source:N", title="Dose map"),
                 alt.Tooltip("dose_gy:Q", title="Dose (Gy)", format=".2f"),
                 alt.Tooltip("volume_pct:Q", title="Volume (%)", format=".1f")],
    ).properties(title=alt.TitleParams("Dose-volume histograms", subtitle=subtitle, anchor="start", limit=0),
                 height=380).configure_legend(orient="bottom", columns=2).configure_axis(titleLimit=0)


def centre_slice(result: VoxelDosimetry, voi: str) -> int:
    """Slice index through the centre of mass of a VOI."""
    return int(round(float(np.nonzero(result.masks[voi])[0].mean())))


def _outline(mask2d: np.ndarray) -> np.ndarray:
    """Voxels of the mask with at least one 4-neighbour outside it."""
    padded = np.pad(mask2d, 1)
    inner = padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask2d & ~inner


def slice_frame(result: VoxelDosimetry, kind: str, slice_index: int, time_index: int = 0) -> pd.DataFrame:
    """Long table of one axial slice: row_mm, col_mm, value (kBq/mL or Gy), subsampled for display.

    kind: 'activity' (at time_index), 'dose' (local deposition) or 'dose_dvk' (DVK convolution).
    """
    if kind == "activity":
        volume = result.study.time_points[time_index].activity_bq_per_ml if result.study.time_points else None
        factor = 1.0e-3  # Bq/mL -> kBq/mL
    elif kind == "dose":
        volume, factor = result.dose_gy, 1.0
    elif kind == "dose_dvk":
        volume, factor = result.dose_dvk_gy, 1.0
    else:
        raise ValueError(f"kind must be one of {', '.join(SLICE_KINDS)}, got {kind!r}")
    if volume is None:
        raise ValueError("no SPECT time series: no slice to show")
    if not 0 <= slice_index < volume.shape[0]:
        raise ValueError(f"slice_index {slice_index} outside 0-{volume.shape[0] - 1}")
    plane = volume[slice_index]
    step = max(1, int(np.ceil(max(plane.shape) / MAX_SLICE_PIXELS)))
    spacing = result.study.geometry.spacing_mm
    rows, cols = np.meshgrid(np.arange(0, plane.shape[0], step), np.arange(0, plane.shape[1], step), indexing="ij")
    return pd.DataFrame({"row_mm": (rows * spacing[1]).ravel(), "col_mm": (cols * spacing[2]).ravel(),
                         "value": (plane[::step, ::step] * factor).ravel().astype(float),
                         "size_mm": float(step * spacing[1])})


def slice_chart(result: VoxelDosimetry, kind: str, slice_index: int, time_index: int = 0) -> alt.LayerChart:
    """Heatmap of one axial slice (activity in kBq/mL at one time point, or an LDM or DVK dose in Gy) with
    VOI outlines, SLICE_SIZE_PX square.

    Columns increase towards the patient's left for the usual axial orientation, so the
    patient's left is on the right of the image (radiological convention).
    """
    frame = slice_frame(result, kind, slice_index, time_index)
    step_mm = float(frame["size_mm"].iloc[0])
    frame = frame.assign(col2=frame["col_mm"] + step_mm, row2=frame["row_mm"] + step_mm)
    title, legend = SLICE_KINDS[kind]
    x = alt.X("col_mm:Q", title="Column position in slice (mm)", scale=alt.Scale(nice=False))
    y = alt.Y("row_mm:Q", title="Row position in slice (mm)", scale=alt.Scale(reverse=True, nice=False))
    heat = alt.Chart(frame).mark_rect(strokeWidth=0).encode(
        x=x, x2="col2:Q", y=y, y2="row2:Q",
        color=alt.Color("value:Q", title=legend, scale=alt.Scale(scheme="inferno"),
                        legend=alt.Legend(orient="bottom", gradientLength=240)),
        tooltip=[alt.Tooltip("value:Q", title=legend, format=".3g")])
    spacing = result.study.geometry.spacing_mm
    outlines = []
    for voi in result.study.vois:  # drawn VOIs only (not the derived union of both kidneys)
        name, mask = voi.name, voi.mask
        r, c = np.nonzero(_outline(mask[slice_index]))
        outlines.append(pd.DataFrame({"row_mm": (r + 0.5) * spacing[1], "col_mm": (c + 0.5) * spacing[2],
                                      "voi": name}))
    edge = pd.concat(outlines, ignore_index=True)
    line = alt.Chart(edge).mark_square(size=14, filled=True, opacity=1.0).encode(
        x="col_mm:Q", y="row_mm:Q",
        color=alt.Color("voi:N", title="VOI outline", scale=alt.Scale(range=OUTLINE_COLOURS),
                        legend=alt.Legend(orient="bottom", direction="vertical")),
        tooltip=[alt.Tooltip("voi:N", title="VOI")])
    return (heat + line).resolve_scale(color="independent").properties(
        title=alt.TitleParams(f"{title}, slice {slice_index + 1}", anchor="start", limit=0),
        width=SLICE_SIZE_PX, height=SLICE_SIZE_PX,
        autosize=alt.AutoSizeParams(type="pad")).configure_axis(grid=False)
