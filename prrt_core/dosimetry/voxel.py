"""Voxel dosimetry arrays: per-voxel TAC fits, TIA and dose maps, DVH and VOI time-activity.

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
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numexpr as ne
import numpy as np
import pandas as pd

from prrt_core.dosimetry.physics import DELTA_LOCAL_GY_G_PER_MBQ_H, LAMBDA_PHYS_PER_H
from prrt_core.dosimetry.tac import TacFit
from prrt_core.errors import InputError

# Tissue density used to turn VOI volume into mass and Bq/mL into Bq/g, g/mL. 1.04 g/mL lies
# between ICRU Report 46 average adult soft tissue, 1.03 g/cm3 (as tabulated by Lee et al.,
# Health Phys 2012;102:292, Table 2), and the 1.05 g/cm3 of adult kidney in ICRU 46 and in the
# ICRP Publication 110 reference phantoms (Table A.1; value not re-verified here). Dose scales
# as 1/rho, so either neighbour changes a dose by < 1 %.
TISSUE_DENSITY_G_PER_ML = 1.04
DVH_BINS = 200

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
        raise InputError(f"need n_t >= 2 times and as many activity maps, got {t.size} times, {len(arrays)} maps")
    if not np.isfinite(t).all() or (t <= 0).any() or (np.diff(t) <= 0).any():
        raise InputError(f"times_h must be finite, > 0 and strictly increasing, got {t.tolist()}")
    shape = arrays[0].shape
    if any(a.shape != shape for a in arrays):
        raise InputError("activity maps must all have one shape")
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
    sums = {"n": s_n, "st": s_t, "stt": s_tt, "sy": s_y, "sty": s_ty, "lp": LAMBDA_PHYS_PER_H}
    # Least-squares slope -(n Sty - St Sy)/(n Stt - St^2); n < 2 divides 0 by 0 and falls back to lambda_phys.
    lam = ne.evaluate("where((n >= 2) & (-(n * sty - st * sy) / (n * stt - st * st) > lp), "
                      "-(n * sty - st * sy) / (n * stt - st * st), lp)", local_dict=sums)
    sums |= {"lam": lam, "tm": t_mean, "scale": float(scale)}
    # ln A0 = mean over positive points of (y + lam tau) + lam * t_mean; TIA = A0 / lam.
    tia = np.empty(shape, dtype=dtype)
    ne.evaluate("where(n > 0, exp((sy + lam * st) / n + lam * tm) / lam * scale, 0.0)", local_dict=sums,
                out=tia, casting="same_kind")
    return VoxelFit(tia, lam.astype(dtype, copy=False), s_n.astype(np.uint8))


def dose_map_local_deposition_gy(tia_mbq_h_per_ml, density_g_per_ml: float = TISSUE_DENSITY_G_PER_ML):
    """Voxel dose with all electron energy deposited locally: TIA/mL x Delta / rho, Gy."""
    if not density_g_per_ml > 0:
        raise InputError(f"density_g_per_ml must be > 0, got {density_g_per_ml}")
    factor = DELTA_LOCAL_GY_G_PER_MBQ_H / density_g_per_ml
    tia = np.asarray(tia_mbq_h_per_ml)
    out = np.empty(tia.shape, dtype=np.result_type(tia.dtype, np.float32))
    return ne.evaluate("tia * f", local_dict={"tia": tia, "f": factor}, out=out, casting="same_kind")


def tia_and_dose_maps(times_h, activity_bq_per_ml, density_g_per_ml: float = TISSUE_DENSITY_G_PER_ML):
    """(TIA map MBq*h/mL, dose map Gy, VoxelFit) from activity maps in Bq/mL at times_h."""
    fit = fit_voxels(times_h, activity_bq_per_ml, scale=1.0e-6)
    return fit.tia, dose_map_local_deposition_gy(fit.tia, density_g_per_ml), fit


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
            raise InputError(f"VOI {name!r} has no voxels")
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


def tac_curve_mbq(fit: TacFit, times_h: np.ndarray) -> np.ndarray:
    """Fitted activity of each curve at times_h, MBq; shape (n_curves, len(times_h))."""
    t = np.asarray(times_h, dtype=float)[None, :]
    a0 = np.atleast_1d(fit.a0_mbq)[:, None]
    le = np.atleast_1d(fit.lambda_eff_per_h)[:, None]
    lu = np.atleast_1d(fit.lambda_uptake_per_h)[:, None]
    bi = np.atleast_1d(fit.model)[:, None] == "biexp"
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(bi, a0 * (np.exp(-le * t) - np.exp(-np.where(bi, lu, 0.0) * t)), a0 * np.exp(-le * t))
