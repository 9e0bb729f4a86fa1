"""The tumour-board summary: one self-contained HTML file, escaped, with the planner's numbers, the
board's decision in force and every setting that differs from the defaults."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
import shutil

import pytest

from prrt_core import decisions
from prrt_core.clinical import eligibility
from prrt_core.errors import InputError
from prrt_core.projection import DEFAULT_SETTINGS, KidneyModelSettings
from prrt_core.reports import settings_diff, summary
from prrt_core.store import Store
from prrt_core.store import decisions as store_decisions
from prrt_core.views import format as fm
from prrt_core.views import patient, planner
from tests.support import editor

HOSTILE = '<script>alert("x")</script> & CKD stage 2'
HOSTILE_RATIONALE = "Stable disease; <img src=http://x/r.png> & BED within limits"
CONFIG = eligibility.load_config()
GENERATED = dt.datetime(2026, 1, 2, 9, 30)


def most_data_patient(tables) -> str:
    """The demo patient with the most cycles, then the most lab rows (the longest summary)."""
    cycles = tables.cycles.groupby("patient_id").size()
    labs = tables.labs.groupby("patient_id").size().reindex(cycles.index, fill_value=0)
    return max(cycles.index, key=lambda pid: (cycles[pid], labs[pid]))


def measured_and_alive(tables) -> str:
    """A demo patient alive at the last record with kidney dosimetry for every cycle."""
    for pid in tables.patients["patient_id"]:
        head = patient.header(tables, pid)
        if head.kidney_bed.complete and patient.decision_dates(tables, pid).death is None and head.n_cycles:
            return pid
    raise AssertionError("the demo cohort has no such patient")


def decided_tables(tmp_path_factory, demo_db):
    """The demo store with two signed decisions for the patient with the most data: record 2
    supersedes record 1 (so only record 2 is in force), and hostile free text in the record."""
    path = tmp_path_factory.mktemp("decided") / "demo.sqlite"
    with Store(demo_db) as src:
        src.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(demo_db, path)
    with Store(path) as store:
        tables = store.read_all()
        pid = most_data_patient(tables)
        board = patient.decision_dates(tables, pid).latest
        first = decisions.DecisionRecord(pid, board, decisions.Decision.DEFER, "Dr A (oncology)", "Await MAG3",
                                         defer_until=board + dt.timedelta(days=28))
        store_decisions.sign(store, first, actor=editor("Dr Chair"))
        second = decisions.DecisionRecord(pid, board + dt.timedelta(days=28), decisions.Decision.SALVAGE,
                                          "Dr A (oncology); Dr B (nuclear medicine); C (physics)", HOSTILE_RATIONALE,
                                          n_cycles=2, activity_gbq=7.4, supersedes_record=1)
        store_decisions.sign(store, second, actor=editor("Dr Chair"),
                             now_utc=dt.datetime(2026, 1, 5, 14, 0, tzinfo=dt.UTC))
        patients = tables.patients.copy()
        patients.loc[patients["patient_id"] == pid, "other_renal_risk"] = HOSTILE
        patients.loc[patients["patient_id"] == pid, "prior_therapies"] = HOSTILE
        return store.read_all().replace(patients=patients), pid


@pytest.fixture(scope="module")
def decided(tmp_path_factory, demo_db):
    return decided_tables(tmp_path_factory, demo_db)


def request(tables, pid, *, scenario=None, as_of=None, config=CONFIG) -> summary.SummaryRequest:
    """The planner's default scenario at the patient's latest record unless told otherwise."""
    as_of = as_of or patient.decision_dates(tables, pid).latest
    return summary.SummaryRequest(pid, as_of, scenario or planner.Scenario(), config, GENERATED, True)


@pytest.fixture(scope="module")
def built(decided):
    tables, pid = decided
    content = summary.content(tables, request(tables, pid))
    return tables, pid, content, summary.summary_html(content)


def test_self_contained_printable_html(built):
    *_, text = built
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"https?://", text.replace(html.escape(HOSTILE_RATIONALE), ""))  # no URL but the escaped text
    assert not re.search(r"""(src|href)\s*=\s*["']?(?!#)""", text.replace(html.escape(HOSTILE_RATIONALE), ""))
    assert "@import" not in text and "<link" not in text and "<script" not in text
    assert "size: A4" in text and "counter(pages)" in text and "table-layout: fixed" in text


def test_only_the_fan_charts_are_drawn(built):
    *_, text = built
    assert text.count("<svg") == text.count("</svg>") == text.count("<figure><svg") == 2


def test_patient_header_and_escaping(built):
    _, pid, content, text = built
    assert f"<h1>Tumour board summary: {pid}</h1>" in text
    assert HOSTILE not in text and html.escape(HOSTILE) in text  # free text escaped, never markup
    assert "<img" not in text and html.escape(HOSTILE_RATIONALE) in text
    assert "Demo data." in text and "Generated 2026-01-02 09:30" in text
    for label, value in fm.header_facts(content.review.header).rows():
        if label != "Patient":
            assert f"<th>{html.escape(label)}</th>" in text and html.escape(value) in text
    dates = fm.cycle_display(content.review.cycles)["Date"]
    assert all(f'<td class="date">{d.isoformat()}</td>' in text for d in dates)  # every cycle


def test_the_decision_in_force_is_shown(built, demo_tables):
    tables, pid, content, text = built
    assert content.decision.record_number == 2  # record 1 is superseded by record 2
    assert "<b>salvage: 2 x 7.4 GBq</b>" in text and "(record 2, supersedes record 1)" in text
    assert "Dr A (oncology); Dr B (nuclear medicine); C (physics)" in text
    assert "Signed by Dr Chair at 2026-01-05T14:00:00Z." in text
    assert "Await MAG3" not in text  # the superseded record's rationale
    other = next(p for p in demo_tables.patients["patient_id"] if p != pid)
    assert "<p>No decision recorded.</p>" in summary.render_html(demo_tables, request(demo_tables, other))


def test_projection_numbers_verdict_and_policy(built):
    _, _, content, text = built
    plan = content.plan
    row = plan.projection
    assert "<h2>Salvage projection: 2 x 7.4 GBq</h2>" in text and f"Evaluated on {plan.as_of.isoformat()}" in text
    facts = fm.projection_facts(plan)
    for name, label in facts.labels().items():
        value = html.escape(getattr(facts, name))
        if name in summary.SHOWN_ABOVE:  # the scenario in the heading, policy and options in lines above
            assert f"<th>{html.escape(label)}</th>" not in text and value in text
        else:
            assert f"<th>{html.escape(label)}</th><td>{value}</td>" in text
    assert f"{html.escape(plan.options.text)}.</p>" in text
    # The numbers themselves, formatted independently of projection_facts.
    assert f"{row['dose_p50_gy']:.1f}" in text and f"{100 * row['p_exceed_dose']:.1f} %" in text
    assert f"Verdict: {html.escape(plan.checklist.verdict_text)}</span>" in text
    assert html.escape(plan.checklist.policy.text) in text
    for criterion in plan.checklist.items["criterion"]:
        assert f"<td>{html.escape(criterion)}</td>" in text


def test_checklist_sources_numbered_once(built):
    _, _, content, text = built
    sources = list(dict.fromkeys(content.plan.checklist.items["source"]))
    for number, source in enumerate(sources, start=1):
        assert text.count(html.escape(source)) == 1 and f"[{number}] {html.escape(source)}" in text
    assert text.count("<td>[1]</td>") == int((content.plan.checklist.items["source"] == sources[0]).sum())


def test_without_projection(demo_tables):
    pid = "NET-004"
    early = summary.render_html(demo_tables, request(demo_tables, pid, as_of=dt.date(2000, 1, 1)))
    assert "Evaluated on 2000-01-01" in early and early.count("<svg") == 0
    assert "no cycle recorded by the evaluation date" in early
    none = summary.render_html(demo_tables, dataclasses.replace(request(demo_tables, pid), as_of=None))
    assert "No projection: the patient has no record yet." in none and "Demo data." in none


def test_alpha_beta_header_and_projection_agree(demo_tables):
    """With α/β changed, the BED so far in the header equals the projection's BED now (same settings):
    BED = D (1 + D/(α/β) T_rep/(T_rep + T_eff)) per cycle, so a smaller α/β gives a larger BED."""
    pid = measured_and_alive(demo_tables)  # the header's sum is complete, the projection exists
    scenario = planner.Scenario(settings=KidneyModelSettings(alpha_beta_gy=1.5))
    content = summary.content(demo_tables, request(demo_tables, pid, scenario=scenario))
    text = summary.summary_html(content)
    bed_now = content.plan.projection["bed_now_gy"]
    assert f"{content.review.header.kidney_bed.value_gy:.1f}" == f"{bed_now:.1f}"
    assert re.search(rf'<th>Cumulative kidney BED \(Gy\)</th><td class="\w+">{bed_now:.1f} of', text)
    assert f"<th>Kidney BED so far</th><td>{bed_now:.1f} Gy</td>" in text
    default = patient.review(demo_tables, pid).header.kidney_bed.value_gy
    assert round(default, 1) < round(bed_now, 1)  # the default α/β 2.6 Gy gives less: the test can fail
    with pytest.raises(InputError, match="other kidney-model settings"):
        dataclasses.replace(content, review=patient.review(demo_tables, pid))  # the old page's mix


def test_settings_diff_lists_exactly_the_changed_fields():
    assert settings_diff.settings_changes(DEFAULT_SETTINGS) == ()
    changed = dataclasses.replace(DEFAULT_SETTINGS, alpha_beta_gy=3.0, seed=7, tolerance=0.1)
    found = settings_diff.settings_changes(changed)
    assert [c.name for c in found] == ["alpha_beta_gy", "seed", "tolerance"]  # in field order
    assert [(c.value, c.default) for c in found] == [("3", "2.6"), ("7", "0"), ("10", "5")]
    assert found[0].label == "Kidney α/β (Gy)" and found[2].label.endswith("(%)")
    assert settings_diff.config_changes(CONFIG, eligibility.load_config()) == ()
    severity = eligibility.Severity
    other = (severity.CAUTION if CONFIG.kidney_bed.severity is severity.EXCLUDE else severity.EXCLUDE)
    config = dataclasses.replace(CONFIG, lab_max_age_days=CONFIG.lab_max_age_days + 7,
                                 kidney_bed=dataclasses.replace(CONFIG.kidney_bed, severity=other))
    found = settings_diff.config_changes(config, CONFIG)
    assert [(c.label, c.value, c.default) for c in found] == [
        ("[evaluation] lab_max_age_days", str(CONFIG.lab_max_age_days + 7), str(CONFIG.lab_max_age_days)),
        ("[kidney_bed] severity", other.value, CONFIG.kidney_bed.severity.value)]


def test_summary_states_the_changed_settings(demo_tables):
    pid = "NET-004"
    unchanged = summary.render_html(demo_tables, request(demo_tables, pid))
    assert "<b>Settings that differ from the defaults:</b> none; the kidney model" in unchanged
    settings = dataclasses.replace(DEFAULT_SETTINGS, t_rep_h=1.5, n_samples=500)
    text = summary.render_html(demo_tables, request(demo_tables, pid, scenario=planner.Scenario(settings=settings)))
    assert "<td>Kidney repair half-time T_rep (h)</td><td>1.5</td><td>2.8</td>" in text
    assert "<td>Monte-Carlo samples</td><td>500</td><td>2000</td>" in text
    assert "<h3>Settings that differ from the defaults</h3>" in text and "none; the kidney model" not in text


def test_latest_lab_values_with_their_grades(built):
    """The latest value of each test as recorded; bilirubin graded by CTCAE v5.0 'Blood bilirubin
    increased' against ULN 1.2 mg/dL: G1 > ULN-1.5 x ULN, G2 > 1.5-3 x, G3 > 3-10 x, G4 > 10 x."""
    tables, pid, _, text = built
    labs = tables.labs[tables.labs["patient_id"] == pid].sort_values("lab_date")
    for column, title in (("hb_g_dl", "Haemoglobin (g/dL)"), ("plt_10e9_l", "Platelets (10⁹/L)"),
                          ("bilirubin_mg_dl", "Bilirubin (mg/dL)"), ("albumin_g_dl", "Albumin (g/dL)")):
        last = labs.dropna(subset=[column]).iloc[-1]
        assert f"<td>{title}</td><td>{last[column]:.4g}</td><td>{last['lab_date'].date().isoformat()}</td>" in text
    bilirubin = labs.dropna(subset=["bilirubin_mg_dl"]).iloc[-1]["bilirubin_mg_dl"]
    grade = sum(bilirubin > m * 1.2 for m in (1.0, 1.5, 3.0, 10.0))
    assert re.search(rf"<td>Bilirubin \(mg/dL\)</td><td>{bilirubin:.4g}</td><td>[0-9-]+</td><td>{grade}</td>", text)
