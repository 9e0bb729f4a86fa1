"""Time-activity curves: mono- and bi-exponential fits with model choice by AICc, and TIA.

The curve functions work on many curves at once with time on the last axis,
shape (..., n_t). Units in every name: h, MBq, MBq*h (TIA).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from prrt_core.dosimetry.physics import LAMBDA_PHYS_PER_H
from prrt_core.errors import InputError

logger = logging.getLogger(__name__)


# Residual sums of squares below n * (1e-6)^2 on the ln scale (relative misfit < 1e-4 %)
# are treated as equal, so AIC stays finite on noise-free data.
_RSS_FLOOR_PER_POINT = 1.0e-12


# --- time-activity curves ----------------------------------------------------
@dataclass(frozen=True)
class TacFit:
    """Result of fitting one model to many curves; every array has the curves' batch shape.

    model: array of "mono" | "biexp" (per curve; constant for a single-model fit).
    a0_mbq: amplitude A0. lambda_eff_per_h: clearance rate (>= LAMBDA_PHYS_PER_H).
    lambda_uptake_per_h: uptake rate (bi-exponential), inf for mono-exponential.
    tia_mbq_h: time-integrated activity from 0 to infinity.
    r2: coefficient of determination on ln(activity), the scale that was fitted.
    aic / aicc: least-squares AIC on ln(activity), n ln(RSS/n) + 2k, and AICc = AIC +
    2k(k+1)/(n-k-1) (inf when n <= k+1). k counts curve parameters (mono 2, biexp 3); the
    residual variance is not counted, which shifts every model equally in AIC.
    tia_sd_mbq_h: 1-sigma uncertainty of tia_mbq_h from the fit alone: the delta method
    sd^2 = g^T (J^T J)^-1 g s^2, g the gradient of the TIA with respect to the fitted
    parameters, J the Jacobian of the ln-activity model, s^2 = RSS / (n - k) the residual
    variance (Gear et al., EJNMMI 2018;45:2456-2474, EANM guideline on uncertainty analysis
    for MIRD-based dosimetry, section on curve fitting). Parameters held at a bound (lambda_eff
    clipped to lambda_phys; the uptake-rate bound) are not counted in k. NaN where the fit
    has no degree of freedom left (n = k, e.g. 2 points for the mono-exponential, 3 for the
    bi-exponential) or its parameters are not identifiable. Calibration, volume and
    partial-volume uncertainties are not included.
    """

    model: np.ndarray
    a0_mbq: np.ndarray
    lambda_eff_per_h: np.ndarray
    lambda_uptake_per_h: np.ndarray
    tia_mbq_h: np.ndarray
    r2: np.ndarray
    aic: np.ndarray
    aicc: np.ndarray
    n_points: int
    tia_sd_mbq_h: np.ndarray

    @property
    def t_eff_h(self) -> np.ndarray:
        """Effective clearance half-life, h."""
        return np.log(2.0) / self.lambda_eff_per_h


def _curves(times_h, activity_mbq, *, positive: bool, min_points: int):
    t = np.asarray(times_h, dtype=float)
    a = np.asarray(activity_mbq, dtype=float)
    if t.ndim == 0 or a.ndim == 0:
        raise InputError("times_h and activity_mbq must have a time axis (last axis)")
    try:
        t, a = np.broadcast_arrays(t, a)
    except ValueError as exc:
        raise InputError(f"times_h shape {t.shape} does not broadcast with activity_mbq shape {a.shape}") from exc
    n_t = t.shape[-1]
    if n_t < min_points:
        raise InputError(f"activity_mbq: need at least {min_points} time points, got {n_t}")
    if not np.isfinite(t).all() or (t < 0).any():
        raise InputError("times_h must be finite and >= 0")
    if (np.diff(t, axis=-1) <= 0).any():
        raise InputError("times_h must be strictly increasing along the last axis")
    if not np.isfinite(a).all():
        raise InputError("activity_mbq must be finite")
    if positive and (a <= 0).any():
        raise InputError(f"activity_mbq must be > 0 for a log-scale fit, min is {a.min()}")
    if not positive and (a < 0).any():
        raise InputError(f"activity_mbq must be >= 0, min is {a.min()}")
    return t, a


def _information_criteria(rss, tss, n: int, k: int):
    rss = np.maximum(rss, n * _RSS_FLOOR_PER_POINT)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(tss > 0, 1.0 - rss / tss, np.nan)
    aic = n * np.log(rss / n) + 2.0 * k
    aicc = aic + 2.0 * k * (k + 1) / (n - k - 1) if n - k - 1 > 0 else np.full_like(aic, np.inf)
    return r2, aic, aicc


def fit_mono_exponential(times_h, activity_mbq) -> TacFit:
    """Fit A(t) = A0 exp(-lambda_eff t) to many curves at once (closed form, vectorised).

    Log-linear least squares (relative-error weighting, suited to count data with roughly
    constant relative uncertainty). lambda_eff is constrained to >= LAMBDA_PHYS_PER_H: a
    curve clearing slower than physical decay is refitted with lambda = lambda_phys.
    times_h (..., n_t) >= 0 h, activity_mbq (..., n_t) > 0 MBq, n_t >= 2.
    """
    t, a = _curves(times_h, activity_mbq, positive=True, min_points=2)
    n = t.shape[-1]
    y = np.log(a)
    t_mean = t.mean(axis=-1, keepdims=True)
    y_mean = y.mean(axis=-1, keepdims=True)
    slope = ((t - t_mean) * (y - y_mean)).sum(-1) / ((t - t_mean) ** 2).sum(-1)
    lam = np.maximum(-slope, LAMBDA_PHYS_PER_H)
    intercept = (y + lam[..., None] * t).mean(axis=-1)  # LS intercept for the (possibly clipped) slope
    resid = y - (intercept[..., None] - lam[..., None] * t)
    rss = (resid**2).sum(-1)
    tss = ((y - y_mean) ** 2).sum(-1)
    r2, aic, aicc = _information_criteria(rss, tss, n, 2)
    a0 = np.exp(intercept)
    tia = tia_mono_exponential_mbq_h(a0, lam)
    return TacFit(
        model=np.full(lam.shape, "mono"), a0_mbq=a0, lambda_eff_per_h=lam,
        lambda_uptake_per_h=np.full(lam.shape, np.inf), tia_mbq_h=tia,
        r2=r2, aic=aic, aicc=aicc, n_points=n,
        tia_sd_mbq_h=_mono_tia_sd(tia, lam, -slope <= LAMBDA_PHYS_PER_H, rss, t, t_mean[..., 0], n),
    )


def _mono_tia_sd(tia, lam, clipped, rss, t, t_mean, n: int):
    """Delta-method SD of TIA = exp(b) / lambda for ln A = b - lambda t (see TacFit), vectorised.

    With J = [1, -t_k] and g = TIA (1, -1/lambda), g^T (J^T J)^-1 g = TIA^2 (1/n + (t_mean -
    1/lambda)^2 / S_tt), S_tt = sum (t_k - t_mean)^2; s^2 = RSS / (n - 2). A clipped slope is
    fixed: only b is fitted, g^T (J^T J)^-1 g = TIA^2 / n and s^2 = RSS / (n - 1).
    """
    s_tt = ((t - t_mean[..., None]) ** 2).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        free = rss / (n - 2) * (1.0 / n + (t_mean - 1.0 / lam) ** 2 / s_tt) if n > 2 else np.full(np.shape(tia), np.nan)
        fixed = rss / (n - 1) / n
    return tia * np.sqrt(np.where(clipped, fixed, free))


def _biexp_log_model(p, t):
    lam_e = LAMBDA_PHYS_PER_H + np.exp(p[1])
    # ln(exp(-le t) - exp(-lu t)) = -le t + ln(1 - exp(-(lu - le) t)), stable for lu close to le.
    return p[0] - lam_e * t + np.log(-np.expm1(-np.exp(p[2]) * t))


def _fit_one_biexp(t, y, mono_lam, mono_ln_a0):
    """Least squares on ln(activity) for one curve; a few starts for the uptake rate. Returns the
    scipy result (x, jac, active_mask, fun)."""
    best = None
    lam_e0 = max(mono_lam, LAMBDA_PHYS_PER_H * 1.05)
    # Start the uptake rate at 3, 10 and 30 times the clearance rate; keep the best.
    for factor in (3.0, 10.0, 30.0):
        lam_u0 = lam_e0 * factor
        ln_a0 = mono_ln_a0 - np.log1p(-np.exp(-(lam_u0 - lam_e0) * t[-1]))
        p0 = np.array([ln_a0, np.log(lam_e0 - LAMBDA_PHYS_PER_H), np.log(lam_u0 - lam_e0)])
        res = optimize.least_squares(
            lambda p: _biexp_log_model(p, t) - y, p0,
            # ln(lambda_u - lambda_e) <= ln(1000 /h): faster uptake is indistinguishable from instant.
            bounds=([-np.inf, -np.inf, -np.inf], [np.inf, np.log(10.0), np.log(1000.0)]),
            method="trf", x_scale="jac", max_nfev=2000,
        )
        if best is None or res.cost < best.cost:
            best = res
    return best


def _biexp_tia_sd(res, n: int) -> float:
    """Delta-method SD of TIA = A0 (1/lambda_e - 1/lambda_u) for one bi-exponential fit (see TacFit).

    Parameters p = (ln A0, ln(lambda_e - lambda_phys), ln(lambda_u - lambda_e)); gradient
    g = (TIA, A0 e^p1 (1/lambda_u^2 - 1/lambda_e^2), A0 e^p2 / lambda_u^2); J = res.jac at the
    optimum. Parameters at a bound (res.active_mask != 0) are held fixed.
    """
    p = res.x
    lam_e = LAMBDA_PHYS_PER_H + np.exp(p[1])
    lam_u = lam_e + np.exp(p[2])
    a0 = np.exp(p[0])
    grad = np.array([a0 * (1.0 / lam_e - 1.0 / lam_u), a0 * np.exp(p[1]) * (1.0 / lam_u**2 - 1.0 / lam_e**2),
                     a0 * np.exp(p[2]) / lam_u**2])
    free = np.asarray(res.active_mask) == 0
    k = int(free.sum())
    if n - k <= 0:  # ln A0 has no bound, so k >= 1
        return float("nan")
    jac = np.asarray(res.jac)[:, free]
    jtj = jac.T @ jac
    if not np.isfinite(jtj).all() or np.linalg.matrix_rank(jtj) < k:
        return float("nan")
    s2 = float(res.fun @ res.fun) / (n - k)
    g = grad[free]
    return float(np.sqrt(max(g @ np.linalg.solve(jtj, g), 0.0) * s2))


def fit_bi_exponential(times_h, activity_mbq) -> TacFit:
    """Fit A(t) = A0 (exp(-lambda_eff t) - exp(-lambda_uptake t)), lambda_uptake > lambda_eff >= lambda_phys.

    Least squares on ln(activity) (same weighting as fit_mono_exponential, so AIC values are
    comparable) with scipy.optimize.least_squares, one curve at a time: this loops over
    curves and is meant for VOI curves, not a hot path. times_h > 0 h (the model is 0 at
    t = 0), activity_mbq > 0 MBq, n_t >= 3.
    """
    t, a = _curves(times_h, activity_mbq, positive=True, min_points=3)
    if (t <= 0).any():
        raise InputError("times_h must be > 0 for a bi-exponential fit (the model is zero at t = 0)")
    n = t.shape[-1]
    batch = t.shape[:-1]
    t2 = t.reshape(-1, n)
    y2 = np.log(a).reshape(-1, n)
    # Start values from a mono-exponential fit of the points from the peak onward.
    params = np.empty((t2.shape[0], 3))
    tia_sd = np.empty(t2.shape[0])
    for i in range(t2.shape[0]):
        peak = int(np.argmax(y2[i]))
        tail = slice(peak, n) if n - peak >= 2 else slice(n - 2, n)
        mono = fit_mono_exponential(t2[i, tail], np.exp(y2[i, tail]))
        res = _fit_one_biexp(t2[i], y2[i], float(mono.lambda_eff_per_h), float(np.log(mono.a0_mbq)))
        params[i] = res.x
        tia_sd[i] = _biexp_tia_sd(res, n)
    lam_e = LAMBDA_PHYS_PER_H + np.exp(params[:, 1])
    lam_u = lam_e + np.exp(params[:, 2])
    a0 = np.exp(params[:, 0])
    fitted = np.stack([_biexp_log_model(p, tt) for p, tt in zip(params, t2)])
    rss = ((y2 - fitted) ** 2).sum(-1)
    tss = ((y2 - y2.mean(-1, keepdims=True)) ** 2).sum(-1)
    r2, aic, aicc = _information_criteria(rss, tss, n, 3)
    def batched(x):
        return np.asarray(x).reshape(batch)

    return TacFit(
        model=np.full(batch, "biexp"), a0_mbq=batched(a0), lambda_eff_per_h=batched(lam_e),
        lambda_uptake_per_h=batched(lam_u), tia_mbq_h=batched(tia_bi_exponential_mbq_h(a0, lam_e, lam_u)),
        r2=batched(r2), aic=batched(aic), aicc=batched(aicc), n_points=n, tia_sd_mbq_h=batched(tia_sd),
    )


def fit_best_tac(times_h, activity_mbq, *, criterion: str = "aicc") -> TacFit:
    """Fit mono- and bi-exponential models and keep, per curve, the one with the lower criterion.

    criterion "aicc" (default; small-sample corrected, recommended for the 3-8 time points
    of clinical dosimetry: Glatting et al. Med Phys 2007;34:4285) or "aic". With n_t = 3 or
    4 points AICc of the bi-exponential model is inf, so the mono-exponential is kept.
    """
    if criterion not in ("aic", "aicc"):
        raise InputError(f"criterion must be 'aic' or 'aicc', got {criterion!r}")
    mono = fit_mono_exponential(times_h, activity_mbq)
    if mono.n_points < 3 or (np.asarray(times_h) <= 0).any():
        logger.info("fit_best_tac: bi-exponential not fitted (fewer than 3 points or a sample at t = 0)")
        return mono
    bi = fit_bi_exponential(times_h, activity_mbq)
    use_bi = getattr(bi, criterion) < getattr(mono, criterion)
    fields = ("model", "a0_mbq", "lambda_eff_per_h", "lambda_uptake_per_h", "tia_mbq_h", "r2", "aic", "aicc",
              "tia_sd_mbq_h")
    return TacFit(**{f: np.where(use_bi, getattr(bi, f), getattr(mono, f)) for f in fields}, n_points=mono.n_points)


# --- time-integrated activity -------------------------------------------------
def tia_mono_exponential_mbq_h(a0_mbq, lambda_eff_per_h):
    """TIA from 0 to infinity of A0 exp(-lambda t): A0 / lambda, MBq*h."""
    lam = np.asarray(lambda_eff_per_h, dtype=float)
    if (lam <= 0).any():
        raise InputError(f"lambda_eff_per_h must be > 0, min is {lam.min()}")
    return np.asarray(a0_mbq, dtype=float) / lam


def tia_bi_exponential_mbq_h(a0_mbq, lambda_eff_per_h, lambda_uptake_per_h):
    """TIA of A0 (exp(-lambda_e t) - exp(-lambda_u t)): A0 (1/lambda_e - 1/lambda_u), MBq*h."""
    lam_e = np.asarray(lambda_eff_per_h, dtype=float)
    lam_u = np.asarray(lambda_uptake_per_h, dtype=float)
    if (lam_e <= 0).any() or (lam_u <= lam_e).any():
        raise InputError("need lambda_uptake_per_h > lambda_eff_per_h > 0")
    return np.asarray(a0_mbq, dtype=float) * (1.0 / lam_e - 1.0 / lam_u)


def tia_trapezoid_mbq_h(times_h, activity_mbq, *, start: str = "zero"):
    """TIA by trapezoids between samples plus a physical-decay tail A_last / lambda_phys, MBq*h.

    start: how activity runs from t = 0 to the first sample.
      "zero"     linear from 0 MBq at injection (uptake phase; convention of most trapezoid
                 tools; underestimates an organ that is already clearing at the first sample);
      "constant" A(t) = A(t_1) before t_1 (instant uptake; larger, the safer choice for a
                 kidney whose first image is late).
    The tail assumes no biological clearance after the last sample (an upper bound when
    the last point is on the clearance phase). Vectorised over curves, shape (..., n_t).
    """
    if start not in ("zero", "constant"):
        raise InputError(f"start must be 'zero' or 'constant', got {start!r}")
    t, a = _curves(times_h, activity_mbq, positive=False, min_points=1)
    inner = np.trapezoid(a, t, axis=-1) if t.shape[-1] > 1 else np.zeros(t.shape[:-1])
    head = a[..., 0] * t[..., 0] * (0.5 if start == "zero" else 1.0)
    tail = a[..., -1] / LAMBDA_PHYS_PER_H
    return head + inner + tail
