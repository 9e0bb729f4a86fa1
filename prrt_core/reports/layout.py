"""The printed page of the tumour-board summary: print CSS and the HTML elements, every value escaped.

A4 portrait, 10 mm side margins (190 mm text width = 718 CSS px at 96 px/in): text of 8 pt,
tables and the decision record of 7 pt, the checklist's sources of 6 pt; tables with a fixed
layout and stated column widths (text wraps inside its column, nothing overflows), charts drawn
at the width they print, and break rules that keep a heading with what follows and a table row,
a chart or the decision record on one page. The patient's id and the page number ("page 1 of 2")
are in every page's footer. Fonts: Liberation Sans (metric-compatible with Arial; Debian
fonts-liberation), then the system sans-serif. ``text_em``, ``lines_of`` and ``fit`` count how many
lines free text takes with the font's own glyph widths, so that free text of any length keeps
to a stated number of lines (``decision_box``).
"""
from __future__ import annotations

import datetime as dt
import html
import math
import numbers
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from prrt_core.charts import export
from prrt_core.views import format as fm

TEXT_WIDTH_PX = 718  # 190 mm at 96 px per inch
HALF_CHART_WIDTH_PX = 348  # two charts side by side (49 % of TEXT_WIDTH_PX each: 352 px)
CHART_FONT = "Liberation Sans"  # the page's font, so vl-convert measures the text it prints
MM_PER_PT = 25.4 / 72
# The decision box (CSS .decision): 7 pt text, 2 mm padding and 1 pt border each side of the text width.
DECISION_FONT_PT = 7.0
DECISION_LINE_EM = (190 - 2 * 2 - 2 * MM_PER_PT) / (DECISION_FONT_PT * MM_PER_PT)  # 75 em per line
LIST_LINE_EM = (190 - 4) / (8 * MM_PER_PT)  # a list item (CSS ul: 8 pt, 4 mm indent): 66 em per line
# Advance widths of printable ASCII (32-126) in Liberation Sans Regular, 1/1000 em: the font's hmtx
# table (fonts-liberation; metric-compatible with Arial), read with fontTools.
ASCII_WIDTH = (278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556,
               556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778,
               722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278,
               278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
               556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584)
OTHER_EM = 1.25  # any other character (after removing accents): above CJK (1 em) and emoji (~1.2 em)
LINE_SLACK = 0.96  # share of a line counted as usable: kerning, bold labels, breaks between letters

CSS = """
@page { size: A4; margin: 8mm 10mm 10mm 10mm;
  @bottom-left { content: string(patient); font: 7pt "Liberation Sans", Arial, sans-serif;
                 color: #607d8b; }
  @bottom-right { content: "page " counter(page) " of " counter(pages); font: 7pt "Liberation Sans", Arial,
                  sans-serif; color: #607d8b; } }
html { font-family: "Liberation Sans", Arial, Helvetica, sans-serif; font-size: 8pt; line-height: 1.2;
       color: #212121; }
body { margin: 0 auto; max-width: 190mm; }
h1 { font-size: 13pt; margin: 0 0 0.8mm 0; string-set: patient content(text); }
h2 { font-size: 10pt; margin: 2mm 0 0.8mm 0; padding-bottom: 0.3mm; border-bottom: 0.8pt solid #90a4ae;
     break-after: avoid; }
h3 { font-size: 8.5pt; margin: 1.6mm 0 0.6mm 0; break-after: avoid; }
p { margin: 0.6mm 0; }
ul { margin: 0.4mm 0 0.8mm 0; padding-left: 4mm; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; margin: 0.4mm 0 1.2mm 0; }
th, td { border: 0.5pt solid #cfd8dc; padding: 0.3mm 0.9mm; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; hyphens: auto; line-height: 1.15; }
thead th { background: #eceff1; font-size: 6.5pt; line-height: 1.1; }
tr { break-inside: avoid; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.date { white-space: nowrap; }
p.sources { font-size: 6pt; color: #455a64; line-height: 1.15; margin-top: -0.6mm; }
table.facts th { background: #f5f7f8; font-weight: normal; color: #37474f; }
table.small td, table.small th { font-size: 7pt; }
.note { color: #546e7a; font-size: 7.5pt; }
.demo { border: 1.2pt solid #ef6c00; padding: 0.6mm 1.5mm; background: #fff3e0; font-size: 7.5pt; }
.ok { color: #1b5e20; font-weight: bold; }
.warn { color: #e65100; font-weight: bold; }
.bad { color: #b71c1c; font-weight: bold; }
.unknown { color: #37474f; font-weight: bold; }
.verdict { font-size: 10pt; padding: 0.5mm 2mm; border: 1.2pt solid currentColor; display: inline-block;
           margin: 0.4mm 2mm 0.4mm 0; }
.decision { border: 1pt solid #78909c; padding: 0.8mm 2mm; margin: 0.6mm 0 1mm 0; break-inside: avoid;
            font-size: 7pt; overflow-wrap: anywhere; }
.decision .note { font-size: 7pt; }
.decision p { margin: 0.3mm 0; }
.decision .cut { color: #455a64; }
.halves { width: 100%; }
.halves > div { display: inline-block; width: 49.4%; vertical-align: top; }
.halves > div + div { margin-left: 1.2%; }
.pair { width: 100%; break-inside: avoid; }
.pair figure { display: inline-block; width: 49%; vertical-align: top; }
figure { margin: 0.6mm 0; break-inside: avoid; }
figure svg { display: block; max-width: 100%; height: auto; }
@media screen { body { padding: 6mm; } }
"""

TONE_CLASS = {fm.Tone.OK: "ok", fm.Tone.WARN: "warn", fm.Tone.BAD: "bad",
              fm.Tone.UNKNOWN: "unknown"}  # CSS classes above


def status_class(status: str) -> str:
    """The CSS class of a status (kidney limit, checklist item, verdict); an unmapped one reads as 'warn'."""
    return TONE_CLASS[fm.TONE.get(status, fm.Tone.WARN)]


def text_em(text: str) -> float:
    """Printed width of ``text`` in em of the page's font: exact for ASCII, an upper bound otherwise
    (accented letters as their base letter; whitespace as a space)."""
    total = 0
    for ch in text:
        code = ord(" " if ch.isspace() else unicodedata.normalize("NFD", ch)[0])
        total += ASCII_WIDTH[code - 32] if 32 <= code < 127 else 1000 * OTHER_EM
    return total / 1000


def lines_of(text: str, line_em: float = DECISION_LINE_EM) -> int:
    """Lines a paragraph of ``text`` takes at ``line_em`` em per line, wrapped as the page wraps it: a
    word that does not fit starts the next line, a word longer than a line is broken anywhere (CSS
    overflow-wrap). ``LINE_SLACK`` of each line is left for kerning and bold labels."""
    width, space = line_em * LINE_SLACK, ASCII_WIDTH[0] / 1000
    lines, used = 1, 0.0
    for word in text.split():
        w = text_em(word)
        if used and used + space + w <= width:
            used += space + w
            continue
        if used:
            lines, used = lines + 1, 0.0
        full = max(0, math.ceil(w / width) - 1)  # whole lines a long word fills before its last part
        lines, used = lines + full, w - full * width
    return lines


def fit(text: str, lines: int, *, before: str = "", after: str = "", line_em: float = DECISION_LINE_EM) -> str:
    """The longest start of ``text`` such that ``before + start + after`` takes at most ``lines`` lines
    (``lines_of``), cut after a word when one ends in its last quarter; ``text`` itself when it fits."""
    if lines_of(before + text + after, line_em) <= lines:
        return text
    low, high = 0, len(text)  # lines_of grows with the length of the start: the longest that fits
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if lines_of(before + text[:mid] + after, line_em) <= lines else (low, mid - 1)
    space = text.rfind(" ", low * 3 // 4, low + 1)
    return text[:space if space > 0 else low].rstrip()


def esc(value: object) -> str:
    """Escaped text of any value ('—' for missing)."""
    if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)):
        return "—"
    return html.escape(str(value), quote=True)


def inline_svg(chart: alt.TopLevelMixin) -> str:
    """SVG of an Altair chart for inline HTML: no XML declaration, no namespace URLs (implied in HTML5)."""
    svg = export.svg_bytes(chart).decode("utf-8")
    svg = re.sub(r'<\?xml[^>]*>\s*', "", svg)
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
    return svg.replace("xlink:href=", "href=")


def td(text: str, css: str = "") -> str:
    """A cell of already escaped text, with a class when one is given."""
    return f'<td class="{css}">{text}</td>' if css else f"<td>{text}</td>"


def _colgroup(widths_pct: Sequence[float]) -> str:
    return "<colgroup>" + "".join(f'<col style="width: {w:g}%">' for w in widths_pct) + "</colgroup>"


def facts(rows: Iterable[tuple[str, str]], css_class: Mapping[str, str] | None = None, *, columns: int = 2,
          label_pct: float = 40.0, css: str = "") -> str:
    """(label, text) pairs in a table of ``columns`` pairs per row; labels take ``label_pct`` % of
    each pair's width; ``css_class``: label -> class of its text; ``css``: another class of the table."""
    css_class = css_class or {}
    cells = [f"<th>{esc(k)}</th>{td(esc(v), css_class.get(k, ''))}" for k, v in rows]
    cells += ["<th></th><td></td>"] * (-len(cells) % columns)
    body = "".join("<tr>" + "".join(cells[i:i + columns]) + "</tr>" for i in range(0, len(cells), columns))
    label, value = label_pct / columns, (100 - label_pct) / columns
    return f'<table class="{" ".join(("facts", css)).strip()}">{_colgroup([label, value] * columns)}{body}</table>'


def _cell(value: object, digits: int) -> tuple[str, str]:
    """Escaped text and class of one value: numbers right-aligned with ``digits`` decimals."""
    if isinstance(value, (bool, np.bool_)):
        return esc("yes" if value else "no"), ""
    if isinstance(value, numbers.Integral):
        return esc(int(value)), "num"
    if isinstance(value, numbers.Real):
        return esc(fm.fmt(float(value), digits)), "num"
    if isinstance(value, (pd.Timestamp, dt.date)):
        return esc(value.isoformat()[:10]), "date"
    return esc(value), ""


def table(frame: pd.DataFrame, widths: Mapping[str, float] | Sequence[float], *, digits: int = 2, css: str = "",
          status_column: str | None = None, cell_class: Mapping[str, str] | None = None) -> str:
    """An HTML table of a DataFrame with a fixed layout: ``widths`` are relative column widths, one per
    column in order, or by column name (a column not named gets the mean width); they are scaled
    to 100 % of the text width. ``status_column``: a column whose values get their status tone;
    ``cell_class``: column -> CSS class of its cells. Dates never wrap."""
    columns = list(frame.columns)
    if isinstance(widths, Mapping):
        mean = sum(widths.values()) / len(widths) if widths else 1.0
        weights = [float(widths.get(c, mean)) for c in columns]
    else:
        weights = [float(w) for w in widths]
        if len(weights) != len(columns):
            raise ValueError(f"{len(columns)} columns, {len(weights)} widths")
    total = sum(weights)
    cell_class = cell_class or {}
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for row in frame.itertuples(index=False, name=None):
        cells = []
        for column, value in zip(columns, row):
            text, kind = _cell(value, digits)
            if column == status_column:
                kind = status_class(str(value))
            cells.append(td(text, " ".join(c for c in (kind, cell_class.get(column, "")) if c)))
        body.append("<tr>" + "".join(cells) + "</tr>")
    attr = f' class="{css}"' if css else ""
    return (f"<table{attr}>{_colgroup([round(100 * w / total, 2) for w in weights])}<thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def halves(parts: Sequence[str]) -> str:
    """Up to two blocks of HTML (already escaped) side by side, each half the text width."""
    return '<div class="halves">' + "".join(f"<div>{p}</div>" for p in parts) + "</div>"


def for_print(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """The chart with print-sized fonts (8-11 px: 6-8 pt where it prints at its own width), the
    page's font and its legend on one line, in place."""
    title = chart.title
    text = title.text if isinstance(title, alt.TitleParams) else title
    chart.title = alt.TitleParams(text, anchor="start", fontSize=11, offset=8)
    chart.config = alt.Config(font=CHART_FONT, axis=alt.AxisConfig(labelFontSize=9, titleFontSize=8),
                              legend=alt.LegendConfig(labelFontSize=9, titleFontSize=9, orient="bottom",
                                                      titleOrient="left", titlePadding=10, symbolSize=50),
                              view=alt.ViewConfig(strokeWidth=0))
    return chart


def figure(chart: alt.TopLevelMixin) -> str:
    """A chart as inline SVG in a figure, with print-sized fonts."""
    return f"<figure>{inline_svg(for_print(chart))}</figure>"


def document(title: str, body: str) -> str:
    """The whole HTML document: escaped title, the print CSS, ``body`` (already escaped HTML)."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>{body}</body></html>\n")
