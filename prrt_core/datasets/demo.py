"""Deterministic synthetic demo cohort that resembles the published salvage PRRT study.

Reference: Rudisile et al., "Salvage PRRT with 177Lu-DOTA-octreotate in extensively
pretreated patients with metastatic NET", BMC Cancer 2019;19:788 (aggregates in
``data/published_cohort.json``). With ``n_patients=35`` the generator reproduces
the published counts exactly (sex, primary sites, 4 initial cycles, best response
after salvage PR 1 / SD 26 / PD 5 of 32 imaged, one patient with a grade-3
haematological value, no grade >= 3 renal value) and calibrates the continuous
figures (age, cumulative activity, cycles, kidney dose, Kaplan–Meier PFS/OS) to
the published values. Other sizes keep the same proportions and shapes.

Every patient follows one of seven courses after salvage start (counts for 35):
A died before restaging (2), B lost to follow-up before restaging (1), C PD at
first restaging (5), D SD then PD within 6 months (11), E SD then PD later (8),
F PR then PD (1), G SD without progression at last contact (7).

Nothing here is real patient data; ids are ``NET-001`` style pseudonyms.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
from prrt_core.paths import DATA_DIR
from prrt_core.store import Store
from prrt_core.store.access import Actor
from prrt_core.tables import Tables
from prrt_core.clinical.survival import km_summary
from prrt_core.clinical.dates import DAYS_PER_MONTH

PUBLISHED_PATH = DATA_DIR / "published_cohort.json"
DEFAULT_SEED = 20190808  # publication date of the reference study
DEFAULT_N_PATIENTS = 35
DATA_CUTOFF = dt.date(2026, 9, 30)  # fixed, so the cohort never changes with the clock

COURSES = ("A", "B", "C", "D", "E", "F", "G")
# Patients per course in the 35-patient study (see module docstring).
COURSE_COUNTS_35 = {"A": 2, "B": 1, "C": 5, "D": 11, "E": 8, "F": 1, "G": 7}
# Salvage cycles per course, as counts among that course's patients in the 35-patient cohort.
SALVAGE_CYCLES_35 = {"A": {1: 2}, "B": {1: 1}, "C": {2: 5}, "D": {2: 8, 3: 3},
                     "E": {2: 4, 3: 2, 4: 2}, "F": {2: 1}, "G": {2: 3, 3: 2, 4: 2}}
# Salvage-course deaths per course (35-patient cohort); A died before restaging.
DEATHS_35 = {"A": 2, "B": 0, "C": 3, "D": 3, "E": 2, "F": 0, "G": 0}
INITIAL_RESPONSE_35 = {"PR": 24, "SD": 11}
TUMOUR_GRADE_35 = {"G1": 14, "G2": 19, "G3": 2}
PRIOR_THERAPIES = ("surgery", "somatostatin analogue", "everolimus", "chemotherapy (CAPTEM)",
                   "liver-directed therapy", "external beam radiotherapy", "sunitinib")

# Kidney absorbed dose per administered activity, log-normal: geometric mean and spread.
# 23.8 Gy after a mean 44 GBq (Rudisile 2019) is 0.54 Gy/GBq; published SPECT series
# report 0.38-0.57 Gy/GBq with between-patient CV 25-50 % (clinical_reference §3c).
KIDNEY_GY_PER_GBQ = 0.54
KIDNEY_BETWEEN_PATIENT_SD_LOG = 0.25
KIDNEY_WITHIN_PATIENT_SD_LOG = 0.10
# Kidney effective half-life of 177Lu-DOTATATE, typically 40-60 h (clinical_reference §3b).
KIDNEY_T_EFF_H = 50.0
SINGLE_TIME_POINT_SHARE = 0.08  # cycles dosed from one SPECT: no measured T_eff

# CTCAE v5.0 grade-3 lower bounds (the demo keeps every other patient above them).
GRADE3_FLOORS = {"hb_g_dl": 8.0, "plt_10e9_l": 50.0, "wbc_10e9_l": 2.0,
                 "neut_10e9_l": 1.0, "lymph_10e9_l": 0.5}
EGFR_FLOOR = 30.0  # CTCAE v5.0 CKD grade 3 starts below 30 mL/min/1.73 m^2


def published() -> dict:
    """The published aggregates of the reference study (``data/published_cohort.json``)."""
    return json.loads(PUBLISHED_PATH.read_text())


@dataclass(frozen=True)
class DemoTables:
    """The generated tables, in the store's column names, plus the course of each patient."""

    tables: Tables
    course: pd.Series  # patient_id -> 'A'..'G'


def apportion(counts: dict, n: int) -> dict:
    """Scale integer ``counts`` to total ``n`` by largest remainder (exact when n is their sum)."""
    keys = list(counts)
    weights = np.array([counts[k] for k in keys], dtype=float)
    quota = weights / weights.sum() * n
    whole = np.floor(quota).astype(int)
    order = np.argsort(-(quota - whole), kind="stable")
    whole[order[: n - whole.sum()]] += 1
    return dict(zip(keys, whole.tolist()))


def _labels(rng: np.random.Generator, counts: dict, n: int) -> np.ndarray:
    sizes = apportion(counts, n)
    return rng.permutation(np.repeat(list(sizes), list(sizes.values())))


def _km_median_rmst(t: np.ndarray, e: np.ndarray) -> tuple[float, float]:
    summary = km_summary(t, e)
    return summary["median"], summary["rmst"]


def _bisect(f, lo: float, hi: float, target: float, iters: int = 40) -> float:
    """x in [lo, hi] with f(x) = target for an increasing f (clamped to the bounds)."""
    if f(lo) >= target:
        return lo
    if f(hi) <= target:
        return hi
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) < target else (lo, mid)
    return 0.5 * (lo + hi)


def _within(rng, labels: np.ndarray, per_label: dict) -> np.ndarray:
    """Assign a value to each patient from per-label count tables (apportioned, shuffled)."""
    out = np.zeros(len(labels), dtype=int)
    for label, table in per_label.items():
        idx = np.flatnonzero(labels == label)
        if idx.size:
            out[idx] = _labels(rng, table, idx.size)
    return out


def _times(rng: np.random.Generator, course: np.ndarray, pub: dict) -> dict[str, np.ndarray]:
    """Survival times in months, calibrated to the published Kaplan–Meier figures."""
    n = len(course)
    pfs2 = np.zeros(n)
    ev2 = np.ones(n, dtype=bool)
    c = {k: course == k for k in COURSES}
    pfs2[c["A"]] = rng.uniform(1.4, 2.4, c["A"].sum())
    pfs2[c["B"]] = rng.uniform(1.8, 2.4, c["B"].sum())
    ev2[c["B"] | c["G"]] = False
    pfs2[c["C"]] = rng.uniform(2.6, 3.4, c["C"].sum())
    pfs2[c["D"]] = rng.uniform(4.2, 6.0, c["D"].sum())
    pfs2[c["E"]] = rng.uniform(7.0, 30.0, c["E"].sum())
    pfs2[c["F"]] = rng.uniform(16.0, 22.0, c["F"].sum())
    # Median PFS after salvage: the D course holds the 50 % crossing; scale it onto the target.
    target_pfs2 = pub["pfs_months"]["after_salvage"]["median"]
    median_now = _km_median_rmst(np.where(c["G"], 40.0, pfs2), ev2)[0]
    pfs2[c["D"]] *= target_pfs2 / median_now

    death = _within(rng, course, {k: {1: v, 0: COURSE_COUNTS_35[k] - v}
                                  for k, v in DEATHS_35.items()}).astype(bool)
    alive = ~death & ~c["B"]
    fu_shape = rng.permutation(np.linspace(0.02, 0.98, alive.sum()))
    dead_after = rng.uniform(4.0, 30.0, n)

    def os2_for(scale: float) -> np.ndarray:
        os2 = np.where(c["A"], pfs2, np.where(c["B"], pfs2, pfs2 + dead_after))
        fu = 6.0 + 74.0 * scale * fu_shape
        os2[alive] = np.maximum(fu, np.where(ev2, pfs2, 0.0)[alive] + 1.0)
        return os2

    target_os2 = pub["os_months"]["after_salvage"]["mean"]
    scale = _bisect(lambda s: _km_median_rmst(os2_for(s), death)[1], 0.3, 2.0, target_os2)
    os2 = os2_for(scale)
    pfs2 = np.where(c["G"], os2, pfs2)

    # PFS after initial PRRT: every patient progressed; log-normal around the published median.
    target_pfs1 = pub["pfs_months"]["after_initial_prrt"]["median"]
    pfs1 = np.sort(np.exp(rng.normal(np.log(target_pfs1), 0.33, n)))
    pfs1 *= target_pfs1 / np.median(pfs1) if n % 2 == 0 else target_pfs1 / pfs1[n // 2]
    pfs1 = np.maximum(rng.permutation(pfs1), 14.0)
    gap_shape = rng.uniform(0.0, 1.0, n)

    def os1_for(extra: float) -> np.ndarray:
        return pfs1 + 1.5 + (2.0 + extra) * gap_shape + os2

    target_os1 = pub["os_months"]["after_initial_prrt"]["mean"]
    extra = _bisect(lambda x: _km_median_rmst(os1_for(x), death)[1], 0.0, 10.0, target_os1)
    gap = 1.5 + (2.0 + extra) * gap_shape
    return {"pfs1": pfs1, "gap": gap, "pfs2": pfs2, "ev2": ev2, "os2": os2, "death": death}


def _days(months: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(months) * DAYS_PER_MONTH).astype(int)


def generate(n_patients: int = DEFAULT_N_PATIENTS, seed: int = DEFAULT_SEED) -> DemoTables:
    """Generate the synthetic cohort as store-ready tables (deterministic for a seed)."""
    if n_patients < 1:
        raise ValueError(f"n_patients must be >= 1, got {n_patients}")
    pub = published()
    rng = np.random.default_rng(seed)
    n = n_patients
    width = max(3, len(str(n)))
    ids = np.array([f"NET-{i:0{width}d}" for i in range(1, n + 1)])
    course = _labels(rng, COURSE_COUNTS_35, n)
    sex = _labels(rng, pub["sex"], n)
    site = _labels(rng, pub["primary_site"], n)
    age = rng.normal(size=n)
    age = (age - age.mean()) / (age.std(ddof=1) if n > 1 else 1.0)
    age = np.clip(np.rint(pub["age_years"]["mean"] + pub["age_years"]["sd"] * age), 30, 90)
    grade = _labels(rng, TUMOUR_GRADE_35, n)
    ki67 = np.select([grade == "G1", grade == "G2"],
                     [rng.uniform(0.5, 2.9, n), rng.uniform(3, 20, n)], rng.uniform(21, 30, n))
    hypertension = rng.random(n) < 0.40
    diabetes = rng.random(n) < 0.15
    prior = [
        "; ".join(["somatostatin analogue"] + sorted(
            rng.choice([p for p in PRIOR_THERAPIES if p != "somatostatin analogue"],
                       size=rng.integers(1, 4), replace=False).tolist()))
        for _ in range(n)]
    patients = pd.DataFrame({
        "patient_id": ids, "sex": sex, "age_at_first_prrt_years": age.astype(int),
        "primary_site": site, "tumour_grade": grade, "ki67_pct": np.round(ki67, 1),
        "hypertension": hypertension, "diabetes": diabetes, "other_renal_risk": None,
        "prior_therapies": prior})

    t = _times(rng, course, pub)
    # Calendar: living patients were last seen shortly before the cut-off; others earlier.
    cutoff = np.datetime64(DATA_CUTOFF)
    lost = course == "B"
    end = cutoff - rng.integers(0, 60, n).astype("timedelta64[D]")
    end = np.where(t["death"], cutoff - rng.integers(60, 900, n).astype("timedelta64[D]"), end)
    end = np.where(lost, cutoff - rng.integers(365, 1200, n).astype("timedelta64[D]"), end)
    salvage_start = end - _days(t["os2"]).astype("timedelta64[D]")
    initial_start = salvage_start - _days(t["pfs1"] + t["gap"]).astype("timedelta64[D]")
    progression1 = initial_start + _days(t["pfs1"]).astype("timedelta64[D]")
    progression2 = salvage_start + _days(t["pfs2"]).astype("timedelta64[D]")

    n_salvage = _within(rng, course, SALVAGE_CYCLES_35)
    # D-course patients with 3 salvage cycles are the ones progressing latest.
    d_idx = np.flatnonzero(course == "D")
    n3 = int((n_salvage[d_idx] == 3).sum())
    n_salvage[d_idx] = 2
    n_salvage[d_idx[np.argsort(-t["pfs2"][d_idx])[:n3]]] = 3

    cycles = _cycles(rng, ids, initial_start, salvage_start, n_salvage, pub)
    dosimetry = _dosimetry(rng, cycles, pub)
    labs = _labs(rng, patients, cycles, end, course)
    assessments = _assessments(rng, ids, course, initial_start, salvage_start,
                               progression1, progression2, end, t)
    events = _events(ids, course, progression1, progression2, end, t)
    performance = _performance(rng, ids, initial_start, salvage_start)
    tables = Tables(patients=patients, cycles=cycles, dosimetry=dosimetry, labs=labs, assessments=assessments,
                    events=events, performance_status=performance)
    return DemoTables(tables, pd.Series(course, index=ids, name="course"))


def _cycles(rng, ids, initial_start, salvage_start, n_salvage, pub) -> pd.DataFrame:
    """Four initial cycles and 1-4 salvage cycles, 8-10 weeks apart; activities in GBq."""
    n = len(ids)
    act = pub["cumulative_activity_gbq_incl_salvage"]
    initial = np.clip(rng.normal(7.3, 0.12, (n, 4)), 6.9, 7.6)
    # Cumulative activity per patient by number of salvage cycles (reduced activity
    # per cycle for 3-4 salvage cycles), then the extremes and the mean set exactly.
    base = {1: (34.0, 37.5), 2: (42.8, 45.5), 3: (45.0, 46.8), 4: (45.6, 46.9)}
    lo = np.array([base[k][0] for k in n_salvage])
    hi = np.array([base[k][1] for k in n_salvage])
    total = lo + (hi - lo) * rng.random(n)
    if n >= 3:
        total[np.argmin(np.where(n_salvage == 1, total, np.inf))] = act["min"]
        total[np.argmax(np.where(n_salvage >= 3, total, -np.inf))] = act["max"]
        free = (total > act["min"]) & (total < act["max"])
        shift = (act["mean"] * n - total.sum()) / free.sum()
        total[free] = np.clip(total[free] + shift, act["min"] + 0.1, act["max"] - 0.1)
    rows = []
    for i in range(n):
        k = n_salvage[i]
        remaining = total[i] - initial[i].sum()
        jitter = rng.normal(0, 0.1, k)
        salvage = remaining / k + jitter - jitter.mean()
        activities = np.round(np.concatenate([initial[i], salvage]), 2)
        activities[-1] = round(total[i] - activities[:-1].sum(), 2)
        gaps_i = np.concatenate([[0], np.cumsum(rng.integers(56, 71, 3))])
        gaps_s = np.concatenate([[0], np.cumsum(rng.integers(56, 67, k - 1))])
        dates = np.concatenate([initial_start[i] + gaps_i.astype("timedelta64[D]"),
                                salvage_start[i] + gaps_s.astype("timedelta64[D]")])
        for j in range(4 + k):
            rows.append((ids[i], j + 1, "initial" if j < 4 else "salvage", dates[j], activities[j]))
    cycles = pd.DataFrame(rows, columns=["patient_id", "cycle_number", "phase", "cycle_date",
                                         "activity_gbq"])
    cycles.insert(0, "cycle_id", np.arange(1, len(cycles) + 1))
    cycles["cycle_date"] = pd.to_datetime(cycles["cycle_date"])
    return cycles


def _dosimetry(rng, cycles: pd.DataFrame, pub: dict) -> pd.DataFrame:
    """SPECT kidney dose (log-normal Gy/GBq, patient and cycle effects) and tumour dose."""
    patient_codes, uniq = pd.factorize(cycles["patient_id"])
    n_p, n_c = len(uniq), len(cycles)
    effect = rng.normal(0, KIDNEY_BETWEEN_PATIENT_SD_LOG, n_p)[patient_codes]
    gy_per_gbq = KIDNEY_GY_PER_GBQ * np.exp(effect + rng.normal(0, KIDNEY_WITHIN_PATIENT_SD_LOG, n_c))
    kidney = gy_per_gbq * cycles["activity_gbq"].to_numpy()
    # Calibrate the cohort mean cumulative kidney dose to the published 23.8 Gy.
    per_patient = np.bincount(patient_codes, weights=kidney)
    kidney *= pub["cumulative_kidney_dose_gy"]["mean"] / per_patient.mean()
    t_eff = KIDNEY_T_EFF_H * np.exp(rng.normal(0, 0.12, n_p)[patient_codes] + rng.normal(0, 0.06, n_c))
    single = rng.random(n_c) < SINGLE_TIME_POINT_SHARE
    kidneys = pd.DataFrame({
        "cycle_id": cycles["cycle_id"], "organ": "kidneys", "label": "",
        "dose_gy": np.round(kidney, 2),
        "t_eff_h": np.where(single, np.nan, np.round(np.clip(t_eff, 30, 100), 1)),
        "method": np.where(single, "SPECT/CT single time point (24 h)",
                           "SPECT/CT 3 time points (24, 48, 96 h)"),
        "provenance": "synthetic demo"})
    # Index-lesion dose falls over cycles as the lesion shrinks and loses uptake.
    first = np.exp(rng.normal(np.log(18.0), 0.35, n_p))[patient_codes]
    k = cycles.groupby("patient_id").cumcount().to_numpy()
    tumour_dose = first * 0.88 ** k * np.where(cycles["phase"] == "salvage", 0.8, 1.0)
    tumour = pd.DataFrame({
        "cycle_id": cycles["cycle_id"], "organ": "tumour", "label": "index lesion",
        "dose_gy": np.round(tumour_dose * rng.lognormal(0, 0.08, n_c), 2), "t_eff_h": np.nan,
        "method": "SPECT/CT 3 time points (24, 48, 96 h)", "provenance": "synthetic demo"})
    return pd.concat([kidneys, tumour], ignore_index=True)


def _ckd_epi_2021(creatinine_mg_dl, age_years, female):
    """eGFR, mL/min/1.73 m^2, race-free CKD-EPI 2021 creatinine equation (Inker, NEJM 2021;385:1737)."""
    kappa = np.where(female, 0.7, 0.9)
    alpha = np.where(female, -0.241, -0.302)
    ratio = creatinine_mg_dl / kappa
    return (142 * np.minimum(ratio, 1) ** alpha * np.maximum(ratio, 1) ** -1.200
            * 0.9938 ** age_years * np.where(female, 1.012, 1.0))


def _labs(rng, patients, cycles, end, course) -> pd.DataFrame:
    """Blood counts, renal function and MAG3 TER before and after every cycle and in follow-up."""
    ids = patients["patient_id"].to_numpy()
    female = (patients["sex"] == "F").to_numpy()
    n = len(ids)
    rows = []
    base = {
        "hb_g_dl": np.where(female, rng.normal(12.8, 0.7, n), rng.normal(14.0, 0.8, n)),
        "plt_10e9_l": rng.normal(240, 45, n), "wbc_10e9_l": rng.normal(6.4, 1.1, n),
        "lymph_10e9_l": rng.normal(1.7, 0.35, n),
        "creatinine_mg_dl": np.where(female, rng.normal(0.78, 0.12, n), rng.normal(0.96, 0.14, n)),
        # MAG3 TER in PRRT patients: 234 +- 53 mL/min/1.73 m^2 (Werner, Oncotarget 2016;7:41233).
        "mag3_ter_ml_min_173m2": rng.normal(234, 45, n),
    }
    by_patient = dict(tuple(cycles.groupby("patient_id")))
    for i, pid in enumerate(ids):
        cyc = by_patient[pid]
        dates = cyc["cycle_date"].to_numpy()
        first = dates[0]
        schedule = [(first - np.timedelta64(int(rng.integers(3, 8)), "D"), 0.0, "pre")]
        for j, d in enumerate(dates):
            if j:
                schedule.append((d - np.timedelta64(int(rng.integers(1, 6)), "D"), j, "pre"))
            schedule.append((d + np.timedelta64(int(rng.integers(28, 43)), "D"), j + 0.5, "nadir"))
        # Follow-up every ~3 months after the initial cycles and after the last salvage cycle.
        salvage = cyc["phase"].to_numpy() == "salvage"
        windows = [(dates[3], dates[salvage][0] - np.timedelta64(30, "D"), 4.0),
                   (dates[-1], end[i], float(len(dates)))]
        for last_cycle, stop, load in windows:
            follow = last_cycle + np.timedelta64(120, "D")
            while follow < stop:
                schedule.append((follow, load, "follow"))
                follow = follow + np.timedelta64(int(rng.integers(85, 100)), "D")
        for date, load, kind in schedule:
            if date > end[i]:
                continue
            years = (date - first) / np.timedelta64(365, "D")
            nadir = kind == "nadir"
            depth = 1.0 - (0.22 if nadir else 0.04) * (1 + 0.15 * load)
            lymph_depth = 1.0 - (0.35 if nadir else 0.10) * (1 + 0.10 * load)
            wbc = base["wbc_10e9_l"][i] * depth * rng.lognormal(0, 0.07)
            creat = base["creatinine_mg_dl"][i] * 1.035 ** years * rng.lognormal(0, 0.05)
            rows.append({
                "patient_id": pid, "lab_date": date,
                "hb_g_dl": base["hb_g_dl"][i] * (1 - 0.015 * load) * rng.lognormal(0, 0.03),
                "plt_10e9_l": base["plt_10e9_l"][i] * depth * rng.lognormal(0, 0.08),
                "wbc_10e9_l": wbc, "neut_10e9_l": wbc * rng.uniform(0.55, 0.68),
                "lymph_10e9_l": base["lymph_10e9_l"][i] * lymph_depth * rng.lognormal(0, 0.08),
                "creatinine_mg_dl": creat,
                "egfr_ml_min_173m2": _ckd_epi_2021(
                    creat, patients["age_at_first_prrt_years"].iat[i] + years, female[i]),
                "mag3_ter_ml_min_173m2": (base["mag3_ter_ml_min_173m2"][i] * 0.985 ** years
                                          * rng.lognormal(0, 0.04)) if kind == "pre" else np.nan,
                "bilirubin_mg_dl": rng.uniform(0.3, 1.0) if kind == "pre" else np.nan,
                "albumin_g_dl": rng.uniform(3.6, 4.6) if kind == "pre" else np.nan,
            })
    labs = pd.DataFrame(rows)
    # Exactly one patient reaches CTCAE grade 3 (the published 2.9 %): a platelet nadir
    # of 42 x 10^9/L after the second salvage cycle; everyone else stays above grade 3.
    worst = np.flatnonzero(np.isin(course, ["E", "G"]))[0]
    for column, floor in GRADE3_FLOORS.items():
        margin = floor * rng.uniform(1.04, 1.15, len(labs))
        labs[column] = np.where(labs[column] < margin, margin, labs[column])
    labs["egfr_ml_min_173m2"] = np.maximum(labs["egfr_ml_min_173m2"], EGFR_FLOOR + 5)
    salvage_dates = cycles.loc[(cycles["patient_id"] == ids[worst]) & (cycles["phase"] == "salvage"),
                               "cycle_date"]
    nadir_after = salvage_dates.iloc[1]
    pick = labs.index[(labs["patient_id"] == ids[worst]) & (labs["lab_date"] > nadir_after)][0]
    labs.loc[pick, "plt_10e9_l"] = 42.0
    rounding = {"hb_g_dl": 1, "plt_10e9_l": 0, "wbc_10e9_l": 2, "neut_10e9_l": 2, "lymph_10e9_l": 2,
                "creatinine_mg_dl": 2, "egfr_ml_min_173m2": 0, "mag3_ter_ml_min_173m2": 0,
                "bilirubin_mg_dl": 2, "albumin_g_dl": 1}
    labs = labs.round(rounding)
    labs["lab_date"] = pd.to_datetime(labs["lab_date"])
    return labs.drop_duplicates(["patient_id", "lab_date"]).reset_index(drop=True)


def _assessments(rng, ids, course, initial_start, salvage_start, progression1, progression2,
                 end, t) -> pd.DataFrame:
    """RECIST 1.1 imaging with target-lesion sums consistent with the intended responses."""
    rows = []
    initial_bor = _labels(rng, INITIAL_RESPONSE_35, len(ids))
    day = np.timedelta64(1, "D")

    def add(pid, date, phase, role, total, category, new=False, krenning=None):
        modality = "Ga-68 DOTATATE PET/CT" if krenning is not None else rng.choice(["CT", "MRI"])
        rows.append({"patient_id": pid, "assessment_date": date, "phase": phase, "role": role,
                     "modality": modality, "target_sum_mm": round(float(total), 1),
                     "new_lesions": bool(new),
                     "non_target": "non-CR/non-PD",
                     "recist_recorded": category, "sstr_krenning_score": krenning})

    def progress(nadir):  # >= +20 % over the nadir and >= +5 mm (RECIST 1.1)
        return max(nadir * rng.uniform(1.25, 1.45), nadir + 6.0)

    for i, pid in enumerate(ids):
        s0 = rng.uniform(45, 160)
        add(pid, initial_start[i] - int(rng.integers(7, 29)) * day, "initial", "baseline", s0, None,
            krenning=int(rng.choice([3, 4])))
        first = s0 * (rng.uniform(0.55, 0.68) if initial_bor[i] == "PR" else rng.uniform(0.80, 0.95))
        nadir, date = first, initial_start[i] + int(rng.integers(250, 290)) * day
        add(pid, date, "initial", "follow-up", first, initial_bor[i])
        while date + 200 * day < progression1[i]:
            date = date + int(rng.integers(110, 140)) * day
            value = nadir * rng.uniform(0.97, 1.10)
            nadir = min(nadir, value)
            add(pid, date, "initial", "follow-up", value, initial_bor[i] if value <= s0 * 0.7 else "SD")
        pd_sum = progress(nadir)
        new1 = rng.random() < 0.3
        add(pid, progression1[i], "initial", "follow-up", pd_sum if not new1 else nadir * 1.05,
            "PD", new=new1, krenning=int(rng.choice([3, 4])))
        # Salvage phase: baseline PET shortly before the first salvage cycle.
        b = (pd_sum if not new1 else nadir * 1.1) * rng.uniform(1.0, 1.08)
        krenning = int(rng.choice([2, 3, 3, 4]))
        add(pid, salvage_start[i] - int(rng.integers(7, 31)) * day, "salvage", "baseline", b, None,
            krenning=krenning)
        k = course[i]
        if k in "AB":
            continue
        if k == "C":
            new = rng.random() < 0.4
            add(pid, progression2[i], "salvage", "follow-up", b * 1.02 if new else progress(b), "PD",
                new=new)
            continue
        first_fu = salvage_start[i] + int(rng.integers(80, 95)) * day
        if k == "D":
            first_fu = min(first_fu, progression2[i] - 30 * day)
        value = b * (rng.uniform(0.55, 0.66) if k == "F" else rng.uniform(0.92, 1.04))
        nadir, date = value, first_fu
        add(pid, date, "salvage", "follow-up", value, "PR" if k == "F" else "SD")
        stop = progression2[i] if k in "DEF" else end[i]
        while date + 150 * day < stop:
            date = date + int(rng.integers(100, 130)) * day
            # Stable disease stays between the PR bound (0.7 x baseline) and the PD bound.
            value = max(nadir * rng.uniform(0.98, 1.08), (0.5 if k == "F" else 0.76) * b)
            nadir = min(nadir, value)
            add(pid, date, "salvage", "follow-up", value, "PR" if value <= 0.7 * b else "SD")
        if k in "DEF":
            add(pid, progression2[i], "salvage", "follow-up", progress(nadir), "PD")
    frame = pd.DataFrame(rows)
    frame["assessment_date"] = pd.to_datetime(frame["assessment_date"])
    frame["sstr_krenning_score"] = frame["sstr_krenning_score"].astype("Int64")
    return frame


def _events(ids, course, progression1, progression2, end, t) -> pd.DataFrame:
    """Progression after initial PRRT and after salvage, death or last contact."""
    frames = [pd.DataFrame({"patient_id": ids, "event_date": progression1,
                            "event_type": "progression", "phase": "initial"})]
    progressed2 = t["ev2"] & (course != "A")
    frames.append(pd.DataFrame({"patient_id": ids[progressed2], "event_date": progression2[progressed2],
                                "event_type": "progression", "phase": "salvage"}))
    frames.append(pd.DataFrame({"patient_id": ids, "event_date": end,
                                "event_type": np.where(t["death"], "death", "last_contact"),
                                "phase": None}))
    events = pd.concat(frames, ignore_index=True)
    events["event_date"] = pd.to_datetime(events["event_date"])
    return events.sort_values(["patient_id", "event_date"], kind="stable").reset_index(drop=True)


def _performance(rng, ids, initial_start, salvage_start) -> pd.DataFrame:
    """ECOG and Karnofsky before initial PRRT and before salvage start."""
    n = len(ids)
    ecog = np.concatenate([rng.choice([0, 1], n, p=[0.6, 0.4]),
                           rng.choice([0, 1, 2], n, p=[0.4, 0.5, 0.1])])
    # Karnofsky equivalent of ECOG (Oken, Am J Clin Oncol 1982;5:649): 0 -> 90-100, 1 -> 70-80, 2 -> 50-60.
    kps = np.select([ecog == 0, ecog == 1], [90, 80], 60) + np.where(rng.random(2 * n) < 0.5, 0, -10)
    kps = np.where(ecog == 0, np.maximum(kps, 90), kps)
    dates = np.concatenate([initial_start - rng.integers(7, 22, n).astype("timedelta64[D]"),
                            salvage_start - rng.integers(7, 22, n).astype("timedelta64[D]")])
    return pd.DataFrame({"patient_id": np.concatenate([ids, ids]), "status_date": pd.to_datetime(dates),
                         "ecog": ecog, "karnofsky_pct": kps})


def load(store: Store, *, actor: Actor, n_patients: int = DEFAULT_N_PATIENTS,
         seed: int = DEFAULT_SEED) -> dict[str, int]:
    """Write the demo cohort into an empty store in one transaction, written by ``actor``, and
    mark it as demo data."""
    demo = generate(n_patients, seed)
    with store.transaction(actor):  # the emptiness check and the write are one transaction
        if not store.is_empty():
            raise ValueError(f"{store.path}: the store already holds patients; the demo cohort "
                             "is only written into an empty database")
        return store.insert(demo.tables.as_dict(), actor=actor, action="demo",
                            meta={"dataset": "demo", "demo_seed": str(seed),
                                  "demo_n_patients": str(n_patients)})
