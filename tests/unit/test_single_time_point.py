"""Single-time-point dosimetry: Hänscheid 2018 and Madsen 2018 against hand-derived values, where
T_eff comes from, and the study path (one SPECT of the analytic phantom, whose truth is known)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from prrt_core import dicom, dosimetry
from prrt_core.dicom.study_stp import COLUMNS, StpMethod, compute_single_time_point
from prrt_core.dosimetry import single_time_point as stp
from prrt_core.errors import InputError
from prrt_core.testing import phantom

LN2 = math.log(2.0)


# --- the formulas --------------------------------------------------------------------------------
def test_hanscheid_hand_value_of_the_issue():
    # D = 0.125 x C x 2^(t/T_eff) x T_eff = 0.125 x 0.05 x 2^(96/50) x 50
    #   = 0.3125 x 2^1.92 = 0.3125 x 3.784231 = 1.182572 Gy (issue 16: 1.1826 Gy).
    assert stp.hanscheid_2018_dose_gy(0.05, 96.0, 50.0) == pytest.approx(1.1826, abs=5e-5)
    assert dosimetry.hanscheid_2018_dose_gy(0.05, 96.0, 50.0) == pytest.approx(1.182572, rel=1e-6)


def test_hanscheid_constant_is_kidney_s_times_mass_over_ln2_not_delta():
    # S x m / ln 2 = 7.76e-5 mGy/(MBq s) x 310 g x 3600 s/h / 1000 mGy/Gy / ln 2 = 0.124940 Gy mL/(MBq h).
    s_m = dosimetry.KIDNEY_S_REF_MGY_PER_MBQ_S * dosimetry.KIDNEY_REF_MASS_G * 3600.0 / 1000.0
    assert s_m / LN2 == pytest.approx(0.124940, abs=1e-6)
    assert stp.HANSCHEID_2018_KIDNEY_GY_ML_PER_MBQ_H == pytest.approx(s_m / LN2, rel=0.001)
    # Delta / ln 2 = 0.085335 / ln 2 = 0.12311: 1.5 % off, not what 0.125 rounds.
    assert dosimetry.DELTA_LOCAL_GY_G_PER_MBQ_H / LN2 == pytest.approx(0.12311, abs=1e-5)
    assert stp.HANSCHEID_2018_KIDNEY_GY_ML_PER_MBQ_H / (dosimetry.DELTA_LOCAL_GY_G_PER_MBQ_H / LN2) > 1.01


def test_hanscheid_at_t_equal_t_eff_is_the_2t_over_ln2_approximation():
    # At t = T_eff: 2^(t/T_eff) T_eff = 2t, so D = 0.125 C 2t = (S m / ln 2) C 2t, Hänscheid's D ~ Ḋ(t) 2t/ln 2.
    assert stp.hanscheid_2018_dose_gy(0.2, 60.0, 60.0) == pytest.approx(0.125 * 0.2 * 2 * 60.0, rel=1e-12)
    # ... and at t = 2 T_eff: 2^2 x T_eff = 4 T_eff = 2t again.
    assert stp.hanscheid_2018_dose_gy(0.2, 120.0, 60.0) == pytest.approx(0.125 * 0.2 * 2 * 120.0, rel=1e-12)


def test_madsen_hand_values():
    # A(72 h) = 20 MBq, T_eff = 48 h: lambda = ln2/48 = 0.0144405 /h, exp(lambda 72) = 2^1.5 = 2.828427;
    # TIA = 20 x 2.828427 / 0.0144405 = 3917.335 MBq h.
    tia = stp.madsen_2018_tia_mbq_h(20.0, 72.0, 48.0)
    assert tia == pytest.approx(3917.335, abs=0.001)
    # Local deposition, 150 g: 3917.335 x 0.0853351 / 150 = 2.228576 Gy.
    assert stp.madsen_2018_dose_gy(20.0, 72.0, 48.0, 150.0, kidney=False) == pytest.approx(2.228576, abs=1e-6)
    # Kidney S-value scaled to 150 g: 3917.335 x 3600 x 7.76e-5 x 310/150 / 1000 = 2.261650 Gy.
    assert stp.madsen_2018_dose_gy(20.0, 72.0, 48.0, 150.0, kidney=True) == pytest.approx(2.261650, abs=1e-6)
    # Vectorised over VOIs: one kidney, one lesion.
    both = stp.madsen_2018_dose_gy([20.0, 20.0], 72.0, 48.0, [150.0, 150.0], kidney=[True, False])
    np.testing.assert_allclose(both, [2.261650, 2.228576], atol=1e-6)


def test_madsen_kidney_equals_hanscheid_at_1_g_per_ml_up_to_the_rounding_of_0125():
    # Kidney of 300 mL at 1 g/mL, 0.08 MBq/mL at 24 h, T_eff 50 h: both integrate the same
    # mono-exponential; they differ by 0.125 / 0.124940 = 1.00048.
    madsen = stp.madsen_2018_dose_gy(0.08 * 300.0, 24.0, 50.0, 300.0, kidney=True)
    hanscheid = stp.hanscheid_2018_dose_gy(0.08, 24.0, 50.0)
    assert hanscheid / madsen == pytest.approx(0.125 / 0.124940, rel=1e-5)


@pytest.mark.parametrize("t_eff_h", [0.0, -5.0, float("nan"), float("inf"), 160.0])
def test_t_eff_out_of_range_is_refused(t_eff_h):
    with pytest.raises(InputError, match="t_eff_h must be finite, > 0 and <= 159.528 h"):
        stp.hanscheid_2018_dose_gy(0.05, 96.0, t_eff_h)
    with pytest.raises(InputError, match="t_eff_h must be finite"):
        stp.madsen_2018_tia_mbq_h(10.0, 96.0, t_eff_h)


def test_negative_or_non_finite_activity_is_refused():
    with pytest.raises(InputError, match="concentration_mbq_per_ml must be finite and >= 0"):
        stp.hanscheid_2018_dose_gy(-0.05, 96.0, 50.0)
    with pytest.raises(InputError, match="activity_mbq must be finite and >= 0"):
        stp.madsen_2018_tia_mbq_h(float("nan"), 96.0, 50.0)


# --- where T_eff comes from ----------------------------------------------------------------------
def test_t_eff_from_history_is_the_median_of_the_valid_values():
    # None, NaN, 200 h (> physical half-life) and -1 h are not T_eff values: median of 50, 52.1, 55 = 52.1 h.
    values = [50.0, None, float("nan"), 200.0, -1.0, 52.1, 55.0]
    assert stp.t_eff_from_history_h(values) == pytest.approx(52.1)
    assert stp.t_eff_from_history_h([]) is None
    assert stp.t_eff_from_history_h([None, float("nan")]) is None
    estimate = stp.patient_t_eff(values)
    assert (estimate.n, estimate.source) == (3, stp.TEffSource.PATIENT)
    assert estimate.describe() == "T_eff from the patient's earlier cycles (n = 3): 52.1 h"


def test_cohort_median_when_the_patient_has_none():
    chosen = stp.choose_t_eff([], [40.0, 48.0, 60.0, 44.0])  # median (44 + 48) / 2 = 46 h
    assert chosen == stp.TEffEstimate(46.0, stp.TEffSource.COHORT, 4)
    assert chosen.describe() == "T_eff from the cohort median (n = 4): 46.0 h"
    assert stp.choose_t_eff([51.0], [40.0]).source is stp.TEffSource.PATIENT
    assert stp.choose_t_eff([], []) is None


# --- the study path ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def one_scan(tmp_path_factory):
    """The phantom imaged once, 96 h after injection (kidneys T_eff 45 and 55 h, lesion 80 h)."""
    written = phantom.write_phantom(tmp_path_factory.mktemp("stp") / "s", phantom.default_phantom(times_h=(96.0,)))
    return dicom.read_study(written.folder)


def test_read_study_accepts_one_time_point(one_scan):
    assert len(one_scan.time_points) == 1
    assert one_scan.times_h == pytest.approx([96.0])


def test_one_scan_with_the_true_t_eff_gives_the_phantom_dose(one_scan):
    ph = phantom.default_phantom()
    left = compute_single_time_point(one_scan, 45.0, "entered", 1.04)  # the left kidney's true T_eff
    assert tuple(left.organs.columns) == COLUMNS
    row = left.organs.set_index("voi").loc["Kidney left"]
    # Activity at 96 h: C0 2^(-96/45) x V, C0 = 0.60 MBq/mL.
    volume_ml = float(ph.masks()["Kidney left"].sum()) * (ph.spacing_mm / 10.0) ** 3
    assert row["activity_mbq"] == pytest.approx(0.60 * 2 ** (-96 / 45) * volume_ml, rel=1e-3)
    assert row["concentration_mbq_per_ml"] == pytest.approx(0.60 * 2 ** (-96 / 45), rel=1e-3)
    assert row["time_h"] == pytest.approx(96.0)
    # Madsen with the true T_eff recovers the organ-level S-value dose of all five time points' truth.
    assert row["madsen_dose_gy"] == pytest.approx(ph.expected_kidney_s_value_dose_gy("Kidney left", 1.04), rel=1e-3)
    # Hänscheid: 0.125 x C0 x T_eff = 0.125 x 0.60 x 45 = 3.375 Gy.
    assert row["hanscheid_dose_gy"] == pytest.approx(3.375, rel=1e-3)
    assert left.organ_dose("kidney_left", StpMethod.HANSCHEID) == pytest.approx(3.375, rel=1e-3)
    # The lesion (T_eff 80 h): local deposition C0 T_eff/ln2 x Delta / rho with its true T_eff.
    lesion = compute_single_time_point(one_scan, 80.0, "entered", 1.04).organs.set_index("voi").loc["Lesion 1"]
    assert lesion["madsen_dose_gy"] == pytest.approx(ph.expected_dose_gy("Lesion 1", 1.04), rel=1e-3)
    assert math.isnan(lesion["hanscheid_dose_gy"])  # a kidney formula only
    assert set(left.organs["organ"]) == {"kidney_left", "kidney_right", "kidneys", "tumour"}
    assert left.t_eff_source == "entered"


def test_a_wrong_t_eff_scales_the_dose_as_the_formula_says(one_scan):
    # T_eff 55 h instead of 45 h for the left kidney: factor 2^(96/55) 55 / (2^(96/45) 45)
    # = 3.35300 x 55 / (4.38730 x 45) = 184.415 / 197.428 = 0.9341.
    right_t = compute_single_time_point(one_scan, 45.0, "a", 1.04).organ_dose("kidney_left")
    wrong_t = compute_single_time_point(one_scan, 55.0, "b", 1.04).organ_dose("kidney_left")
    expected = 2 ** (96 / 55) * 55 / (2 ** (96 / 45) * 45)
    assert expected == pytest.approx(0.9341, abs=1e-4)
    assert wrong_t / right_t == pytest.approx(expected, rel=1e-9)


def test_stp_refuses_several_time_points_and_bad_t_eff(tmp_path, one_scan):
    three = dicom.read_study(phantom.write_phantom(tmp_path / "s", phantom.default_phantom(
        times_h=(4.0, 24.0, 96.0))).folder)
    with pytest.raises(InputError, match=r"needs exactly one SPECT time point; the study has 3 SPECT time points"):
        compute_single_time_point(three, 50.0, "entered", 1.04)
    for bad in (float("nan"), 0.0, 170.0):
        with pytest.raises(InputError, match=r"t_eff_h: .* \(entered\) is not in 0 < T_eff <= 159.528 h"):
            compute_single_time_point(one_scan, bad, "entered", 1.04)
    with pytest.raises(InputError, match="density_g_per_ml must be finite and > 0"):
        compute_single_time_point(one_scan, 50.0, "entered", 0.0)
