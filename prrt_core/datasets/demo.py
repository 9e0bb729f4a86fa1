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

Nothing here is real patient data; ids are ``NET-001`` style pseudonyms. The courses and
their calibrated times: ``demo_courses``; the tables built from them: ``demo_records``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prrt_core import decisions
from prrt_core.clinical.dates import DAYS_PER_MONTH
from prrt_core.datasets import demo_eligibility, demo_records
from prrt_core.datasets.demo_courses import COURSE_COUNTS_35, SALVAGE_CYCLES_35, draw, draw_within, survival_times
from prrt_core.errors import InputError
from prrt_core.paths import DATA_DIR
from prrt_core.store import Store
from prrt_core.store.access import Actor
from prrt_core.tables import Tables

PUBLISHED_PATH = DATA_DIR / "published_cohort.json"
DEFAULT_SEED = 20190808  # publication date of the reference study
DEFAULT_N_PATIENTS = 35
DATA_CUTOFF = dt.date(2026, 9, 30)  # fixed, so the cohort never changes with the clock

TUMOUR_GRADE_35 = {"G1": 14, "G2": 19, "G3": 2}
PRIOR_THERAPIES = ("surgery", "somatostatin analogue", "everolimus", "chemotherapy (CAPTEM)",
                   "liver-directed therapy", "external beam radiotherapy", "sunitinib")


def published() -> dict:
    """The published aggregates of the reference study (``data/published_cohort.json``)."""
    return json.loads(PUBLISHED_PATH.read_text())


@dataclass(frozen=True)
class DemoTables:
    """The generated tables, in the store's column names, plus the course of each patient."""

    tables: Tables
    course: pd.Series  # patient_id -> 'A'..'G'


def _days(months: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(months) * DAYS_PER_MONTH).astype(int)


def generate(n_patients: int = DEFAULT_N_PATIENTS, seed: int = DEFAULT_SEED) -> DemoTables:
    """Generate the synthetic cohort as store-ready tables (deterministic for a seed)."""
    if n_patients < 1:
        raise InputError(f"n_patients must be >= 1, got {n_patients}")
    pub = published()
    rng = np.random.default_rng(seed)
    n = n_patients
    width = max(3, len(str(n)))
    ids = np.array([f"NET-{i:0{width}d}" for i in range(1, n + 1)])
    course = draw(rng, COURSE_COUNTS_35, n)
    sex = draw(rng, pub["sex"], n)
    site = draw(rng, pub["primary_site"], n)
    age = rng.normal(size=n)
    age = (age - age.mean()) / (age.std(ddof=1) if n > 1 else 1.0)
    age = np.clip(np.rint(pub["age_years"]["mean"] + pub["age_years"]["sd"] * age), 30, 90)
    grade = draw(rng, TUMOUR_GRADE_35, n)
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

    t = survival_times(rng, course, pub)
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

    n_salvage = draw_within(rng, course, SALVAGE_CYCLES_35)
    # D-course patients with 3 salvage cycles are the ones progressing latest.
    d_idx = np.flatnonzero(course == "D")
    n3 = int((n_salvage[d_idx] == 3).sum())
    n_salvage[d_idx] = 2
    n_salvage[d_idx[np.argsort(-t["pfs2"][d_idx])[:n3]]] = 3

    cycles = demo_records.cycles(rng, ids, initial_start, salvage_start, n_salvage, pub)
    dosimetry = demo_records.dosimetry(rng, cycles, pub)
    labs = demo_records.labs(rng, patients, cycles, end, course)
    assessments = demo_records.assessments(rng, ids, course, initial_start, salvage_start,
                                           progression1, progression2, end, t)
    events = demo_records.events(ids, course, progression1, progression2, end, t)
    performance = demo_records.performance(rng, ids, initial_start, salvage_start)
    patients = demo_eligibility.body(seed, patients)
    labs["egfr_equation"] = np.where(labs["egfr_ml_min_173m2"].notna(), "CKD-EPI 2021", None)
    ssa = demo_eligibility.ssa_administrations(seed, cycles, pd.Series(salvage_start, index=ids))
    tables = Tables(patients=patients, cycles=cycles, dosimetry=dosimetry, labs=labs, assessments=assessments,
                    events=events, performance_status=performance, ssa_administrations=ssa,
                    findings=demo_eligibility.findings(patients, cycles),
                    board_decisions=pd.DataFrame(columns=list(decisions.COLUMNS)))
    return DemoTables(tables, pd.Series(course, index=ids, name="course"))


def load(store: Store, *, actor: Actor, n_patients: int = DEFAULT_N_PATIENTS,
         seed: int = DEFAULT_SEED) -> dict[str, int]:
    """Write the demo cohort into an empty store in one transaction, written by ``actor``, and
    mark it as demo data."""
    demo = generate(n_patients, seed)
    with store.transaction(actor):  # the emptiness check and the write are one transaction
        if not store.is_empty():
            raise InputError(f"{store.path}: the store already holds patients; the demo cohort "
                             "is only written into an empty database")
        return store.insert(demo.tables.as_dict(), actor=actor, action="demo",
                            meta={"dataset": "demo", "demo_seed": str(seed),
                                  "demo_n_patients": str(n_patients)})
