"""Saving a computed study to a cycle (issue 16): the cycle preselected by the injection date, warnings
on date (> 1 day) and activity (> 5 %), replacement only after confirmation, audit before/after, dose SD.

The phantom (prrt_core.testing.phantom) was injected 2024-03-04 09:30 with 7400 MBq; its left kidney's
voxel mean (local deposition) dose is 3.1962 Gy (tests/unit/test_voxel.py).
"""
from __future__ import annotations

import json

import pandas as pd
import pytest

from prrt_core.dicom import study_dose
from prrt_core.dicom.study_dose import DoseSource
from prrt_core.errors import InputError
from prrt_core.importer import dosimetry_results as dr
from prrt_core.testing import phantom
from tests.support import editor

PATIENT = {"patient_id": "NET-900", "sex": "F", "age_at_first_prrt_years": 61, "primary_site": "pancreas",
           "hypertension": False, "diabetes": False}


def cycle(number: int, date: str, gbq: float) -> dict:
    return {"patient_id": "NET-900", "cycle_number": number, "phase": "initial", "cycle_date": date,
            "activity_gbq": gbq}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    written = phantom.write_phantom(tmp_path_factory.mktemp("save") / "series")
    return study_dose.analyse(written.files)


@pytest.fixture
def seeded(store):
    # Cycle 1: an earlier date; cycle 2: the study's date and activity; cycle 3: 2 days later, 7.00 GBq.
    store.insert({"patients": [PATIENT], "cycles": [cycle(1, "2023-12-01", 7.4), cycle(2, "2024-03-04", 7.4),
                                                    cycle(3, "2024-03-06", 7.0)]}, actor=editor("t"))
    return store


def test_the_cycle_of_the_injection_date_is_preselected(seeded, result):
    cycles = seeded.read("cycles", patient_id="NET-900")
    assert dr.matching_cycle(cycles, result.study.injection) == 2
    # Within a day either side still matches; two days does not (MAX_DATE_DIFFERENCE = 1 day).
    assert dr.matching_cycle(cycles.assign(cycle_date=pd.to_datetime(["2023-01-01", "2024-03-05", "2025-01-01"])),
                             result.study.injection) == 2
    assert dr.matching_cycle(cycles.assign(cycle_date=pd.to_datetime(["2023-01-01", "2024-03-06", "2025-01-01"])),
                             result.study.injection) is None
    assert dr.matching_cycle(cycles, None) is None


@pytest.mark.parametrize("date, gbq, expected", [
    ("2024-03-04", 7.4, []),
    ("2024-03-05", 7.4, []),                      # one day apart: no warning
    ("2024-03-06", 7.4, ["date"]),                # two days: warned
    ("2024-03-04", 7.05, []),                     # 7400 MBq is 4.96 % above 7050 MBq: no warning
    ("2024-03-04", 7.04, ["activity"]),           # 5.11 % above 7040 MBq: warned
    ("2024-03-04", 7.78, []),                     # 4.88 % below 7780 MBq: no warning
    ("2024-03-04", 7.8, ["activity"]),            # 5.13 % below 7800 MBq: warned
    ("2024-03-08", 6.0, ["date", "activity"]),
])
def test_warnings_on_date_and_activity_at_their_boundaries(store, result, date, gbq, expected):
    store.insert({"patients": [PATIENT], "cycles": [cycle(1, date, gbq)]}, actor=editor("t"))
    check = dr.check_save(store, result, "NET-900", 1, DoseSource.VOXEL)
    kinds = [("date" if "injection date" in w else "activity") for w in check.warnings]
    assert kinds == expected
    for warning in check.warnings:  # both values shown
        if "date" in warning:
            assert "2024-03-04" in warning and date in warning
        else:
            assert "7400 MBq" in warning and f"{gbq * 1000:.0f} MBq" in warning


def test_a_stored_dose_is_replaced_only_after_confirmation_and_audited_before_and_after(seeded, result):
    first = dr.save_to_cycle(seeded, result, "NET-900", 2, actor=editor("physicist"), source=DoseSource.VOXEL)
    assert first["Action"].tolist() == ["inserted"] * 4
    inserted = seeded.read("audit").query("table_name == 'dosimetry' and action == 'insert'")
    assert len(inserted) == 4  # one audit row per inserted row, with its values (not {"rows": 4})
    assert {json.loads(a)["organ"] for a in inserted["after_json"]} == {"kidney_left", "kidney_right", "tumour",
                                                                         "kidneys"}
    check = dr.check_save(seeded, result, "NET-900", 2, DoseSource.ORGAN)
    assert len(check.replacements) == 4
    table = check.replacement_table().set_index("Organ")
    assert table.loc["kidney_left", "Stored dose (Gy)"].startswith("3.20")  # LDM voxel mean 3.1962 Gy
    assert table.loc["kidney_left", "Stored method"].startswith("voxel mean (LDM)")
    assert table.loc["kidney_left", "New dose (Gy)"].startswith("3.24")  # S-value, 1.5 % above
    assert table.loc["kidney_left", "New method"].startswith("organ S-value")
    before = seeded.revision
    with pytest.raises(InputError, match="confirm replacing"):
        dr.save(seeded, check, actor=editor("physicist"))
    assert seeded.revision == before  # nothing written
    done = dr.save(seeded, check, actor=editor("physicist"), replace=True)
    assert done["Action"].tolist() == ["replaced"] * 4
    updates = seeded.read("audit").query("table_name == 'dosimetry' and action == 'update'")
    assert len(updates) == 4
    left = next(u for u in updates.itertuples() if json.loads(u.before_json)["organ"] == "kidney_left")
    old, new = json.loads(left.before_json), json.loads(left.after_json)
    assert old["dose_gy"] == pytest.approx(3.1962, abs=1e-4) and old["method"].startswith("voxel mean (LDM)")
    assert new["dose_gy"] == pytest.approx(3.2437, abs=1e-3) and new["method"].startswith("organ S-value")
    rows = seeded.read("dosimetry", patient_id="NET-900")
    assert len(rows) == 4  # replaced, not added


def test_a_check_that_went_stale_is_refused(seeded, result):
    check = dr.check_save(seeded, result, "NET-900", 2, DoseSource.VOXEL)
    assert not check.replacements
    dr.save_to_cycle(seeded, result, "NET-900", 2, actor=editor("other"), source=DoseSource.ORGAN)
    before = seeded.revision
    with pytest.raises(InputError, match="changed since it was checked"):
        dr.save(seeded, check, actor=editor("physicist"), replace=True)
    assert seeded.revision == before


def test_method_and_dose_sd_are_stored(seeded, result):
    dr.save_to_cycle(seeded, result, "NET-900", 2, actor=editor("p"), source=DoseSource.ORGAN)
    rows = seeded.read("dosimetry", patient_id="NET-900").set_index("organ")
    organs = result.organs.set_index("organ")
    # The organ-level dose's 1-sigma uncertainty from the TAC fit (H2a's tia_sd, propagated in study_dose).
    assert rows.loc["kidneys", "dose_sd_gy"] == pytest.approx(organs.loc["kidneys", "organ_dose_sd_gy"], rel=1e-9)
    assert rows.loc["kidneys", "dose_sd_gy"] > 0
    assert rows.loc["tumour", "method"].startswith("organ local deposition")
    dr.save_to_cycle(seeded, result, "NET-900", 3, actor=editor("p"), source=DoseSource.DVK)
    dvk = seeded.read("dosimetry", patient_id="NET-900")
    dvk = dvk[dvk["cycle_id"] == int(seeded.read("cycles", patient_id="NET-900").query("cycle_number == 3")
                                     ["cycle_id"].iloc[0])].set_index("organ")
    assert dvk.loc["kidney_left", "method"].startswith("voxel mean (DVK)")
    assert dvk.loc["kidney_left", "dose_gy"] == pytest.approx(organs.loc["kidney_left", "dvk_mean_dose_gy"], rel=1e-9)
    # Voxel means carry the TAC fit's relative uncertainty: sd/dose equal to the organ-level dose's.
    rel = organs.loc["kidney_left", "organ_dose_sd_gy"] / organs.loc["kidney_left", "organ_dose_gy"]
    assert dvk.loc["kidney_left", "dose_sd_gy"] / dvk.loc["kidney_left", "dose_gy"] == pytest.approx(rel, rel=1e-9)


def test_a_missing_cycle_is_refused(seeded, result):
    with pytest.raises(InputError, match="has no cycle 9"):
        dr.check_save(seeded, result, "NET-900", 9, DoseSource.VOXEL)


def test_dose_sd_round_trips_through_export_and_import(seeded, result, tmp_path):
    from prrt_core.importer.export import export_files
    from prrt_core.importer.plan import import_files
    from prrt_core.store import Store

    dr.save_to_cycle(seeded, result, "NET-900", 2, actor=editor("p"), source=DoseSource.ORGAN)
    files = export_files(seeded)
    header = files["dosimetry.csv"][0].decode().splitlines()[0]
    assert "dose_sd" in header  # the import spec's column (Gy)
    with Store(tmp_path / "copy.sqlite") as copy:
        import_files(copy, [(name, data) for name, (data, _) in files.items() if name != "audit.csv"],
                     actor=editor("p"))
        again = copy.read("dosimetry").set_index("organ")["dose_sd_gy"]
    stored = seeded.read("dosimetry").set_index("organ")["dose_sd_gy"]
    assert again.loc["kidneys"] == pytest.approx(stored.loc["kidneys"], rel=1e-9) and stored.loc["kidneys"] > 0


def kidney_row(cycle_id: int, t_eff_h: float, method: str) -> dict:
    return {"cycle_id": cycle_id, "organ": "kidneys", "label": "", "dose_gy": 3.0, "t_eff_h": t_eff_h,
            "method": method}


def test_the_t_eff_for_one_time_point_is_the_median_of_earlier_measured_cycles_only(seeded):
    # Cycles 1 and 2 measured (50 h and 60 h), cycle 3 a single-time-point dose that assumed 99 h:
    # for a study dated after cycle 3, the patient's median is (50 + 60) / 2 = 55 h over 2 cycles;
    # the assumed 99 h is no measurement and is left out of the patient's and the cohort's median.
    ids = seeded.cycle_ids()
    seeded.insert({"dosimetry": [kidney_row(ids[("NET-900", 1)], 50.0, "voxel mean (LDM)"),
                                 kidney_row(ids[("NET-900", 2)], 60.0, "organ S-value"),
                                 kidney_row(ids[("NET-900", 3)], 99.0, "single-time-point (Hänscheid 2018)")]},
                  actor=editor("t"))
    tables = seeded.read_all()
    estimate = dr.t_eff_estimate(tables, "NET-900", pd.Timestamp("2024-06-01").date())
    assert (estimate.t_eff_h, estimate.n, estimate.source) == (55.0, 2, dr.TEffSource.PATIENT)
    assert dr.t_eff_text(estimate, "NET-900") == "T_eff 55.0 h: median of NET-900's 2 earlier cycles"
    # Before cycle 2 only cycle 1 counts; a patient without any falls back to the cohort (same 2 cycles).
    assert dr.t_eff_estimate(tables, "NET-900", pd.Timestamp("2024-01-01").date()).t_eff_h == 50.0
    cohort = dr.t_eff_estimate(tables, "NET-999", None)
    assert (cohort.t_eff_h, cohort.n, cohort.source) == (55.0, 2, dr.TEffSource.COHORT)


@pytest.mark.parametrize(("organ_sd", "expected"), [(0.2, 0.2), (499.0, 499.0), (500.0, 500.0), (501.0, None),
                                                    (float("inf"), None), (float("nan"), None)])
def test_an_uncertainty_beyond_the_store_s_bound_is_kept_as_unknown(organ_sd, expected):
    # dosimetry.dose_sd_gy is CHECKed to 0-500 Gy (schema MIGRATION_4): a larger (or non-finite) 1-sigma
    # from a barely determined fit is stored as unknown rather than failing the whole save.
    row = pd.Series({"organ_dose_gy": 300.0, "organ_dose_sd_gy": organ_sd, "voxel_mean_dose_gy": 150.0})
    assert dr.dose_sd_gy(row, DoseSource.ORGAN) == expected
    voxel = dr.dose_sd_gy(row, DoseSource.VOXEL)  # the same relative uncertainty: half of it here, bounded alike
    assert voxel == (pytest.approx(organ_sd / 2) if organ_sd / 2 <= 500.0 else None)
