"""The demo cohort's schema-3 records: weight, height and child-bearing potential, somatostatin-
analogue injections and pregnancy tests — what the eligibility criteria of issue 13 ask about.

Drawn from their own random stream (``seed``, 3) so that the rest of the demo cohort, and every
number pinned on it, stays as it was. Nothing here is real patient data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Adult body size by sex, mean and SD: weight 84/70 kg, height 176/162 cm (approximately the
# NHANES 2015-2018 adult means, CDC Vital Health Stat 3(46), 2021); clipped to plausible ranges.
WEIGHT_KG = {"M": (84.0, 13.0), "F": (70.0, 13.0)}
HEIGHT_CM = {"M": (176.0, 7.0), "F": (162.0, 6.5)}
# Women of child-bearing potential: the demo takes women under 50 at first PRRT (median age at
# natural menopause is about 51 years, Gold, Am J Epidemiol 2001;153:865).
CHILDBEARING_AGE_LIMIT_YEARS = 50
# Long-acting somatostatin analogue every 28 days (octreotide LAR 30 mg or lanreotide 120 mg,
# Sandostatin LAR / Somatuline Depot PIs), one the day after each PRRT cycle (NETTER-1 scheme,
# Strosberg NEJM 2017;376:125), paused so that the last one is >= 5 weeks before the salvage start
# (the Lutathera PI asks for >= 4 weeks).
SSA_INTERVAL_DAYS = 28
SSA_DRUGS = (("octreotide LAR", 30.0), ("lanreotide", 120.0))
SSA_PAUSE_DAYS = 35


def body(seed: int, patients: pd.DataFrame) -> pd.DataFrame:
    """``patients`` with weight_kg, height_cm and childbearing_potential."""
    rng = np.random.default_rng([seed, 3])
    male = (patients["sex"] == "M").to_numpy()
    n = len(patients)
    weight = np.where(male, rng.normal(*WEIGHT_KG["M"], n), rng.normal(*WEIGHT_KG["F"], n))
    height = np.where(male, rng.normal(*HEIGHT_CM["M"], n), rng.normal(*HEIGHT_CM["F"], n))
    young = patients["age_at_first_prrt_years"].to_numpy() < CHILDBEARING_AGE_LIMIT_YEARS
    return patients.assign(weight_kg=np.round(np.clip(weight, 45, 140), 1),
                           height_cm=np.round(np.clip(height, 145, 200), 0),
                           childbearing_potential=pd.array(np.where(male, pd.NA, young), dtype="boolean"))


def ssa_administrations(seed: int, cycles: pd.DataFrame, salvage_start: pd.Series) -> pd.DataFrame:
    """Long-acting SSA: the day after each cycle and every 28 days between the phases, paused
    before the salvage start. ``salvage_start``: date by patient id."""
    rng = np.random.default_rng([seed, 4])
    rows = []
    for pid, own in cycles.groupby("patient_id", sort=True):
        drug, dose = SSA_DRUGS[int(rng.integers(len(SSA_DRUGS)))]
        dates = list(own["cycle_date"] + pd.Timedelta(days=1))
        last_initial = own.loc[own["phase"] == "initial", "cycle_date"].max()
        stop = pd.Timestamp(salvage_start[pid]) - pd.Timedelta(days=SSA_PAUSE_DAYS)
        dates += list(pd.date_range(last_initial + pd.Timedelta(days=SSA_INTERVAL_DAYS), stop,
                                    freq=f"{SSA_INTERVAL_DAYS}D"))
        rows += [(pid, d, drug, dose) for d in sorted(set(dates))]
    return pd.DataFrame(rows, columns=["patient_id", "administration_date", "drug", "dose_mg"])


def findings(patients: pd.DataFrame, cycles: pd.DataFrame) -> pd.DataFrame:
    """A negative pregnancy test 3 days before every cycle of a woman of child-bearing potential."""
    women = patients.loc[patients["childbearing_potential"].fillna(False).astype(bool), "patient_id"]
    dates = cycles.loc[cycles["patient_id"].isin(women), ["patient_id", "cycle_date"]]
    return pd.DataFrame({"patient_id": dates["patient_id"].to_numpy(),
                         "finding_date": (dates["cycle_date"] - pd.Timedelta(days=3)).to_numpy(),
                         "finding": "pregnancy", "present": False})
