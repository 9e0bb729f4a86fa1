"""Dosimetry tests that kill the mutation-testing survivors of issue 17 (physics, tac, absorbed_dose,
radiobiology).

Every expected value is either a published constant (source next to it) or derived by hand in the
comment from the formula the module cites: Dale's BED (Br J Radiol 1985; Barone et al. JNM
2005;46:99S; Bodei et al. EJNMMI 2008;35:1847), least-squares AIC n ln(RSS/n) + 2k and AICc =
AIC + 2k(k+1)/(n-k-1) (Burnham & Anderson 2002; Glatting et al. Med Phys 2007;34:4285), R^2 =
1 - RSS/TSS on the fitted (ln) scale.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from prrt_core import dosimetry as d
from prrt_core.dosimetry import physics, radiobiology, tac
from prrt_core.errors import InputError

LN2 = math.log(2.0)
# Residual floor of the information criteria: RSS >= n * 1e-12 (tac._RSS_FLOOR_PER_POINT).
RSS_FLOOR_PER_POINT = 1.0e-12


def _dale_bed(dose_gy: float, t_eff_h: float, alpha_beta_gy: float = 2.6, t_rep_h: float = 2.8) -> float:
    """Independent scalar BED, Dale form with rates: D + D^2/(a/b) * lambda_eff / (mu + lambda_eff)."""
    lam, mu = LN2 / t_eff_h, LN2 / t_rep_h
    return dose_gy + dose_gy**2 / alpha_beta_gy * lam / (mu + lam)


# --- published constants ------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "published", "rel", "source"), [
    (d.LU177_HALF_LIFE_H, 6.647 * 24.0, 1e-12, "Lu-177 T1/2 6.647 d: EJNMMI Phys 2020 (s40658-020-00301-2) Table 1"),
    (d.LAMBDA_PHYS_PER_H, 4.345e-3, 2e-4, "ln2 / 159.528 h (derived)"),
    (d.LU177_BETA_MEAN_KEV, 133.3, 1e-12, "beta- mean energy: EJNMMI Phys 2020 Table 1"),
    (d.LU177_CE_KEV, 13.52, 1e-12, "conversion electrons: EJNMMI Phys 2020 Table 1"),
    (d.LU177_AUGER_KEV, 1.13, 1e-12, "Auger electrons: EJNMMI Phys 2020 Table 1"),
    (d.LU177_ELECTRON_KEV_PER_DECAY, 147.95, 1e-12, "133.3 + 13.52 + 1.13 keV (derived)"),
    # 147.95 keV x 1.602176634e-16 J/keV x 3.6e9 decays/(MBq h) / 1e-3 kg/g = 0.0853346 Gy g/(MBq h)
    (d.DELTA_LOCAL_GY_G_PER_MBQ_H, 147.95 * 1.602176634e-16 * 3.6e9 / 1e-3, 1e-12, "Delta, derived (SI eV)"),
    (d.DELTA_LOCAL_GY_G_PER_MBQ_H, 0.0853, 1e-3, "Madsen 2018 single-time-point Delta 0.0853"),
    (d.KIDNEY_S_REF_MGY_PER_MBQ_S, 7.76e-5, 1e-12, "OLINDA adult male kidneys<-kidneys S-value"),
    (d.KIDNEY_REF_MASS_G, 310.0, 1e-12, "ICRP 89 reference adult male kidney mass"),
    (d.KIDNEY_ALPHA_BETA_GY, 2.6, 1e-12, "kidney alpha/beta: Barone JNM 2005; Bodei EJNMMI 2008"),
    (d.KIDNEY_T_REP_H, 2.8, 1e-12, "repair half-time: Barone JNM 2005; Bodei EJNMMI 2008"),
    (d.DOSE_LIMIT_GY, 23.0, 1e-12, "kidney TD5/5: Emami IJROBP 1991; Konijnenberg CBR 2003"),
    (d.BED_LIMIT_GY_RISK, 28.0, 1e-12, "BED limit with risk factors: Bodei EJNMMI 2008"),
    (d.BED_LIMIT_GY_NO_RISK, 40.0, 1e-12, "BED limit without risk factors: Bodei EJNMMI 2008"),
    (tac._RSS_FLOOR_PER_POINT, RSS_FLOOR_PER_POINT, 1e-12, "documented RSS floor, 1e-6 relative per point"),
])
def test_published_constants(value, published, rel, source):
    assert value == pytest.approx(published, rel=rel), source


def test_re_exported_constants_are_the_module_constants():
    assert d.LAMBDA_PHYS_PER_H is physics.LAMBDA_PHYS_PER_H
    assert physics.LAMBDA_PHYS_PER_H == LN2 / physics.LU177_HALF_LIFE_H
    assert d.BED_LIMIT_GY_RISK is radiobiology.BED_LIMIT_GY_RISK
    # 23 Gy EBRT in 2-Gy fractions is BED 40.7 Gy with alpha/beta 2.6 (clinical_reference 3a): the
    # 40 Gy no-risk limit is that EBRT tolerance on the BED scale.
    assert d.DOSE_LIMIT_GY * (1 + 2.0 / d.KIDNEY_ALPHA_BETA_GY) == pytest.approx(40.69, abs=0.01)


# --- decay ---------------------------------------------------------------------------------------
def test_decay_factor_at_one_day():
    # exp(-ln2 x 24 / 159.528) = exp(-0.150444 x 0.693147) = exp(-0.104280) = 0.900973.
    assert d.decay_factor(24.0) == pytest.approx(0.900973, rel=1e-6)
    assert d.decay_correct(np.array([100.0, 200.0]), 24.0).tolist() == pytest.approx([90.0973, 180.1947], rel=1e-6)


# --- BED -----------------------------------------------------------------------------------------
def test_cumulative_bed_runs_along_cycles_not_across_patients():
    # Two patients x three cycles. Per cycle (Dale, alpha/beta 2.6, T_rep 2.8):
    #   P1: 4 Gy @ 50 h -> 4 (1 + 4/2.6 x 2.8/52.8) = 4 x 1.081585 = 4.32634;
    #       3 Gy @ 40 h -> 3 (1 + 3/2.6 x 2.8/42.8) = 3.22646; 2 Gy @ 60 h -> 2 (1 + 2/2.6 x 2.8/62.8) = 2.06859
    #   P2: 1 Gy @ 50 h -> 1 (1 + 1/2.6 x 2.8/52.8) = 1.02040; 5 Gy @ 40 h -> 5 x 1.125809 = 5.62904;
    #       6 Gy @ 45 h -> 6 (1 + 6/2.6 x 2.8/47.8) = 6 x 1.135179 = 6.81107
    doses = np.array([[4.0, 3.0, 2.0], [1.0, 5.0, 6.0]])
    t_eff = np.array([[50.0, 40.0, 60.0], [50.0, 40.0, 45.0]])
    per_cycle = np.array([[_dale_bed(x, t) for x, t in zip(dr, tr)] for dr, tr in zip(doses, t_eff)])
    np.testing.assert_allclose(per_cycle, [[4.32634, 3.22646, 2.06859], [1.02040, 5.62904, 6.81107]], atol=1e-5)
    cum = d.cumulative_bed(doses, t_eff)
    assert cum.shape == (2, 3)  # a flattened (axis=None) running sum would have shape (6,)
    np.testing.assert_allclose(cum, np.cumsum(per_cycle, axis=1), rtol=1e-12)
    # P2's total is its own 13.4605 Gy, not P1's 9.6214 Gy plus P2's cycles.
    assert cum[1, -1] == pytest.approx(1.02040 + 5.62904 + 6.81107, abs=1e-4)
    np.testing.assert_allclose(d.bed_total(doses, t_eff), cum[:, -1], rtol=1e-12)
    # Cycles on axis 0 (cycles x patients): the same numbers transposed.
    np.testing.assert_allclose(d.cumulative_bed(doses.T, t_eff.T, axis=0), cum.T, rtol=1e-12)
    np.testing.assert_allclose(d.bed_total(doses.T, t_eff.T, axis=0), cum[:, -1], rtol=1e-12)


def test_bed_for_doses_under_one_gray():
    # Below 1 Gy the quadratic term shrinks faster than the dose: D = 0.5 Gy, T_eff 50 h:
    # 0.5 (1 + 0.5/2.6 x 2.8/52.8) = 0.5 x 1.0101981 = 0.5050991 Gy (a D/(a/b) -> (a/b)/D or
    # D^2 -> D mistake gives > 0.5 x 1.2).
    assert d.bed(0.5, 50.0) == pytest.approx(0.5050991, abs=1e-7)
    assert d.bed(0.1, 50.0) == pytest.approx(0.1 * (1 + 0.1 / 2.6 * 2.8 / 52.8), rel=1e-12)
    assert d.bed(0.1, 50.0) == pytest.approx(_dale_bed(0.1, 50.0), rel=1e-12)
    # No dose, no BED: 0 Gy is a valid cycle (not an error).
    assert d.bed(0.0, 50.0) == 0.0
    assert d.bed_total([0.0, 0.5], [50.0, 50.0]) == pytest.approx(0.5050991, abs=1e-7)


def test_bed_with_non_default_radiobiology():
    # alpha/beta 1.5 Gy (lower end of the animal range, CBR 2004;19:378), T_rep 1.5 h, D 4 Gy, T_eff 50 h:
    # 4 (1 + 4/1.5 x 1.5/51.5) = 4 x 1.0776699 = 4.3106796 Gy.
    assert d.bed(4.0, 50.0, alpha_beta_gy=1.5, t_rep_h=1.5) == pytest.approx(4.3106796, abs=1e-7)
    assert d.repair_factor(50.0) == pytest.approx(2.8 / 52.8, rel=1e-12)
    assert d.repair_factor(50.0, 1.5) == pytest.approx(1.5 / 51.5, rel=1e-12)
    # EQD2 with alpha/beta 3: BED / (1 + 2/3); 10 Gy BED -> 6 Gy.
    assert d.eqd2_gy(10.0, alpha_beta_gy=3.0) == pytest.approx(6.0, rel=1e-12)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: d.bed(np.inf, 50.0), "dose_gy"),
    (lambda: d.bed(-0.1, 50.0), "dose_gy"),
    (lambda: d.bed(2.0, np.inf), "t_eff_h"),
    (lambda: d.bed(2.0, -5.0), "t_eff_h"),
    (lambda: d.bed(2.0, 50.0, t_rep_h=0.0), "t_rep_h"),
    (lambda: d.bed(2.0, 50.0, alpha_beta_gy=np.inf), "alpha_beta_gy"),
    (lambda: d.eqd2_gy(10.0, alpha_beta_gy=-2.6), "alpha_beta_gy"),
])
def test_bed_rejects_impossible_inputs(call, match):
    with pytest.raises(InputError, match=match):
        call()


def test_bed_missing_t_eff_stays_missing():
    out = d.bed(np.array([4.0, 4.0]), np.array([50.0, np.nan]))
    assert out[0] == pytest.approx(4.32634, abs=1e-5) and np.isnan(out[1])


# --- absorbed dose -------------------------------------------------------------------------------
def test_absorbed_dose_rejects_bad_mass_and_activity():
    for bad in (0.0, -1.0, np.inf, np.nan):
        with pytest.raises(InputError, match="mass_g"):
            d.kidney_s_value_mgy_per_mbq_s(bad)
        with pytest.raises(InputError, match="activity_gbq"):
            d.dose_per_activity_gy_per_gbq(4.0, bad)
    # 1 MBq h in 1 g with S x m of the reference kidney: 7.76e-5 x 310 x 3600 / 1000 = 0.0866016 Gy.
    assert d.kidney_dose_s_value_gy(1.0, 1.0) == pytest.approx(0.0866016, rel=1e-6)


# --- TIA -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("call", "match"), [
    (lambda: d.tia_mono_exponential_mbq_h(100.0, 0.0), "lambda_eff_per_h must be > 0"),  # lambda = 0
    (lambda: d.tia_mono_exponential_mbq_h(100.0, -0.01), "lambda_eff_per_h must be > 0"),
    (lambda: d.tia_bi_exponential_mbq_h(100.0, 0.0, 0.5), "lambda_uptake_per_h > lambda_eff_per_h > 0"),
    (lambda: d.tia_bi_exponential_mbq_h(100.0, 0.1, 0.1), "lambda_uptake_per_h > lambda_eff_per_h > 0"),
    (lambda: d.tia_trapezoid_mbq_h([1.0, 2.0], [5.0, -1.0]), "activity_mbq must be >= 0"),
    (lambda: d.tia_trapezoid_mbq_h([1.0, 1.0], [5.0, 4.0]), "strictly increasing"),
    (lambda: d.tia_trapezoid_mbq_h([-1.0, 2.0], [5.0, 4.0]), "finite and >= 0"),
    (lambda: d.tia_trapezoid_mbq_h([1.0, np.nan], [5.0, 4.0]), "finite and >= 0"),
    (lambda: d.tia_trapezoid_mbq_h([1.0, 2.0], [5.0, np.inf]), "activity_mbq must be finite"),
    (lambda: d.tia_trapezoid_mbq_h(1.0, 5.0), "time axis"),
    (lambda: d.tia_trapezoid_mbq_h([1.0, 2.0, 3.0], [5.0, 4.0]), "does not broadcast"),
])
def test_tia_rejects_impossible_inputs(call, match):
    with pytest.raises(InputError, match=match):
        call()


def test_trapezoid_accepts_zero_activity_and_a_sample_at_injection():
    # Samples (0 h, 0 MBq), (2 h, 10 MBq), (4 h, 0 MBq): head 0; trapezoids 10 + 10 = 20; tail 0/lambda = 0.
    assert d.tia_trapezoid_mbq_h([0.0, 2.0, 4.0], [0.0, 10.0, 0.0]) == pytest.approx(20.0, rel=1e-12)
    # Two samples (2 h, 10 MBq), (6 h, 2 MBq): head 10; trapezoid (10 + 2)/2 x 4 = 24; tail 2/lambda_phys.
    assert d.tia_trapezoid_mbq_h([2.0, 6.0], [10.0, 2.0]) == pytest.approx(34.0 + 2.0 / d.LAMBDA_PHYS_PER_H,
                                                                           rel=1e-12)
    # One sample (3 h, 10 MBq): head 10 x 3 / 2 = 15 (zero start) or 30 (constant), tail 10/lambda_phys.
    tail = 10.0 / d.LAMBDA_PHYS_PER_H
    assert d.tia_trapezoid_mbq_h([3.0], [10.0]) == pytest.approx(15.0 + tail, rel=1e-12)
    assert d.tia_trapezoid_mbq_h([3.0], [10.0], start="constant") == pytest.approx(30.0 + tail, rel=1e-12)


# --- fits: inputs --------------------------------------------------------------------------------
@pytest.mark.parametrize(("call", "match"), [
    (lambda: d.fit_mono_exponential([4.0, 24.0, 24.0], [10.0, 8.0, 7.0]), "strictly increasing"),  # duplicate
    (lambda: d.fit_mono_exponential([4.0, 24.0], [10.0, 0.0]), "must be > 0"),
    (lambda: d.fit_mono_exponential([4.0, 24.0], [-10.0, 8.0]), "must be > 0"),  # negative activity
    (lambda: d.fit_bi_exponential([4.0, 24.0], [10.0, 8.0]), "at least 3"),
    (lambda: d.fit_bi_exponential([4.0, 24.0, 24.0], [10.0, 8.0, 7.0]), "strictly increasing"),
    (lambda: d.fit_best_tac([4.0, 24.0, 48.0], [10.0, 8.0, -7.0]), "must be > 0"),
])
def test_fits_reject_duplicate_times_and_non_positive_activity(call, match):
    with pytest.raises(InputError, match=match):
        call()


def test_mono_fit_accepts_a_sample_at_injection():
    # A(t) = 100 exp(-ln2 t / 50) sampled at 0, 24, 72 h: exact, A0 = A(0) = 100 MBq, TIA = 100 x 50/ln2.
    t = np.array([0.0, 24.0, 72.0])
    fit = d.fit_mono_exponential(t, 100.0 * np.exp(-LN2 / 50.0 * t))
    assert float(fit.a0_mbq) == pytest.approx(100.0, rel=1e-12)
    assert float(fit.t_eff_h) == pytest.approx(50.0, rel=1e-12)
    assert float(fit.tia_mbq_h) == pytest.approx(100.0 * 50.0 / LN2, rel=1e-12)


def test_best_fit_with_a_sample_at_injection_is_mono_even_by_aic():
    # The bi-exponential model is 0 at t = 0, so a sample there rules it out: mono, no error,
    # whichever criterion (a bi-exponential attempt would raise "times_h must be > 0").
    t = np.array([0.0, 1.0, 4.0, 24.0, 72.0, 168.0])
    a = 100.0 * (np.exp(-LN2 / 50.0 * t) + 0.01) * np.exp(np.array([0.01, -0.02, 0.03, -0.01, 0.02, -0.01]))
    for criterion in ("aic", "aicc"):
        best = d.fit_best_tac(t, a, criterion=criterion)
        mono = d.fit_mono_exponential(t, a)
        assert best.model == "mono"
        assert float(best.tia_mbq_h) == float(mono.tia_mbq_h)


# --- fits: R^2, AIC, AICc --------------------------------------------------------------------------
T5_H = np.array([1.0, 4.0, 24.0, 72.0, 168.0])
# Bi-exponential kidney curve A0 100 MBq, T_eff 50 h, uptake 2 /h, with fixed ln-scale residuals.
NOISE5 = np.array([0.02, -0.02, 0.01, -0.01, 0.015])
A5_MBQ = 100.0 * (np.exp(-LN2 / 50.0 * T5_H) - np.exp(-2.0 * T5_H)) * np.exp(NOISE5)


def test_mono_r2_and_aic_by_hand():
    # Ordinary least squares of ln A on t (numpy polyfit, independent of the module): slope < -lambda_phys
    # here, so no clipping. R^2 = 1 - RSS/TSS; AIC = 5 ln(RSS/5) + 4; AICc = AIC + 2*2*3/(5-2-1) = AIC + 6.
    y = np.log(A5_MBQ)
    slope, intercept = np.polyfit(T5_H, y, 1)
    assert -slope > d.LAMBDA_PHYS_PER_H
    rss = float(np.sum((y - (intercept + slope * T5_H)) ** 2))
    tss = float(np.sum((y - y.mean()) ** 2))
    fit = d.fit_mono_exponential(T5_H, A5_MBQ)
    assert float(fit.r2) == pytest.approx(1.0 - rss / tss, rel=1e-9)
    assert float(fit.aic) == pytest.approx(5 * math.log(rss / 5) + 4, rel=1e-9)
    assert float(fit.aicc) == pytest.approx(float(fit.aic) + 6.0, rel=1e-12)
    assert float(fit.a0_mbq) == pytest.approx(math.exp(intercept), rel=1e-9)
    assert fit.n_points == 5


def test_bi_r2_and_aic_from_its_own_parameters():
    # Rebuild the fitted curve from the returned A0, lambda_e, lambda_u and recompute RSS on ln A:
    # R^2 = 1 - RSS/TSS, AIC = 5 ln(RSS/5) + 2*3, AICc = AIC + 2*3*4/(5-3-1) = AIC + 24.
    fit = d.fit_bi_exponential(T5_H, A5_MBQ)
    a0, le, lu = float(fit.a0_mbq), float(fit.lambda_eff_per_h), float(fit.lambda_uptake_per_h)
    y = np.log(A5_MBQ)
    model = np.log(a0 * (np.exp(-le * T5_H) - np.exp(-lu * T5_H)))
    rss = float(np.sum((y - model) ** 2))
    tss = float(np.sum((y - y.mean()) ** 2))
    assert rss > 5 * RSS_FLOOR_PER_POINT
    assert float(fit.r2) == pytest.approx(1.0 - rss / tss, rel=1e-9)
    assert float(fit.aic) == pytest.approx(5 * math.log(rss / 5) + 6, rel=1e-6)
    assert float(fit.aicc) == pytest.approx(float(fit.aic) + 24.0, rel=1e-12)
    assert float(fit.tia_mbq_h) == pytest.approx(a0 * (1 / le - 1 / lu), rel=1e-12)
    # The generating curve is recovered: T_eff 50 h within 5 %, uptake 2 /h within 30 %.
    assert float(fit.t_eff_h) == pytest.approx(50.0, rel=0.05)
    assert lu == pytest.approx(2.0, rel=0.3)


def test_aic_and_aicc_choose_differently_and_best_fit_takes_every_field_from_the_choice():
    # n = 5: AIC penalises 2k (mono 4, biexp 6), AICc adds 2k(k+1)/(n-k-1) (mono +6, biexp +24).
    # With a fast uptake (2 /h) only the 1 h sample sees it: the bi-exponential wins on AIC but
    # loses on AICc (the 18-point extra penalty is more than its AIC gain).
    mono = d.fit_mono_exponential(T5_H, A5_MBQ)
    bi = d.fit_bi_exponential(T5_H, A5_MBQ)
    assert float(bi.aic) < float(mono.aic)
    assert float(bi.aicc) > float(mono.aicc)
    assert 0.0 < float(mono.aic - bi.aic) < 18.0
    by_aicc = d.fit_best_tac(T5_H, A5_MBQ)
    by_aic = d.fit_best_tac(T5_H, A5_MBQ, criterion="aic")
    assert by_aicc.model == "mono" and by_aic.model == "biexp"
    for name in ("a0_mbq", "lambda_eff_per_h", "lambda_uptake_per_h", "tia_mbq_h", "r2", "aic", "aicc",
                 "tia_sd_mbq_h"):
        assert np.array_equal(getattr(by_aicc, name), getattr(mono, name), equal_nan=True), name
        assert np.array_equal(getattr(by_aic, name), getattr(bi, name), equal_nan=True), name
    assert by_aic.n_points == by_aicc.n_points == 5


def test_best_fit_chooses_per_curve_in_a_batch():
    # Curve 0: the case above (AICc -> mono); curve 1: a pure mono-exponential with tiny residuals
    # (AICc -> mono as well); curve 2: slow uptake 0.05 /h, visible at 1-24 h (AICc -> biexp).
    slow = 100.0 * (np.exp(-LN2 / 50.0 * T5_H) - np.exp(-0.05 * T5_H)) * np.exp(NOISE5)
    pure = 100.0 * np.exp(-LN2 / 50.0 * T5_H) * np.exp(NOISE5 / 10)
    curves = np.stack([A5_MBQ, pure, slow])
    best = d.fit_best_tac(T5_H, curves)
    assert best.model.tolist() == ["mono", "mono", "biexp"]
    bi_slow = d.fit_bi_exponential(T5_H, slow)
    mono = d.fit_mono_exponential(T5_H, curves)
    assert best.tia_mbq_h[2] == pytest.approx(float(bi_slow.tia_mbq_h), rel=1e-9)
    np.testing.assert_array_equal(best.tia_mbq_h[:2], mono.tia_mbq_h[:2])
    assert np.isinf(best.lambda_uptake_per_h[:2]).all() and np.isfinite(best.lambda_uptake_per_h[2])


def test_exactly_three_points():
    # 3 exact samples of 100 (exp(-ln2 t/50) - exp(-0.3 t)): the bi-exponential (3 parameters)
    # interpolates them, RSS is floored at 3e-12, AIC = 3 ln(1e-12) + 6 = -76.893; AICc needs
    # n - k - 1 > 0 and is inf for both models (mono: 3-2-1 = 0; bi: -1), so AICc keeps mono and
    # AIC chooses the bi-exponential.
    t = np.array([2.0, 24.0, 96.0])
    a = 100.0 * (np.exp(-LN2 / 50.0 * t) - np.exp(-0.3 * t))
    bi = d.fit_bi_exponential(t, a)
    assert float(bi.aic) == pytest.approx(3 * math.log(RSS_FLOOR_PER_POINT) + 6, rel=1e-9)
    assert np.isinf(bi.aicc) and np.isinf(d.fit_mono_exponential(t, a).aicc)
    assert float(bi.r2) == pytest.approx(1.0, abs=1e-9)
    assert float(bi.a0_mbq) == pytest.approx(100.0, rel=1e-4)
    assert float(bi.t_eff_h) == pytest.approx(50.0, rel=1e-4)
    assert d.fit_best_tac(t, a).model == "mono"
    by_aic = d.fit_best_tac(t, a, criterion="aic")
    assert by_aic.model == "biexp"
    assert float(by_aic.tia_mbq_h) == pytest.approx(100.0 * (50.0 / LN2 - 1 / 0.3), rel=1e-4)


def test_four_and_five_point_small_sample_corrections():
    # Bi-exponential: n = 4 gives n - k - 1 = 0 -> AICc inf; n = 5 gives AIC + 24 (above).
    # Mono: n = 3 -> inf; n = 4 -> AIC + 2*2*3/1 = AIC + 12.
    t4 = T5_H[1:]
    a4 = A5_MBQ[1:]
    assert np.isinf(d.fit_bi_exponential(t4, a4).aicc)
    mono4 = d.fit_mono_exponential(t4, a4)
    assert float(mono4.aicc) == pytest.approx(float(mono4.aic) + 12.0, rel=1e-12)


def test_noise_free_fit_has_floored_finite_aic_and_r2_one():
    # Exact mono-exponential on 5 points: RSS is ~0, floored at 5e-12: AIC = 5 ln(1e-12) + 4 = -134.155.
    a = 100.0 * np.exp(-LN2 / 50.0 * T5_H)
    fit = d.fit_mono_exponential(T5_H, a)
    assert float(fit.aic) == pytest.approx(5 * math.log(1e-12) + 4, rel=1e-9)
    assert float(fit.r2) == pytest.approx(1.0, abs=1e-9)


def test_flat_curve_has_undefined_r2_and_physical_clearance():
    # Constant activity: TSS = 0, R^2 undefined (NaN, not 1 or -inf); the slope 0 is slower than
    # physical decay, so lambda is clipped to lambda_phys and T_eff = 159.528 h.
    fit = d.fit_mono_exponential([4.0, 24.0, 72.0], [50.0, 50.0, 50.0])
    assert np.isnan(fit.r2)
    assert float(fit.t_eff_h) == pytest.approx(d.LU177_HALF_LIFE_H, rel=1e-12)


def test_clearance_exactly_physical_is_not_clipped_differently():
    # Pure physical decay: the fitted slope equals -lambda_phys (to rounding); lambda_eff = lambda_phys,
    # A0 exact, and the TIA is A0 / lambda_phys = 100 x 159.528 / ln2 = 23,014.8 MBq h.
    t = np.array([4.0, 24.0, 72.0, 120.0])
    fit = d.fit_mono_exponential(t, 100.0 * d.decay_factor(t))
    assert float(fit.lambda_eff_per_h) == pytest.approx(d.LAMBDA_PHYS_PER_H, rel=1e-9)
    assert float(fit.tia_mbq_h) == pytest.approx(100.0 * 159.528 / LN2, rel=1e-9)
