"""The tumour-board summary: one self-contained HTML file, escaped, with the planner's numbers, the
board's decision in force and every setting that differs from the defaults."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import html
import re
import shutil
import tomllib

import pytest

from prrt_core import decisions
from prrt_core.clinical import eligibility
from prrt_core.errors import InputError
from prrt_core.projection import DEFAULT_SETTINGS, KidneyModelSettings
from prrt_core.reports import decision_box, layout, settings_diff, summary
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


def request(tables, pid, *, scenario=None, as_of=None, config=CONFIG,
            config_path=eligibility.DEFAULT_CONFIG_PATH) -> summary.SummaryRequest:
    """The planner's default scenario (None: built from ``config``) at the patient's latest record
    unless told otherwise."""
    as_of = as_of or patient.decision_dates(tables, pid).latest
    return summary.SummaryRequest(pid, as_of, scenario, config, GENERATED, True, config_path)


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
    assert "<b>Checklist configuration</b> (data/eligibility.toml): as shipped." in unchanged
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


def test_shipped_config_hash_is_the_files():
    """SHIPPED_CONFIG_SHA256 is the SHA-256 of data/eligibility.toml in the repository (LF line endings):
    whoever edits the shipped file updates the constant, or every summary would call it edited."""
    found = hashlib.sha256(eligibility.DEFAULT_CONFIG_PATH.read_bytes().replace(b"\r\n", b"\n")).hexdigest()
    assert settings_diff.SHIPPED_CONFIG_SHA256 == found, (
        f"data/eligibility.toml changed: set SHIPPED_CONFIG_SHA256 in prrt_core/reports/settings_diff.py to {found!r}")
    assert settings_diff.config_origin().text == "as shipped"


def test_config_labels_name_the_files_sections_and_keys():
    """Every checklist setting is labelled '[section] key' as in data/eligibility.toml (e.g. the verdict's
    unknowns under [verdict], the activity range under [activity_per_cycle])."""
    raw = tomllib.loads(eligibility.DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    leaves = settings_diff._flatten(CONFIG)
    for key in leaves:
        section, name = re.fullmatch(r"\[(\w+)\] ([\w.]+)", settings_diff.config_label(key)).groups()
        assert name in raw.get(section, {}), f"{key}: [{section}] {name} is not in the file"
    assert settings_diff.config_label(("blocking_unknowns",)) == "[verdict] blocking_unknowns"
    assert settings_diff.config_label(("activity", "max_gbq")) == "[activity_per_cycle] max_gbq"
    assert len(leaves) > 40  # every criterion's fields, so the loop above checks them


def edited_config(tmp_path, *edits: tuple[str, str]):
    """A copy of the shipped file with text replaced (each edit must apply), and its Config."""
    text = eligibility.DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "eligibility.toml"
    path.write_text(text, encoding="utf-8")
    return path, eligibility.load_config(path)


def test_an_edited_file_is_named_by_its_hash_and_its_limits_are_used(demo_tables, tmp_path):
    """The clinic's edited file: 'edited by the clinic' with the first 12 hex digits of its SHA-256 (not
    'as shipped'); without a planner scenario the summary projects with the file's kidney limits
    (eligibility.default_settings), so the lower BED limit is in the policy, the projection and the table."""
    path, config = edited_config(tmp_path, ("[hemoglobin]\nmin = 8.0", "[hemoglobin]\nmin = 9.0"),
                                 ("limit_renal_risk_gy = 28.0", "limit_renal_risk_gy = 26.0"))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    pid = measured_and_alive(demo_tables)  # alive at the evaluation date: a checklist
    content = summary.content(demo_tables, request(demo_tables, pid, config=config, config_path=path))
    text = summary.summary_html(content)
    assert f"(data/eligibility.toml): edited by the clinic (SHA-256 {digest[:12]})." in text
    assert "as shipped" not in text
    assert content.request.scenario.settings == eligibility.default_settings(config)
    assert content.plan.scenario.settings.bed_limit_risk_gy == 26.0 != DEFAULT_SETTINGS.bed_limit_risk_gy
    assert "Kidney limits: BED 26/40 Gy" in text
    assert "<td>Kidney BED limit with renal risk factors (Gy)</td><td>26</td><td>28</td>" in text
    assert "<td>&gt;= 9 g/dL</td>" in text  # the edited threshold in the checklist
    assert not any(c.label.startswith("[") for c in content.changes)  # the Config is the file in force


def test_a_config_other_than_the_file_in_force_is_listed_field_by_field(demo_tables, tmp_path):
    pid = "NET-004"
    config = dataclasses.replace(CONFIG, blocking_unknowns=CONFIG.blocking_unknowns[1:],
                                 activity=dataclasses.replace(CONFIG.activity, max_gbq=6.0))
    text = summary.render_html(demo_tables, request(demo_tables, pid, config=config))
    assert f"<td>[verdict] blocking_unknowns</td><td>{html.escape(', '.join(CONFIG.blocking_unknowns[1:]))}</td>" in text
    assert "<td>[activity_per_cycle] max_gbq</td><td>6</td><td>7.4</td>" in text
    assert "(data/eligibility.toml): as shipped." in text and "the clinic's edited file" not in text
    path, edited = edited_config(tmp_path, ("[hemoglobin]\nmin = 8.0", "[hemoglobin]\nmin = 9.0"))
    text = summary.render_html(demo_tables, request(demo_tables, pid, config=edited, config_path=path))
    assert ("<b>Settings that differ from the defaults:</b> the checklist file (below); the kidney model "
            "(α/β, T_rep, limits, tolerance, samples, seed) is as shipped. <b>Checklist configuration</b> "
            "(data/eligibility.toml): edited by the clinic (SHA-256 ") in text  # not "none"
    text = summary.render_html(demo_tables, request(demo_tables, pid, config=CONFIG, config_path=path))
    assert "<td>[hemoglobin] min</td><td>8</td><td>9</td>" in text  # against the file in force
    assert "Rows named [section] key: the default is the value in the clinic's edited file." in text


def test_a_long_rationale_is_printed_as_a_marked_excerpt(decided):
    """Attendees and signer in full; a rationale beyond the decision box's lines as its start, followed
    by a marker naming its length and the record that holds it (never cut silently)."""
    tables, pid = decided
    record = decisions.current(tables.board_decisions, pid)
    attendees, rationale, signer = decision_box.decision_texts(record)
    assert (attendees.shown, rationale.shown, signer.shown) == (record.attendees, record.rationale, record.signed_by)
    assert attendees.marker is rationale.marker is signer.marker is None  # short: whole
    long = " ".join(f"Reason {i} & <b>detail</b>." for i in range(200))[:decisions.MAX_RATIONALE_CHARS].strip()
    names = "; ".join(f"Dr {chr(65 + i % 26)}. Name{i} (oncology)" for i in range(30))[:decisions.MAX_ATTENDEES_CHARS]
    record = dataclasses.replace(record, rationale=long, attendees=names.strip())
    attendees, rationale, _ = decision_box.decision_texts(record)
    assert attendees.shown == record.attendees and attendees.marker is None  # 500 characters of names: whole
    assert rationale.marker == f"… (excerpt; the full rationale, {len(long)} characters, is in decision record 2)"
    shown = rationale.shown
    assert long.startswith(shown) and 100 < len(shown) < len(long) and long[len(shown)] == " "  # cut after a word
    lines = decision_box.DECISION_LINES - attendees.lines - 1  # the signer takes one line here
    assert rationale.lines <= lines < layout.lines_of(f"Rationale: {long[:len(shown) + 40]} {rationale.marker}")
    text = decision_box.decision_section(record)
    assert f'{html.escape(shown)} <i class="cut">{html.escape(rationale.marker)}</i>' in text
    assert html.escape(record.attendees) in text
