"""The board's decision in force as printed in the tumour-board summary: a box of bounded height.

The free text is counted in lines of the box's 7 pt text (``layout.lines_of``, with the font's own
glyph widths): attendees up to ``ATTENDEES_LINES`` (500 characters of names take about 4), the signer
up to ``SIGNER_LINES`` (200 characters: about 2), the rationale the rest of ``DECISION_LINES`` (at
least ``MIN_RATIONALE_LINES``). A text beyond its lines is printed as its start and the marker
'… (excerpt; the full rationale, N characters, is in decision record R)': never cut silently; the
record holds the whole text. The numbers are a layout budget that keeps the summary on two A4
pages with every field at its schema maximum (tests/unit/test_reports_pdf.py), not clinical figures.
"""
from __future__ import annotations

from dataclasses import dataclass

from prrt_core.decisions import DecisionRecord
from prrt_core.reports import layout as lo

DECISION_LINES = 11
ATTENDEES_LINES = 6
SIGNER_LINES = 3
MIN_RATIONALE_LINES = 3


@dataclass(frozen=True)
class Printed:
    """A free-text field as printed: ``label`` ``shown`` [``marker``] ``after`` (``marker``: only for an excerpt)."""

    label: str
    shown: str
    after: str = ""
    marker: str | None = None

    @property
    def text(self) -> str:
        return self.label + self.shown + (f" {self.marker}" if self.marker else "") + self.after

    @property
    def lines(self) -> int:
        return lo.lines_of(self.text)

    def html(self, label_bold: bool = True) -> str:
        """The paragraph's inner HTML, every part escaped; the marker in italics."""
        label = f"<b>{lo.esc(self.label)}</b>" if label_bold else lo.esc(self.label)
        cut = "" if self.marker is None else f' <i class="cut">{lo.esc(self.marker)}</i>'
        return f"{label}{lo.esc(self.shown)}{cut}{lo.esc(self.after)}"


def bounded(label: str, text: str, after: str, lines: int, what: str, record_number: int | None) -> Printed:
    """``text`` whole when ``label + text + after`` fits in ``lines``, else its start and the marker."""
    if lo.lines_of(label + text + after) <= lines:
        return Printed(label, text, after)
    record = "the decision record" if record_number is None else f"decision record {record_number}"
    marker = f"… (excerpt; the full {what}, {len(text)} characters, is in {record})"
    return Printed(label, lo.fit(text, lines, before=label, after=f" {marker}{after}"), after, marker)


def decision_texts(d: DecisionRecord) -> tuple[Printed, Printed, Printed]:
    """Attendees, rationale and signer as printed, together within ``DECISION_LINES``."""
    n = d.record_number
    attendees = bounded("Attendees: ", d.attendees, "", ATTENDEES_LINES, "list of attendees", n)
    signer = bounded("Imported; the file says signed by " if d.imported else "Signed by ", d.signed_by or "",
                     f" at {d.signed_at_utc}.", SIGNER_LINES, "signer", n)
    left = max(DECISION_LINES - attendees.lines - signer.lines, MIN_RATIONALE_LINES)
    return attendees, bounded("Rationale: ", d.rationale, "", left, "rationale", n), signer


def decision_section(d: DecisionRecord | None) -> str:
    """The summary's section of the decision in force (or 'No decision recorded.'), escaped HTML."""
    if d is None:
        return "<h2>Board decision</h2><p>No decision recorded.</p>"
    replaces = f", supersedes record {d.supersedes_record}" if d.supersedes_record is not None else ""
    attendees, rationale, signer = decision_texts(d)
    return ('<h2>Board decision</h2><div class="decision">'
            f"<p><b>{lo.esc(d.label)}</b> — board of {lo.esc(d.board_date.isoformat())} "
            f"(record {lo.esc(d.record_number)}{lo.esc(replaces)})</p>"
            f'<p>{attendees.html()}</p><p>{rationale.html()}</p><p class="note">{signer.html(False)}</p></div>')
