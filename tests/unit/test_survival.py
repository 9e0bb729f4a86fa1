"""Kaplan–Meier summaries and endpoints (prrt_core.clinical.survival and .endpoints).

Reference results:
- Freireich et al., Blood 1963;21:699 6-MP leukaemia remission data (weeks), as
  tabulated in Klein & Moeschberger, Survival Analysis, 2nd ed. 2003, and
  Kleinbaum & Klein, Survival Analysis: A Self-Learning Text, 3rd ed. 2012,
  ch. 2: KM S(t) 0.857, 0.807, 0.753, 0.690, 0.627, 0.538, 0.448 at 6, 7,
  10, 13, 16, 22, 23 weeks; median 23 (6-MP) and 8 (placebo) weeks;
  log-rank chi-square 16.79 (R survdiff on MASS::gehan: Chisq 16.8, p = 4e-05).
- R survival ``aml`` data: print(survfit(Surv(time, status) ~ x, data = aml))
  gives medians 31 (Maintained) and 23 (Nonmaintained) weeks; with
  print.rmean=TRUE, rmean 52.6 (se 19.83) and 22.7 (se 4.18), upper limit 161.
- R survival output with conf.type="log-log" (the transform of lifelines'
  exponential Greenwood band) for a 10-subject example, and R print.rmean
  output for a second 10-subject example: see the tests.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from prrt_core.clinical import survival as surv
from prrt_core.clinical.dates import DAYS_PER_MONTH

# Freireich 1963 6-MP arm: times in weeks, 1 = relapse, 0 = censored (21 patients).
SIXMP_T = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
SIXMP_E = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
# Placebo arm: all 21 relapsed.
PLACEBO_T = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]
PLACEBO_E = [1] * 21

# R survival aml data (weeks).
AML_MAINTAINED_T = [9, 13, 13, 18, 23, 28, 31, 34, 45, 48, 161]
AML_MAINTAINED_E = [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0]
AML_NONMAINTAINED_T = [5, 5, 8, 8, 12, 16, 23, 27, 30, 33, 43, 45]
AML_NONMAINTAINED_E = [1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1]


def test_freireich_km_curve_and_medians():
    curve = surv.km_curve(SIXMP_T, SIXMP_E)
    at_events = curve[curve["events"] > 0].set_index("time")["survival"]
    # Published product-limit estimates (K&M 2003; Kleinbaum & Klein 2012, ch. 2).
    expected = {6: 0.857, 7: 0.807, 10: 0.753, 13: 0.690, 16: 0.627, 22: 0.538, 23: 0.448}
    for t, s in expected.items():
        assert at_events[t] == pytest.approx(s, abs=5e-4)
    # Published medians: 23 weeks (6-MP), 8 weeks (placebo).
    assert surv.km_summary(SIXMP_T, SIXMP_E)["median"] == 23.0
    assert surv.km_summary(PLACEBO_T, PLACEBO_E)["median"] == 8.0


def test_aml_medians_and_restricted_means_match_r():
    # R: medians 31 and 23; rmean (upper limit 161) 52.6 (19.83) and 22.7 (4.18).
    m = surv.km_summary(AML_MAINTAINED_T, AML_MAINTAINED_E, tau=161)
    n = surv.km_summary(AML_NONMAINTAINED_T, AML_NONMAINTAINED_E, tau=161)
    assert m["median"] == 31.0 and n["median"] == 23.0
    assert m["rmst"] == pytest.approx(52.6, abs=0.05) and m["rmst_se"] == pytest.approx(19.83, abs=0.005)
    assert n["rmst"] == pytest.approx(22.7, abs=0.05) and n["rmst_se"] == pytest.approx(4.18, abs=0.005)
    # Default tau = the largest observed time (SPSS "mean"): 161 for Maintained.
    assert surv.km_summary(AML_MAINTAINED_T, AML_MAINTAINED_E)["tau"] == 161.0


def test_log_log_median_ci_and_rmean_match_r():
    # R survival (public worked example, "Regression HW2"):
    # survfit(Surv(time, status) ~ 1, conf.type = "log-log") on the data below prints
    # pointwise CIs 0.4730-0.985, 0.3809-0.943, 0.2604-0.876, 0.0509-0.659 at 1.5, 4.5, 5.5, 8.5;
    # median 8.5, 0.95LCL 1.5, UCL NA; rmean 7.94, se(rmean) 1.12, upper limit 11.5.
    t = [1.5, 3.5, 4.5, 4.5, 5.5, 6.5, 8.5, 8.5, 8.5, 11.5]
    e = [1, 0, 1, 0, 1, 0, 1, 0, 1, 1]
    curve = surv.km_curve(t, e).set_index("time")
    r_bands = [(1.5, 0.4730, 0.985), (4.5, 0.3809, 0.943), (5.5, 0.2604, 0.876), (8.5, 0.0509, 0.659)]
    for time, lo, hi in r_bands:
        assert curve.loc[time, "ci_lower"] == pytest.approx(lo, abs=5e-4)
        assert curve.loc[time, "ci_upper"] == pytest.approx(hi, abs=5e-4)
    assert np.isnan(curve.loc[11.5, "ci_lower"])  # S = 0: band undefined (R: NA)
    s = surv.km_summary(t, e)
    assert s["median"] == 8.5
    assert s["median_ci"] == (1.5, math.inf)  # R: NA = never crosses 0.5
    assert s["rmst"] == pytest.approx(7.94, abs=0.005) and s["rmst_se"] == pytest.approx(1.12, abs=0.005)
    # Same times, all events: R prints median 6, 0.95 CI 1.5-8.5, rmean 6.3, se 0.892.
    # S = 0.5 exactly on [5.5, 6.5): the median is the midpoint 6 (R quantile.survfit).
    s = surv.km_summary(t, [1] * 10)
    assert s["median"] == 6.0 and s["median_ci"] == (1.5, 8.5)
    assert s["rmst"] == pytest.approx(6.3, abs=0.005) and s["rmst_se"] == pytest.approx(0.892, abs=5e-4)


def test_rmean_with_chosen_tau_matches_r():
    # R survival (public worked example): X = 2,5+,8,12+,15,21+,25,29,30+,34;
    # print(fit, print.rmean=TRUE) -> rmean 23.1 se 3.78 (limit 34), median 25;
    # rmean=20 -> 16.2 se 1.99.
    x = [2, 5, 8, 12, 15, 21, 25, 29, 30, 34]
    d = [1, 0, 1, 0, 1, 0, 1, 1, 0, 1]
    s = surv.km_summary(x, d)
    assert s["median"] == 25.0 and s["tau"] == 34.0
    assert s["rmst"] == pytest.approx(23.1, abs=0.05) and s["rmst_se"] == pytest.approx(3.78, abs=0.005)
    s20 = surv.km_summary(x, d, tau=20)
    assert s20["rmst"] == pytest.approx(16.2, abs=0.05) and s20["rmst_se"] == pytest.approx(1.99, abs=0.005)


def test_rmst_variance_hand_derived():
    # T = 1, 2, 3+, 4; tau = 4. S = 1 on [0,1), 3/4 on [1,2), 1/2 on [2,4), 0 from 4.
    # RMST = 1 + 3/4 + 2 * 1/2 = 2.75.
    # A(1) = 3/4 + 1/2 + 1/2 = 7/4; A(2) = 1; A(4) = 0 (and Y = d there).
    # Var = (7/4)^2 * 1/(4*3) + 1^2 * 1/(3*2) = 49/192 + 32/192 = 81/192 = 27/64.
    s = surv.km_summary([1, 2, 3, 4], [1, 1, 0, 1])
    assert s["rmst"] == pytest.approx(2.75)
    assert s["rmst_se"] ** 2 == pytest.approx(27 / 64)
    z = 1.959963984540054
    assert s["rmst_ci"] == pytest.approx((2.75 - z * math.sqrt(27 / 64), 2.75 + z * math.sqrt(27 / 64)))
    # tau beyond the last time with S > 0: curve carried flat (R rmean): T = 1, 2, 3+.
    # S = 2/3 on [1,2), 1/3 from 2 -> area to 5 = 1 + 2/3 + 3 * 1/3 = 8/3.
    assert surv.km_summary([1, 2, 3], [1, 1, 0], tau=5)["rmst"] == pytest.approx(8 / 3)


def test_median_not_reached():
    # 2 events in 10: S never falls below 0.8 -> median and its upper limit are "not reached".
    s = surv.km_summary(range(1, 11), [1, 1] + [0] * 8)
    assert s["median"] == math.inf and s["median_not_reached"]
    assert s["median_ci"][1] == math.inf
    assert math.isfinite(s["rmst"])
    assert s["n"] == 10 and s["events"] == 2 and s["censored"] == 8


@pytest.mark.parametrize("n", [1, 2, 5, 6, 8, 14, 20, 31])
def test_uncensored_median_is_sample_median(n):
    # Without censoring the KM curve is the empirical survival function; with R's
    # midpoint rule its median is the ordinary sample median (n = 6, 8, 14, 20 are
    # the sizes where lifelines' exp(sum(log)) gives 0.5000000000000001 at the half).
    t = np.arange(1.0, n + 1)
    assert surv.km_summary(t, np.ones(n))["median"] == pytest.approx(np.median(t))


def test_at_risk_counts_ties_as_at_risk():
    # #(T >= t): at t = 2 both subjects with T = 2 are still at risk (R, cBioPortal).
    s = surv.km_summary([0, 2, 2, 3, 5], [1, 1, 0, 1, 0], at_risk_times=[0, 2, 2.5, 5, 6])
    assert s["at_risk"] == {0.0: 5, 2.0: 4, 2.5: 2, 5.0: 1, 6.0: 0}
    curve = surv.km_curve([0, 2, 2, 3, 5], [1, 1, 0, 1, 0]).set_index("time")
    assert curve.loc[2.0, ["at_risk", "events", "censored"]].tolist() == [4, 1, 1]
    assert curve.loc[0.0, "survival"] == pytest.approx(0.8)  # death at time 0 counts


def test_compare_groups_log_rank_matches_published():
    t = SIXMP_T + PLACEBO_T
    e = SIXMP_E + PLACEBO_E
    g = ["6-MP"] * 21 + ["placebo"] * 21
    result = surv.compare_groups(t, e, g, at_risk_times=[0, 10])
    # Kleinbaum & Klein 2012: log-rank statistic 16.79 (1 df), p ~ 4e-5.
    assert result["logrank_chi2"] == pytest.approx(16.79, abs=0.005)
    assert result["logrank_df"] == 1
    assert result["logrank_p"] == pytest.approx(4.17e-5, rel=0.01)
    table = result["table"].set_index("group")
    assert table.loc["6-MP", "median"] == 23.0 and table.loc["placebo", "median"] == 8.0
    assert result["groups"]["placebo"]["at_risk"] == {0.0: 21, 10.0: 8}
    single = surv.compare_groups(SIXMP_T, SIXMP_E, ["6-MP"] * 21)
    assert math.isnan(single["logrank_p"])


@pytest.mark.parametrize(
    ("durations", "events", "message"),
    [
        ([1, -2], [1, 1], "durations must be >= 0"),
        ([1, np.nan], [1, 1], "durations must be finite"),
        ([1, 2], [1, 2], "events must be 0 .censored. or 1"),
        ([1, 2], [1, np.nan], "events must be 0 .censored. or 1"),
        ([1, 2], [1], "differ in length"),
        ([], [], "durations is empty"),
    ],
)
def test_input_validation(durations, events, message):
    with pytest.raises(ValueError, match=message):
        surv.km_summary(durations, events)


def test_other_argument_errors():
    with pytest.raises(ValueError, match="alpha must be in"):
        surv.km_summary([1, 2], [1, 0], alpha=1.5)
    with pytest.raises(ValueError, match="tau must be a positive"):
        surv.km_summary([1, 2], [1, 0], tau=-1)
    with pytest.raises(ValueError, match="groups has missing labels"):
        surv.compare_groups([1, 2], [1, 0], ["a", None])


# --------------------------------------------------------------------------
# endpoints
# --------------------------------------------------------------------------

def _cycles(rows):
    frame = pd.DataFrame(rows, columns=["patient_id", "phase", "cycle_date"])
    frame["cycle_date"] = pd.to_datetime(frame["cycle_date"])
    return frame


def _events(rows):
    frame = pd.DataFrame(rows, columns=["patient_id", "event_type", "phase", "event_date"])
    frame["event_date"] = pd.to_datetime(frame["event_date"])
    return frame


@pytest.fixture
def cohort():
    cycles = _cycles([
        ("A", "initial", "2015-01-01"), ("A", "initial", "2015-03-01"), ("A", "salvage", "2019-01-01"),
        ("B", "initial", "2016-01-01"),
        ("C", "initial", "2016-01-01"), ("C", "salvage", "2018-01-01"),
        ("D", "initial", "2017-01-01"),
    ])
    events = _events([
        ("A", "progression", "initial", "2018-10-01"),
        ("A", "progression", "salvage", "2019-09-01"),
        ("A", "last_contact", None, "2020-03-01"),
        ("B", "progression", "initial", "2017-01-01"),
        ("B", "death", None, "2016-12-01"),          # death before the recorded progression
        ("C", "death", None, "2019-01-01"),          # salvage without recorded initial progression
    ])
    assessments = pd.DataFrame({"patient_id": ["D"], "assessment_date": pd.to_datetime(["2018-06-30"])})
    return cycles, events, assessments


def test_endpoints(cohort):
    cycles, events, assessments = cohort
    ep = surv.endpoints(cycles, events, assessments).set_index("patient_id")
    m = DAYS_PER_MONTH
    assert m == 30.4375
    # A: PFS-initial 2015-01-01 -> 2018-10-01 (1369 d), event; PFS-salvage 2019-01-01 -> 2019-09-01
    # (243 d), event; alive: OS censored at last contact 2020-03-01 (1886 d, 2016 and 2020 are
    # leap years / 425 d).
    a = ep.loc["A"]
    assert a["pfs_initial_months"] == pytest.approx(1369 / m) and a["pfs_initial_event"] == 1
    assert a["pfs_salvage_months"] == pytest.approx(243 / m) and a["pfs_salvage_event"] == 1
    assert a["os_initial_months"] == pytest.approx(1886 / m) and a["os_initial_event"] == 0
    assert a["os_salvage_months"] == pytest.approx(425 / m) and a["os_salvage_event"] == 0
    # B: death (335 d) precedes the progression -> PFS = OS = 335 d, events; no salvage -> NaN.
    b = ep.loc["B"]
    assert b["pfs_initial_months"] == pytest.approx(335 / m) and b["pfs_initial_event"] == 1
    assert b["os_initial_months"] == pytest.approx(335 / m) and b["os_initial_event"] == 1
    assert np.isnan(b["pfs_salvage_months"]) and np.isnan(b["os_salvage_event"])
    # C: salvage started without a recorded initial progression -> PFS-initial censored at
    # salvage start (731 d); death 2019-01-01 is a salvage PFS and OS event (365 d).
    c = ep.loc["C"]
    assert c["pfs_initial_months"] == pytest.approx(731 / m) and c["pfs_initial_event"] == 0
    assert c["pfs_salvage_months"] == pytest.approx(365 / m) and c["pfs_salvage_event"] == 1
    assert c["os_initial_months"] == pytest.approx(1096 / m) and c["os_initial_event"] == 1
    # D: no events at all -> censored at the latest record, the 2018-06-30 assessment (545 d).
    d = ep.loc["D"]
    assert d["last_known_alive_date"] == pd.Timestamp("2018-06-30")
    assert d["pfs_initial_months"] == pytest.approx(545 / m) and d["pfs_initial_event"] == 0
    assert d["os_initial_months"] == pytest.approx(545 / m) and d["os_initial_event"] == 0
    assert list(ep.columns[-8:]) == [
        "pfs_initial_months", "pfs_initial_event", "pfs_salvage_months", "pfs_salvage_event",
        "os_initial_months", "os_initial_event", "os_salvage_months", "os_salvage_event"]


def test_endpoints_feed_km_summary(cohort):
    cycles, events, assessments = cohort
    ep = surv.endpoints(cycles, events, assessments)
    salvage = ep.dropna(subset=["pfs_salvage_months"])
    s = surv.km_summary(salvage["pfs_salvage_months"], salvage["pfs_salvage_event"])
    # Salvage patients A (7.98 mo, event) and C (11.99 mo, event): S = 1/2 on [7.98, 11.99),
    # so the median is the midpoint of that flat, (243 + 365) / 2 days.
    assert s["n"] == 2 and s["events"] == 2
    assert s["median"] == pytest.approx((243 + 365) / 2 / DAYS_PER_MONTH)


def test_endpoints_reject_contradictions(cohort):
    cycles, events, _ = cohort
    bad = pd.concat([events, _events([("D", "death", None, "2016-06-01")])], ignore_index=True)
    with pytest.raises(ValueError, match=r"death dated before the start.*'D'"):
        surv.endpoints(cycles, bad)
    bad = _events([("A", "relapse", None, "2016-06-01")])
    with pytest.raises(ValueError, match="event_type must be one of"):
        surv.endpoints(cycles, bad)
