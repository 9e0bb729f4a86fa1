"""The store -> projection path shared by the pages and ``python -m prrt_core project``."""

from __future__ import annotations

import numpy as np
import pytest

from prrt_core import cli, dosimetry, projection


def test_inputs_from_tables_one_row_per_cycle_with_kidney_dose(demo_tables):
    history, patients = projection.inputs_from_tables(demo_tables)
    assert len(history) == len(demo_tables.cycles) == 222
    assert list(patients.columns) == ["patient_id", "renal_risk"]
    d = demo_tables.dosimetry
    kidney = d[d["organ"] == "kidneys"].set_index("cycle_id")
    row = history.iloc[0]
    assert row["kidney_dose_gy"] == kidney.loc[row["cycle_id"], "dose_gy"]
    assert history["kidney_t_eff_h"].isna().sum() == kidney["t_eff_h"].isna().sum()
    p = demo_tables.patients
    expected = (p["hypertension"] | p["diabetes"]).to_numpy()
    assert (patients["renal_risk"].to_numpy() == expected).all()


def test_dose_now_equals_hand_sum_and_bed_uses_measured_t_eff(demo_tables):
    history, patients = projection.inputs_from_tables(demo_tables)
    pid = "NET-002"
    own = history[history["patient_id"] == pid]
    row = projection.project(history, 2, 7.4, patients=patients, patient_ids=[pid]).iloc[0]
    assert row["dose_now_gy"] == pytest.approx(own["kidney_dose_gy"].sum(), abs=1e-9)
    # BED now (README, "Kidney dosimetry and projection"): measured T_eff per cycle, the patient's mean where missing.
    t_eff = own["kidney_t_eff_h"].fillna(own["kidney_t_eff_h"].mean()).to_numpy()
    expected = np.sum(own["kidney_dose_gy"] * (1 + own["kidney_dose_gy"] / 2.6 * 2.8 / (2.8 + t_eff)))
    assert row["bed_now_gy"] == pytest.approx(expected, rel=1e-9)
    assert row["bed_now_gy"] == pytest.approx(
        dosimetry.bed_total(own["kidney_dose_gy"].to_numpy(), t_eff), rel=1e-12)
    limit = 28.0 if patients.set_index("patient_id").loc[pid, "renal_risk"] else 40.0
    assert row["bed_limit_gy"] == limit


def test_cli_project_prints_the_projection(demo_db, capsys):
    assert cli.main(["--db", str(demo_db), "project", "--patient", "NET-002", "--cycles", "2",
                     "--activity", "7.4"]) == 0
    out = capsys.readouterr().out
    assert "patient NET-002: 2 further cycle(s) x 7.4 GBq" in out
    assert "kidney dose (Gy)" in out and "kidney BED (Gy)" in out
    assert cli.main(["--db", str(demo_db), "project", "--patient", "NOPE", "--cycles", "2",
                     "--activity", "7.4"]) == 1
    assert "NOPE" in capsys.readouterr().err
    assert cli.main(["--db", str(demo_db), "project", "--patient", "NET-002", "--cycles", "2",
                     "--activity", "-1"]) == 1
