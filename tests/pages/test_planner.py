"""Salvage planner page through AppTest (app.py navigation) on the demo cohort.

Every number shown is compared with ``eligibility.assess`` and ``projection.project``
called directly with the same inputs, formatted here independently of the page.
"""

from __future__ import annotations

import datetime as dt
import math

from streamlit.testing.v1 import AppTest

from prrt_core import projection
from prrt_core.clinical import eligibility
from prrt_core.projection import KidneyModelSettings
from prrt_core.views import planner
from tests import support
from ui.text import md

CONFIG = eligibility.load_config()
# The page's verdict box of each verdict: four distinct styles.
BOX = {"eligible": "success", "caution": "warning", "not eligible": "error", "cannot assess": "info"}


def open_planner(patient_id: str) -> AppTest:
    return support.open_page("pages/planner.py", query={"patient": patient_id})


def click(at: AppTest, label_start: str) -> None:
    next(b for b in at.button if b.label.startswith(label_start)).click().run()
    assert not at.exception, [e.value for e in at.exception]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def one_decimal_beside(value: float, limit: float) -> str:
    """f'{value:.1f}', valid as the page's text only away from the limit (checked here)."""
    assert abs(value - limit) >= 0.1, "a value near its limit needs more decimals"
    return f"{value:.1f}"


def expected_metrics(row) -> dict[str, str]:
    dose, bed = row["dose_limit_gy"], row["bed_limit_gy"]
    return {
        "Projected kidney dose, median (Gy)": one_decimal_beside(row["dose_p50_gy"], dose),
        f"P(kidney dose > {dose:g} Gy), caution limit": f"{100 * row['p_exceed_dose']:.1f} %",
        "Projected kidney BED, median (Gy)": one_decimal_beside(row["bed_p50_gy"], bed),
        f"P(kidney BED > {bed:g} Gy), exclude limit": f"{100 * row['p_exceed_bed']:.1f} %",
        "Cycles at this activity within every limit": str(int(row["max_safe_cycles"])),
        "Point projection: dose (Gy)": f"{row['point_dose_gy']:.1f}",
        "Point projection: BED (Gy)": f"{row['point_bed_gy']:.1f}",
    }


def verdict_box(at: AppTest, verdict: str) -> str:
    """The text of the verdict's box; no box of another verdict style says 'Verdict on'."""
    boxes = {kind: [e.value for e in getattr(at, kind) if "**Verdict on" in e.value] for kind in BOX.values()}
    assert [kind for kind, found in boxes.items() if found] == [BOX[verdict]], boxes
    return boxes[BOX[verdict]][0]


def test_deceased_then_decision_point_eligible_then_scenario_change(demo_db, demo_tables, app_env):
    app_env(demo_db)
    at = open_planner("NET-004")
    assert at.date_input[0].value == dt.date(2025, 5, 23)  # default: the most recent record, the death
    assert any("died on 2025-05-23" in i.value and "no projection and no verdict" in i.value for i in at.info)
    assert not at.metric and not at.table and not any("Verdict on" in e.value for e in at.success)
    cycles = demo_tables.cycles
    assert len(at.dataframe[0].value) == ((cycles["patient_id"] == "NET-004")
                                          & (cycles["cycle_date"] <= "2025-05-23")).sum() == 5  # only the history
    click(at, "Day before first salvage cycle")
    as_of = dt.date(2025, 3, 17)  # NET-004's first salvage cycle is on 2025-03-18
    assert at.date_input[0].value == as_of
    checklist, row = eligibility.assess(demo_tables, "NET-004", as_of=as_of, n_cycles=2, activity_gbq=7.4,
                                        config=CONFIG, settings=KidneyModelSettings())
    assert checklist.verdict == "eligible"
    box = verdict_box(at, "eligible")
    assert box.startswith("**Verdict on 2025-03-17: eligible**")
    assert "Kidney limits: BED 28/40 Gy exclude; absorbed dose 23 Gy caution" in box.replace("\\", "")
    assert metrics(at) == expected_metrics(row)
    items = at.table[0].value  # st.table: text wraps, nothing truncated; cells escaped (rendered as markdown)
    assert list(items["Status"]) == list(checklist.items["status"])
    for column, key in (("Value", "value"), ("Threshold", "threshold"), ("Source", "source")):
        assert list(items[column]) == [md(text) for text in checklist.items[key]]

    at.slider(key="pl_cycles").set_value(4).run()
    at.number_input(key="pl_activity").set_value(10.0).run()
    assert not at.exception
    checklist, row = eligibility.assess(demo_tables, "NET-004", as_of=as_of, n_cycles=4, activity_gbq=10.0,
                                        config=CONFIG, settings=KidneyModelSettings())
    # 4 x 10 GBq: the BED limit (exclude) is crossed too.
    assert row["p_exceed_bed"] > 0.05 and checklist.verdict == "not eligible"
    assert verdict_box(at, "not eligible").startswith("**Verdict on 2025-03-17: not eligible**")
    assert metrics(at) == expected_metrics(row)


def test_caution_patient_options_and_scenario_table(demo_db, demo_tables, app_env):
    app_env(demo_db)
    at = open_planner("NET-005")
    click(at, "Day before first salvage cycle")
    as_of = dt.date(2021, 10, 17)
    checklist, row = eligibility.assess(demo_tables, "NET-005", as_of=as_of, n_cycles=2, activity_gbq=7.4,
                                        config=CONFIG, settings=KidneyModelSettings())
    # Over 23 Gy absorbed (a caution) but within the BED limit (which excludes): caution.
    assert row["p_exceed_dose"] > 0.05 and row["p_exceed_bed"] <= 0.05 and checklist.verdict == "caution"
    box = verdict_box(at, "caution")
    assert "exceeds 23 Gy with probability" in box and "caution limit" in box
    assert metrics(at)["P(kidney dose > 23 Gy), caution limit"] == f"{100 * row['p_exceed_dose']:.1f} %"
    # The options: for n further cycles, the largest activity within the BED limit, rounded down to
    # 0.1 GBq and at most 7.4 GBq (projection.project's max_safe_activity_bed_gbq).
    history, patients = projection.inputs_from_tables(demo_tables.as_of(as_of))
    expected = []
    for n in (1, 2, 3, 4):
        r = projection.project(history, n, 7.4, patients=patients, patient_ids=["NET-005"]).iloc[0]
        a = min(math.floor(r["max_safe_activity_bed_gbq"] * 10) / 10, 7.4)
        if a >= 1.0:
            expected.append(f"{'reduced: ' if a <= 3.7 else ''}{n} x {a:.1f} GBq"
                            + (" (caution: above absorbed dose 23 Gy)" if a > r["max_safe_activity_dose_gbq"] else ""))
    options = next(m.value for m in at.markdown if "Options within the excluding limits" in m.value)
    assert [line[2:].replace("\\", "") for line in options.split("\n")[1:]] == expected
    assert "0.0 GBq" not in options
    # The side-by-side table: one column per scenario, projected from what was known on as_of.
    table = at.dataframe[-1].value.set_index("Quantity")
    assert list(table.columns) == ["2 x 7.4 GBq", "3 x 5.5 GBq", "4 x 3.7 GBq"]
    for (n, a), column in zip(((2, 7.4), (3, 5.5), (4, 3.7)), table.columns):
        r = projection.project(history, n, a, patients=patients, patient_ids=["NET-005"]).iloc[0]
        assert table.loc["Cumulative kidney dose, median (Gy)", column] == one_decimal_beside(r["dose_p50_gy"], 23.0)
        assert table.loc["P(dose > limit) (%)", column] == one_decimal_beside(100 * r["p_exceed_dose"], 5.0)
        crossed = "; ".join([f"BED {r['bed_limit_gy']:g} Gy (exclude)"] * int(r["p_exceed_bed"] > 0.05)
                            + ["absorbed dose 23 Gy (caution)"] * int(r["p_exceed_dose"] > 0.05)) or "none"
        assert table.loc["Kidney limits crossed (P > tolerance)", column] == crossed


def test_evaluation_date_before_any_record_cannot_assess(demo_db, app_env):
    app_env(demo_db)
    at = open_planner("NET-004")
    at.date_input[0].set_value(dt.date(2015, 1, 1)).run()
    assert not at.exception
    box = verdict_box(at, "cannot assess")
    assert box.startswith("**Verdict on 2015-01-01: cannot assess**")
    assert "Nothing recorded for NET" in box and "criteria unknown" in box
    assert any("no cycle recorded by the evaluation date" in i.value for i in at.info)  # no projection
    assert set(at.table[0].value["Status"]) <= {"unknown", "pass"}


def test_advanced_settings_change_the_projection(demo_db, demo_tables, app_env):
    app_env(demo_db)
    at = open_planner("NET-004")
    click(at, "Day before first salvage cycle")
    at.number_input(key="pl_dose_limit").set_value(15.0).run()
    at.number_input(key="pl_ab").set_value(3.0).run()
    assert not at.exception
    settings = KidneyModelSettings(dose_limit_gy=15.0, alpha_beta_gy=3.0)
    checklist, row = eligibility.assess(demo_tables, "NET-004", as_of=dt.date(2025, 3, 17), n_cycles=2,
                                        activity_gbq=7.4, config=CONFIG, settings=settings)
    shown = metrics(at)
    assert shown["P(kidney dose > 15 Gy), caution limit"] == f"{100 * row['p_exceed_dose']:.1f} %"
    bed = row["bed_limit_gy"]
    assert shown["Projected kidney BED, median (Gy)"] == one_decimal_beside(row["bed_p50_gy"], bed)
    # Crossing 15 Gy absorbed is a caution under the policy in force; the policy line says 15 Gy.
    assert row["p_exceed_dose"] > 0.05 and checklist.verdict == "caution"
    box = verdict_box(at, "caution")
    assert "absorbed dose 15 Gy caution" in box
    # The limit inputs' help: the shipped threshold, what crossing it means and its source, from the config.
    helps = {key: at.number_input(key=key).help for key in ("pl_dose_limit", "pl_bed_risk", "pl_bed_no_risk")}
    assert helps == {"pl_dose_limit": planner.limit_help(CONFIG).dose, "pl_bed_risk": planner.limit_help(CONFIG).bed_risk,
                     "pl_bed_no_risk": planner.limit_help(CONFIG).bed_no_risk}
    assert helps["pl_dose_limit"].startswith("Default 23 Gy, caution limit (data/eligibility.toml). Source: Kidney "
                                             "absorbed dose 23 Gy: EBRT TD5/5")
