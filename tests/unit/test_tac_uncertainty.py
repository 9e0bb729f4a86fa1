"""TacFit.tia_sd_mbq_h: the TIA's 1-sigma uncertainty from the fit (delta method on the fit's parameter
covariance, Gear et al., EJNMMI 2018;45:2456) against a hand derivation and against Monte Carlo."""
from __future__ import annotations

import math

import numpy as np
import pytest

from prrt_core import dosimetry as d

# A kidney-like curve sampled at a 7-point schedule (h), 5 % log-normal noise per measurement.
SCHEDULE_H = np.array([1.0, 4.0, 24.0, 48.0, 72.0, 96.0, 168.0])
A0_MBQ, LAM_PER_H, SIGMA_LN = 100.0, math.log(2.0) / 50.0, 0.05


def test_mono_exponential_delta_method_by_hand():
    # ln A = ln 100 - 0.1 t + r at t = 10, 20, 30 h, residuals r = (+e, -2e, +e), e = 0.01: r is
    # orthogonal to 1 and t, so the fit returns ln A0 = ln 100, lambda = 0.1 exactly, TIA = 100/0.1 = 1000.
    # s^2 = RSS/(n-2) = 6e^2/1 = 6e-4. J = [1, -t]: J^T J = [[3, -60], [-60, 1400]], det 600,
    # inverse [[1400, 60], [60, 3]]/600. g = dTIA/d(ln A0, lambda) = (TIA, -TIA/lambda) = 1000 (1, -10):
    # g^T (J^T J)^-1 g = 1e6 (1400 - 2*60*10 + 3*100)/600 = 1e6 x 500/600 = 833,333.
    # var = 833,333 x 6e-4 = 500, SD = sqrt(500) = 22.3607 MBq h (= TIA x e x sqrt 5).
    t = np.array([10.0, 20.0, 30.0])
    e = 0.01
    activity = np.exp(math.log(100.0) - 0.1 * t + np.array([e, -2 * e, e]))
    fit = d.fit_mono_exponential(t, activity)
    assert float(fit.tia_mbq_h) == pytest.approx(1000.0, rel=1e-12)
    assert float(fit.tia_sd_mbq_h) == pytest.approx(22.3607, abs=1e-4)


def test_clipped_slope_counts_one_parameter():
    # Rising points (50 then 60 MBq at 10 and 20 h): lambda is clipped to lambda_phys, only ln A0 is fitted.
    # z_k = ln A_k + lambda_phys t_k; residuals +-(z2 - z1)/2, RSS = (z2 - z1)^2 / 2, s^2 = RSS/(n - 1),
    # var(ln TIA) = s^2 / n = (z2 - z1)^2 / 4: SD / TIA = |z2 - z1| / 2
    # = (ln 1.2 + 0.0043451 x 10) / 2 = (0.182322 + 0.043451) / 2 = 0.112886.
    fit = d.fit_mono_exponential([10.0, 20.0], [50.0, 60.0])
    assert float(fit.lambda_eff_per_h) == d.LAMBDA_PHYS_PER_H
    assert float(fit.tia_sd_mbq_h / fit.tia_mbq_h) == pytest.approx(0.112886, abs=1e-6)


def test_no_degree_of_freedom_gives_nan():
    # Two falling points, two parameters: a perfect fit with nothing left to estimate the noise.
    assert math.isnan(float(d.fit_mono_exponential([24.0, 96.0], [50.0, 20.0]).tia_sd_mbq_h))
    # Three points, three bi-exponential parameters.
    bi = d.fit_bi_exponential([4.0, 24.0, 96.0], [30.0, 50.0, 20.0])
    assert math.isnan(float(bi.tia_sd_mbq_h))


def test_noise_free_curve_has_zero_sd_and_shapes_follow_the_batch():
    activity = A0_MBQ * np.exp(-LAM_PER_H * SCHEDULE_H)
    fit = d.fit_mono_exponential(np.broadcast_to(SCHEDULE_H, (2, 3, 7)), np.broadcast_to(activity, (2, 3, 7)))
    assert fit.tia_sd_mbq_h.shape == fit.tia_mbq_h.shape == (2, 3)
    np.testing.assert_allclose(fit.tia_sd_mbq_h, 0.0, atol=1e-6 * A0_MBQ / LAM_PER_H)


def test_mono_exponential_sd_agrees_with_monte_carlo():
    # 2,000 noisy copies of a known mono-exponential: the spread of the fitted TIA is the truth the
    # predicted SD must match. The mean of s (not s^2) is biased low by c4(5 dof) = 0.9515, so the
    # mean predicted SD sits a few % under the Monte Carlo SD; the 10 % bound still catches a wrong
    # Jacobian or covariance (dropping the covariance term of ln A0 and lambda nearly doubles the SD).
    rng = np.random.default_rng(20180456)
    truth = np.log(A0_MBQ) - LAM_PER_H * SCHEDULE_H
    noisy = np.exp(truth + SIGMA_LN * rng.standard_normal((2000, SCHEDULE_H.size)))
    fit = d.fit_mono_exponential(np.broadcast_to(SCHEDULE_H, noisy.shape), noisy)
    mc_sd = float(fit.tia_mbq_h.std(ddof=1))
    assert float(fit.tia_sd_mbq_h.mean()) == pytest.approx(mc_sd, rel=0.10)
    assert float(np.sqrt((fit.tia_sd_mbq_h**2).mean())) == pytest.approx(mc_sd, rel=0.05)
    # Without the covariance term the prediction would be clearly off (the test can fail).
    t_mean = SCHEDULE_H.mean()
    s_tt = ((SCHEDULE_H - t_mean) ** 2).sum()
    wrong = fit.tia_mbq_h * SIGMA_LN * np.sqrt(1 / 7 + t_mean**2 / s_tt + 1 / (LAM_PER_H**2 * s_tt))
    assert abs(float(wrong.mean()) / mc_sd - 1) > 0.2


def test_bi_exponential_sd_agrees_with_monte_carlo():
    # Uptake 0.5 /h, clearance ln2/50 /h: TIA = 100 (50/ln2 - 1/0.5) = 7013.5 MBq h. 300 noisy copies
    # (one least-squares fit each): the SD of 300 draws is itself uncertain by ~ 4 %, hence 15 %.
    rng = np.random.default_rng(2456)
    lam_u = 0.5
    clean = A0_MBQ * (np.exp(-LAM_PER_H * SCHEDULE_H) - np.exp(-lam_u * SCHEDULE_H))
    noisy = clean * np.exp(SIGMA_LN * rng.standard_normal((300, SCHEDULE_H.size)))
    fit = d.fit_bi_exponential(np.broadcast_to(SCHEDULE_H, noisy.shape), noisy)
    assert float(np.median(fit.tia_mbq_h)) == pytest.approx(A0_MBQ * (1 / LAM_PER_H - 1 / lam_u), rel=0.02)
    assert np.isfinite(fit.tia_sd_mbq_h).all()
    assert float(fit.tia_sd_mbq_h.mean()) == pytest.approx(float(fit.tia_mbq_h.std(ddof=1)), rel=0.15)


def test_best_fit_keeps_the_sd_of_the_chosen_model():
    rng = np.random.default_rng(7)
    clean = A0_MBQ * (np.exp(-LAM_PER_H * SCHEDULE_H) - np.exp(-0.5 * SCHEDULE_H))
    noisy = clean * np.exp(SIGMA_LN * rng.standard_normal((4, SCHEDULE_H.size)))
    t = np.broadcast_to(SCHEDULE_H, noisy.shape)
    best, mono, bi = d.fit_best_tac(t, noisy), d.fit_mono_exponential(t, noisy), d.fit_bi_exponential(t, noisy)
    expected = np.where(best.model == "biexp", bi.tia_sd_mbq_h, mono.tia_sd_mbq_h)
    np.testing.assert_array_equal(best.tia_sd_mbq_h, expected)
