"""Voxel dosimetry: the phantom's analytic doses, the per-voxel fit rules, DVH, storage, CLI.

Expected phantom doses are analytic (prrt_core.testing.phantom): a uniform structure with
concentration C0 at injection and effective half-life T_eff receives
D = C0 T_eff / ln2 x Delta / rho, Delta = 0.08534 Gy g/(MBq h) (147.95 keV per decay,
EJNMMI Phys 2020 Table 1, as in prrt_core.dosimetry).
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from prrt_core import cli, dicom, dosimetry
from prrt_core.dicom import study_dose
from prrt_core.dosimetry import voxel
from prrt_core.importer import dosimetry_results
from prrt_core.store import Store
from prrt_core.testing import phantom
from tests.support import editor

PH = phantom.default_phantom()
RHO = voxel.TISSUE_DENSITY_G_PER_ML
LP = dosimetry.LAMBDA_PHYS_PER_H


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    return phantom.write_phantom(tmp_path_factory.mktemp("vox") / "series")


@pytest.fixture(scope="module")
def result(written):
    return study_dose.analyse(written.folder)


def test_expected_phantom_doses_by_hand():
    # Left kidney: 0.60 MBq/mL x 45 h / ln2 = 38.95 MBq h/mL; x 0.085335 / 1.04 = 3.1962 Gy.
    assert PH.expected_dose_gy("Kidney left", 1.04) == pytest.approx(0.60 * 45 / math.log(2) * 0.085335 / 1.04,
                                                                     rel=1e-4)
    assert PH.expected_dose_gy("Kidney left", 1.04) == pytest.approx(3.1962, abs=1e-3)
    # Right kidney 0.75 x 55 / ln2 x 0.085335 / 1.04 = 4.8831 Gy; lesion 2.5 x 80 / ln2 x ... = 23.675 Gy.
    assert PH.expected_dose_gy("Kidney right", 1.04) == pytest.approx(4.8831, abs=1e-3)
    assert PH.expected_dose_gy("Lesion 1", 1.04) == pytest.approx(23.675, abs=2e-3)


@pytest.mark.parametrize("name", ["Kidney left", "Kidney right", "Lesion 1"])
def test_phantom_voxel_mean_dose_within_2_percent_of_analytic(result, name):
    row = result.organs.set_index("voi").loc[name]
    expected = PH.expected_dose_gy(name, RHO)
    assert row["voxel_mean_dose_gy"] == pytest.approx(expected, rel=0.02)
    # Noise-free phantom: only the uint16 quantisation of the stored values remains (< 1e-4).
    assert row["voxel_mean_dose_gy"] == pytest.approx(expected, rel=1e-4)
    assert row["t_eff_h"] == pytest.approx(PH.structure(name).t_eff_h, rel=1e-4)


def test_phantom_organ_level_kidney_dose_uses_mass_scaled_s_value(result):
    row = result.organs.set_index("voi").loc["Kidney left"]
    # TIA = C0 V / lambda; D = TIA x 3600 x 7.76e-5 x 310 / m / 1000 with m = V x 1.04 g/mL.
    assert row["organ_dose_gy"] == pytest.approx(PH.expected_kidney_s_value_dose_gy("Kidney left", RHO), rel=1e-4)
    # S x m = 0.0866 Gy g/(MBq h) against Delta = 0.0853: the S-value dose is 1.5 % above local deposition.
    assert row["organ_dose_gy"] / row["voxel_mean_dose_gy"] == pytest.approx(
        7.76e-5 * 310 * 3.6 / dosimetry.DELTA_LOCAL_GY_G_PER_MBQ_H, rel=1e-4)
    lesion = result.organs.set_index("voi").loc["Lesion 1"]
    assert lesion["organ_method"] == "local deposition (VOI mass)"
    assert lesion["organ_dose_gy"] == pytest.approx(PH.expected_dose_gy("Lesion 1", RHO), rel=1e-4)


def test_both_kidneys_row_is_the_mass_weighted_mean(result):
    organs = result.organs.set_index("voi")
    both = organs.loc["kidneys (left + right)"]
    left, right = organs.loc["Kidney left"], organs.loc["Kidney right"]
    expected = (left.voxel_mean_dose_gy * left.n_voxels + right.voxel_mean_dose_gy * right.n_voxels) / (
        left.n_voxels + right.n_voxels)
    assert both["voxel_mean_dose_gy"] == pytest.approx(expected, rel=1e-6)
    assert both["organ"] == "kidneys" and both["n_voxels"] == left.n_voxels + right.n_voxels
    # Dose per activity: 4.04 Gy / 7.4 GBq = 0.546 Gy/GBq.
    assert both["dose_per_activity_gy_per_gbq"] == pytest.approx(both["voxel_mean_dose_gy"] / 7.4)


@pytest.mark.parametrize("options", [
    {"noise": 0.05, "seed": 3},
    {"voi_format": "RTSTRUCT"},
    {"modality": "PT", "decay_correction": "ADMIN"},
    {"quantification": "CNTS"},
])
def test_phantom_dose_recovered_within_2_percent_for_every_input_kind(tmp_path, options):
    written = phantom.write_phantom(tmp_path / "s", **options)
    extra = {"calibration_cps_per_mbq": 12.0} if options.get("quantification") == "CNTS" else {}
    organs = study_dose.analyse(written.folder, **extra).organs.set_index("voi")
    for s in PH.structures:
        assert organs.loc[s.name, "voxel_mean_dose_gy"] == pytest.approx(PH.expected_dose_gy(s.name, RHO), rel=0.02)


def test_nifti_kidneys_with_rtstruct_lesion(tmp_path, written):
    folder = tmp_path / "s"
    folder.mkdir()
    for f in written.spect:
        (folder / f.name).write_bytes(f.read_bytes())
    phantom.write_nifti_labels(folder / "total.nii.gz", PH, zoom=3)
    phantom.write_rtstruct(folder / "lesion", PH, ["Lesion 1"])
    organs = study_dose.analyse(folder).organs.set_index("organ")
    assert organs.loc["kidney_left", "voxel_mean_dose_gy"] == pytest.approx(PH.expected_dose_gy("Kidney left", RHO),
                                                                           rel=0.02)
    assert organs.loc["kidney_right", "voxel_mean_dose_gy"] == pytest.approx(
        PH.expected_dose_gy("Kidney right", RHO), rel=0.02)
    assert organs.loc["tumour", "voxel_mean_dose_gy"] == pytest.approx(PH.expected_dose_gy("Lesion 1", RHO), rel=0.02)


# --- fit rules ---------------------------------------------------------------------------------
T = np.array([4.0, 24.0, 48.0, 96.0])


def _fit(*curves):
    return voxel.fit_voxels(T, np.array(curves, dtype=np.float64).T)


def test_exact_mono_exponential_voxel():
    lam = math.log(2) / 40.0
    fit = _fit(1000.0 * np.exp(-lam * T))
    assert fit.lambda_per_h[0] == pytest.approx(lam, rel=1e-6)
    assert fit.tia[0] == pytest.approx(1000.0 / lam, rel=1e-5)
    assert fit.t_eff_h[0] == pytest.approx(40.0, rel=1e-5)


def test_rising_voxel_is_clipped_to_physical_decay_with_least_squares_intercept():
    a = np.array([10.0, 20.0, 30.0, 40.0])
    fit = _fit(a)
    assert fit.lambda_per_h[0] == pytest.approx(LP, rel=1e-6)
    # Intercept for a fixed slope: mean of ln A + lambda_phys t; TIA = A0 / lambda_phys.
    a0 = math.exp(np.mean(np.log(a) + LP * T))
    assert fit.tia[0] == pytest.approx(a0 / LP, rel=1e-5)


def test_one_positive_point_decays_physically_from_it_and_none_gives_zero():
    fit = _fit([0.0, 50.0, 0.0, -3.0], [0.0, 0.0, 0.0, 0.0], [-1.0, -2.0, 0.0, 0.0])
    # A(t) = 50 exp(-lambda_phys (t - 24)) from injection on: TIA = 50 exp(24 lambda_phys) / lambda_phys.
    assert fit.tia[0] == pytest.approx(50.0 * math.exp(24.0 * LP) / LP, rel=1e-5)
    assert fit.tia[1] == 0.0 and fit.tia[2] == 0.0
    assert fit.n_positive.tolist() == [1, 0, 0]


def test_zeros_are_missing_not_measured():
    lam = math.log(2) / 30.0
    curve = 500.0 * np.exp(-lam * T)
    curve[2] = 0.0  # lost point: the other three still lie on the curve
    fit = _fit(curve)
    assert fit.lambda_per_h[0] == pytest.approx(lam, rel=1e-5)
    assert fit.tia[0] == pytest.approx(500.0 / lam, rel=1e-5)
    assert fit.n_positive[0] == 3


def test_voxel_fit_matches_the_curve_fitter_of_dosimetry_on_random_curves():
    rng = np.random.default_rng(5)
    a = np.exp(rng.uniform(2, 12, (200, 1))) * np.exp(-rng.uniform(0.0, 0.05, (200, 1)) * T) * rng.lognormal(
        0, 0.1, (200, 4))
    ours = voxel.fit_voxels(T, a.T)
    independent = dosimetry.fit_mono_exponential(np.broadcast_to(T, a.shape), a)  # separate implementation
    np.testing.assert_allclose(ours.tia, independent.tia_mbq_h, rtol=1e-4)
    np.testing.assert_allclose(ours.lambda_per_h, independent.lambda_eff_per_h, rtol=1e-4)


def test_fit_refuses_bad_times():
    with pytest.raises(ValueError, match="strictly increasing"):
        voxel.fit_voxels([4.0, 4.0], [np.ones(3), np.ones(3)])
    with pytest.raises(ValueError, match="n_t >= 2"):
        voxel.fit_voxels([4.0], [np.ones(3)])


def test_local_deposition_dose_per_ml():
    # 1000 MBq h/mL x 0.085335 Gy g/(MBq h) / 1.04 g/mL = 82.05 Gy.
    assert float(voxel.dose_map_local_deposition_gy(np.array([1000.0]), 1.04)[0]) == pytest.approx(82.053, rel=1e-4)


# --- DVH ---------------------------------------------------------------------------------------
def test_dvh_of_uniform_doses():
    dose = np.arange(1.0, 101.0).reshape(1, 10, 10)
    mask = np.ones_like(dose, dtype=bool)
    table = voxel.dvh(dose, {"v": mask}, bins=100)
    assert table["volume_pct"].iloc[0] == 100.0
    assert (np.diff(table["volume_pct"]) <= 0).all()
    # 50 of the 100 voxels receive >= 50.5 Gy; none receives more than 100 Gy.
    at = np.interp(50.5, table["dose_gy"], table["volume_pct"])
    assert at == pytest.approx(50.0, abs=1.0)
    assert table["volume_pct"].iloc[-1] == 0.0


def test_dvh_of_the_phantom_kidney_is_a_step(result):
    kidney = result.dvh[(result.dvh["voi"] == "Kidney left") & (result.dvh["source"] == "voxel (local deposition)")]
    d = PH.expected_dose_gy("Kidney left", RHO)
    assert kidney.loc[kidney["dose_gy"] < 0.99 * d, "volume_pct"].min() == 100.0
    assert kidney.loc[kidney["dose_gy"] > 1.01 * d, "volume_pct"].max() == 0.0


# --- RTDOSE from other software ---------------------------------------------------------------
def test_rtdose_with_mask_and_spect_side_by_side(tmp_path, written):
    folder = tmp_path / "s"
    folder.mkdir()
    for f in written.files:
        (folder / f.name).write_bytes(f.read_bytes())
    phantom.write_rtdose(folder / "dose", PH, PH.expected_dose_map_gy(RHO))
    res = study_dose.analyse(folder)
    organs = res.organs.set_index("voi")
    for s in PH.structures:
        assert organs.loc[s.name, "rtdose_mean_gy"] == pytest.approx(PH.expected_dose_gy(s.name, RHO), rel=1e-6)
    assert res.dose_sources == ["voxel", "dvk", "organ", "rtdose"]


def test_rtdose_only_gives_dose_without_t_eff(tmp_path):
    folder = tmp_path / "s"
    phantom.write_seg(folder / "seg", PH)
    phantom.write_rtdose(folder / "dose", PH, PH.expected_dose_map_gy(RHO))
    res = study_dose.analyse(folder)
    assert not res.has_spect and res.dose_sources == ["rtdose"]
    rows = dosimetry_results.dosimetry_rows(res, 7, "rtdose").set_index("organ")
    assert rows.loc["kidney_left", "dose_gy"] == pytest.approx(PH.expected_dose_gy("Kidney left", RHO), rel=1e-6)
    assert rows["t_eff_h"].isna().all()
    assert rows.loc["kidney_left", "method"].startswith("RTDOSE mean (other software); PHYSICAL, PLAN")


# --- storage ----------------------------------------------------------------------------------
def test_save_to_cycle_updates_existing_rows_and_inserts_new_ones(result, fresh_demo_db):
    with Store(fresh_demo_db) as store:
        cycles = store.read("cycles", patient_id="NET-003")
        cycle_id = int(cycles.loc[cycles["cycle_number"] == 2, "cycle_id"].iloc[0])
        before = store.read("dosimetry")
        old_kidney = before[(before.cycle_id == cycle_id) & (before.organ == "kidneys")]
        assert len(old_kidney) == 1  # the demo cohort has a kidney row for this cycle
        done = dosimetry_results.save_to_cycle(store, result, "NET-003", 2, actor=editor("physicist"), replace=True)
        after = store.read("dosimetry")
        audit = store.conn.execute("SELECT action, table_name FROM audit ORDER BY audit_id DESC LIMIT 4").fetchall()
    assert dict(zip(done["Organ"], done["Action"])) == {"kidney_left": "inserted", "kidney_right": "inserted",
                                                        "tumour": "inserted", "kidneys": "replaced"}
    mine = after[after.cycle_id == cycle_id].set_index(["organ", "label"])
    kidney = mine.loc[("kidneys", "")]
    assert kidney["dosimetry_id"] == old_kidney["dosimetry_id"].iloc[0]
    assert kidney["dose_gy"] == pytest.approx(result.organ_dose("kidneys"))
    assert kidney["t_eff_h"] == pytest.approx(result.organs.set_index("organ").loc["kidneys", "t_eff_h"], abs=1e-3)
    assert mine.loc[("tumour", "Lesion 1"), "dose_gy"] == pytest.approx(PH.expected_dose_gy("Lesion 1", RHO), 1e-4)
    provenance = json.loads(kidney["provenance"])
    assert provenance["spect_series"][0]["series_instance_uid"] == result.study.time_points[0].series_instance_uid
    assert provenance["voi"]["kind"] == "derived" and provenance["activity_origin"].startswith("RadionuclideTotalDose")
    assert "voxel mono-exponential" in kidney["method"]
    assert len(after) == len(before) + 3
    assert audit == [("insert", "dosimetry")] * 3 + [("update", "dosimetry")]  # one audit row per row (issue 16)


def test_rejected_save_writes_nothing(tmp_path, fresh_demo_db):
    hot = phantom.default_phantom(structures=PH.structures[:2] + (
        phantom.Structure("Lesion hot", "tumour", (-10.0, -20.0, 40.0), (15.0, 15.0, 15.0), 60.0, 80.0),))
    written = phantom.write_phantom(tmp_path / "hot", hot)
    res = study_dose.analyse(written.folder)
    assert res.organ_dose("tumour") > 500  # 60 MBq/mL x 80 h / ln2 x 0.0821 = 568 Gy: above the store's range
    with Store(fresh_demo_db) as store:
        before = store.revision
        with pytest.raises(ValueError, match="Lesion hot.*outside 0-500 Gy; not stored"):
            dosimetry_results.save_to_cycle(store, res, "NET-003", 2, actor=editor("physicist"))
        with pytest.raises(ValueError, match="patient 'NET-003' has no cycle 29"):
            dosimetry_results.save_to_cycle(store, res, "NET-003", 29, actor=editor("physicist"))
        assert store.revision == before


# --- command line ------------------------------------------------------------------------------
def _cli(argv):
    return cli.main(argv)  # python -m prrt_core ...


def test_cli_prints_and_saves(written, fresh_demo_db, capsys):
    assert _cli(["dicom", str(written.folder)]) == 0
    out = capsys.readouterr().out
    assert "Left kidney (Gy)                 3.20" in out and "Tumour Lesion 1 (Gy)            23.68" in out
    assert _cli(["dicom", str(written.folder), "--patient", "NET-004", "--cycle", "1", "--db", str(fresh_demo_db),
                 "--dose-source", "organ", "--replace", "--accept-mismatch"]) == 0  # NET-004's cycle 1 is of 2021
    assert "saved to cycle 1 of patient NET-004" in capsys.readouterr().out
    with Store(fresh_demo_db) as store:
        rows = store.read("dosimetry", patient_id="NET-004")
    left = rows[rows.organ == "kidney_left"]
    assert left["dose_gy"].iloc[0] == pytest.approx(PH.expected_kidney_s_value_dose_gy("Kidney left", RHO), 1e-4)


def test_cli_refusal_exit_code_and_message(tmp_path, capsys):
    folder = phantom.write_phantom(tmp_path / "s", with_activity=False).folder
    assert _cli(["dicom", str(folder)]) == 1
    assert "RadionuclideTotalDose (0018,1074): missing" in capsys.readouterr().err
    assert _cli(["dicom", str(folder), "--activity-mbq", "7400", "--patient", "NET-001"]) == 2
    assert _cli(["dicom", str(folder), "--activity-mbq", "7400"]) == 0


def test_progress_callback_runs_from_zero_to_one(written):
    seen = []
    study_dose.analyse(written.folder, progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(b >= a for a, b in zip(fractions, fractions[1:]))
    assert any("Fitting every voxel" in m for _, m in seen)


def test_unregistered_voi_outside_field_of_view(tmp_path, written):
    far = phantom.default_phantom(structures=PH.structures[:1])
    folder = tmp_path / "s"
    folder.mkdir()
    for f in written.spect:
        (folder / f.name).write_bytes(f.read_bytes())
    phantom.write_rtstruct(folder / "rt", far)
    # Contours shifted 1 m away land outside the grid: an empty VOI is refused.
    import pydicom

    ds = pydicom.dcmread(folder / "rt")
    for c in ds.ROIContourSequence[0].ContourSequence:
        c.ContourData = [float(v) + (1000.0 if i % 3 == 0 else 0.0) for i, v in enumerate(c.ContourData)]
    ds.save_as(folder / "rt")
    with pytest.raises(dicom.DicomError, match=r"rt: ROI 'Kidney left' is empty on the image grid"):
        study_dose.analyse(folder)


def test_save_is_one_transaction_an_insert_failure_undoes_the_update(result, fresh_demo_db, monkeypatch):
    from prrt_core.store import StoreError

    def failing_insert(self, rows_by_table, **kwargs):
        raise StoreError("dosimetry", "dose_gy", -1, "simulated failure after the update")

    with Store(fresh_demo_db) as store:
        before = store.read("dosimetry")
        revision = store.revision
        monkeypatch.setattr(Store, "insert", failing_insert)
        with pytest.raises(StoreError, match="simulated failure"):
            dosimetry_results.save_to_cycle(store, result, "NET-003", 2, actor=editor("physicist"), replace=True)
        monkeypatch.undo()
        after = store.read("dosimetry")
        assert store.revision == revision
    # The kidneys row was updated inside the transaction before the insert failed: rolled back.
    assert after.equals(before)


# --- charts ------------------------------------------------------------------------------------
def _titles(spec) -> set[str]:
    """Every 'title' string anywhere in a Vega-Lite spec."""
    found = set()
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key == "title" and isinstance(value, str):
                found.add(value)
            elif key == "title" and isinstance(value, dict) and isinstance(value.get("text"), str):
                found.add(value["text"])
            found |= _titles(value)
    elif isinstance(spec, list):
        for item in spec:
            found |= _titles(item)
    return found


def test_charts_carry_units_on_every_axis(result):
    from prrt_core.charts import dosimetry as charts

    tac = _titles(charts.tac_chart(result).to_dict())
    assert {"Time after injection (h)", "Activity in VOI (MBq)"} <= tac
    dvh = _titles(charts.dvh_chart(result).to_dict())
    assert {"Absorbed dose (Gy)", "Volume receiving at least this dose (%)"} <= dvh
    dose_slice = _titles(charts.slice_chart(result, "dose", 20).to_dict())
    assert {"Absorbed dose (Gy)", "Column position in slice (mm)", "Row position in slice (mm)"} <= dose_slice
    assert "Activity (kBq/mL)" in _titles(charts.slice_chart(result, "activity", 20, 1).to_dict())
    with pytest.raises(ValueError, match="slice_index 40 outside 0-39"):
        charts.slice_chart(result, "dose", 40)


def test_slice_values_and_centre_slice(result):
    from prrt_core.charts import dosimetry as charts

    # The kidneys are centred at z = 0 mm; slice k sits at z = -93.6 + 4.8 k mm, so the centre of
    # mass is at k = 19.5, rounded half to even -> 20.
    assert charts.centre_slice(result, "Kidney left") == 20
    frame = charts.slice_frame(result, "activity", 20, 0)
    k_mask = PH.masks()["Kidney left"][20].ravel()
    # Activity at 4 h in kBq/mL: 600 kBq/mL x 2^(-4/45).
    np.testing.assert_allclose(frame["value"].to_numpy()[k_mask], 600 * 2 ** (-4 / 45), rtol=2e-4)
    assert frame["col_mm"].max() == pytest.approx(63 * 4.8)
