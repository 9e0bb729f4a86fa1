"""Projection tests that kill mutation-testing survivors (issue 17): the projected BED of cycles
without dosimetry, the BED limit when renal risk is unknown, the minimum-data fallbacks, and the
store inputs (``inputs_from_tables``, ``kidney_per_cycle``).

Expected values are derived by hand here, in deterministic cases where every Monte-Carlo sample is
the same (no spread at all, or no cycle-to-cycle spread for a fully measured patient), so the
quantiles equal the hand sum whether tau^2 and sigma^2 are drawn (the default) or plugged in.

BED of one cycle with absorbed dose D (Gy), instant uptake and mono-exponential clearance with
effective half-life T_eff (Dale, Br J Radiol 1985;58:515; as in prrt_core/dosimetry/radiobiology.py
``bed``): BED = D (1 + D G / (alpha/beta)), with the Lea-Catcheside factor of an exponentially
falling dose rate G = lambda / (lambda + mu) = T_rep / (T_rep + T_eff) (lambda = ln2/T_eff, mu =
ln2/T_rep). Cycles weeks apart repair fully, so BED adds over cycles. Kidney alpha/beta 2.6 Gy and
T_rep 2.8 h (Barone 2005; Bodei 2008); limits 23 Gy dose (Emami 1991 / Konijnenberg 2003), BED
28 Gy with renal risk factors and 40 Gy without (Bodei 2008).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from prrt_core import projection
from prrt_core.errors import InputError
from prrt_core.projection import KidneyModelSettings
from prrt_core.projection.estimates import unmeasured_draws
from prrt_core.projection.montecarlo import prepare_run
from prrt_core.tables import TABLE_NAMES, Tables

ALPHA_BETA_GY, T_REP_H = 2.6, 2.8


def bed_gy(dose_gy: float, t_eff_h: float) -> float:
    """Dale's BED of one cycle, written out: D (1 + D G / (alpha/beta)), G = T_rep / (T_rep + T_eff)."""
    g = T_REP_H / (T_REP_H + t_eff_h)
    return dose_gy * (1.0 + dose_gy * g / ALPHA_BETA_GY)


def _history(rows):
    """rows: (patient_id, activity_gbq, kidney_dose_gy, kidney_t_eff_h)."""
    return pd.DataFrame(rows, columns=list(projection.HISTORY_COLUMNS))


def _flat(t_eff_h=50.0):
    # Every measured cycle exactly 0.5 Gy/GBq (3.7 Gy at 7.4 GBq): tau = sigma = 0, no spread to draw.
    return _history([(p, 7.4, 3.7, t_eff_h) for p in ("A", "B", "C") for _ in range(2)])


def _no_within_spread():
    """Each patient's cycles give the same Gy/GBq (0.4, 0.6, 0.5), patients differ: sigma^2 = 0, tau^2 > 0.

    A fully measured patient is then known exactly (shrinkage 1, prediction variance 0) in every draw.
    A: two measured cycles (2.96 Gy at 7.4 GBq, T_eff 45 h) and one of 6.0 GBq without dosimetry;
    N: one cycle of 7.4 GBq without dosimetry.
    """
    return _history([("A", 7.4, 2.96, 45.0), ("A", 7.4, 2.96, 45.0), ("A", 6.0, np.nan, np.nan),
                     ("B", 7.4, 4.44, 50.0), ("B", 7.4, 4.44, 50.0),
                     ("C", 7.4, 3.7, 55.0), ("C", 7.4, 3.7, 55.0),
                     ("N", 7.4, np.nan, np.nan)])


QUANTILE_COLUMNS = ("p05_gy", "p50_gy", "p95_gy")


# --- BED of past cycles without dosimetry (montecarlo._state: er * er * sum(...)) -----------------
def test_unmeasured_past_cycle_bed_in_the_projected_bed():
    # D: 3.7 Gy measured (T_eff 40 h) and a 6.0 GBq cycle without dosimetry, so 0.5 x 6.0 = 3.0 Gy
    # at D's own mean T_eff 40 h; then 2 cycles of 7.0 GBq = 3.5 Gy each, also at 40 h.
    h = pd.concat([_flat(), _history([("D", 7.4, 3.7, 40.0), ("D", 6.0, np.nan, np.nan)])])
    bed_now = bed_gy(3.7, 40.0) + bed_gy(3.0, 40.0)
    bed_total = bed_now + 2 * bed_gy(3.5, 40.0)
    # G = 2.8/42.8 = 0.065421; 3.7 x 1.093098 + 3.0 x 1.075485 + 2 x 3.5 x 1.088066 = 14.8874 Gy.
    assert bed_total == pytest.approx(14.8874, abs=1e-4)
    row = projection.project(h, 2, 7.0, patient_ids=["D"], n_samples=64).iloc[0]
    for q in QUANTILE_COLUMNS:
        assert row[f"bed_{q}"] == pytest.approx(bed_total, rel=1e-9), q
        assert row[f"dose_{q}"] == pytest.approx(3.7 + 3.0 + 7.0, rel=1e-9), q
    assert row.point_bed_gy == pytest.approx(bed_total, rel=1e-9)
    path = projection.project_path(h, 2, 7.0, patient_ids=["D"], settings=KidneyModelSettings(n_samples=64))
    now = path[path.future_cycle == 0].iloc[0]
    for q in QUANTILE_COLUMNS:  # before any future cycle: the BED of the two past cycles
        assert now[f"bed_{q}"] == pytest.approx(bed_now, rel=1e-9), q
    one = path[path.future_cycle == 1].iloc[0]
    assert one.bed_p50_gy == pytest.approx(bed_now + bed_gy(3.5, 40.0), rel=1e-9)


def test_unmeasured_past_cycle_bed_sets_exceedance_and_max_safe_cycles():
    # The same patient D with a BED limit of 20 Gy: 7.271 Gy now + 3.808 Gy per 7.0 GBq cycle
    # crosses 20 Gy at the 4th cycle (7.271 + 3 x 3.808 = 18.70, + 4 x 3.808 = 22.50), so 3 cycles are
    # safe; the absorbed dose (6.7 + 3.5 k <= 23, k <= 4.66) allows 4.
    h = pd.concat([_flat(), _history([("D", 7.4, 3.7, 40.0), ("D", 6.0, np.nan, np.nan)])])
    bed_now = bed_gy(3.7, 40.0) + bed_gy(3.0, 40.0)
    per_cycle = bed_gy(3.5, 40.0)
    assert bed_now + 3 * per_cycle < 20.0 < bed_now + 4 * per_cycle
    settings = KidneyModelSettings(n_samples=64, bed_limit_risk_gy=20.0)
    row = projection.project(h, 4, 7.0, patient_ids=["D"], settings=settings).iloc[0]
    assert row.p_exceed_bed == 1.0 and row.p_exceed_dose == 0.0
    assert row.max_safe_cycles == 3
    # Largest activity for 4 cycles under 20 Gy BED: 4 d (1 + d g) = 20 - bed_now, d = 0.5 A.
    g = T_REP_H / (T_REP_H + 40.0) / ALPHA_BETA_GY
    d = (-4 + math.sqrt(16 + 16 * g * (20.0 - bed_now))) / (8 * g)
    assert row.max_safe_activity_bed_gbq == pytest.approx(2 * d, rel=1e-8)


def test_unmeasured_draws_dose_and_bed_per_cycle():
    # estimates.unmeasured_draws on patient D: its one cycle without dosimetry is 3.0 Gy and
    # 3.0 (1 + 3.0 G/2.6) Gy BED in every quantile (no spread), plug-in branch (nothing to draw).
    h = pd.concat([_flat(), _history([("D", 7.4, 3.7, 40.0), ("D", 6.0, np.nan, np.nan)])])
    h = h.assign(cycle_id=[f"c{i}" for i in range(len(h))])
    draws = unmeasured_draws(h, "D", settings=KidneyModelSettings(n_samples=32))
    assert list(draws.cycle_ids) == ["c7"]
    np.testing.assert_allclose(draws.dose_q_gy[:, 0], 3.0, rtol=1e-12)
    np.testing.assert_allclose(draws.bed_q_gy[:, 0], bed_gy(3.0, 40.0), rtol=1e-12)
    np.testing.assert_allclose(draws.bed_gy, bed_gy(3.0, 40.0), rtol=1e-12)


# --- no cycle-to-cycle spread: drawn tau^2, sigma^2 = 0 (variance.patient_draws' zero branch) -----
def test_no_within_spread_measured_patient_is_exact_under_posterior_draws():
    h = _no_within_spread()
    model = projection.fit_cohort_model(h)
    assert model.sigma2_log == 0.0 and model.tau2_log > 0.0
    # A: 0.4 Gy/GBq in every draw. Dose now 2 x 2.96 + 6.0 x 0.4 = 8.32 Gy; 2 cycles of 7.0 GBq add
    # 2 x 2.8 Gy. T_eff of the unmeasured and future cycles: A's own mean, 45 h.
    dose = 2 * 2.96 + 2.4 + 2 * 2.8
    bed = 2 * bed_gy(2.96, 45.0) + bed_gy(2.4, 45.0) + 2 * bed_gy(2.8, 45.0)
    for components in ("posterior", "plug-in"):
        settings = KidneyModelSettings(n_samples=200, variance_components=components)
        row = projection.project(h, 2, 7.0, patient_ids=["A"], settings=settings).iloc[0]
        for q in QUANTILE_COLUMNS:
            assert row[f"dose_{q}"] == pytest.approx(dose, rel=1e-9), (components, q)
            assert row[f"bed_{q}"] == pytest.approx(bed, rel=1e-9), (components, q)
        assert row.point_bed_gy == pytest.approx(bed, rel=1e-9), components
        assert row.dose_now_gy == pytest.approx(8.32, rel=1e-9), components
        assert row.t_eff_future_h == 45.0 and row.t_eff_source == "patient mean"
    draws = unmeasured_draws(h.assign(cycle_id=[f"c{i}" for i in range(len(h))]), "A",
                             settings=KidneyModelSettings(n_samples=200))
    np.testing.assert_allclose(draws.dose_q_gy[:, 0], 2.4, rtol=1e-9)
    np.testing.assert_allclose(draws.bed_q_gy[:, 0], bed_gy(2.4, 45.0), rtol=1e-9)


def test_no_within_spread_unmeasured_patient_borrows_the_cohort():
    # N has no measurement: shrinkage 0 and variance tau_s^2 + Var(mu_s) in each draw. Its Gy/GBq
    # is the cohort's (0.4-0.6), never the 1 Gy/GBq of eta = 0, nor NaN from 0/0 (sigma = 0).
    h = _no_within_spread()
    row = projection.project(h, 1, 7.4, patient_ids=["N"], n_samples=4000, seed=2).iloc[0]
    cols = [f"dose_{q}" for q in QUANTILE_COLUMNS] + [f"bed_{q}" for q in QUANTILE_COLUMNS]
    assert np.isfinite(row[cols].to_numpy(dtype=float)).all()
    assert row.dose_p05_gy < row.dose_p50_gy < row.dose_p95_gy
    median_gy_per_gbq = row.dose_p50_gy / (2 * 7.4)
    assert 0.4 < median_gy_per_gbq < 0.6
    assert row.point_dose_gy / (2 * 7.4) == pytest.approx(0.5, rel=0.1)  # exp(mu): the geometric mean 0.493
    components = prepare_run(h, 1, 7.4, None, ["N"], KidneyModelSettings(n_samples=500)).draws.components
    assert np.all(components.sigma2 == 0.0) and np.all(components.tau2 > 0.0)


# --- minimum data ----------------------------------------------------------------------------
def test_two_patients_three_cycles_is_enough_and_matches_hand_estimates():
    # The least data that identifies both components: 2 patients, one with 2 measured cycles
    # (N - K = 1 degree of freedom for sigma^2). Henderson method I (Searle, Casella & McCulloch 1992):
    # sigma^2 = SSW/(N - K); tau^2 = max(0, (MSB - sigma^2)/n0), n0 = (N - sum n_k^2/N)/(K - 1).
    h = _history([("A", 7.4, 0.40 * 7.4, 50.0), ("A", 7.4, 0.50 * 7.4, 50.0), ("B", 7.4, 0.90 * 7.4, 50.0)])
    ya, yb = np.log([0.40, 0.50]), math.log(0.90)
    sigma2 = float(np.sum((ya - ya.mean()) ** 2)) / (3 - 2)
    grand = (ya.sum() + yb) / 3
    msb = (2 * (ya.mean() - grand) ** 2 + (yb - grand) ** 2) / (2 - 1)
    n0 = (3 - (2**2 + 1**2) / 3) / (2 - 1)
    tau2 = max(0.0, (msb - sigma2) / n0)
    assert tau2 > 0.0  # 0.90 is far from 0.40-0.50
    w = np.array([1 / (tau2 + sigma2 / 2), 1 / (tau2 + sigma2)])
    mu = float(np.sum(w * np.array([ya.mean(), yb])) / w.sum())
    model = projection.fit_cohort_model(h)
    assert (model.n_measured_patients, model.n_measured_cycles) == (2, 3)
    assert model.sigma2_log == pytest.approx(sigma2, rel=1e-12)
    assert model.tau2_log == pytest.approx(tau2, rel=1e-10)
    assert model.mu_log == pytest.approx(mu, rel=1e-12)
    assert model.var_mu_log == pytest.approx(1 / w.sum(), rel=1e-10)
    out = projection.project(h, 1, 7.4, n_samples=500)
    assert np.isfinite(out[["dose_p05_gy", "dose_p95_gy", "bed_p95_gy"]].to_numpy()).all()


def test_given_within_sd_fixes_sigma_in_every_draw():
    # One measured cycle per patient: sigma is not identifiable and within_sd_log is used as known;
    # only tau^2 (and mu) are drawn.
    h = _history([("A", 7.4, 2.96, 50.0), ("B", 7.4, 4.44, 50.0), ("C", 7.4, 3.7, 50.0)])
    settings = KidneyModelSettings(n_samples=300, within_sd_log=0.1)
    components = prepare_run(h, 1, 7.4, None, None, settings).draws.components
    np.testing.assert_allclose(components.sigma2, 0.01, rtol=1e-12)
    assert np.ptp(components.tau2) > 0.0
    with pytest.raises(InputError, match="within_sd_log"):
        projection.project(h, 1, 7.4)


def test_bed_uses_cohort_median_then_default_t_eff():
    # E has a measured dose but no T_eff: its BED uses the cohort median T_eff (60 h here, not the
    # 50 h default); with no T_eff anywhere, the 50 h default (dosimetry.DEFAULT_KIDNEY_T_EFF_H).
    h = pd.concat([_flat(t_eff_h=60.0), _history([("E", 7.4, 3.7, np.nan)])])
    row = projection.project(h, 1, 7.4, patient_ids=["E"], n_samples=16).iloc[0]
    assert (row.t_eff_future_h, row.t_eff_source) == (60.0, "cohort median")
    assert row.bed_now_gy == pytest.approx(bed_gy(3.7, 60.0), rel=1e-12)
    assert row.bed_p50_gy == pytest.approx(2 * bed_gy(3.7, 60.0), rel=1e-9)
    none = _flat().assign(kidney_t_eff_h=np.nan)
    row = projection.project(none, 1, 7.4, patient_ids=["A"], n_samples=16).iloc[0]
    assert (row.t_eff_future_h, row.t_eff_source) == (50.0, "default")
    assert row.bed_p50_gy == pytest.approx(3 * bed_gy(3.7, 50.0), rel=1e-9)


# --- renal risk: unknown means the stricter BED limit ---------------------------------------------
def test_unknown_renal_risk_takes_the_28_gy_limit_on_every_route():
    # Bodei 2008: 28 Gy BED with renal risk factors, 40 Gy without; unknown is treated as at risk.
    h = _flat()
    none = projection.project(h, 1, 7.4, n_samples=16)
    assert (none.bed_limit_gy == 28.0).all() and not none.renal_risk_known.any()
    assert none.renal_risk.isna().all()
    patients = pd.DataFrame({"patient_id": ["A", "B", "C", "Z"],
                             "renal_risk": pd.array([False, pd.NA, True, False], dtype="boolean")})
    out = projection.project(h, 1, 7.4, patients=patients, n_samples=16).set_index("patient_id")
    assert list(out.bed_limit_gy) == [40.0, 28.0, 28.0]
    assert list(out.renal_risk_known) == [True, False, True]
    assert out.loc["A", "renal_risk"] is np.False_ or out.loc["A", "renal_risk"] == False  # noqa: E712
    assert pd.isna(out.loc["B", "renal_risk"]) and out.loc["C", "renal_risk"]
    # An object column with None, as read from a CSV or a database NULL.
    obj = pd.DataFrame({"patient_id": ["A", "B"], "renal_risk": [None, False]})
    out = projection.project(h, 1, 7.4, patients=obj, n_samples=16).set_index("patient_id")
    assert list(out.bed_limit_gy) == [28.0, 40.0, 28.0]


def test_stricter_limit_changes_the_exceedance():
    # A (flat cohort): BED now 2 x 3.7 (1 + 3.7 G50/2.6) = 7.958 Gy; 5 cycles of 9.0 GBq (4.5 Gy,
    # BED 4.913 Gy each) bring it to 32.52 Gy: over 28 Gy, under 40 Gy. The dose limit is lifted.
    bed_total = 2 * bed_gy(3.7, 50.0) + 5 * bed_gy(4.5, 50.0)
    assert 28.0 < bed_total < 40.0
    assert bed_total == pytest.approx(32.52, abs=0.01)
    settings = KidneyModelSettings(n_samples=16, dose_limit_gy=100.0)
    for risk, limit, p_exceed in ((None, 28.0, 1.0), (True, 28.0, 1.0), (False, 40.0, 0.0)):
        patients = pd.DataFrame({"patient_id": ["A"], "renal_risk": pd.array([risk], dtype="boolean")})
        row = projection.project(_flat(), 5, 9.0, patients=patients, patient_ids=["A"], settings=settings).iloc[0]
        assert row.bed_p50_gy == pytest.approx(bed_total, rel=1e-9)
        assert (row.bed_limit_gy, row.p_exceed_bed) == (limit, p_exceed), risk
        # Cycles of 9.0 GBq allowed: (limit - 7.958) / 4.913 -> 4 under 28 Gy, 6 under 40 Gy.
        assert row.max_safe_cycles == (4 if limit == 28.0 else 6), risk


@pytest.mark.parametrize("patients, match", [
    (pd.DataFrame({"patient_id": ["A"], "renal_risk": ["yes"]}), "renal_risk"),
    ([("A", True)], "DataFrame"),
])
def test_bad_patients_table_is_refused(patients, match):
    with pytest.raises(InputError, match=match):
        projection.project(_flat(), 1, 7.4, patients=patients, n_samples=8)


# --- inputs from the store's tables --------------------------------------------------------------
def test_kidney_per_cycle_takes_the_first_kidneys_row_and_keeps_row_order():
    cycles = pd.DataFrame({"cycle_id": ["c3", "c1", "c2"], "activity_gbq": [7.4, 7.0, 6.5]})
    dosimetry = pd.DataFrame({
        "cycle_id": ["c1", "c1", "c2", "c2", "c9"],
        "organ": ["tumour", "kidneys", "kidneys", "kidneys", "kidneys"],
        "dose_gy": [50.0, 3.1, 2.5, 9.9, 1.0],
        "t_eff_h": [80.0, 45.0, np.nan, 60.0, 40.0],
    })
    out = projection.kidney_per_cycle(cycles, dosimetry)
    assert list(out.cycle_id) == ["c3", "c1", "c2"] and list(out.activity_gbq) == [7.4, 7.0, 6.5]
    np.testing.assert_array_equal(out.kidney_dose_gy, [np.nan, 3.1, 2.5])
    np.testing.assert_array_equal(out.kidney_t_eff_h, [np.nan, 45.0, np.nan])
    assert out.kidney_dose_gy.dtype == np.float64 and out.kidney_t_eff_h.dtype == np.float64
    assert "kidney_dose_gy" not in cycles.columns  # the input is not changed
    empty = projection.kidney_per_cycle(cycles, dosimetry.iloc[0:1])  # no kidney row at all
    assert empty.kidney_dose_gy.isna().all() and empty.kidney_dose_gy.dtype == np.float64


def _tables(patients, cycles, dosimetry) -> Tables:
    frames = {name: pd.DataFrame() for name in TABLE_NAMES}
    frames.update(patients=patients, cycles=cycles, dosimetry=dosimetry)
    return Tables(**frames)


def test_inputs_from_tables_history_order_and_renal_risk():
    patients = pd.DataFrame({
        "patient_id": ["P2", "P1", "P3", "P4", "P5", "P6"],
        "hypertension": [0, 1, 0, 0, 0, 0],
        "diabetes": [0, 0, 1, 0, 0, 0],
        "other_renal_risk": [None, None, None, "  ", "single kidney", ""],
    })
    cycles = pd.DataFrame({
        "cycle_id": ["c5", "c2", "c1", "c4", "c6"],
        "patient_id": ["P2", "P1", "P1", "P2", "P3"],
        "cycle_date": pd.to_datetime(["2024-03-01", "2024-02-01", "2024-01-01", "2024-01-15", "2024-01-10"]),
        "activity_gbq": [7.4, 7.3, 7.2, 7.1, 7.0],
        "notes": ["x"] * 5,
    })
    dosimetry = pd.DataFrame({"cycle_id": ["c1", "c4", "c5", "c6"], "organ": ["kidneys"] * 4,
                              "dose_gy": [3.0, 2.8, 3.3, 4.0], "t_eff_h": [45.0, 50.0, np.nan, 55.0]})
    history, risk = projection.inputs_from_tables(_tables(patients, cycles, dosimetry))
    assert list(history.columns) == ["patient_id", "cycle_id", "cycle_date", "activity_gbq", "kidney_dose_gy",
                                     "kidney_t_eff_h"]
    assert list(history.cycle_id) == ["c1", "c2", "c4", "c5", "c6"]  # by patient, then date
    assert list(history.index) == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(history.kidney_dose_gy, [3.0, np.nan, 2.8, 3.3, 4.0])
    # Renal risk: hypertension, diabetes or any non-blank other risk factor.
    assert list(risk.patient_id) == ["P2", "P1", "P3", "P4", "P5", "P6"]
    assert list(risk.renal_risk) == [False, True, True, False, True, False]
    out = projection.project(history, 1, 7.4, patients=risk, n_samples=16).set_index("patient_id")
    assert out.loc["P1", "bed_limit_gy"] == 28.0 and out.loc["P2", "bed_limit_gy"] == 40.0
    assert out.loc["P3", "bed_limit_gy"] == 28.0 and out.renal_risk_known.all()
