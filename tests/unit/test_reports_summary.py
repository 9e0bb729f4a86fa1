"""The tumour-board summary: one self-contained HTML file, escaped, with SVG charts and the projection."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from prrt_core.charts import patient as charts
from prrt_core.clinical import eligibility
from prrt_core.reports import summary
from prrt_core.views import format as fm
from prrt_core.views import patient, planner

HOSTILE = '<script>alert("x")</script> & CKD stage 2'


@pytest.fixture(scope="module")
def built(demo_tables):
    patients = demo_tables.patients.copy()
    patients.loc[patients["patient_id"] == "NET-004", "other_renal_risk"] = HOSTILE
    tables = demo_tables.replace(patients=patients)
    rv = patient.review(tables, "NET-004")
    result = planner.plan(tables, "NET-004", dt.date(2025, 3, 17), planner.Scenario(n_cycles=3, activity_gbq=5.5),
                     config=eligibility.load_config())
    text = summary.summary_html(rv, result, generated_at=dt.datetime(2026, 1, 2, 9, 30), demo=True)
    return rv, result, text


def test_self_contained_printable_html(built):
    _, _, text = built
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"https?://", text)  # no external URL at all, not even XML namespaces
    assert not re.search(r"""(src|href)\s*=\s*["']?(?!#)""", text)  # nothing is loaded from anywhere
    assert "@import" not in text and "<link" not in text and "<script" not in text
    assert "@page { size: A4; margin: 15mm; }" in text


def test_every_chart_is_inline_svg(built):
    rv, _, text = built
    n_charts = len(charts.patient_charts(rv)) + len(charts.FAN_TITLES)
    assert text.count("<svg") == text.count("</svg>") == n_charts == 14
    assert text.count("<figure><svg") == n_charts


def test_patient_id_header_and_escaping(built):
    rv, _, text = built
    assert "<h1>Tumour board summary: NET-004</h1>" in text
    assert HOSTILE not in text and html.escape(HOSTILE) in text  # free text escaped, never markup
    assert "Demo data." in text and "Generated 2026-01-02 09:30" in text
    for label, value in fm.header_facts(rv.header).rows():
        assert f"<th>{html.escape(label)}</th>" in text and html.escape(value) in text
    cycles = fm.cycle_display(rv.cycles)
    assert all(f'<td class="date">{d.isoformat()}</td>' in text for d in cycles["Date"])


def test_projection_numbers_and_verdict(built):
    _, result, text = built
    row = result.projection
    assert "3 x 5.5 GBq" in text and "Evaluated on 2025-03-17" in text
    for label, value in fm.projection_facts(result).rows():
        assert f"<th>{html.escape(label)}</th><td>{html.escape(value)}</td>" in text
    # The numbers themselves, formatted independently of projection_facts.
    assert f"{row['dose_p50_gy']:.1f}" in text and f"{100 * row['p_exceed_dose']:.1f} %" in text
    assert f"{row['max_safe_activity_gbq']:.1f}" in text
    assert f'Verdict: {result.checklist.verdict.value}</p>' in text
    for criterion in result.checklist.items["criterion"]:
        assert f"<td>{html.escape(criterion)}</td>" in text


def test_without_projection(built, demo_tables):
    rv, _, _ = built
    none = planner.plan(demo_tables, "NET-004", dt.date(2020, 1, 1), planner.Scenario(),
                        config=eligibility.load_config())
    text = summary.summary_html(rv, none, generated_at=dt.datetime(2026, 1, 2), demo=False)
    assert "Projected kidney dose: no projection (no cycle recorded by the evaluation date)" in text
    assert "Demo data." not in text
    assert "No projection: the patient has no record yet" in summary.summary_html(
        rv, None, generated_at=dt.datetime(2026, 1, 2), demo=False)
    assert text.count("<svg") == len(charts.patient_charts(rv))
