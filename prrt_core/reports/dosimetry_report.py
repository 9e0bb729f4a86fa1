"""The physicist's per-cycle dosimetry report: one self-contained HTML file (and its PDF), like the
tumour-board summary (same print CSS, inline SVG charts, no URL, ``reports.pdf`` for the PDF).

What a physicist signs off (issue 16): the inputs (every series with its Series Instance UID,
time after injection and units/calibration; injected activity and where it came from; density),
the time-activity curve of every VOI with its fitted model, the fit's parameters, R², AICc and
the time-integrated activity with its 1-sigma uncertainty, the dose of every VOI by each method
(voxel mean with local deposition, LDM; voxel mean with the dose-voxel kernel, DVK, when
computed; organ level with the kidney S-value) with its uncertainty, the DVH, the method and its
constants with their sources, and the software version. The patient is named by the
pseudonymous id only; no patient name, PACS id, birth date or file name is printed. Every
value is escaped (``layout.esc``).
"""
from __future__ import annotations

import datetime as dt
import functools
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from prrt_core import dosimetry
from prrt_core.charts import dosimetry as dose_charts
from prrt_core.dosimetry.voxel import TISSUE_DENSITY_G_PER_ML
from prrt_core.reports import layout as lo
from prrt_core.reports import pdf
from prrt_core.views.dosimetry import SOURCE_LABELS, DoseSource, VoxelDosimetry

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
GIT_TIMEOUT_S = 5.0
CHART_HEIGHT_PX = 200  # plot height of the TAC and DVH charts as printed (two side by side)


@functools.cache
def software_version() -> str:
    """``git describe --always --dirty --tags`` of the running code, or a note when it is not a git checkout."""
    try:
        done = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty", "--tags"],
                              capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (git not available)"
    text = done.stdout.strip()
    return f"git {text}" if done.returncode == 0 and text else "unknown (not a git checkout)"


@dataclass(frozen=True)
class DosimetryReportRequest:
    """Whose cycle (pseudonymous id and cycle number, or None before saving), the dose chosen for the
    record, when, and whether the study is the demo phantom."""

    patient_id: str | None
    cycle_number: int | None
    dose_source: str
    generated_at: dt.datetime
    demo: bool = False


def tac_parameters(result: VoxelDosimetry) -> pd.DataFrame:
    """Per VOI the best TAC fit (dosimetry.fit_best_tac, AICc) of the measured curve: model,
    parameters, R² (ln scale), AICc, TIA and its 1-sigma uncertainty (fit covariance) when known."""
    if result.tac.empty:
        return pd.DataFrame()
    names = list(dict.fromkeys(result.tac["voi"]))
    curves = np.stack([result.tac.loc[result.tac["voi"] == n, "activity_mbq"].to_numpy(float) for n in names])
    times = result.tac.loc[result.tac["voi"] == names[0], "time_h"].to_numpy(float)
    fit = dosimetry.fit_best_tac(np.broadcast_to(times, curves.shape), curves)
    out = pd.DataFrame({
        "VOI": names, "Model": np.atleast_1d(fit.model), "A0 (MBq)": np.atleast_1d(fit.a0_mbq),
        "λ_eff (1/h)": np.atleast_1d(fit.lambda_eff_per_h), "T_eff (h)": np.atleast_1d(fit.t_eff_h),
        "λ_uptake (1/h)": np.where(np.isfinite(np.atleast_1d(fit.lambda_uptake_per_h)),
                                   np.atleast_1d(fit.lambda_uptake_per_h), np.nan),
        "R² (ln)": np.atleast_1d(fit.r2), "AICc": np.where(np.isfinite(np.atleast_1d(fit.aicc)),
                                                           np.atleast_1d(fit.aicc), np.nan),
        "TIA (MBq·h)": np.atleast_1d(fit.tia_mbq_h)})
    sd = getattr(fit, "tia_sd_mbq_h", None)
    if sd is not None:
        out["TIA SD (MBq·h)"] = np.atleast_1d(sd)
    out["Points"] = fit.n_points
    return out


def with_sd(dose: float, sd: float | None, digits: int = 2) -> str:
    """'3.20 ± 0.05' (Gy), or the dose alone when its uncertainty is unknown; '—' for no value."""
    if dose is None or not np.isfinite(dose):
        return "—"
    if sd is None or not np.isfinite(sd):
        return f"{dose:.{digits}f}"
    return f"{dose:.{digits}f} ± {sd:.{digits}f}"


def dose_table(result: VoxelDosimetry) -> pd.DataFrame:
    """Per VOI: mass and the dose of every method computed (Gy; the organ level with its 1-sigma)."""
    o = result.organs
    frame = pd.DataFrame({"VOI": o["voi"], "Organ": o["organ"], "Mass (g)": o["mass_g"].map(lambda v: f"{v:.1f}")})
    sd = o["organ_dose_sd_gy"] if "organ_dose_sd_gy" in o else pd.Series(np.nan, index=o.index)
    rel = sd / o["organ_dose_gy"] if "organ_dose_gy" in o else pd.Series(np.nan, index=o.index)
    if "voxel_mean_dose_gy" in o:
        frame["LDM voxel mean (Gy)"] = [with_sd(d, d * r) for d, r in zip(o["voxel_mean_dose_gy"], rel)]
    if "dvk_mean_dose_gy" in o:
        frame["DVK voxel mean (Gy)"] = [with_sd(d, d * r) for d, r in zip(o["dvk_mean_dose_gy"], rel)]
    if "organ_dose_gy" in o:
        frame["Organ level (Gy)"] = [with_sd(d, s) for d, s in zip(o["organ_dose_gy"], sd)]
        frame["Organ-level method"] = o["organ_method"]
    if "rtdose_mean_gy" in o:
        frame["RTDOSE mean (Gy)"] = o["rtdose_mean_gy"].map(lambda v: with_sd(v, None))
    return frame


def _header(result, r: DosimetryReportRequest) -> str:
    who = lo.esc(r.patient_id) if r.patient_id else "not yet saved to a patient"
    cycle = f", cycle {int(r.cycle_number)}" if r.cycle_number is not None else ""
    parts = [f"<h1>Dosimetry report: {who}{cycle}</h1>",
             f'<p class="note">Generated {lo.esc(r.generated_at.strftime("%Y-%m-%d %H:%M"))} by Salvage PRRT Board, '
             f"software version {lo.esc(software_version())}. Decision support, not a medical device. "
             "Patient named by the pseudonymous id only.</p>"]
    if r.demo:
        parts.append('<p class="demo"><b>Demo study.</b> An analytic phantom (prrt_core.testing.phantom), '
                     "not a patient; not for clinical decisions.</p>")
    return "".join(parts)


def _inputs(result) -> str:
    study = result.study
    rows = []
    if study.injection is not None:
        inj = study.injection
        rows += [("Injected activity (MBq)", f"{inj.activity_mbq:.1f} (source: {inj.activity_origin})"),
                 ("Injection time", f"{inj.time:%Y-%m-%d %H:%M} (source: {inj.time_origin})")]
    rows += [("Tissue density (g/mL)", f"{result.density_g_per_ml:g}"),
             ("SPECT time points", str(len(study.time_points))), ("Image grid", study.geometry.describe())]
    items = [(f"SPECT {i}", tp.series_instance_uid, tp.modality, len(tp.sop_instance_uids), f"{t:.2f}", tp.units)
             for i, (tp, t) in enumerate(zip(study.time_points, study.times_h), start=1)]
    items += [(f"VOI {v.name}", v.source.series_instance_uid or "", v.source.kind, 1, "", f"{int(v.mask.sum())} voxels")
              for v in study.vois]
    items += [("RTDOSE", d.series_instance_uid, "RTDOSE", 1, "", f"{d.dose_units} ({d.dose_type}, {d.summation_type})")
              for d in study.dose_maps]
    table = pd.DataFrame(items, columns=["Item", "Series Instance UID", "Modality", "Images",
                                         "Time after injection (h)", "Units / calibration"])
    return ("<h2>Inputs</h2>" + lo.facts(rows, label_pct=36)
            + lo.table(table, (12, 40, 9, 7, 12, 20), css="small"))


def _curves(result: VoxelDosimetry) -> str:
    if result.tac.empty:
        return ""
    fits = tac_parameters(result)
    tac = dose_charts.tac_chart(result).properties(width=lo.HALF_CHART_WIDTH_PX - 60, height=CHART_HEIGHT_PX)
    dvh = dose_charts.dvh_chart(result).properties(width=lo.HALF_CHART_WIDTH_PX - 60, height=CHART_HEIGHT_PX)
    return ("<h2>Time-activity curves and fits</h2>"
            f'<div class="pair">{lo.figure(tac)}{lo.figure(dvh)}</div>'
            + lo.table(fits, {"VOI": 16, "Model": 7}, digits=4, css="small")
            + '<p class="note">Best of mono- and bi-exponential by AICc (Glatting et al. Med Phys 2007;34:4285), '
            "fitted on ln(activity); λ_eff ≥ λ_phys of Lu-177. TIA SD: 1 sigma from the fit's parameter "
            "covariance, propagated (EANM guideline, Gear et al. EJNMMI 2018;45:2456).</p>")


def _doses(result: VoxelDosimetry, r: DosimetryReportRequest) -> str:
    chosen = SOURCE_LABELS[DoseSource(r.dose_source)]
    return ("<h2>Absorbed dose</h2>" + lo.table(dose_table(result), {"VOI": 16, "Organ": 10, "Mass (g)": 7}, css="small")
            + f'<p class="note">Dose for the record: <b>{lo.esc(chosen)}</b>. ± is 1 sigma from the TAC fit '
            "(voxel means: the same relative uncertainty); it leaves out calibration, VOI and "
            "registration uncertainty.</p>")


def _method(result) -> str:
    rows = [("Lu-177 half-life (h)", f"{dosimetry.LU177_HALF_LIFE_H:.3f} (6.647 d; EJNMMI Physics 2020, "
             "doi 10.1186/s40658-020-00301-2, Table 1)"),
            ("Δ, electrons (Gy·g/(MBq·h))", f"{dosimetry.DELTA_LOCAL_GY_G_PER_MBQ_H:.5f} "
             f"({dosimetry.LU177_ELECTRON_KEV_PER_DECAY:.2f} keV per decay: β⁻ 133.3 + CE 13.52 + Auger 1.13 keV, "
             "same table)"),
            ("Kidney S-value (mGy/(MBq·s))", f"{dosimetry.KIDNEY_S_REF_MGY_PER_MBQ_S:.3g} at "
             f"{dosimetry.KIDNEY_REF_MASS_G:g} g, scaled by 1/mass (OLINDA-style adult male; ICRP 89 kidney "
             "mass; OpenDose ICRP-110 S×m)"),
            ("Tissue density (g/mL)", f"{result.density_g_per_ml:g} (default {TISSUE_DENSITY_G_PER_ML:g}: between "
             "ICRU 46 soft tissue 1.03 and kidney 1.05)")]
    if isinstance(result, VoxelDosimetry):
        rows.append(("Voxel model", "mono-exponential log-linear fit per voxel, λ ≥ λ_phys; local deposition of Δ"))
    if "dvk_mean_dose_gy" in getattr(result, "organs", ()):
        rows.append(("Dose-voxel kernel", "Lu-177 soft-tissue ICRP kernel, 51³ voxels of 4.7952 mm, mGy/(MBq·s) "
                     "(PyTheranostics 0.1, Apache-2.0; data/kernels/README.md), FFT convolution, "
                     "rescaled to the tissue density"))
    return "<h2>Method and constants</h2>" + lo.facts(rows, columns=1, label_pct=28, css="small")


STP_NAMES = {"hanscheid": "single-time-point (Hänscheid 2018)", "madsen": "single-time-point (Madsen 2018)"}


def _stp_doses(result, r: DosimetryReportRequest) -> str:
    """A single-time-point result (dicom.study_stp): both methods per VOI, the T_eff used and its source."""
    o = result.organs
    frame = pd.DataFrame({"VOI": o["voi"], "Organ": o["organ"], "Mass (g)": o["mass_g"].map(lambda v: f"{v:.1f}"),
                          "Time (h)": o["time_h"].map(lambda v: f"{v:.1f}"),
                          "C (MBq/mL)": o["concentration_mbq_per_ml"].map(lambda v: f"{v:.4g}"),
                          "A (MBq)": o["activity_mbq"].map(lambda v: f"{v:.4g}"),
                          "T_eff (h)": o["t_eff_h"].map(lambda v: f"{v:.1f}"),
                          "Hänscheid 2018 (Gy)": o["hanscheid_dose_gy"].map(lambda v: with_sd(v, None)),
                          "Madsen 2018 (Gy)": o["madsen_dose_gy"].map(lambda v: with_sd(v, None))})
    chosen = STP_NAMES.get(str(r.dose_source), str(r.dose_source))
    return ("<h2>Absorbed dose from one time point</h2>" + lo.table(frame, {"VOI": 16, "Organ": 10}, css="small")
            + f'<p class="note">{lo.esc(result.t_eff_source)}. Dose for the record: <b>{lo.esc(chosen)}</b>. '
            "Hänscheid et al. J Nucl Med 2018;59:75-81: D = 0.125 C(t) 2^(t/T_eff) T_eff (kidneys; 0.125 Gy·mL/(MBq·h) "
            "is the kidney's S×m/ln 2 at 1 g/mL). Madsen et al. Med Phys 2018;45:2318-2324: TIA = A(t) e^(λt)/λ, "
            "then the kidney S-value or local deposition with the VOI mass. Uncertainty of T_eff not "
            "propagated.</p>")


def report_html(result, request: DosimetryReportRequest) -> str:
    """The report of a VoxelDosimetry (or of a single-time-point result, dicom.study_stp) as one HTML
    document (str), printable on A4."""
    if isinstance(result, VoxelDosimetry):
        DoseSource(request.dose_source)  # a known source (ValueError otherwise)
        body = (_header(result, request) + _inputs(result) + _curves(result) + _doses(result, request)
                + _method(result))
    else:
        body = _header(result, request) + _inputs(result) + _stp_doses(result, request) + _method(result)
    logger.info("dosimetry report built (%d charts)", body.count("<svg"))
    title = f"Dosimetry report {request.patient_id or ''}".strip()
    return lo.document(title, body)


def report_pdf(result, request: DosimetryReportRequest, *,
               timeout_s: float = pdf.RENDER_TIMEOUT_S) -> bytes:
    """The report as PDF (reports.pdf.html_to_pdf: WeasyPrint in a child process); ReportError as there."""
    return pdf.html_to_pdf(report_html(result, request), timeout_s=timeout_s)
