"""Dosimetry page through AppTest: upload the phantom, see the kidney and tumour dose, save to a cycle.

Expected doses are the phantom's analytic values (prrt_core.testing.phantom; see tests/unit/test_voxel.py):
left kidney 3.20 Gy, right 4.88 Gy, both 4.04 Gy, lesion 23.68 Gy at 1.04 g/mL.
"""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from prrt_core.store import Store
from prrt_core.testing import phantom
from tests import support

PH = phantom.default_phantom()


@pytest.fixture(scope="module")
def uploads(tmp_path_factory):
    written = phantom.write_phantom(tmp_path_factory.mktemp("page") / "series")
    return [(p.name, p.read_bytes(), "application/octet-stream") for p in written.files]


def open_page(timeout: float = 60) -> AppTest:
    return support.open_page("pages/dosimetry.py", timeout=timeout)


def compute(at: AppTest, files) -> AppTest:
    at.file_uploader(key="dosimetry_upload").set_value(files).run()
    at.button[0].click().run()
    assert not at.exception
    return at


def test_upload_phantom_shows_kidney_and_tumour_dose_and_saves(fresh_demo_db, app_env, uploads):
    app_env(fresh_demo_db)
    at = open_page()
    assert at.button[0].label == "Read and compute dosimetry" and at.button[0].disabled
    at = compute(at, uploads)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Injected activity (MBq)"] == "7400"
    assert metrics["SPECT time points"] == "5"
    assert metrics["Left kidney (Gy)"] == f"{PH.expected_dose_gy('Kidney left', 1.04):.2f}" == "3.20"
    assert metrics["Right kidney (Gy)"] == "4.88"
    assert metrics["Tumour Lesion 1 (Gy)"] == "23.68"
    assert metrics["Kidneys, both (Gy)"] == "4.04"
    assert any("Demo data" in w.value for w in at.warning)
    assert len(at.get("vega_lite_chart")) == 4  # TAC, DVH, SPECT slice, dose slice

    # Organ-level doses: the kidney S-value dose is 1.5 % above local deposition (3.24 Gy).
    at.radio[0].set_value("organ").run()
    assert {m.label: m.value for m in at.metric}["Left kidney (Gy)"] == "3.24"

    patient = next(s for s in at.selectbox if s.label == "Patient (pseudonymous ID)")
    patient.set_value("NET-005").run()
    save = next(b for b in at.button if b.label.startswith("Save to cycle"))
    assert save.label == "Save to cycle 1 of patient NET-005"
    save.click().run()
    assert not at.exception
    assert at.success[0].value == "Saved 4 dosimetry rows to cycle 1 of patient NET-005."
    with Store(fresh_demo_db) as store:
        rows = store.read("dosimetry", patient_id="NET-005")
        cycle_id = int(store.read("cycles", patient_id="NET-005").query("cycle_number == 1")["cycle_id"].iloc[0])
    saved = rows[rows.cycle_id == cycle_id].set_index("organ")
    assert saved.loc["kidney_left", "dose_gy"] == pytest.approx(PH.expected_kidney_s_value_dose_gy("Kidney left",
                                                                                                    1.04), rel=1e-4)
    assert "VOI TAC mono-exponential" in saved.loc["kidney_left", "method"]


def test_missing_activity_shows_the_tag_and_entered_value_fixes_it(tmp_path, demo_db, app_env):
    app_env(demo_db)
    written = phantom.write_phantom(tmp_path / "s", with_activity=False)
    files = [(p.name, p.read_bytes(), "application/octet-stream") for p in written.files]
    at = compute(open_page(), files)
    assert at.error[0].value.startswith("Nothing was computed or stored. spect_tp1: RadionuclideTotalDose "
                                        "(0018,1074): missing")
    assert not at.metric
    activity = next(n for n in at.number_input if n.label == "Injected activity (MBq)")
    activity.set_value(7400.0).run()
    assert any("changed" in i.value or "Read and compute" in i.value for i in at.info)
    at.button[0].click().run()
    assert not at.error
    assert {m.label: m.value for m in at.metric}["Left kidney (Gy)"] == "3.20"


def test_non_dicom_upload_is_refused_by_name(demo_db, app_env, uploads):
    app_env(demo_db)
    at = compute(open_page(), uploads + [("readme.txt", b"not an image", "text/plain")])
    assert at.error[0].value == ("Nothing was computed or stored. readme.txt: not a DICOM file (no 'DICM' "
                                 "preamble and no valid SOPClassUID (0008,0016))")
