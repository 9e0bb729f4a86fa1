"""Dosimetry page through AppTest: upload the phantom (or load the demo study in one click), see the kidney
and tumour dose with its uncertainty, save to a cycle after the check, single-time-point dosimetry.

Expected doses are the phantom's analytic values (prrt_core.testing.phantom; see tests/unit/test_voxel.py):
left kidney 3.20 Gy, right 4.88 Gy, both 4.04 Gy, lesion 23.68 Gy at 1.04 g/mL. The noise-free phantom's
TAC fits are exact, so the 1-sigma uncertainty is below the shown precision ("± <0.01").
"""
from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from prrt_core.dicom.study_stp import StpMethod
from prrt_core.dosimetry.single_time_point import TEffSource
from prrt_core.store import Store
from prrt_core.testing import phantom
from tests import support
from ui.text import md

PH = phantom.default_phantom()


@pytest.fixture(scope="module")
def uploads(tmp_path_factory):
    written = phantom.write_phantom(tmp_path_factory.mktemp("page") / "series")
    return [(p.name, p.read_bytes(), "application/octet-stream") for p in written.files]


def open_page(timeout: float = 60) -> AppTest:
    return support.open_page("pages/dosimetry.py", timeout=timeout)


def compute(at: AppTest, files) -> AppTest:
    at.file_uploader(key="dosimetry_upload").set_value(files).run()
    at.button(key="dosimetry_run").click().run()
    assert not at.exception
    return at


def doses(at: AppTest) -> dict[str, str]:
    """Metric label -> the dose as shown, without its uncertainty ("3.20 ± <0.01" -> "3.20")."""
    return {m.label: m.value.split(" ±")[0] for m in at.metric}


def test_upload_phantom_shows_kidney_and_tumour_dose_and_saves(fresh_demo_db, app_env, uploads):
    app_env(fresh_demo_db)
    at = open_page()
    assert at.button(key="dosimetry_run").label == "Read and compute dosimetry" and at.button(key="dosimetry_run").disabled
    at = compute(at, uploads)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Injected activity (MBq)"] == "7400"
    assert metrics["SPECT time points"] == "5"
    # Labels that carry VOI names (from the files) are escaped markdown (ui.text.md).
    assert metrics[md("Left kidney (Gy)")] == f"{PH.expected_dose_gy('Kidney left', 1.04):.2f} ± <0.01" == "3.20 ± <0.01"
    shown = doses(at)
    assert shown[md("Right kidney (Gy)")] == "4.88"
    assert shown[md("Tumour Lesion 1 (Gy)")] == "23.68"
    assert shown[md("Kidneys, both (Gy)")] == "4.04"
    assert any("Demo data" in w.value for w in at.warning)
    assert len(at.get("vega_lite_chart")) == 4  # TAC, DVH, SPECT slice, dose slice
    # Both voxel methods in the VOI table (H1's DVK column), the series UIDs behind an expander.
    table = next(d.value for d in at.dataframe if "VOI" in d.value.columns)
    assert {"Voxel mean dose (Gy)", "DVK mean dose (Gy)", "Organ-level dose SD (Gy)"} <= set(table.columns)
    assert "Series and UIDs" in [e.label for e in at.expander]
    assert "Series Instance UID" not in at.dataframe[0].value.columns  # the series table above it
    uids = next(e for e in at.expander if e.label == "Series and UIDs")
    assert "Series Instance UID" in uids.dataframe[0].value.columns

    # Organ-level doses: the kidney S-value dose is 1.5 % above local deposition (3.24 Gy).
    at.radio[0].set_value("organ").run()
    assert doses(at)[md("Left kidney (Gy)")] == "3.24"

    patient = next(s for s in at.selectbox if s.label == "Patient (pseudonymous ID)")
    patient.set_value("NET-005").run()
    save = next(b for b in at.button if b.label.startswith("Save to cycle"))
    assert save.label == f"Save to cycle 1 of patient {md('NET-005')}"
    # NET-005's cycle 1 (2018-12-11, 7.37 GBq) holds a kidney dose: replaced only once confirmed; the dates differ.
    assert any(md("2018-12-11") in w.value and md("2024-03-04") in w.value for w in at.warning)
    assert save.disabled
    confirm = next(c for c in at.checkbox if c.label.startswith("Replace the stored doses"))
    confirm.check().run()
    assert next(b for b in at.button if b.label.startswith("Save to cycle")).disabled  # the dates differ too
    next(c for c in at.checkbox if c.label == "Save to cycle 1 although its date or activity differs (above)").check().run()
    next(b for b in at.button if b.label.startswith("Save to cycle")).click().run()
    assert not at.exception
    assert at.success[0].value == f"Saved 4 dosimetry rows to cycle 1 of patient {md('NET-005')} (1 replaced)."
    with Store(fresh_demo_db) as store:
        rows = store.read("dosimetry", patient_id="NET-005")
        cycle_id = int(store.read("cycles", patient_id="NET-005").query("cycle_number == 1")["cycle_id"].iloc[0])
    saved = rows[rows.cycle_id == cycle_id].set_index("organ")
    assert saved.loc["kidney_left", "dose_gy"] == pytest.approx(PH.expected_kidney_s_value_dose_gy("Kidney left",
                                                                                                    1.04), rel=1e-4)
    assert saved.loc["kidney_left", "method"].startswith("organ S-value; ")
    assert "VOI TAC mono-exponential" in saved.loc["kidney_left", "method"]
    assert saved.loc["kidney_left", "dose_sd_gy"] >= 0


def test_demo_study_in_one_click_preselects_the_cycle_of_its_date_and_offers_the_report(fresh_demo_db, app_env):
    app_env(fresh_demo_db)
    with Store(fresh_demo_db) as store:  # a cycle on the phantom's injection date (2024-03-04, 7400 MBq)
        store.insert({"cycles": [{"patient_id": "NET-005", "cycle_number": 7, "phase": "salvage",
                                  "cycle_date": "2024-03-04", "activity_gbq": 7.4}]}, actor=support.editor())
    at = open_page()
    at.button(key="dosimetry_demo_load").click().run()
    assert any(c.value.startswith("1 file(s) loaded") and md("demo_spect_phantom.zip") in c.value for c in at.caption)
    at.button(key="dosimetry_run").click().run()
    assert not at.exception and not at.error
    assert doses(at)[md("Left kidney (Gy)")] == "3.20"
    next(s for s in at.selectbox if s.label == "Patient (pseudonymous ID)").set_value("NET-005").run()
    cycle = next(s for s in at.selectbox if s.label == "Cycle")
    assert cycle.value == 7  # the cycle dated on the injection date
    assert not [w for w in at.warning if "differs" in w.value]  # same date, same activity: no warning
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Download the dosimetry report (HTML)", "Download the dosimetry report (PDF)"]


def test_one_time_point_offers_single_time_point_dosimetry_with_a_stated_t_eff(fresh_demo_db, app_env, tmp_path):
    app_env(fresh_demo_db)
    written = phantom.write_phantom(tmp_path / "one", phantom.default_phantom(times_h=(96.0,)))
    at = compute(open_page(), [(p.name, p.read_bytes(), "application/octet-stream") for p in written.files])
    assert not at.error
    assert "Single-time-point dosimetry" in [h.value for h in at.subheader]
    at.radio(key="dosimetry_t_eff_from").set_value(TEffSource.ENTERED).run()
    at.number_input(key="dosimetry_t_eff_h").set_value(45.0).run()
    # Hänscheid 2018: D = 0.125 x C(t) x 2^(t/T_eff) x T_eff; with the phantom's own T_eff (45 h) the
    # left kidney's C(96 h) x 2^(96/45) is its C0 = 0.60 MBq/mL: 0.125 x 0.60 x 45 = 3.375 Gy.
    at.radio(key="dosimetry_stp_method").set_value(StpMethod.HANSCHEID).run()
    value = float(next(m.value for m in at.metric if m.label == md("Kidney left (Gy)")))
    assert value == pytest.approx(3.375, abs=0.006)
    assert md("T_eff 45.0 h: entered by the physicist") in [c.value for c in at.caption]
    # T_eff from NET-005's earlier cycles: the median of their stored kidney T_eff, stated.
    next(s for s in at.selectbox if s.label.startswith("Patient")).set_value("NET-005").run()
    at.radio(key="dosimetry_t_eff_from").set_value(TEffSource.PATIENT).run()
    with Store(fresh_demo_db) as store:
        kidneys = store.read("dosimetry", patient_id="NET-005").query("organ == 'kidneys'")["t_eff_h"]
    assert md(f"T_eff {kidneys.median():.1f} h: median of NET-005's {len(kidneys)} earlier cycles") in [
        c.value for c in at.caption]
    save = next(b for b in at.button if b.label.startswith("Save to cycle"))
    assert save.disabled  # cycle 1 holds a kidney dose: replaced only once confirmed
    next(c for c in at.checkbox if c.label.startswith("Replace the stored doses")).check().run()
    next(c for c in at.checkbox if c.label.endswith("although its date or activity differs (above)")).check().run()
    next(b for b in at.button if b.label.startswith("Save to cycle")).click().run()
    assert not at.exception and at.success
    with Store(fresh_demo_db) as store:
        rows = store.read("dosimetry", patient_id="NET-005")
    left = rows[rows["organ"] == "kidney_left"]
    assert left["method"].iloc[0].startswith("single-time-point (Hänscheid 2018); ")
    assert [b.label for b in at.get("download_button")] == ["Download the dosimetry report (HTML)",
                                                            "Download the dosimetry report (PDF)"]


def test_missing_activity_shows_the_tag_and_entered_value_fixes_it(tmp_path, demo_db, app_env):
    app_env(demo_db)
    written = phantom.write_phantom(tmp_path / "s", with_activity=False)
    files = [(p.name, p.read_bytes(), "application/octet-stream") for p in written.files]
    at = compute(open_page(), files)
    assert at.error[0].value.startswith("Nothing was computed or stored. " + md("spect_tp1: RadionuclideTotalDose "
                                                                                "(0018,1074): missing"))
    assert not at.metric
    activity = next(n for n in at.number_input if n.label == "Injected activity (MBq)")
    activity.set_value(7400.0).run()
    assert any("changed" in i.value or "Read and compute" in i.value for i in at.info)
    at.button(key="dosimetry_run").click().run()
    assert not at.error
    assert doses(at)[md("Left kidney (Gy)")] == "3.20"


def test_non_dicom_upload_is_skipped_and_named(demo_db, app_env, uploads):
    # Issue 14: a PACS export's README beside the images is skipped and named among the study notes.
    app_env(demo_db)
    at = compute(open_page(), uploads + [("readme.txt", b"not an image", "text/plain")])
    assert not at.error
    assert md("readme.txt: not DICOM or NIfTI, skipped") in [c.value for c in at.caption]
    assert doses(at)[md("Left kidney (Gy)")] == "3.20"


# ---- hardening: uploads released once taken, file names shown as text ----
LABEL = "DICOM files, NIfTI label maps or a zip"
HOSTILE = "[click](https://evil.example).csv"  # a browser cannot send '/' in a name: a direct PUT can


def unescaped_link(markdown: str) -> bool:
    return bool(re.search(r"(?<!\\)\]\(|(?<!\\)<https?|https?://", markdown))


def test_uploads_are_taken_then_released_and_more_can_be_added(fresh_demo_db, app_env, uploads):
    app_env(fresh_demo_db)
    at = open_page()
    at.file_uploader(key="dosimetry_upload").set_value(uploads[:3]).run()
    widget = next(u for u in at.file_uploader if u.label == LABEL)
    assert widget.key != "dosimetry_upload" and widget.value == []  # released: Streamlit's copy is dropped
    assert "dosimetry_upload" not in at.session_state  # nor does the old widget's state keep them
    assert any(c.value.startswith("3 file(s) loaded") for c in at.caption)
    widget.set_value(uploads[3:]).run()  # the rest through the emptied uploader: added to those taken
    assert any(c.value.startswith(f"{len(uploads)} file(s) loaded") for c in at.caption)
    assert next(u for u in at.file_uploader if u.label == LABEL).value == []
    at.button(key="dosimetry_run").click().run()
    assert not at.exception and not at.error
    assert doses(at)[md("Left kidney (Gy)")] == "3.20"
    at.button(key="dosimetry_remove").click().run()
    assert at.button(key="dosimetry_run").disabled and not at.metric and not any("loaded" in c.value for c in at.caption)


def test_a_hostile_file_name_shows_as_text(demo_db, app_env, uploads):
    app_env(demo_db)
    at = compute(open_page(), uploads + [(HOSTILE, b"a,b\n1,2\n", "text/csv")])
    assert not at.error  # not DICOM: skipped, and named in a study note
    assert md(f"{HOSTILE}: not DICOM or NIfTI, skipped") in [c.value for c in at.caption]
    loaded = next(c.value for c in at.caption if "file(s) loaded" in c.value)
    assert md(HOSTILE) in loaded
    shown = [e.value for kind in ("error", "warning", "info", "success", "caption", "markdown") for e in getattr(at, kind)]
    assert not [b for b in shown if unescaped_link(b)]
