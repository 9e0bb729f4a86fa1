"""The printed page of the tumour-board summary: print CSS and the HTML elements, every value escaped.

A4 portrait, 10 mm side margins (190 mm text width = 718 CSS px at 96 px/in): text of 8 pt,
tables of 7 pt, the checklist's sources of 6 pt; tables with a fixed layout and stated column widths (text wraps inside its column, nothing
overflows), charts drawn at the width they print, and break rules that keep a heading with
what follows and a table row, a chart or the decision record on one page. The patient's id
and the page number ("page 1 of 2") are in every page's footer. Fonts: Liberation Sans (metric-compatible
with Arial; Debian fonts-liberation), then the system sans-serif.
"""
from __future__ import annotations

import datetime as dt
import html
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from prrt_core.charts import export
from prrt_core.views import format as fm

TEXT_WIDTH_PX = 718  # 190 mm at 96 px per inch
HALF_CHART_WIDTH_PX = 348  # two charts side by side (49 % of TEXT_WIDTH_PX each: 352 px)
CHART_FONT = "Liberation Sans"  # the page's font, so vl-convert measures the text it prints

CSS = """
@page { size: A4; margin: 9mm 10mm 11mm 10mm;
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
          label_pct: float = 40.0) -> str:
    """(label, text) pairs in a table of ``columns`` pairs per row; labels take ``label_pct`` % of
    each pair's width; ``css_class``: label -> class of its text."""
    css_class = css_class or {}
    cells = [f"<th>{esc(k)}</th>{td(esc(v), css_class.get(k, ''))}" for k, v in rows]
    cells += ["<th></th><td></td>"] * (-len(cells) % columns)
    body = "".join("<tr>" + "".join(cells[i:i + columns]) + "</tr>" for i in range(0, len(cells), columns))
    label, value = label_pct / columns, (100 - label_pct) / columns
    return f'<table class="facts">{_colgroup([label, value] * columns)}{body}</table>'


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
