"""Voxel dosimetry from a quantitative SPECT time series: fits, TIA and dose maps, VOI results.

Per-voxel fit (vectorised, closed form; numexpr): times t_k after injection, activity
concentration A_k. Points with A_k > 0 are used; zero or negative values (below detection,
reconstruction noise) are treated as missing, not as measured zeros.
- two or more positive points: mono-exponential ln A = ln A0 - lambda t by least squares on
  those points; lambda is never slower than Lu-177 physical decay (lambda >= LAMBDA_PHYS_PER_H):
  a voxel that clears more slowly, or rises, gets lambda_phys with the least-squares
  intercept for that slope (the same rule as dosimetry.fit_mono_exponential);
- one positive point: physical decay through it from injection on, A(t) = A_k exp(-lambda_phys
  (t - t_k)): the lambda_phys-clipped model through one point, an upper bound;
- no positive point: TIA = 0.
TIA = A0 / lambda (0 to infinity).

Absorbed dose by local energy deposition: D = TIA/mL x Delta / rho, Delta = 0.08534
Gy g/(MBq h) (dosimetry.DELTA_LOCAL_GY_G_PER_MBQ_H: all 147.95 keV of electron energy per
decay absorbed in the voxel; the 35 keV of photon energy per decay is not counted). No
dose-voxel-kernel convolution is applied: the product has no Lu-177 kernel it can source or
compute honestly, so the voxel dose is the local-deposition dose (see the README).

VOI results put the voxel mean next to the organ-level dose from the VOI time-activity
curve (dosimetry.fit_best_tac; kidneys: mass-scaled S-value, other VOIs: local deposition
with the VOI mass), and, when an RTDOSE from other software is given, its VOI mean.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numexpr as ne
import numpy as np
import pandas as pd

from . import dicom_io, dosimetry
from .store import Store

logger = logging.getLogger(__name__)

# Tissue density used to turn VOI volume into mass and Bq/mL into Bq/g, g/mL. 1.04 g/mL lies
# between ICRU Report 46 average adult soft tissue, 1.03 g/cm3 (as tabulated by Lee et al.,
# Health Phys 2012;102:292, Table 2), and the 1.05 g/cm3 of adult kidney in ICRU 46 and in the
# ICRP Publication 110 reference phantoms (Table A.1; value not re-verified here). Dose scales
# as 1/rho, so either neighbour changes a dose by < 1 %.
TISSUE_DENSITY_G_PER_ML = 1.04
KIDNEY_ORGANS = ("kidneys", "kidney_left", "kidney_right")
DVH_BINS = 200

Progress = Callable[[float, str], None]


# --- per-voxel fit ---------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class VoxelFit:
    """Per-voxel result; every array has the voxel shape.

    tia: time-integrated activity (activity unit x h); lambda_per_h: clearance rate used;
    n_positive: number of positive samples (0 -> TIA 0, 1 -> physical decay, >= 2 -> fit).
    """

    tia: np.ndarray
    lambda_per_h: np.ndarray
    n_positive: np.ndarray

    @property
    def t_eff_h(self) -> np.ndarray:
        return np.log(2.0) / self.lambda_per_h


def fit_voxels(times_h, activity, *, scale: float = 1.0, dtype=np.float32) -> VoxelFit:
    """Mono-exponential fit of every voxel at once (rules in the module docstring).

    times_h: n_t >= 2 strictly increasing times after injection, h. activity: n_t arrays of
    one shape (or one array with time first), any activity unit. scale multiplies the TIA
    (e.g. 1e-6 for Bq*h -> MBq*h). Returns TIA in activity unit x h x scale.
    """
    t = np.asarray(times_h, dtype=float)
    arrays = [np.asarray(a) for a in activity]
    if t.ndim != 1 or t.size < 2 or t.size != len(arrays):
        raise ValueError(f"need n_t >= 2 times and as many activity maps, got {t.size} times, {len(arrays)} maps")
    if not np.isfinite(t).all() or (t <= 0).any() or (np.diff(t) <= 0).any():
        raise ValueError(f"times_h must be finite, > 0 and strictly increasing, got {t.tolist()}")
    shape = arrays[0].shape
    if any(a.shape != shape for a in arrays):
        raise ValueError("activity maps must all have one shape")
    t_mean = float(t.mean())
    tau = t - t_mean  # centred times: better conditioned sums; the intercept is shifted back below
    names = {f"a{k}": a for k, a in enumerate(arrays)}
    logs = {f"y{k}": ne.evaluate(f"where(a{k} > 0, log(a{k}), 0)", local_dict=names) for k in range(t.size)}
    loc = names | logs
    mask = [f"where(a{k} > 0, {{}}, 0.0)" for k in range(t.size)]
    s_n = ne.evaluate(" + ".join(m.format("1.0") for m in mask), local_dict=loc)
    s_t = ne.evaluate(" + ".join(m.format(repr(float(x))) for m, x in zip(mask, tau)), local_dict=loc)
    s_tt = ne.evaluate(" + ".join(m.format(repr(float(x * x))) for m, x in zip(mask, tau)), local_dict=loc)
    s_y = ne.evaluate(" + ".join(f"y{k}" for k in range(t.size)), local_dict=loc)
    s_ty = ne.evaluate(" + ".join(f"{float(x)!r} * y{k}" for k, x in enumerate(tau)), local_dict=loc)
    del logs, loc
    sums = {"n": s_n, "st": s_t, "stt": s_tt, "sy": s_y, "sty": s_ty, "lp": dosimetry.LAMBDA_PHYS_PER_H}
    # Least-squares slope -(n Sty - St Sy)/(n Stt - St^2); n < 2 divides 0 by 0 and falls back to lambda_phys.
    lam = ne.evaluate("where((n >= 2) & (-(n * sty - st * sy) / (n * stt - st * st) > lp), "
                      "-(n * sty - st * sy) / (n * stt - st * st), lp)", local_dict=sums)
    sums |= {"lam": lam, "tm": t_mean, "scale": float(scale)}
    # ln A0 = mean over positive points of (y + lam tau) + lam * t_mean; TIA = A0 / lam.
    tia = np.empty(shape, dtype=dtype)
    ne.evaluate("where(n > 0, exp((sy + lam * st) / n + lam * tm) / lam * scale, 0.0)", local_dict=sums,
                out=tia, casting="same_kind")
    return VoxelFit(tia, lam.astype(dtype, copy=False), s_n.astype(np.uint8))


def dose_local_deposition_gy(tia_mbq_h_per_ml, density_g_per_ml: float = TISSUE_DENSITY_G_PER_ML):
    """Voxel dose with all electron energy deposited locally: TIA/mL x Delta / rho, Gy."""
    if not density_g_per_ml > 0:
        raise ValueError(f"density_g_per_ml must be > 0, got {density_g_per_ml}")
    factor = dosimetry.DELTA_LOCAL_GY_G_PER_MBQ_H / density_g_per_ml
    tia = np.asarray(tia_mbq_h_per_ml)
    out = np.empty(tia.shape, dtype=np.result_type(tia.dtype, np.float32))
    return ne.evaluate("tia * f", local_dict={"tia": tia, "f": factor}, out=out, casting="same_kind")


def tia_and_dose_maps(times_h, activity_bq_per_ml, density_g_per_ml: float = TISSUE_DENSITY_G_PER_ML):
    """(TIA map MBq*h/mL, dose map Gy, VoxelFit) from activity maps in Bq/mL at times_h."""
    fit = fit_voxels(times_h, activity_bq_per_ml, scale=1.0e-6)
    return fit.tia, dose_local_deposition_gy(fit.tia, density_g_per_ml), fit


# --- VOI statistics -------------------------------------------------------------------------
def dvh(dose_gy: np.ndarray, masks: dict[str, np.ndarray], *, bins: int = DVH_BINS,
        max_dose_gy: float | None = None) -> pd.DataFrame:
    """Cumulative dose-volume histograms: per VOI, the % of its volume receiving >= dose_gy.

    One shared dose axis of ``bins`` + 1 points from 0 to the largest VOI dose (or
    max_dose_gy). Long format: columns voi, dose_gy, volume_pct.
    """
    values = {name: np.asarray(dose_gy)[mask] for name, mask in masks.items()}
    top = max_dose_gy or max((float(v.max()) for v in values.values() if v.size), default=1.0)
    edges = np.linspace(0.0, top * 1.000001 if top > 0 else 1.0, bins + 1)
    frames = []
    for name, v in values.items():
        if not v.size:
            raise ValueError(f"VOI {name!r} has no voxels")
        counts, _ = np.histogram(v, bins=edges)
        at_least = np.concatenate([np.cumsum(counts[::-1])[::-1], [0]])  # voxels with dose >= edge
        at_least[0] = v.size  # every voxel has dose >= 0 (negative doses are not produced)
        frames.append(pd.DataFrame({"voi": name, "dose_gy": edges, "volume_pct": 100.0 * at_least / v.size}))
    return pd.concat(frames, ignore_index=True)


def voi_time_activity(activity_bq_per_ml: Sequence[np.ndarray], masks: dict[str, np.ndarray],
                      voxel_volume_ml: float) -> np.ndarray:
    """Total activity in each VOI at each time point, MBq; shape (n_voi, n_t)."""
    return np.array([[float(a[m].sum(dtype=np.float64)) * voxel_volume_ml / 1.0e6 for a in activity_bq_per_ml]
                     for m in masks.values()])


def tac_curve_mbq(fit: dosimetry.TacFit, times_h: np.ndarray) -> np.ndarray:
    """Fitted activity of each curve at times_h, MBq; shape (n_curves, len(times_h))."""
    t = np.asarray(times_h, dtype=float)[None, :]
    a0 = np.atleast_1d(fit.a0_mbq)[:, None]
    le = np.atleast_1d(fit.lambda_eff_per_h)[:, None]
    lu = np.atleast_1d(fit.lambda_uptake_per_h)[:, None]
    bi = np.atleast_1d(fit.model)[:, None] == "biexp"
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(bi, a0 * (np.exp(-le * t) - np.exp(-np.where(bi, lu, 0.0) * t)), a0 * np.exp(-le * t))


# --- the study -------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class VoxelDosimetry:
    """Dosimetry of one cycle: maps on the reference grid and one row per VOI."""

    study: dicom_io.DicomStudy
    density_g_per_ml: float
    masks: dict  # VOI name -> bool mask on the reference grid (includes derived 'kidneys')
    organs: pd.DataFrame  # one row per VOI (columns with units, see organ_table)
    tac: pd.DataFrame  # measured VOI activity: voi, time_h, activity_mbq
    tac_fit: pd.DataFrame  # fitted curves: voi, time_h, activity_mbq
    dvh: pd.DataFrame  # voi, source, dose_gy, volume_pct
    tia_mbq_h_per_ml: np.ndarray | None
    dose_gy: np.ndarray | None
    n_positive: np.ndarray | None

    @property
    def has_spect(self) -> bool:
        return self.dose_gy is not None

    def organ_dose(self, organ: str, source: str = "voxel") -> float:
        """The dose of one organ (first VOI of that organ), Gy; NaN when absent."""
        rows = self.organs[self.organs["organ"] == organ]
        column = {"voxel": "voxel_mean_dose_gy", "organ": "organ_dose_gy", "rtdose": "rtdose_mean_gy"}[source]
        return float(rows[column].iloc[0]) if len(rows) else float("nan")


def _with_kidneys(vois: Sequence[dicom_io.Voi]) -> dict[str, tuple[str, str, np.ndarray]]:
    """name -> (organ, label, mask); adds 'kidneys' (union) when both sides exist and no kidneys VOI."""
    out = {v.name: (v.organ, v.name if v.organ == "tumour" else "", v.mask) for v in vois}
    organs = {v.organ: v for v in vois}
    if {"kidney_left", "kidney_right"} <= organs.keys() and "kidneys" not in organs:
        name = "kidneys (left + right)"
        out[name] = ("kidneys", "", organs["kidney_left"].mask | organs["kidney_right"].mask)
    return out


def _organ_level_dose_gy(organ: str, tia_mbq_h: np.ndarray, mass_g: np.ndarray) -> np.ndarray:
    return np.where(np.isin(organ, KIDNEY_ORGANS), dosimetry.kidney_dose_s_value_gy(tia_mbq_h, mass_g),
                    dosimetry.dose_local_deposition_gy(tia_mbq_h, mass_g))


def compute(study: dicom_io.DicomStudy, *, density_g_per_ml: float = TISSUE_DENSITY_G_PER_ML,
            progress: Progress | None = None) -> VoxelDosimetry:
    """Voxel and organ-level dosimetry of a study read by dicom_io.read_study."""
    report = progress or (lambda fraction, message: None)
    vois = _with_kidneys(study.vois)
    masks = {name: mask for name, (_, _, mask) in vois.items()}
    organs = pd.DataFrame({"voi": list(vois), "organ": [o for o, _, _ in vois.values()],
                           "label": [lab for _, lab, _ in vois.values()]})
    geometry = study.geometry
    organs["n_voxels"] = [int(m.sum()) for m in masks.values()]
    organs["volume_ml"] = organs["n_voxels"] * geometry.voxel_volume_ml
    organs["mass_g"] = organs["volume_ml"] * density_g_per_ml
    tia = dose = n_pos = None
    tac = tac_fit = pd.DataFrame(columns=["voi", "time_h", "activity_mbq"])
    dvh_frames = []
    if study.time_points:
        times = study.times_h
        report(0.05, "Fitting every voxel")
        activity = [tp.activity_bq_per_ml for tp in study.time_points]
        tia, dose, fit = tia_and_dose_maps(times, activity, density_g_per_ml)
        n_pos = fit.n_positive
        report(0.5, "VOI statistics")
        organs["voxel_mean_dose_gy"] = [float(dose[m].mean(dtype=np.float64)) for m in masks.values()]
        organs["voxel_median_dose_gy"] = [float(np.median(dose[m])) for m in masks.values()]
        organs["voxel_max_dose_gy"] = [float(dose[m].max()) for m in masks.values()]
        curves = voi_time_activity(activity, masks, geometry.voxel_volume_ml)
        for name, curve in zip(masks, curves):
            if (curve <= 0).any():
                k = int(np.argmax(curve <= 0))
                raise dicom_io.DicomError(study.time_points[k].source, None, f"VOI '{name}' holds no activity "
                                          f"({curve[k]:.3g} MBq) at {times[k]:.1f} h: check the VOI and the "
                                          "registration of this time point")
        report(0.7, "Fitting VOI time-activity curves")
        tac_fits = dosimetry.fit_best_tac(np.broadcast_to(times, curves.shape), curves)
        organs["tac_model"] = np.atleast_1d(tac_fits.model)
        organs["t_eff_h"] = np.atleast_1d(tac_fits.t_eff_h)
        organs["tia_mbq_h"] = np.atleast_1d(tac_fits.tia_mbq_h)
        organs["tac_r2"] = np.atleast_1d(tac_fits.r2)
        organs["organ_dose_gy"] = [float(_organ_level_dose_gy(o, t, m)) for o, t, m in
                                   zip(organs["organ"], organs["tia_mbq_h"], organs["mass_g"])]
        organs["organ_method"] = np.where(organs["organ"].isin(KIDNEY_ORGANS), "kidney S-value (mass-scaled)",
                                          "local deposition (VOI mass)")
        organs["dose_per_activity_gy_per_gbq"] = organs["voxel_mean_dose_gy"] / (study.injection.activity_mbq / 1000)
        tac = pd.DataFrame({"voi": np.repeat(list(masks), len(times)), "time_h": np.tile(times, len(masks)),
                            "activity_mbq": curves.ravel()})
        grid = np.linspace(0.0, float(times[-1]) * 1.1, 120)
        fitted = tac_curve_mbq(tac_fits, grid)
        tac_fit = pd.DataFrame({"voi": np.repeat(list(masks), grid.size), "time_h": np.tile(grid, len(masks)),
                                "activity_mbq": fitted.ravel()})
        dvh_frames.append(dvh(dose, masks).assign(source="voxel (local deposition)"))
    for j, dose_map in enumerate(study.dose_maps):
        report(0.85, "RTDOSE statistics")
        grid_masks = masks if dose_map.geometry.same_grid(geometry) else _masks_on(study, vois, dose_map.geometry)
        dose_gy = dose_map.dose_gy
        column = "rtdose_mean_gy" if j == 0 else f"rtdose_{j + 1}_mean_gy"
        organs[column] = [float(dose_gy[m].mean()) for m in grid_masks.values()]
        dvh_frames.append(dvh(dose_gy, grid_masks).assign(source=f"RTDOSE {dose_map.source}"))
    report(1.0, "Done")
    return VoxelDosimetry(study, density_g_per_ml, masks, organs, tac, tac_fit,
                          pd.concat(dvh_frames, ignore_index=True) if dvh_frames else pd.DataFrame(),
                          tia, dose, n_pos)


def _masks_on(study, vois, target: dicom_io.Geometry) -> dict[str, np.ndarray]:
    by_name = {v.name: v for v in study.vois}
    out = {}
    for name, (organ, _, _) in vois.items():
        if name in by_name:
            out[name] = dicom_io.voi_mask(by_name[name].source, target)[0]
        else:  # derived union of both kidneys
            sides = [dicom_io.voi_mask(v.source, target)[0] for v in study.vois if v.organ in ("kidney_left",
                                                                                               "kidney_right")]
            out[name] = sides[0] | sides[1]
    return out


def analyse(inputs, *, voi_inputs=(), activity_mbq: float | None = None, injection_time: dt.datetime | None = None,
            calibration_cps_per_mbq: float | None = None, acquisition_duration_s: float | None = None,
            density_g_per_ml: float = TISSUE_DENSITY_G_PER_ML, progress: Progress | None = None) -> VoxelDosimetry:
    """Read (dicom_io.read_study) and compute in one call; progress runs 0-0.6 reading, 0.6-1 computing."""
    report = progress or (lambda fraction, message: None)
    study = dicom_io.read_study(inputs, voi_inputs=voi_inputs, activity_mbq=activity_mbq,
                                injection_time=injection_time, calibration_cps_per_mbq=calibration_cps_per_mbq,
                                acquisition_duration_s=acquisition_duration_s,
                                progress=lambda f, m: report(0.6 * f, m))
    return compute(study, density_g_per_ml=density_g_per_ml, progress=lambda f, m: report(0.6 + 0.4 * f, m))


# --- tables and storage -----------------------------------------------------------------------
_DISPLAY = {"voi": "VOI", "organ": "Organ", "n_voxels": "Voxels", "volume_ml": "Volume (mL)", "mass_g": "Mass (g)",
            "voxel_mean_dose_gy": "Voxel mean dose (Gy)", "voxel_median_dose_gy": "Voxel median dose (Gy)",
            "voxel_max_dose_gy": "Voxel max dose (Gy)", "organ_dose_gy": "Organ-level dose (Gy)",
            "organ_method": "Organ-level method", "tac_model": "TAC model", "t_eff_h": "T_eff (h)",
            "tia_mbq_h": "TIA (MBq·h)", "tac_r2": "TAC R² (ln scale)",
            "dose_per_activity_gy_per_gbq": "Voxel mean dose per activity (Gy/GBq)",
            "rtdose_mean_gy": "RTDOSE mean dose (Gy)"}


def organ_table(result: VoxelDosimetry) -> pd.DataFrame:
    """The VOI results with user-facing, unit-bearing column headers."""
    cols = [c for c in _DISPLAY if c in result.organs]
    return result.organs[cols].rename(columns=_DISPLAY)


DOSE_SOURCES = {"voxel": "voxel_mean_dose_gy", "organ": "organ_dose_gy", "rtdose": "rtdose_mean_gy"}


def available_dose_sources(result: VoxelDosimetry) -> list[str]:
    return [k for k, c in DOSE_SOURCES.items() if c in result.organs]


_HEADLINE = {"kidneys": "Kidneys, both (Gy)", "kidney_left": "Left kidney (Gy)", "kidney_right": "Right kidney (Gy)",
             "liver": "Liver (Gy)", "spleen": "Spleen (Gy)"}


def headline_doses(result: VoxelDosimetry, source: str = "voxel") -> list[tuple[str, float, str]]:
    """(label, dose Gy, detail) for the kidneys, then each side, then each lesion, liver and spleen."""
    if source not in available_dose_sources(result):
        raise ValueError(f"dose source {source!r} not available; have {available_dose_sources(result)}")
    order = ["kidneys", "kidney_left", "kidney_right", "tumour", "liver", "spleen"]
    out = []
    for organ in order:
        for _, row in result.organs[result.organs["organ"] == organ].iterrows():
            label = f"Tumour {row['voi']} (Gy)" if organ == "tumour" else _HEADLINE[organ]
            detail = f"{row['voi']}: {row['mass_g']:.0f} g"
            if "t_eff_h" in row:
                detail += f", T_eff {row['t_eff_h']:.1f} h ({row['tac_model']}-exponential TAC)"
            out.append((label, float(row[DOSE_SOURCES[source]]), detail))
    return out


def _method_text(result: VoxelDosimetry, source: str, row) -> str:
    study = result.study
    if source == "rtdose":
        d = study.dose_maps[0]
        return f"RTDOSE from other software ({d.dose_type}, {d.summation_type}), VOI mean"
    times = study.times_h
    span = f"SPECT/CT {len(times)} time points ({times[0]:.0f}-{times[-1]:.0f} h)"
    if source == "voxel":
        return (f"{span}: voxel mono-exponential log-linear fit (lambda >= lambda_phys), local deposition "
                f"(rho {result.density_g_per_ml:g} g/mL), VOI mean")
    return f"{span}: VOI TAC {row['tac_model']}-exponential, {row['organ_method']}"


def dosimetry_rows(result: VoxelDosimetry, cycle_id: int, source: str = "voxel") -> pd.DataFrame:
    """Rows for the store's dosimetry table, one per VOI with a store organ.

    source: 'voxel' (voxel mean, local deposition), 'organ' (VOI TAC and S-value / local
    deposition) or 'rtdose' (mean of the RTDOSE). t_eff_h is the VOI TAC's effective
    half-life (None without a SPECT series). provenance is JSON with the method, the models,
    the activity and its source, and the SOP/Series Instance UIDs (never file names).
    """
    if source not in available_dose_sources(result):
        raise ValueError(f"dose source {source!r} not available; have {available_dose_sources(result)}")
    study = result.study
    spect = [{"series_instance_uid": tp.series_instance_uid, "sop_instance_uids": list(tp.sop_instance_uids),
              "modality": tp.modality, "units": tp.units, "time_h": round(float(t), 3)}
             for tp, t in zip(study.time_points, study.times_h)]
    rows = []
    for _, row in result.organs.iterrows():
        dose = float(row[DOSE_SOURCES[source]])
        t_eff = float(row["t_eff_h"]) if "t_eff_h" in row and np.isfinite(row["t_eff_h"]) else None
        if t_eff is not None:
            t_eff = round(min(t_eff, dosimetry.LU177_HALF_LIFE_H), 3)
        if not (np.isfinite(dose) and 0 <= dose <= 500):
            raise ValueError(f"VOI {row['voi']!r}: dose {dose} Gy outside 0-500 Gy; not stored")
        voi = next((v.source.provenance() for v in study.vois if v.name == row["voi"]),
                   {"kind": "derived", "name": row["voi"], "from": [v.source.provenance() for v in study.vois
                                                                    if v.organ in ("kidney_left", "kidney_right")]})
        provenance = {
            "software": "prrt_core.voxel", "dose_source": source, "method": _method_text(result, source, row),
            "voxel_model": "mono-exponential, log-linear least squares on positive points, lambda >= lambda_phys; "
                           "1 positive point: physical decay; none: 0",
            "tac_model": row.get("tac_model"), "t_eff_h": t_eff, "voxel_mean_dose_gy": row.get("voxel_mean_dose_gy"),
            "organ_dose_gy": row.get("organ_dose_gy"), "rtdose_mean_gy": row.get("rtdose_mean_gy"),
            "mass_g": round(float(row["mass_g"]), 2), "density_g_per_ml": result.density_g_per_ml,
            "injected_activity_mbq": None if study.injection is None else study.injection.activity_mbq,
            "activity_origin": None if study.injection is None else study.injection.activity_origin,
            "injection_time_origin": None if study.injection is None else study.injection.time_origin,
            "spect_series": spect, "voi": voi,
            "rtdose": [{"series_instance_uid": d.series_instance_uid, "sop_instance_uid": d.sop_instance_uid}
                       for d in study.dose_maps]}
        rows.append({"cycle_id": int(cycle_id), "organ": row["organ"], "label": row["label"], "dose_gy": dose,
                     "t_eff_h": t_eff, "method": _method_text(result, source, row),
                     "provenance": json.dumps(provenance, default=_json_default, sort_keys=True)})
    return pd.DataFrame(rows)


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def save_to_cycle(store: Store, result: VoxelDosimetry, patient_id: str, cycle_number: int, *, user: str,
                  source: str = "voxel") -> pd.DataFrame:
    """Write the dosimetry rows of one cycle in one transaction: update rows that exist
    (same cycle, organ, label), insert the others. Returns what was done per row."""
    cycles = store.read("cycles", patient_id=patient_id)
    match = cycles[cycles["cycle_number"] == int(cycle_number)]
    if match.empty:
        raise ValueError(f"patient {patient_id!r} has no cycle {cycle_number}")
    cycle_id = int(match["cycle_id"].iloc[0])
    rows = dosimetry_rows(result, cycle_id, source)
    existing = store.read("dosimetry", patient_id=patient_id)
    existing = existing[existing["cycle_id"] == cycle_id].set_index(["organ", "label"])["dosimetry_id"]
    actions = []
    with store.transaction():
        new = []
        for row in rows.to_dict(orient="records"):
            key = (row["organ"], row["label"])
            if key in existing.index:
                changes = {k: row[k] for k in ("dose_gy", "t_eff_h", "method", "provenance")}
                store.update("dosimetry", int(existing.loc[key]), changes, user=user)
                actions.append("updated")
            else:
                new.append(row)
                actions.append("inserted")
        if new:
            store.insert({"dosimetry": new}, user=user)
    logger.info("dosimetry saved: %d rows for one cycle (%s)", len(rows), source)
    return rows[["organ", "label", "dose_gy", "t_eff_h"]].assign(action=actions).rename(
        columns={"organ": "Organ", "label": "Label", "dose_gy": "Dose (Gy)", "t_eff_h": "T_eff (h)",
                 "action": "Action"})
