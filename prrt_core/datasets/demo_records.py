"""The demo cohort's tables: cycles, dosimetry, labs, RECIST imaging, events, performance status.

Each builder returns one table in the store's column names from the patients' dates
and courses (``prrt_core.datasets.demo.generate``); values follow the published study
and the sources beside each constant. Nothing here is real patient data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from prrt_core.datasets import demo_courses

# Best response after initial PRRT per patient (35-patient cohort; disease control in every one).
INITIAL_RESPONSE_35 = {"PR": 24, "SD": 11}

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


def cycles(rng, ids, initial_start, salvage_start, n_salvage, pub) -> pd.DataFrame:
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


def dosimetry(rng, cycles: pd.DataFrame, pub: dict) -> pd.DataFrame:
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


def labs(rng, patients, cycles, end, course) -> pd.DataFrame:
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


def assessments(rng, ids, course, initial_start, salvage_start, progression1, progression2,
                 end, t) -> pd.DataFrame:
    """RECIST 1.1 imaging with target-lesion sums consistent with the intended responses."""
    rows = []
    initial_bor = demo_courses.draw(rng, INITIAL_RESPONSE_35, len(ids))
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


def events(ids, course, progression1, progression2, end, t) -> pd.DataFrame:
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


def performance(rng, ids, initial_start, salvage_start) -> pd.DataFrame:
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
