"""The tumour-board summary as PDF (WeasyPrint in a child process): at most two A4 pages for the demo
patient with the most data, free text printed as text, no URL fetched, a clear error without the engine."""

from __future__ import annotations

import http.server
import io
import threading
import venv

import pypdf
import pytest
import weasyprint

from prrt_core.errors import ReportError
from prrt_core.reports import pdf, summary
from tests.unit.test_reports_summary import HOSTILE_RATIONALE, decided_tables, request

A4_PT = (595.28, 841.89)  # ISO 216 A4, 210 x 297 mm in PostScript points (1/72 in)
# A decision as a board writes it: several attendees, a rationale of a few sentences.
ATTENDEES = ("Dr A. Meyer (medical oncology, chair); Dr B. Okafor (nuclear medicine); C. Lindqvist (medical "
             "physics); Dr D. Rossi (radiology); Dr E. Tanaka (surgery); F. Novak (specialist nurse)")
RATIONALE = ("Stable disease after salvage cycle 4 with a PFS after initial PRRT well above 12 months. "
             "Kidney BED so far is below the limit for a patient with hypertension, but the projection of two "
             "further cycles at 7.4 GBq crosses it; the board therefore prefers reduced activity, with "
             "dosimetry after each cycle, MAG3 before each cycle and blood counts every two weeks. "
             "Alternatives discussed: everolimus, watchful waiting. The patient was informed of the renal "
             "risk and agrees.")


def pages(pdf_bytes: bytes) -> list[pypdf.PageObject]:
    return list(pypdf.PdfReader(io.BytesIO(pdf_bytes)).pages)


def text_of(pdf_bytes: bytes) -> str:
    return "\n".join(page.extract_text() for page in pages(pdf_bytes))


@pytest.fixture(scope="module")
def decided(tmp_path_factory, demo_db):
    return decided_tables(tmp_path_factory, demo_db)


@pytest.fixture(scope="module")
def served():
    """A loopback HTTP server that records every request (a URL the renderer fetched would show here)."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()


def test_the_engine_loads():
    pdf.check_engine()  # WeasyPrint and Debian's Pango are installed (requirements.txt, tests/system-packages.sh)


def test_most_data_patient_prints_on_at_most_two_a4_pages(decided):
    """The demo patient with the most cycles and labs, a decision with six attendees and a
    five-sentence rationale: at most two A4 pages, the same numbers as the HTML summary."""
    tables, pid = decided
    records = tables.board_decisions.copy()
    records.loc[records["patient_id"] == pid, ["attendees", "rationale"]] = [ATTENDEES, RATIONALE]
    tables = tables.replace(board_decisions=records)
    req = request(tables, pid)
    printed = pdf.render_pdf(tables, req)
    assert printed.startswith(b"%PDF-")
    found = pages(printed)
    assert 1 <= len(found) <= 2, f"{pid}: {len(found)} pages"
    for page in found:
        assert [round(float(x), 1) for x in page.mediabox[2:]] == [round(x, 1) for x in A4_PT]
    text = " ".join(text_of(printed).split())
    content = summary.content(tables, req)
    assert f"Tumour board summary: {pid}" in text and f"page {len(found)} of {len(found)}" in text
    assert f"Verdict: {content.plan.checklist.verdict_text}" in text
    assert f"{content.plan.projection['dose_p50_gy']:.1f}" in text
    assert "F. Novak (specialist nurse)" in text  # the whole decision record
    assert "The patient was informed of the renal risk and agrees." in text


def test_hostile_text_is_printed_as_text_and_nothing_is_fetched(decided, served):
    url, hits = served
    tables, pid = decided
    records = tables.board_decisions.copy()
    records.loc[records["patient_id"] == pid, "rationale"] = (f'<img src="{url}/r.png"> <link rel="stylesheet" '
                                                               f'href="{url}/r.css"> {HOSTILE_RATIONALE}')
    patients = tables.patients.copy()
    patients.loc[patients["patient_id"] == pid, "prior_therapies"] = f"<img src={url}/p.png> PRRT elsewhere"
    tables = tables.replace(board_decisions=records, patients=patients)
    printed = pdf.render_pdf(tables, request(tables, pid))
    text = " ".join(text_of(printed).split())
    assert f"<img src={url}/p.png> PRRT elsewhere" in text  # printed as written, not loaded
    assert hits == []


def test_the_renderer_refuses_every_url(served):
    """Even markup that names URLs (the summary escapes all text, so this is a second line of defence)
    is printed without one request: images, style sheets, @import, CSS url(), fonts, SVG images, files."""
    url, hits = served
    html = (f"<!DOCTYPE html><html><head><link rel='stylesheet' href='{url}/l.css'><style>@import url({url}/i.css);"
            f"@font-face {{ font-family: X; src: url({url}/f.woff) }} body {{ background: url({url}/b.png) }}"
            f"</style></head><body><p>text</p><img src='{url}/i.png'><img src='file:///etc/hostname'>"
            f"<svg width='10' height='10'><image href='{url}/s.png' width='10' height='10'/></svg>"
            f"<object data='{url}/o.pdf'></object></body></html>")
    weasyprint.HTML(string=html).write_pdf()  # WeasyPrint's own fetcher, in this process: it fetches
    assert {"/l.css", "/i.css", "/i.png"} <= set(hits)  # so the assertion below can fail
    hits.clear()
    assert pdf.html_to_pdf(html).startswith(b"%PDF-")
    assert hits == []


def test_missing_engine_is_a_report_error(tmp_path):
    """An interpreter without WeasyPrint (a bare virtual environment): a ReportError saying what to install."""
    venv.create(tmp_path / "bare", with_pip=False, symlinks=True)
    with pytest.raises(ReportError, match="WeasyPrint cannot be loaded .*libpango-1.0-0"):
        pdf.check_engine(python=str(tmp_path / "bare" / "bin" / "python"))
    with pytest.raises(ReportError, match="No module named 'weasyprint'"):
        pdf.html_to_pdf("<p>x</p>", python=str(tmp_path / "bare" / "bin" / "python"))


def test_a_layout_that_takes_too_long_is_stopped():
    with pytest.raises(ReportError, match="took longer than 0.01 s"):
        pdf.html_to_pdf("<p>x</p>", timeout_s=0.01)
