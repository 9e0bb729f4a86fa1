"""Tests for prrt_core.dosimetry: physics constants, TAC fits, TIA, absorbed dose, BED.

Expected values are derived by hand in the comments; sources are the primary papers
cited in prrt_core/dosimetry.py (numbers as collected in reference/clinical_reference.md).
"""
import math

import numpy as np
import pytest

from prrt_core import dosimetry as d

LN2 = math.log(2.0)


# --- decay -----------------------------------------------------------------------
def test_lambda_phys_from_6647_day_half_life():
    # EJNMMI Phys 2020 Table 1: T1/2 = 6.647 d = 159.528 h; ln2 / 159.528 h = 4.345e-3 /h.
    assert d.LU177_HALF_LIFE_H == pytest.approx(159.528, abs=1e-9)
    assert d.LAMBDA_PHYS_PER_H == pytest.approx(4.345e-3, rel=1e-4)


def test_decay_one_half_life_is_one_half_and_vectorised():
    t = np.array([0.0, 159.528, 2 * 159.528])
    np.testing.assert_allclose(d.decay_factor(t), [1.0, 0.5, 0.25], rtol=1e-12)
    # 7.4 GBq one half-life later is 3.7 GBq; a negative dt corrects back to the earlier time.
    assert d.decay_correct(7.4, 159.528) == pytest.approx(3.7, rel=1e-12)
    assert d.decay_correct(3.7, -159.528) == pytest.approx(7.4, rel=1e-12)


# --- energy and S-values -------------------------------------------------------------
def test_local_deposition_delta():
    # 133.3 + 13.52 + 1.13 = 147.95 keV/decay; x 1.602176634e-16 J/keV x 3.6e9 decays/(MBq h)
    # / 1e-3 kg/g = 0.08534 Gy g/(MBq h); the Madsen STP method quotes 0.0853 (ref. section 8: 0.08532).
    assert d.LU177_ELECTRON_KEV_PER_DECAY == pytest.approx(147.95, abs=1e-9)
    assert d.DELTA_LOCAL_GY_G_PER_MBQ_H == pytest.approx(0.08532, rel=5e-4)
    # 1000 MBq h in 100 g: 1000 * 0.085335 / 100 = 0.85335 Gy.
    assert d.dose_local_deposition_gy(1000.0, 100.0) == pytest.approx(0.85335, rel=1e-4)


@pytest.mark.parametrize("s_mgy_per_mbq_s, mass_g", [
    (7.76e-5, 310.0),  # OLINDA-style adult male kidneys
    (1.5662e-4, 152.98), (1.5283e-4, 157.01),  # OpenDose ICRP-110 adult male left, right
    (1.6034e-4, 149.48), (1.9083e-4, 125.53),  # OpenDose ICRP-110 adult female left, right
])
def test_published_kidney_s_values_share_s_times_mass(s_mgy_per_mbq_s, mass_g):
    # clinical_reference section 8: S x mass ~ 0.0240 mGy g/(MBq s) for every phantom kidney,
    # which justifies scaling the reference S-value as 1/mass.
    assert s_mgy_per_mbq_s * mass_g == pytest.approx(0.0240, rel=0.01)
    assert d.kidney_s_value_mgy_per_mbq_s(mass_g) * mass_g == pytest.approx(7.76e-5 * 310.0, rel=1e-12)
    # The S-value includes a little photon self-dose on top of local electron deposition:
    # Delta = 0.085335 Gy g/(MBq h) = 0.023704 mGy g/(MBq s), 1-2 % below S x mass.
    ratio = s_mgy_per_mbq_s * mass_g / (d.DELTA_LOCAL_GY_G_PER_MBQ_H * 1000.0 / 3600.0)
    assert 1.0 < ratio < 1.03


def test_s_value_mass_scaling_310_to_360_g():
    # S(360 g) = 7.76e-5 * 310/360 = 6.6822e-5 mGy/(MBq s): factor 0.86111.
    assert d.kidney_s_value_mgy_per_mbq_s(360.0) == pytest.approx(6.68222e-5, rel=1e-5)
    assert d.kidney_s_value_mgy_per_mbq_s(360.0) / d.kidney_s_value_mgy_per_mbq_s(310.0) == pytest.approx(310 / 360)


def test_worked_example_clinical_reference_section_8():
    # 237 MBq in both kidneys at t=0, T_eff 48.9 h, 7.4 GBq injected.
    lam = LN2 / 48.9
    # TIA = A0 / lambda = 237 * 48.9 / ln2 = 16,720 MBq h. The reference quotes 16,888 MBq h,
    # 1.0 % more than its own inputs give (16,888 corresponds to T_eff = 49.4 h); the dose
    # figures it quotes follow from 16,888, so they are checked from that TIA below.
    assert d.tia_mono_exponential_mbq_h(237.0, lam) == pytest.approx(16_720.0, abs=1.0)
    # 16,888 MBq h * 3600 s/h * 7.76e-5 mGy/(MBq s) / 1000 = 4.718 Gy.
    dose_gy = float(d.dose_from_s_value_gy(16_888.0, 7.76e-5))
    assert dose_gy == pytest.approx(4.72, abs=0.005)
    assert d.kidney_dose_s_value_gy(16_888.0, 310.0) == pytest.approx(dose_gy, rel=1e-12)
    # 4.718 Gy / 7.4 GBq = 0.638 Gy/GBq.
    assert d.dose_per_activity_gy_per_gbq(dose_gy, 7.4) == pytest.approx(0.638, abs=0.0005)
    # Scaled to 360 g: 4.718 * 310/360 = 4.063 Gy.
    assert d.kidney_dose_s_value_gy(16_888.0, 360.0) == pytest.approx(4.06, abs=0.005)
    # BED = 4.72 (1 + 4.72/2.6 * 2.8/(2.8 + 48.9)) = 4.72 * 1.09832 = 5.184 Gy.
    assert d.bed(4.72, 48.9) == pytest.approx(5.18, abs=0.005)
    # The consistent chain from the model inputs: 16,720 * 3600 * 7.76e-5 / 1000 = 4.671 Gy.
    chain = d.kidney_dose_s_value_gy(d.tia_mono_exponential_mbq_h(237.0, lam), 310.0)
    assert chain == pytest.approx(4.671, abs=0.001)


def test_hanscheid_single_time_point_agrees_with_local_deposition():
    # Mono-exponential kidney, 1.2 MBq/mL at t=0, T_eff 50 h, density 1 g/mL, measured at 72 h.
    # Local deposition: D = C0 / lambda * Delta = 1.2 * 50/ln2 * 0.085335 = 7.387 Gy.
    # Hanscheid: 0.125 * C(72) * 2^(72/50) * 50 = 0.125 * 1.2 * 50 = 7.5 Gy: 0.125 is the kidney's
    # S x m / ln 2 = 0.12494 (1.5 % above Delta/ln2 = 0.1231: self-absorbed photons), so they agree within 2 %.
    c0, t_eff = 1.2, 50.0
    c72 = c0 * 2 ** (-72 / t_eff)
    stp = d.hanscheid_2018_dose_gy(c72, 72.0, t_eff)
    assert stp == pytest.approx(7.5, rel=1e-12)
    local = d.dose_local_deposition_gy(d.tia_mono_exponential_mbq_h(c0, LN2 / t_eff), 1.0)
    assert local == pytest.approx(7.387, abs=0.001)
    assert stp / local == pytest.approx(1.0, abs=0.02)


# --- BED -----------------------------------------------------------------------------
def test_bed_one_cycle_by_hand():
    # clinical_reference 3b: D 4 Gy, T_eff 50 h, alpha/beta 2.6 Gy, T_rep 2.8 h:
    # 4 * (1 + 4/2.6 * 2.8/52.8) = 4 * 1.081585 = 4.3263 Gy.
    assert d.bed(4.0, 50.0) == pytest.approx(4.3263, abs=1e-4)
    # Equivalent Dale form with mu = ln2/T_rep, lambda = ln2/T_eff: D + D^2/(a/b) * lambda/(mu+lambda).
    lam, mu = LN2 / 50.0, LN2 / 2.8
    assert d.bed(4.0, 50.0) == pytest.approx(4.0 + 16.0 / 2.6 * lam / (mu + lam), rel=1e-12)


def test_bed_summed_over_cycles_uses_per_cycle_dose():
    # 4 cycles of 4 Gy: 4 * 4.3263 = 17.305 Gy (not computed from (16 Gy)^2).
    assert d.bed_total(np.full(4, 4.0), 50.0) == pytest.approx(17.305, abs=1e-3)
    # T_rep 1.5 h: 16 * (1 + 4/2.6 * 1.5/51.5) = 16.717 Gy (clinical_reference 3b: 16.7).
    assert d.bed_total(np.full(4, 4.0), 50.0, t_rep_h=1.5) == pytest.approx(16.717, abs=1e-3)
    # Unequal cycles: 3 Gy @40 h, 5 Gy @60 h, 2 Gy @45 h:
    # 3(1+3/2.6*2.8/42.8) + 5(1+5/2.6*2.8/62.8) + 2(1+2/2.6*2.8/47.8)
    # = 3.22645 + 5.42873 + 2.09012 = 10.7453 Gy
    doses, t_effs = np.array([3.0, 5.0, 2.0]), np.array([40.0, 60.0, 45.0])
    assert d.bed_total(doses, t_effs) == pytest.approx(10.7453, abs=1e-4)
    np.testing.assert_allclose(d.cumulative_bed(doses, t_effs), [3.22645, 8.65518, 10.7453], atol=1e-4)


def test_bed_broadcasts_over_patients_and_cycles():
    doses = np.array([[4.0, 4.0], [2.0, 6.0]])
    out = d.bed(doses, np.array([[50.0], [40.0]]))
    assert out.shape == (2, 2)
    assert out[0, 0] == pytest.approx(4.3263, abs=1e-4)
    assert out[1, 1] == pytest.approx(6.0 * (1 + 6.0 / 2.6 * 2.8 / 42.8), rel=1e-12)


def test_eqd2_of_23_gy_ebrt_in_2_gy_fractions():
    # clinical_reference 3a: 23 Gy in 2-Gy fractions with alpha/beta 2.6 is BED 23 (1 + 2/2.6) = 40.69 Gy.
    assert d.eqd2_gy(23.0 * (1 + 2.0 / 2.6)) == pytest.approx(23.0, rel=1e-12)


def test_limits_and_defaults_are_the_published_values():
    assert (d.DOSE_LIMIT_GY, d.BED_LIMIT_GY_RISK, d.BED_LIMIT_GY_NO_RISK) == (23.0, 28.0, 40.0)
    assert (d.KIDNEY_ALPHA_BETA_GY, d.KIDNEY_T_REP_H) == (2.6, 2.8)
    assert 40.0 <= d.DEFAULT_KIDNEY_T_EFF_H <= 60.0


# --- TIA -------------------------------------------------------------------------------
def test_tia_mono_and_bi_exponential_analytic():
    # integral of A0 exp(-l t) = A0/l; of A0 (exp(-le t) - exp(-lu t)) = A0 (1/le - 1/lu).
    assert d.tia_mono_exponential_mbq_h(300.0, 0.01) == pytest.approx(30_000.0)
    assert d.tia_bi_exponential_mbq_h(300.0, 0.01, 0.5) == pytest.approx(300.0 * (100.0 - 2.0))


def test_tia_trapezoid_by_hand():
    # Samples (2 h, 10 MBq), (4 h, 6 MBq). Zero start: 10*2/2 = 10; trapezoid (10+6)/2*2 = 16;
    # physical tail 6 / 4.34499e-3 = 1380.90; total 1406.90 MBq h. Constant start adds 10 more.
    t, a = np.array([2.0, 4.0]), np.array([10.0, 6.0])
    assert d.tia_trapezoid_mbq_h(t, a) == pytest.approx(1406.90, abs=0.01)
    assert d.tia_trapezoid_mbq_h(t, a, start="constant") == pytest.approx(1416.90, abs=0.01)


def test_tia_trapezoid_converges_to_analytic_for_dense_physical_decay():
    # Pure physical decay: the physical tail is exact, the trapezoids converge to A0/lambda_phys.
    t = np.linspace(0.0, 300.0, 3001)
    a = 100.0 * d.decay_factor(t)
    assert d.tia_trapezoid_mbq_h(t, a) == pytest.approx(100.0 / d.LAMBDA_PHYS_PER_H, rel=1e-5)


# --- fits ------------------------------------------------------------------------------
TIMES_H = np.array([1.0, 2.0, 4.0, 8.0, 24.0, 48.0, 72.0, 96.0, 120.0, 168.0])


def _mono(a0, t_eff, n, noise, seed):
    rng = np.random.default_rng(seed)
    return a0 * np.exp(-LN2 / t_eff * TIMES_H) * np.exp(rng.normal(0.0, noise, (n, TIMES_H.size)))


def _biexp(a0, t_eff, lam_u, n, noise, seed):
    rng = np.random.default_rng(seed)
    shape = np.exp(-LN2 / t_eff * TIMES_H) - np.exp(-lam_u * TIMES_H)
    return a0 * shape * np.exp(rng.normal(0.0, noise, (n, TIMES_H.size)))


def test_mono_fit_exact_on_noise_free_curves_vectorised():
    a0 = np.array([[200.0], [300.0], [250.0]])
    t_eff = np.array([[40.0], [50.0], [60.0]])
    curves = a0 * np.exp(-LN2 / t_eff * TIMES_H)
    fit = d.fit_mono_exponential(TIMES_H, curves)
    np.testing.assert_allclose(fit.a0_mbq, a0[:, 0], rtol=1e-10)
    np.testing.assert_allclose(fit.t_eff_h, t_eff[:, 0], rtol=1e-10)
    np.testing.assert_allclose(fit.tia_mbq_h, a0[:, 0] * t_eff[:, 0] / LN2, rtol=1e-10)
    np.testing.assert_allclose(fit.r2, 1.0, atol=1e-12)


def test_mono_fit_recovers_a0_and_t_eff_from_noisy_curves():
    # 5 % log-normal noise on 10 samples: fitted A0 and T_eff within 3 % of truth (300 MBq, 50 h)
    # on average over 50 curves, and every curve within 10 %.
    fit = d.fit_mono_exponential(TIMES_H, _mono(300.0, 50.0, 50, 0.05, seed=1))
    assert fit.a0_mbq.mean() == pytest.approx(300.0, rel=0.03)
    assert fit.t_eff_h.mean() == pytest.approx(50.0, rel=0.03)
    assert np.all(np.abs(fit.t_eff_h / 50.0 - 1.0) < 0.10)
    assert np.all(fit.r2 > 0.98)


def test_effective_decay_never_slower_than_physical():
    # Activity rising or flat (e.g. noisy late uptake): lambda_eff is clipped to lambda_phys and
    # A0 refitted for that slope (mean of ln A + lambda_phys t).
    t = np.array([24.0, 72.0, 120.0])
    rising = np.array([[100.0, 110.0, 120.0], [50.0, 50.0, 50.0]])
    fit = d.fit_mono_exponential(t, rising)
    np.testing.assert_allclose(fit.lambda_eff_per_h, d.LAMBDA_PHYS_PER_H)
    expected_a0 = np.exp(np.mean(np.log(rising) + d.LAMBDA_PHYS_PER_H * t, axis=-1))
    np.testing.assert_allclose(fit.a0_mbq, expected_a0, rtol=1e-12)
    assert np.all(fit.t_eff_h <= d.LU177_HALF_LIFE_H + 1e-9)
    bi = d.fit_bi_exponential(TIMES_H, _mono(300.0, 400.0, 3, 0.02, seed=2))  # slower than physical
    assert np.all(bi.lambda_eff_per_h >= d.LAMBDA_PHYS_PER_H)


def test_bi_exponential_fit_recovers_parameters():
    # Uptake 0.3 /h, T_eff 60 h, A0 300 MBq, 2 % noise: within 5 % (A0, T_eff) and 15 % (uptake).
    fit = d.fit_bi_exponential(TIMES_H, _biexp(300.0, 60.0, 0.3, 5, 0.02, seed=3))
    np.testing.assert_allclose(fit.a0_mbq, 300.0, rtol=0.05)
    np.testing.assert_allclose(fit.t_eff_h, 60.0, rtol=0.05)
    np.testing.assert_allclose(fit.lambda_uptake_per_h, 0.3, rtol=0.15)
    exact = 300.0 * (60.0 / LN2 - 1.0 / 0.3)
    np.testing.assert_allclose(fit.tia_mbq_h, exact, rtol=0.05)


def test_aic_chooses_the_generating_model():
    # Data from a mono-exponential: AICc keeps mono in most curves (a spurious bi-exponential
    # win needs a chance RSS drop worth > 2 + the AICc correction, ~10 % of curves).
    mono = d.fit_best_tac(TIMES_H, _mono(300.0, 50.0, 20, 0.05, seed=4))
    assert np.mean(mono.model == "mono") >= 0.8
    # Data with a clear uptake phase (0.3 /h, visible in the 1-8 h samples): bi-exponential always.
    bi = d.fit_best_tac(TIMES_H, _biexp(300.0, 60.0, 0.3, 20, 0.05, seed=5))
    assert np.all(bi.model == "biexp")
    np.testing.assert_allclose(np.median(bi.t_eff_h), 60.0, rtol=0.05)


def test_aic_formula_and_small_sample_correction():
    # Mono fit on 4 points: AIC = n ln(RSS/n) + 2k with k = 2; AICc adds 2k(k+1)/(n-k-1) = 12.
    t = np.array([4.0, 24.0, 72.0, 120.0])
    a = np.array([100.0, 70.0, 35.0, 16.0])
    fit = d.fit_mono_exponential(t, a)
    y = np.log(a)
    slope, intercept = np.polyfit(t, y, 1)
    rss = float(np.sum((y - (intercept + slope * t)) ** 2))
    assert fit.aic == pytest.approx(4 * math.log(rss / 4) + 4, rel=1e-9)
    assert fit.aicc == pytest.approx(fit.aic + 12.0, rel=1e-12)
    # Bi-exponential on 4 points: n - k - 1 = 0, AICc is inf, so mono is kept.
    assert d.fit_best_tac(t, a).model == "mono"


# --- errors ------------------------------------------------------------------------------
@pytest.mark.parametrize("call, match", [
    (lambda: d.kidney_s_value_mgy_per_mbq_s(-10.0), "mass_g"),
    (lambda: d.dose_local_deposition_gy(100.0, 0.0), "mass_g"),
    (lambda: d.bed(-1.0, 50.0), "dose_gy"),
    (lambda: d.bed(2.0, 0.0), "t_eff_h"),
    (lambda: d.bed(2.0, 50.0, alpha_beta_gy=0.0), "alpha_beta_gy"),
    (lambda: d.fit_mono_exponential([24.0, 4.0], [10.0, 20.0]), "increasing"),
    (lambda: d.fit_mono_exponential([4.0, 24.0], [10.0, -1.0]), "> 0"),
    (lambda: d.fit_mono_exponential([4.0], [10.0]), "at least 2"),
    (lambda: d.fit_bi_exponential([0.0, 4.0, 24.0], [1.0, 10.0, 5.0]), "> 0"),
    (lambda: d.tia_trapezoid_mbq_h([1.0, 2.0], [1.0, 1.0], start="linear"), "start"),
    (lambda: d.fit_best_tac(TIMES_H, _mono(300.0, 50.0, 1, 0.05, 0), criterion="bic"), "criterion"),
])
def test_errors_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bed_passes_nan_through_as_missing():
    out = d.bed(np.array([4.0, np.nan]), np.array([50.0, 50.0]))
    assert out[0] == pytest.approx(4.3263, abs=1e-4) and np.isnan(out[1])
