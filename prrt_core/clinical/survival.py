"""Kaplan–Meier summaries, curves and group comparison (PFS/OS endpoints: ``clinical.endpoints``).

Built on lifelines (event table, exponential-Greenwood pointwise bands,
log-rank test). Three lifelines behaviours are corrected here:

- lifelines computes S(t) as exp(sum(log(1 - d/n))), so a curve that is
  exactly 0.5 can come out as 0.5000000000000001 and its median moves to the
  next event time (events at 1..6: lifelines says 4, the product-limit value
  is 3, R says 3.5). Here S(t) is the product itself and quantiles follow R
  survival's ``quantile.survfit`` (tolerance sqrt(machine eps); a flat exactly
  at 0.5 gives the midpoint of the flat, so an uncensored sample gives the
  ordinary sample median).
- ``restricted_mean_survival_time(return_variance=True)`` is the variance of
  min(T, tau), not of the estimator (lifelines issue #1682); the estimator's
  variance is computed here (Klein & Moeschberger 2003, §4.5).
- lifelines' at-risk table excludes subjects whose time equals the tick;
  here, as in R and cBioPortal, at risk at t = #(T >= t).

A median that is not reached is ``math.inf``, never a finite number.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test
from scipy import stats

from prrt_core.clinical.endpoints import EVENT_TYPES, endpoints  # noqa: F401  (public: survival.endpoints)
from prrt_core.errors import InputError

logger = logging.getLogger(__name__)

# R survival quantile.survfit tolerance for "exactly at the quantile".
_QUANTILE_TOL = math.sqrt(np.finfo(float).eps)

MEDIAN_CI_METHOD = (
    "Brookmeyer–Crowley-type: times where lifelines' pointwise exponential-Greenwood "
    "(log(-log)) confidence bands cross 0.5 (as R print.survfit with conf.type='log-log')"
)
RMST_METHOD = (
    "area under the Kaplan–Meier curve up to tau (SPSS 'mean survival' when tau is the "
    "largest observed time); variance sum_i A_i^2 d_i / (Y_i (Y_i - d_i)) "
    "(Klein & Moeschberger 2003, §4.5); normal-approximation CI"
)


# --------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------

def _validate(durations: Any, events: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return (durations float, events int) or raise InputError naming the argument."""
    try:
        t = np.asarray(durations, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"durations must be numeric; got {durations!r}") from exc
    try:
        e_raw = np.asarray(events, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"events must be 0/1; got {events!r}") from exc
    if t.ndim != 1 or e_raw.ndim != 1:
        raise InputError(f"durations and events must be 1-D; got shapes {t.shape} and {e_raw.shape}")
    if t.size != e_raw.size:
        raise InputError(f"durations ({t.size}) and events ({e_raw.size}) differ in length")
    if t.size == 0:
        raise InputError("durations is empty: a Kaplan–Meier estimate needs at least one subject")
    bad = ~np.isfinite(t)
    if bad.any():
        raise InputError(f"durations must be finite; got {t[bad][:5].tolist()} "
                         f"at positions {np.flatnonzero(bad)[:5].tolist()}")
    if (t < 0).any():
        raise InputError(f"durations must be >= 0; got {t[t < 0][:5].tolist()} "
                         f"at positions {np.flatnonzero(t < 0)[:5].tolist()}")
    bad = ~np.isin(e_raw, (0.0, 1.0))
    if bad.any():
        raise InputError(f"events must be 0 (censored) or 1 (event); got {e_raw[bad][:5].tolist()} "
                         f"at positions {np.flatnonzero(bad)[:5].tolist()}")
    return t, e_raw.astype(int)


def _validate_alpha(alpha: float) -> float:
    if not (isinstance(alpha, (int, float)) and 0.0 < alpha < 1.0):
        raise InputError(f"alpha must be in (0, 1); got {alpha!r}")
    return float(alpha)


# --------------------------------------------------------------------------
# Kaplan–Meier core
# --------------------------------------------------------------------------

def _km_table(t: np.ndarray, e: np.ndarray, alpha: float) -> pd.DataFrame:
    """Step table at 0 and every distinct observed time (survival just after t)."""
    kmf = KaplanMeierFitter(alpha=alpha).fit(t, e)
    table = kmf.event_table
    at_risk = table["at_risk"].to_numpy(dtype=float)
    d = table["observed"].to_numpy(dtype=float)
    survival = np.cumprod(1.0 - d / at_risk)
    ci = kmf.confidence_interval_survival_function_.to_numpy(dtype=float)
    lower, upper = ci[:, 0].copy(), ci[:, 1].copy()
    # Exponential Greenwood is undefined where S = 0 (variance infinite; R reports NA)
    # and degenerate where S = 1 (no event yet: the band is the point 1).
    is_zero = survival <= 0.0
    lower[is_zero] = np.nan
    upper[is_zero] = np.nan
    is_one = survival >= 1.0
    lower[is_one] = 1.0
    upper[is_one] = 1.0
    return pd.DataFrame({
        "time": table.index.to_numpy(dtype=float),
        "survival": survival,
        "ci_lower": lower,
        "ci_upper": upper,
        "at_risk": table["at_risk"].to_numpy(dtype=int),
        "events": table["observed"].to_numpy(dtype=int),
        "censored": table["censored"].to_numpy(dtype=int),
    })


def _quantile_time(times: np.ndarray, values: np.ndarray, p: float, t_max: float) -> float:
    """Time where a step curve first drops to p (R quantile.survfit rules); inf if never.

    NaN points (undefined band) are ignored. A flat exactly at p gives the midpoint
    of the flat; a flat at p that runs to the end of follow-up gives the midpoint
    between its start and the largest observed time ``t_max``.
    """
    ok = ~np.isnan(values)
    times, values = times[ok], values[ok]
    reached = values <= p + _QUANTILE_TOL
    if not reached.any():
        return math.inf
    j = int(np.argmax(reached))
    if abs(values[j] - p) >= _QUANTILE_TOL:
        return float(times[j])
    below = values < p - _QUANTILE_TOL
    if below.any():
        return float((times[j] + times[int(np.argmax(below))]) / 2.0)
    return float((times[j] + t_max) / 2.0)


def _at_risk(t: np.ndarray, at_times: np.ndarray) -> np.ndarray:
    """#(T >= s) for each s in at_times (R / cBioPortal convention)."""
    ordered = np.sort(t)
    return t.size - np.searchsorted(ordered, at_times, side="left")


def _rmst(table: pd.DataFrame, tau: float) -> tuple[float, float]:
    """Restricted mean up to tau and its variance (Klein & Moeschberger 2003, §4.5).

    Var = sum over event times t_i < tau of A_i^2 d_i / (Y_i (Y_i - d_i)), with
    A_i the area under S from t_i to tau. A term with Y_i = d_i has A_i = 0 (the
    curve is 0 afterwards) and contributes 0. Beyond the last observed time the
    curve is carried flat to tau (R rmean convention).
    """
    times = table["time"].to_numpy()
    surv = table["survival"].to_numpy()
    keep = times < tau
    if not keep.any():  # tau = 0: every subject's time is 0
        return 0.0, 0.0
    knots = times[keep]
    right = np.append(knots[1:], tau)
    segment_area = surv[keep] * (right - knots)
    rmst = float(segment_area.sum())
    area_to_tau = np.cumsum(segment_area[::-1])[::-1]
    d = table["events"].to_numpy(dtype=float)[keep]
    y = table["at_risk"].to_numpy(dtype=float)[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where((d > 0) & (y > d), d / (y * (y - d)), 0.0)
    variance = float(np.sum(area_to_tau ** 2 * weight))
    return rmst, variance


def km_curve(durations: Any, events: Any, *, alpha: float = 0.05) -> pd.DataFrame:
    """Kaplan–Meier step curve for plotting.

    Returns columns time, survival, ci_lower, ci_upper, at_risk, events,
    censored: one row at time 0 and one per distinct observed time; ``survival``
    holds from that time until the next row. The band is lifelines' pointwise
    exponential-Greenwood (log(-log)) CI, NaN where S = 0 (undefined).
    ``at_risk`` is #(T >= time).
    """
    t, e = _validate(durations, events)
    return _km_table(t, e, _validate_alpha(alpha))


def km_summary(durations: Any, events: Any, *, at_risk_times: Sequence[float] | None = None,
               alpha: float = 0.05, tau: float | None = None) -> dict[str, Any]:
    """Kaplan–Meier summary of one group.

    Keys: n, events, censored, median (math.inf = not reached), median_ci
    (lower, upper; inf where the band never reaches 0.5), median_not_reached,
    median_ci_method, rmst (restricted mean up to tau), rmst_se, rmst_ci (normal
    approximation), rmst_method, tau (default: the largest observed time, i.e.
    SPSS's "mean survival"), at_risk ({time: #(T >= time)}), alpha.
    Time units are those of ``durations``.
    """
    t, e = _validate(durations, events)
    alpha = _validate_alpha(alpha)
    t_max = float(t.max())
    if tau is None:
        tau = t_max
    elif not (np.isfinite(tau) and tau > 0):
        raise InputError(f"tau must be a positive finite time; got {tau!r}")
    table = _km_table(t, e, alpha)
    times = table["time"].to_numpy()
    median = _quantile_time(times, table["survival"].to_numpy(), 0.5, t_max)
    # The lower band crosses 0.5 first: it gives the lower limit of the median.
    median_lower = _quantile_time(times, table["ci_lower"].to_numpy(), 0.5, t_max)
    median_upper = _quantile_time(times, table["ci_upper"].to_numpy(), 0.5, t_max)
    rmst, variance = _rmst(table, float(tau))
    se = math.sqrt(variance)
    z = float(stats.norm.ppf(1.0 - alpha / 2.0))
    if at_risk_times is None:
        at_risk: dict[float, int] = {}
    else:
        ticks = np.asarray(at_risk_times, dtype=float)
        if ticks.ndim != 1 or not np.isfinite(ticks).all() or (ticks < 0).any():
            raise InputError(f"at_risk_times must be finite times >= 0; got {at_risk_times!r}")
        at_risk = {float(s): int(n) for s, n in zip(ticks, _at_risk(t, ticks))}
    n_events = int(e.sum())
    return {
        "n": int(t.size),
        "events": n_events,
        "censored": int(t.size - n_events),
        "median": median,
        "median_ci": (median_lower, median_upper),
        "median_not_reached": math.isinf(median),
        "median_ci_method": MEDIAN_CI_METHOD,
        "rmst": rmst,
        "rmst_se": se,
        "rmst_ci": (rmst - z * se, rmst + z * se),
        "rmst_method": RMST_METHOD,
        "tau": float(tau),
        "at_risk": at_risk,
        "alpha": alpha,
    }


def summary_table(summaries: Mapping[Any, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per group from km_summary dicts.

    Columns: group, n, events, censored, median, median_ci_lower,
    median_ci_upper, rmst, rmst_se, rmst_ci_lower, rmst_ci_upper, tau
    (inf = not reached).
    """
    rows = [{
        "group": group,
        "n": s["n"], "events": s["events"], "censored": s["censored"],
        "median": s["median"],
        "median_ci_lower": s["median_ci"][0], "median_ci_upper": s["median_ci"][1],
        "rmst": s["rmst"], "rmst_se": s["rmst_se"],
        "rmst_ci_lower": s["rmst_ci"][0], "rmst_ci_upper": s["rmst_ci"][1],
        "tau": s["tau"],
    } for group, s in summaries.items()]
    return pd.DataFrame(rows)


def compare_groups(durations: Any, events: Any, groups: Any, *,
                   at_risk_times: Sequence[float] | None = None, alpha: float = 0.05,
                   tau: float | None = None) -> dict[str, Any]:
    """Kaplan–Meier summary per group and the log-rank test across groups.

    Returns {"groups": {label: km_summary dict}, "table": summary_table(...),
    "logrank_chi2", "logrank_df", "logrank_p"} (lifelines
    multivariate_logrank_test; NaN with fewer than two groups). With tau=None
    each group's restricted mean runs to its own largest time; pass a common tau
    to compare restricted means between groups.
    """
    t, e = _validate(durations, events)
    labels = pd.Series(groups).reset_index(drop=True)
    if labels.size != t.size:
        raise InputError(f"groups ({labels.size}) and durations ({t.size}) differ in length")
    if labels.isna().any():
        raise InputError(f"groups has missing labels at positions "
                         f"{np.flatnonzero(labels.isna().to_numpy())[:5].tolist()}")
    unique = list(pd.unique(labels))
    summaries = {label: km_summary(t[(labels == label).to_numpy()], e[(labels == label).to_numpy()],
                                   at_risk_times=at_risk_times, alpha=alpha, tau=tau)
                 for label in unique}
    if len(unique) < 2:
        logger.warning("compare_groups: %d group(s); the log-rank test needs two or more", len(unique))
        chi2, df, p = math.nan, math.nan, math.nan
    else:
        result = multivariate_logrank_test(t, labels.to_numpy(), e)
        chi2, df, p = float(result.test_statistic), float(result.degrees_of_freedom), float(result.p_value)
    return {"groups": summaries, "table": summary_table(summaries),
            "logrank_chi2": chi2, "logrank_df": df, "logrank_p": p}
