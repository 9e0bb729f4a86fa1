"""The physicist's per-cycle dosimetry report (issue 16): HTML with every section, the phantom's known doses,
the series UIDs and constants with sources; the PDF; hostile VOI names escaped; no patient identifiers.

The phantom's left kidney: voxel mean (local deposition) 0.60 MBq/mL x 45 h / ln2 x 0.085335 Gy g/(MBq h)
/ 1.04 g/mL = 3.196 Gy (prrt_core.testing.phantom; derivation in tests/unit/test_voxel.py); organ-level
S-value dose 1.5 % higher, 3.24 Gy.
"""
from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from pypdf import PdfReader

from prrt_core.dicom import study_dose
from prrt_core.reports import dosimetry_report as rep
from prrt_core.reports import pdf
from prrt_core.testing import phantom

PH = phantom.default_phantom()
REQUEST = rep.DosimetryReportRequest("NET-004", 2, "voxel", dt.datetime(2026, 1, 5, 14, 30))
HOSTILE = 'Lesion <script>alert("x")</script> & <b>'  # a lesion by its first word (dicom.voi.organ_for_name)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return study_dose.analyse(phantom.write_phantom(tmp_path_factory.mktemp("report") / "s").files)


@pytest.fixture(scope="module")
def html(result):
    return rep.report_html(result, REQUEST)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_report_has_its_sections_and_the_phantoms_kidney_dose(html, result):
    for heading in ("Dosimetry report: NET-004, cycle 2", "Inputs", "Time-activity curves and fits", "Absorbed dose",
                    "Method and constants"):
        assert heading in html
    text = text_of(html)
    expected = PH.expected_dose_gy("Kidney left", 1.04)
    assert f"{expected:.2f}" == "3.20"
    row = re.search(r"<tr><td>Kidney left</td><td>kidney_left</td>(.*?)</tr>", html).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    assert cells[1].startswith("3.20 ± ")  # LDM voxel mean with its 1-sigma
    assert cells[3].startswith(f"{PH.expected_kidney_s_value_dose_gy('Kidney left', 1.04):.2f} ± ") and \
        cells[3].startswith("3.24")
    assert "DVK voxel mean (Gy)" in html  # H1's DVK column, when computed
    # Every series with its UID and time after injection; 2 charts inline as SVG; constants with sources.
    for tp, t in zip(result.study.time_points, result.study.times_h):
        assert tp.series_instance_uid in html and f"{t:.2f}" in text
    assert html.count("<svg") == 2
    assert "159.528" in text and "EJNMMI Physics 2020" in text and "0.08534" in text and "7.76e-05" in text
    assert "AICc" in text and "R² (ln)" in text and "TIA SD (MBq·h)" in text
    assert "software version git " in text or "software version unknown" in text
    assert "Injected activity (MBq)" in text and "7400.0" in text


def test_the_fit_table_has_the_phantoms_effective_half_lives(result):
    fits = rep.tac_parameters(result).set_index("VOI")
    # Mono-exponential clearance with T_eff 45 h (left) and 55 h (right) (phantom.model).
    assert fits.loc["Kidney left", "T_eff (h)"] == pytest.approx(45.0, rel=1e-4)
    assert fits.loc["Kidney right", "T_eff (h)"] == pytest.approx(55.0, rel=1e-4)
    assert fits.loc["Kidney left", "R² (ln)"] == pytest.approx(1.0, abs=1e-6)


def test_no_patient_identifier_of_the_files_is_printed(html):
    assert phantom.FAKE_PATIENT_NAME not in html and phantom.FAKE_PATIENT_ID not in html
    assert "spect_tp1" not in html  # file names are not printed either


def test_a_hostile_voi_name_is_escaped(tmp_path):
    hostile = phantom.default_phantom(structures=(
        phantom.Structure("Kidney right", "kidney_right", (-72.0, 40.0, 0.0), (28.0, 24.0, 50.0), 0.75, 55.0),
        phantom.Structure(HOSTILE, "tumour", (-10.0, -20.0, 40.0), (15.0, 15.0, 15.0), 2.5, 80.0)))
    result = study_dose.analyse(phantom.write_phantom(tmp_path / "h", hostile).files)
    html = rep.report_html(result, rep.DosimetryReportRequest("NET-004<i>", None, "organ", dt.datetime(2026, 1, 5)))
    assert "<script>" not in html and "<i>" not in html
    assert html.split("<body>", 1)[1].count("<b>") == 1  # ours: "Dose for the record: <b>...</b>"
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;" in html
    assert "NET-004&lt;i&gt;" in html


def test_the_pdf_has_pages_and_the_dose(result):
    if (problem := pdf.engine_problem()) is not None:
        pytest.fail(problem)  # WeasyPrint is a requirement (requirements.txt, tests/system-packages.sh)
    data = rep.report_pdf(result, REQUEST)
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) >= 1
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "Dosimetry report: NET-004, cycle 2" in text and "3.20 ±" in text


def test_a_single_time_point_report_has_both_methods_and_the_t_eff_source(tmp_path):
    from prrt_core import dicom
    from prrt_core.dicom.study_stp import compute_single_time_point

    written = phantom.write_phantom(tmp_path / "one", phantom.default_phantom(times_h=(96.0,)))
    study = dicom.read_study(written.files)
    result = compute_single_time_point(study, 45.0, "T_eff 45.0 h: entered by the physicist", 1.04)
    html = rep.report_html(result, rep.DosimetryReportRequest("NET-004", 3, "hanscheid", dt.datetime(2026, 1, 5)))
    text = text_of(html)
    assert "Absorbed dose from one time point" in html and "T_eff 45.0 h: entered by the physicist" in text
    row = re.search(r"<tr><td>Kidney left</td>(.*?)</tr>", html).group(1)
    # Hänscheid 2018 with the phantom's own T_eff: 0.125 x C0 x T_eff = 0.125 x 0.60 x 45 = 3.375 Gy.
    assert re.findall(r"<td[^>]*>(.*?)</td>", row)[-2] in ("3.37", "3.38")
    assert "single-time-point (Hänscheid 2018)" in text and "Madsen et al. Med Phys 2018" in text
