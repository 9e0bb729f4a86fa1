"""Coverage of the kidney projection's 90 % band on small simulated cohorts, and the posterior draws behind it.

Truth: the random-effects model itself (projection.model), with the demo cohort's fitted values
rounded (35 patients, 222 measured cycles: mu = ln 0.52 Gy/GBq, tau = 0.251, sigma = 0.099
of ln Gy/GBq): a small centre's cohort of 8 patients x 2 measured cycles of 7.4 GBq, and
2 further cycles of 7.4 GBq whose true doses are drawn with each patient's true eta.
"""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from prrt_core import projection
from prrt_core.projection import KidneyModelSettings
from prrt_core.projection.montecarlo import prepare_run

MU, TAU, SIGMA, ACTIVITY_GBQ = math.log(0.52), 0.25, 0.10, 7.4
N_PAST, N_FUTURE = 2, 2


def _coverage(n_patients: int, replicates: int, variance_components: str, n_samples: int = 1000):
    """Fraction of (replicate, patient) whose true cumulative dose lies in [dose_p05, dose_p95], and its SE.

    Each replicate simulates a cohort, fits it and projects every patient (one project() call).
    SE: from the replicate means (patients of one replicate share the fit, so they are not
    independent). n_samples 1000 per projection: the Monte-Carlo noise of the band's ends
    only lowers coverage slightly (a noisy quantile misses more often than the exact one),
    so it cannot make a too-narrow band pass.
    """
    rng = np.random.default_rng([2026, n_patients])
    ids = np.array([f"S{i:02d}" for i in range(n_patients)])
    hits = np.zeros((replicates, n_patients), bool)
    for r in range(replicates):
        eta = MU + TAU * rng.standard_normal(n_patients)
        past = ACTIVITY_GBQ * np.exp(eta[:, None] + SIGMA * rng.standard_normal((n_patients, N_PAST)))
        future = ACTIVITY_GBQ * np.exp(eta[:, None] + SIGMA * rng.standard_normal((n_patients, N_FUTURE)))
        truth = past.sum(axis=1) + future.sum(axis=1)
        history = pd.DataFrame({"patient_id": np.repeat(ids, N_PAST), "activity_gbq": ACTIVITY_GBQ,
                                "kidney_dose_gy": past.ravel(), "kidney_t_eff_h": 50.0})
        out = projection.project(history, N_FUTURE, ACTIVITY_GBQ, settings=KidneyModelSettings(
            n_samples=n_samples, seed=r, variance_components=variance_components))
        hits[r] = (out.dose_p05_gy.to_numpy() <= truth) & (truth <= out.dose_p95_gy.to_numpy())
    return hits.mean(), hits.mean(axis=1).std(ddof=1) / math.sqrt(replicates)


def test_small_cohort_band_covers_the_truth_at_least_88_percent():
    # 1,000 replicates x 8 patients: SE ~0.45 %. Required: coverage >= 88 %; the assertion is
    # on the one-sided ~97.7 % lower bound (estimate - 2 SE), so a pass shows coverage >= 88 %
    # beyond simulation noise. Upper bound 95 %: the nominal 90 % band must not become
    # uselessly wide (measured 89.7 % +- 0.4 %; 16 and 35 patients: 89.9 % and 89.9 %).
    coverage, se = _coverage(8, 1000, "posterior")
    assert se < 0.006
    assert coverage - 2 * se >= 0.88, (coverage, se)
    assert coverage <= 0.95, (coverage, se)
    # The problem it fixes: with tau^2 and sigma^2 taken as known the band is too narrow
    # (measured 85.3 % +- 0.5 %; 16 and 35 patients: 87.9 % and 89.0 %), its upper 2-SE bound below 88 %.
    plug_in, se = _coverage(8, 1000, "plug-in")
    assert plug_in + 2 * se < 0.88, (plug_in, se)
    assert plug_in < coverage


def _cohort(rng, n_patients, n_cycles, tau, sigma):
    eta = MU + tau * rng.standard_normal(n_patients)
    dose = ACTIVITY_GBQ * np.exp(eta[:, None] + sigma * rng.standard_normal((n_patients, n_cycles)))
    return pd.DataFrame({"patient_id": np.repeat([f"P{i:03d}" for i in range(n_patients)], n_cycles),
                         "activity_gbq": ACTIVITY_GBQ, "kidney_dose_gy": dose.ravel(), "kidney_t_eff_h": 50.0})


def test_sigma_draws_follow_the_scaled_inverse_chi2():
    # Between-patient spread large against sigma/sqrt(n) (tau 1.0, sigma 0.1, 4 cycles): the
    # patient means carry almost no information on sigma, so its posterior under
    # p(sigma^2) ~ 1/sigma^2 is SSW / chi^2_{N-K} (Gelman et al., BDA3, sec. 3.2).
    h = _cohort(np.random.default_rng(5), 10, 4, 1.0, 0.10)
    y = np.log(h.kidney_dose_gy / h.activity_gbq)
    ssw = float(((y - y.groupby(h.patient_id).transform("mean")) ** 2).sum())
    df = len(h) - 10
    draws = prepare_run(h, 1, 7.4, None, None, KidneyModelSettings(n_samples=40_000)).draws.components
    for q in (0.05, 0.5, 0.95):
        exact = ssw / stats.chi2.ppf(1 - q, df)
        assert np.quantile(draws.sigma2, q) == pytest.approx(exact, rel=0.03), q


def test_tau_draws_follow_the_posterior_by_quadrature():
    # sigma given (known), balanced 3 cycles: ybar_i ~ N(mu, tau^2 + sigma^2/3), and with mu
    # flat and tau ~ half-Cauchy(0, 1): p(tau | y) ∝ V^-(K-1)/2 exp(-SSB / (2V)) / (1 + tau^2),
    # V = tau^2 + sigma^2/3, SSB = sum (ybar_i - ybar)^2 (BDA3 eq. 5.21 for equal variances).
    sigma = 0.1
    h = _cohort(np.random.default_rng(8), 8, 3, 0.25, sigma)
    ybar = np.log(h.kidney_dose_gy / h.activity_gbq).groupby(h.patient_id).mean().to_numpy()
    k, ssb = ybar.size, float(((ybar - ybar.mean()) ** 2).sum())

    def density(t):
        v = t * t + sigma**2 / 3
        return v ** (-(k - 1) / 2) * math.exp(-ssb / (2 * v)) / (1 + t * t)

    total = integrate.quad(density, 0, np.inf)[0]
    cdf = lambda x: integrate.quad(density, 0, x)[0] / total  # noqa: E731
    settings = KidneyModelSettings(n_samples=40_000, within_sd_log=sigma)
    draws = prepare_run(h, 1, 7.4, None, None, settings).draws.components
    assert np.all(draws.sigma2 == pytest.approx(sigma**2))
    tau = np.sqrt(draws.tau2)
    for q in (0.05, 0.5, 0.95):
        assert cdf(np.quantile(tau, q)) == pytest.approx(q, abs=0.01), q


def test_point_projection_is_the_shrunk_estimate_at_the_monte_carlo_median():
    h = _cohort(np.random.default_rng(3), 8, 2, 0.25, 0.10)
    model = projection.fit_cohort_model(h)
    post = projection.patient_posterior(h).set_index("patient_id")
    out = projection.project(h, 1, 7.4, n_samples=20_000).set_index("patient_id")
    for pid, row in out.iterrows():
        dose_now = h.loc[h.patient_id == pid, "kidney_dose_gy"].sum()
        point_gpg = (row.point_dose_gy - dose_now) / 7.4
        own, cohort = post.at[pid, "own_mean_log"], model.mu_log
        # Shrunk: between the patient's own mean ln Gy/GBq and the cohort's mu (not the own mean).
        assert min(own, cohort) - 1e-9 <= math.log(point_gpg) <= max(own, cohort) + 1e-9, pid
        assert abs(math.log(point_gpg) - own) > 1e-6, pid
        # One future cycle of a fully measured patient: the Monte Carlo's median dose is
        # dose now + A exp(eta) at the median eta, and eta's draws are centred on E[eta]:
        # within 1 % (Monte-Carlo and mixture-skew error).
        assert row.point_dose_gy == pytest.approx(row.dose_p50_gy, rel=0.01), pid
        assert row.dose_p05_gy < row.point_dose_gy < row.dose_p95_gy
    path = projection.project_path(h, 1, 7.4, settings=KidneyModelSettings(n_samples=20_000))
    last = path[path.future_cycle == 1].set_index("patient_id")
    assert np.allclose(last.point_dose_gy, out.point_dose_gy, rtol=1e-12)


def test_bad_variance_settings_raise():
    with pytest.raises(ValueError, match="variance_components"):
        KidneyModelSettings(variance_components="bootstrap")
    with pytest.raises(ValueError, match="tau_prior_scale_log"):
        KidneyModelSettings(tau_prior_scale_log=0.0)
