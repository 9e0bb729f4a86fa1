"""Draws of the variance components (tau^2, sigma^2) and of mu from their posterior, for the Monte Carlo.

Treating tau^2 and sigma^2 as known makes the projection's bands too narrow for a small
cohort (8 patients x 2 cycles: the 90 % band covered the true total 86 % of the time;
tests/unit/test_projection_coverage.py). Here each Monte-Carlo sample s carries its own
(tau_s^2, sigma_s^2), drawn from their marginal posterior, and mu_s, Var(mu | tau_s, sigma_s).

Model (``model``): ybar_i ~ N(mu, tau^2 + sigma^2/n_i) given (mu, tau, sigma), and the
within-patient sum of squares SSW ~ sigma^2 chi^2_{N-K}, independent. Priors (weak):
mu flat; p(sigma^2) ∝ 1/sigma^2 (uniform on ln sigma); tau ~ half-Cauchy(0, A), A =
``KidneyModelSettings.tau_prior_scale_log`` (1.0 on the ln Gy/GBq scale, i.e. a
between-patient SD of a factor e is "large"; Gelman, Bayesian Analysis 2006;1:515). With
mu integrated out (Gelman et al., Bayesian Data Analysis, 3rd ed., 2013, ch. 5.4, eqs.
5.20-5.21, extended by the within-patient term for unknown sigma):
    ln p(tau, ln sigma^2 | y) = -(N-K)/2 ln sigma^2 - SSW/(2 sigma^2)
                                - 1/2 sum_i ln V_i - 1/2 ln W - 1/2 sum_i (ybar_i - mu_hat)^2 / V_i
                                - ln(1 + tau^2/A^2) + const,
    V_i = tau^2 + sigma^2/n_i, W = sum_i 1/V_i, mu_hat = sum_i ybar_i/V_i / W (mu | tau, sigma, y ~ N(mu_hat, 1/W)).
It is evaluated on a grid (ln sigma^2 between the 1e-6 and 1 - 1e-6 quantiles of
SSW/chi^2_{N-K}; tau from 0 on a quadratic grid up to a chi^2-based bound) with patients
grouped by n_i (the sums need only counts, sum and sum of squares of ybar per distinct
n_i), and sampled by inverse CDF with a uniform jitter inside the cell. A given
``within_sd_log`` fixes sigma (only tau is drawn); a cohort without any spread (every
cycle the same Gy/GBq) has nothing to draw and returns None (the plug-in is exact).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from prrt_core.projection.model import CohortModel, CohortStats

# Grid sizes and tail probabilities of the posterior grid.
_N_SIGMA, _N_TAU = 32, 96
_TAIL = 1e-6


@dataclass(frozen=True)
class ComponentDraws:
    """Per Monte-Carlo sample (S,): tau^2, sigma^2, mu and Var(mu | tau, sigma) of ln(Gy/GBq)."""

    tau2: np.ndarray
    sigma2: np.ndarray
    mu: np.ndarray
    var_mu: np.ndarray


@dataclass(frozen=True)
class _Groups:
    """Measured patients grouped by their number of measured cycles n (D distinct values)."""

    n: np.ndarray  # (D,)
    count: np.ndarray  # (D,) patients with that n
    s1: np.ndarray  # (D,) sum of centred ybar_i
    s2: np.ndarray  # (D,) sum of squared centred ybar_i
    centre: float  # subtracted from ybar_i (numerical conditioning)
    ybar_var: float  # sample variance of ybar_i over patients


def _groups(st: CohortStats) -> _Groups:
    """Measured patients' mean ln(Gy/GBq), grouped by n_i."""
    has = st.n_i > 0
    ybar = st.sum_y[has] / st.n_i[has]
    centre = float(ybar.mean())
    c = ybar - centre
    n_d, inverse = np.unique(st.n_i[has], return_inverse=True)
    return _Groups(n_d, np.bincount(inverse).astype(float), np.bincount(inverse, weights=c),
                   np.bincount(inverse, weights=c * c), centre, float(np.var(ybar, ddof=1)))


def _between(g: _Groups, tau2: np.ndarray, sigma2: np.ndarray, loglik: bool = True):
    """W, mu_hat (centred) and, if asked, the between-patient log likelihood (mu integrated out), over the grid."""
    v = tau2[..., None] + sigma2[..., None] / g.n  # (..., D)
    w = 1.0 / v
    big_w = w @ g.count
    mu = (w @ g.s1) / big_w
    if not loglik:
        return big_w, mu, None
    q = w @ g.s2 - mu * mu * big_w
    return big_w, mu, -0.5 * (np.log(v) @ g.count) - 0.5 * np.log(big_w) - 0.5 * q


def draw_components(st: CohortStats, model: CohortModel, rng: np.random.Generator, n_samples: int,
                    tau_prior_scale_log: float) -> ComponentDraws | None:
    """``n_samples`` posterior draws of (tau^2, sigma^2, mu, Var mu); None when the cohort has no spread."""
    g, ssw = _groups(st), st.ssw
    k, n_obs = int(g.count.sum()), model.n_measured_cycles
    sigma_given = model.sigma2_source == "given"
    if not sigma_given and ssw <= 0.0 and g.ybar_var <= 0.0:
        return None  # every measured cycle the same Gy/GBq: no spread to be uncertain about
    if sigma_given or ssw <= 0.0:
        ln_s2 = np.array([np.log(model.sigma2_log)]) if model.sigma2_log > 0 else None
        within = np.zeros(1)
    else:
        df = n_obs - k
        lo, hi = stats.chi2.ppf([1.0 - _TAIL, _TAIL], df)
        ln_s2 = np.linspace(np.log(ssw / lo), np.log(ssw / hi), _N_SIGMA)
        s2 = np.exp(ln_s2)
        within = -0.5 * df * ln_s2 - ssw / (2.0 * s2)  # uniform prior on ln sigma^2: no Jacobian
    base = max(g.ybar_var, model.sigma2_log, 1e-12)
    tau_hi = np.sqrt((k - 1) * base / stats.chi2.ppf(_TAIL, k - 1))
    tau_hi = float(min(tau_hi, max(5.0, 10.0 * np.sqrt(base))))
    tau_lo = 1e-4 * tau_hi if ln_s2 is None else 0.0  # sigma = 0: tau must stay > 0
    tau = tau_lo + (tau_hi - tau_lo) * np.linspace(0.0, 1.0, _N_TAU) ** 2
    width = np.gradient(tau)  # cell width around each tau node
    sig2 = np.exp(ln_s2) if ln_s2 is not None else np.zeros(1)
    t2, s2 = np.meshgrid(tau * tau, sig2, indexing="ij")  # (T, G_sigma)
    _, _, loglik = _between(g, t2, s2)
    logp = loglik + within[None, :] - np.log1p(t2 / tau_prior_scale_log**2) + np.log(width)[:, None]
    prob = np.exp(logp - logp.max()).ravel()
    cdf = np.cumsum(prob)
    u = rng.random((3, n_samples))
    cell = np.minimum(np.searchsorted(cdf, u[0] * cdf[-1], side="right"), cdf.size - 1)
    it, js = np.unravel_index(cell, t2.shape)
    tau_s = np.maximum(tau[it] + (u[1] - 0.5) * width[it], 0.0)
    if ln_s2 is not None and ln_s2.size > 1:
        step = ln_s2[1] - ln_s2[0]
        sigma2_s = np.exp(ln_s2[js] + (u[2] - 0.5) * step)
    else:
        sigma2_s = sig2[js]
    tau2_s = tau_s * tau_s
    if ln_s2 is None:
        tau2_s = np.maximum(tau2_s, tau_lo * tau_lo)
    big_w, mu_c, _ = _between(g, tau2_s, sigma2_s, loglik=False)
    return ComponentDraws(tau2_s, sigma2_s, mu_c + g.centre, 1.0 / big_w)


def patient_draws(c: ComponentDraws, n_i: np.ndarray, own_log: np.ndarray):
    """Per patient (rows) and sample (columns): posterior mean and SD of eta_i = mu + b_i given sample s's components.

    The BLUP of ``model.posterior`` with (tau_s^2, sigma_s^2, mu_s, Var mu_s); n_i = 0: mu_s, tau_s^2 + Var mu_s.
    """
    n = n_i[:, None]
    inv = 1.0 / (n * c.tau2 + c.sigma2)  # n_i = 0: 1/sigma^2, so B = 0 and v = tau^2 below
    shrink = n * c.tau2 * inv
    v = c.tau2 * c.sigma2 * inv
    if not np.all(c.sigma2 > 0):  # sigma fixed at 0 (tau > 0): patients without a measurement
        zero = n_i == 0
        shrink[zero], v[zero] = 0.0, c.tau2
    own = np.where(n_i > 0, own_log, 0.0)[:, None]
    eta = c.mu + shrink * (own - c.mu)
    one_minus = 1.0 - shrink
    v += one_minus * one_minus * c.var_mu
    return eta, np.sqrt(v, out=v)
