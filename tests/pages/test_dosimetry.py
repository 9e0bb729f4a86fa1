"""Dosimetry page through AppTest: upload the phantom, see the kidney and tumour dose, save to a cycle.

Expected doses are the phantom's analytic values (prrt_core.testing.phantom; see tests/unit/test_voxel.py):
left kidney 3.20 Gy, right 4.88 Gy, both 4.04 Gy, lesion 23.68 Gy at 1.04 g/mL.
"""
from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

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
    # Labels that carry VOI names (from the files) are escaped markdown (ui.text.md).
    assert metrics[md("Left kidney (Gy)")] == f"{PH.expected_dose_gy('Kidney left', 1.04):.2f}" == "3.20"
    assert metrics[md("Right kidney (Gy)")] == "4.88"
    assert metrics[md("Tumour Lesion 1 (Gy)")] == "23.68"
    assert metrics[md("Kidneys, both (Gy)")] == "4.04"
    assert any("Demo data" in w.value for w in at.warning)
    assert len(at.get("vega_lite_chart")) == 4  # TAC, DVH, SPECT slice, dose slice

    # Organ-level doses: the kidney S-value dose is 1.5 % above local deposition (3.24 Gy).
    at.radio[0].set_value("organ").run()
    assert {m.label: m.value for m in at.metric}[md("Left kidney (Gy)")] == "3.24"

    patient = next(s for s in at.selectbox if s.label == "Patient (pseudonymous ID)")
    patient.set_value("NET-005").run()
    save = next(b for b in at.button if b.label.startswith("Save to cycle"))
    assert save.label == f"Save to cycle 1 of patient {md('NET-005')}"
    save.click().run()
    assert not at.exception
    assert at.success[0].value == f"Saved 4 dosimetry rows to cycle 1 of patient {md('NET-005')}."
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
    assert at.error[0].value.startswith("Nothing was computed or stored. " + md("spect_tp1: RadionuclideTotalDose "
                                                                                "(0018,1074): missing"))
    assert not at.metric
    activity = next(n for n in at.number_input if n.label == "Injected activity (MBq)")
    activity.set_value(7400.0).run()
    assert any("changed" in i.value or "Read and compute" in i.value for i in at.info)
    at.button[0].click().run()
    assert not at.error
    assert {m.label: m.value for m in at.metric}[md("Left kidney (Gy)")] == "3.20"


def test_non_dicom_upload_is_skipped_and_named(demo_db, app_env, uploads):
    # Issue 14: a PACS export's README beside the images is skipped and named among the study notes.
    app_env(demo_db)
    at = compute(open_page(), uploads + [("readme.txt", b"not an image", "text/plain")])
    assert not at.error
    assert md("readme.txt: not DICOM or NIfTI, skipped") in [c.value for c in at.caption]
    assert {m.label: m.value for m in at.metric}[md("Left kidney (Gy)")] == "3.20"


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
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert {m.label: m.value for m in at.metric}[md("Left kidney (Gy)")] == "3.20"
    at.button(key="dosimetry_remove").click().run()
    assert at.button[0].disabled and not at.metric and not any("loaded" in c.value for c in at.caption)


def test_a_hostile_file_name_shows_as_text(demo_db, app_env, uploads):
    app_env(demo_db)
    at = compute(open_page(), uploads + [(HOSTILE, b"a,b\n1,2\n", "text/csv")])
    assert not at.error  # not DICOM: skipped, and named in a study note
    assert md(f"{HOSTILE}: not DICOM or NIfTI, skipped") in [c.value for c in at.caption]
    loaded = next(c.value for c in at.caption if "file(s) loaded" in c.value)
    assert md(HOSTILE) in loaded
    shown = [e.value for kind in ("error", "warning", "info", "success", "caption", "markdown") for e in getattr(at, kind)]
    assert not [b for b in shown if unescaped_link(b)]
