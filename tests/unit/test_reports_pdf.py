"""The tumour-board summary as PDF (WeasyPrint in a child process): at most two A4 pages for the demo
patient with the most data, also with every decision field and checklist text at its longest, free
text printed as text, no URL fetched, a clear error without the engine."""

from __future__ import annotations

import dataclasses
import http.server
import io
import re
import threading
import venv
from pathlib import Path

import numpy as np
import pandas as pd
import pypdf
import pytest
import weasyprint
from fontTools.ttLib import TTFont

from prrt_core import decisions
from prrt_core.errors import ReportError
from prrt_core.reports import decision_box, layout, pdf, summary
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


# Debian fonts-liberation (tests/system-packages.sh): the summary's font.
LIBERATION_SANS = Path("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf")
# Free text that is markup, entities, quotes, a URL, non-ASCII and dashes; repeated to a field's length.
HOSTILE_UNIT = ('<script>alert("x")</script> & <img src=x onerror=y> "quoted" \'apos\' Ünïcödé — µ ≥ 7.4 GBq; '
                "https://example.org/?a=1&b=2 ")
# The widest Latin glyph (W: 0.944 em) in runs without a space: the longest lines a field can print.
WIDE_UNIT = "<WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW&amp;> "


def filled(unit: str, n: int) -> str:
    """``unit`` repeated to exactly ``n`` characters, no space at either end (the record strips it)."""
    text = (unit * (n // len(unit) + 1))[:n]
    return text[:-1] + "X" if text[-1] == " " else text


def squash(text: str) -> str:
    """Text without whitespace and without the hyphens the layout adds where it breaks a word
    (U+2010 before a line break; CSS hyphens: auto): a line break does not hide a text."""
    return re.sub(r"\u2010(?=\s)|\s+", "", text)


def longest_checklist(tables, pid):
    """``pid``'s record changed so that the criteria write their longest values: a woman of child-bearing
    potential whose pregnancy test is older than the limit, both urinary findings and FDG-positive
    SSTR-negative disease present, only short-acting octreotide, no creatinine and no height (the eGFR
    with what is missing); evaluated on the latest lab date so that the lab criteria have values."""
    as_of = tables.labs.loc[tables.labs["patient_id"] == pid, "lab_date"].max()
    when = as_of - pd.Timedelta(days=30)
    patients = tables.patients.astype({"childbearing_potential": object})
    mine = patients["patient_id"] == pid
    patients.loc[mine, ["sex", "childbearing_potential", "height_cm"]] = ["F", True, np.nan]
    labs = tables.labs.copy()
    labs.loc[labs["patient_id"] == pid, "creatinine_mg_dl"] = np.nan
    findings = pd.DataFrame({"finding_id": range(900001, 900006), "patient_id": pid, "finding_date": when,
                             "finding": ["pregnancy", "breast-feeding", "urinary obstruction", "urinary incontinence",
                                         "FDG-positive SSTR-negative disease"],
                             "present": [False, False, True, True, True]})
    ssa = pd.DataFrame({"ssa_id": [900001], "patient_id": [pid], "administration_date": [when],
                        "drug": ["octreotide s.c."], "dose_mg": [0.1]})
    others = {name: getattr(tables, name)[getattr(tables, name)["patient_id"] != pid]
              for name in ("findings", "ssa_administrations")}
    return tables.replace(patients=patients, labs=labs,
                          findings=pd.concat([others["findings"], findings], ignore_index=True),
                          ssa_administrations=pd.concat([others["ssa_administrations"], ssa], ignore_index=True)
                          ), as_of.date()


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


def test_glyph_widths_are_the_fonts():
    """The widths the decision box's budget counts with are Liberation Sans's own (its hmtx table, read
    here with fontTools), and text_em sums them: 'W' 0.944 em, 'i' 0.222 em."""
    font = TTFont(LIBERATION_SANS)
    cmap, metrics, per_em = font.getBestCmap(), font["hmtx"], font["head"].unitsPerEm
    assert layout.ASCII_WIDTH == tuple(round(1000 * metrics[cmap[c]][0] / per_em) for c in range(32, 127))
    assert layout.text_em("Wi") == pytest.approx(0.944 + 0.222)
    assert layout.text_em("é") == layout.text_em("e") and layout.text_em("漢") == layout.OTHER_EM
    line = layout.DECISION_LINE_EM * layout.LINE_SLACK  # em of one line as lines_of counts it
    run = int(line / 0.944)  # the most W that fit on a line
    assert layout.lines_of("W" * run) == 1 and layout.lines_of("W" * (run + 1)) == 2  # a long word breaks
    half = "W" * (run // 2 + 1)  # two words that do not fit on one line together: one line each
    assert layout.lines_of(f"{half} {half}") == 2 and layout.lines_of(f"{half[1:]} {half[2:]}") == 1
    first, second = "W" * (run * 4 // 5), "W" * (run // 2)  # the first word ends in the line's last quarter
    assert layout.fit(f"{first} {second}", 1) == first and layout.fit(f"{first} {second}", 2) == f"{first} {second}"
    assert layout.fit("W" * (3 * run), 2) == "W" * (2 * run)  # no word end: cut inside the word


@pytest.mark.parametrize("unit", [HOSTILE_UNIT, WIDE_UNIT], ids=["hostile", "widest-glyphs"])
def test_longest_fields_print_on_at_most_two_a4_pages(decided, unit):
    """The patient with the most data, a decision with every free-text field at its schema maximum
    (attendees 500, rationale 2000, signer 200 characters) of hostile or of the widest glyphs, the
    checklist values at their longest, and every checklist reason as a verdict reason (more than any
    verdict lists): at most two A4 pages; attendees and signer whole, the rationale as a marked excerpt."""
    tables, pid = decided
    tables, as_of = longest_checklist(tables, pid)
    attendees, rationale = filled(unit, decisions.MAX_ATTENDEES_CHARS), filled(unit, decisions.MAX_RATIONALE_CHARS)
    signer = filled(unit, 200)  # schema.py board_decisions: signed_by at most 200 characters
    records = tables.board_decisions.copy()
    records.loc[records["patient_id"] == pid, ["attendees", "rationale", "signed_by"]] = [attendees, rationale, signer]
    tables = tables.replace(board_decisions=records)
    content = summary.content(tables, request(tables, pid, as_of=as_of))
    assert (content.decision.attendees, content.decision.rationale) == (attendees, rationale)  # within the schema
    values = content.plan.checklist.items.set_index("key")["value"]
    assert values["pregnancy"].startswith("latest pregnancy test 30 days old")
    assert values["urinary"].startswith("present: urinary obstruction") and "incontinence" in values["urinary"]
    assert values["renal_function"].startswith("eGFR") and values["ssa_washout"].startswith("no long-acting SSA")
    reasons = tuple(content.plan.checklist.items["reason"])
    content = dataclasses.replace(content, plan=dataclasses.replace(
        content.plan, checklist=dataclasses.replace(content.plan.checklist, reasons=reasons)))
    printed = pdf.html_to_pdf(summary.summary_html(content))
    found = pages(printed)
    assert len(found) <= 2, f"{pid} with the longest fields: {len(found)} pages"
    assert all([round(float(x), 1) for x in p.mediabox[2:]] == [round(x, 1) for x in A4_PT] for p in found)
    text = squash(text_of(printed))
    printed_attendees, printed_rationale, printed_signer = decision_box.decision_texts(content.decision)
    assert printed_rationale.marker == "… (excerpt; the full rationale, 2000 characters, is in decision record 2)"
    assert rationale.startswith(printed_rationale.shown) and len(printed_rationale.shown) > 100
    for field, full in ((printed_attendees, attendees), (printed_rationale, rationale), (printed_signer, signer)):
        assert squash(field.text) in text  # as printed: whole, or its start and the marker
        assert field.shown == full or (field.marker is not None and full.startswith(field.shown))
    if unit == HOSTILE_UNIT:  # names and signer of ordinary width are never cut
        assert (printed_attendees.shown, printed_signer.shown) == (attendees, signer)
    assert squash(f"and {len(reasons) - len(summary._reasons_shown(reasons))} more (see the checklist)") in text
    for value in values:
        assert squash(value) in text
