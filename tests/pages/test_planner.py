"""Salvage planner page through AppTest (app.py navigation) on the demo cohort.

Every number shown is compared with ``eligibility.assess`` and ``projection.project``
called directly with the same inputs, formatted here independently of the page.
"""

from __future__ import annotations

import datetime as dt

from streamlit.testing.v1 import AppTest

from prrt_core import projection
from prrt_core.clinical import eligibility
from prrt_core.projection import KidneyModelSettings
from tests import support

CONFIG = eligibility.load_config()


def open_planner(patient_id: str) -> AppTest:
    return support.open_page("pages/planner.py", query={"patient": patient_id})


def click(at: AppTest, label_start: str) -> None:
    next(b for b in at.button if b.label.startswith(label_start)).click().run()
    assert not at.exception, [e.value for e in at.exception]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def expected_metrics(row, activity_gbq: float) -> dict[str, str]:
    return {
        "Projected kidney dose, median (Gy)": f"{row['dose_p50_gy']:.1f}",
        "P(kidney dose > 23 Gy)": f"{100 * row['p_exceed_dose']:.1f} %",
        "Projected kidney BED, median (Gy)": f"{row['bed_p50_gy']:.1f}",
        f"P(kidney BED > {row['bed_limit_gy']:g} Gy)": f"{100 * row['p_exceed_bed']:.1f} %",
        "Safe cycles at this activity": str(int(row["max_safe_cycles"])),
        "Safe activity per cycle (GBq)": f"{row['max_safe_activity_gbq']:.1f}",
        "Point projection: dose (Gy)": f"{row['point_dose_gy']:.1f}",
        "Point projection: BED (Gy)": f"{row['point_bed_gy']:.1f}",
    }


def test_decision_point_eligible_then_scenario_change(demo_db, demo_tables, app_env):
    app_env(demo_db)
    at = open_planner("NET-004")
    assert at.date_input[0].value == dt.date(2025, 5, 23)  # default: the most recent record
    assert any("died on 2025-05-23" in w.value for w in at.warning)
    click(at, "Day before first salvage cycle")
    as_of = dt.date(2025, 3, 17)  # NET-004's first salvage cycle is on 2025-03-18
    assert at.date_input[0].value == as_of
    checklist, row = eligibility.assess(demo_tables, "NET-004", as_of=as_of, n_cycles=2, activity_gbq=7.4,
                                        config=CONFIG, settings=KidneyModelSettings())
    assert checklist.verdict == "eligible"
    assert at.success[0].value.startswith("**Verdict on 2025-03-17: eligible**")
    assert metrics(at) == expected_metrics(row, 7.4)
    items = at.dataframe[0].value
    assert list(items["Status"]) == list(checklist.items["status"])
    assert list(items["Value"]) == list(checklist.items["value"])

    at.slider(key="pl_cycles").set_value(4).run()
    at.number_input(key="pl_activity").set_value(10.0).run()
    assert not at.exception
    checklist, row = eligibility.assess(demo_tables, "NET-004", as_of=as_of, n_cycles=4, activity_gbq=10.0,
                                        config=CONFIG, settings=KidneyModelSettings())
    assert checklist.verdict == "not eligible"  # 4 x 10 GBq crosses 23 Gy with P = 99.8 %
    assert at.error[0].value.startswith("**Verdict on 2025-03-17: not eligible**")
    assert metrics(at) == expected_metrics(row, 10.0)


def test_not_eligible_patient_and_scenario_table(demo_db, demo_tables, app_env):
    app_env(demo_db)
    at = open_planner("NET-005")
    click(at, "Day before first salvage cycle")
    as_of = dt.date(2021, 10, 17)
    checklist, row = eligibility.assess(demo_tables, "NET-005", as_of=as_of, n_cycles=2, activity_gbq=7.4,
                                        config=CONFIG, settings=KidneyModelSettings())
    assert checklist.verdict == "not eligible"
    verdict = at.error[0].value
    assert "not eligible" in verdict and "exceeds 23 Gy with probability" in verdict
    assert metrics(at)["P(kidney dose > 23 Gy)"] == f"{100 * row['p_exceed_dose']:.1f} %"
    # The side-by-side table: one column per scenario, projected from what was known on as_of.
    table = at.dataframe[-1].value.set_index("Quantity")
    assert list(table.columns) == ["2 x 7.4 GBq", "3 x 5.5 GBq", "4 x 3.7 GBq"]
    history, patients = projection.inputs_from_tables(demo_tables.as_of(as_of))
    for (n, a), column in zip(((2, 7.4), (3, 5.5), (4, 3.7)), table.columns):
        expected = projection.project(history, n, a, patients=patients, patient_ids=["NET-005"]).iloc[0]
        assert table.loc["Cumulative kidney dose, median (Gy)", column] == f"{expected['dose_p50_gy']:.1f}"
        assert table.loc["P(dose > limit) (%)", column] == f"{100 * expected['p_exceed_dose']:.1f}"
        ok = expected["p_exceed_dose"] <= 0.05 and expected["p_exceed_bed"] <= 0.05
        assert table.loc["Within tolerance", column] == ("yes" if ok else "no")


def test_advanced_settings_change_the_projection(demo_db, demo_tables, app_env):
    app_env(demo_db)
    at = open_planner("NET-004")
    click(at, "Day before first salvage cycle")
    at.number_input(key="pl_dose_limit").set_value(15.0).run()
    at.number_input(key="pl_ab").set_value(3.0).run()
    assert not at.exception
    _, row = eligibility.assess(demo_tables, "NET-004", as_of=dt.date(2025, 3, 17), n_cycles=2, activity_gbq=7.4,
                                config=CONFIG,
                                settings=KidneyModelSettings(dose_limit_gy=15.0, alpha_beta_gy=3.0))
    shown = metrics(at)
    assert shown["P(kidney dose > 15 Gy)"] == f"{100 * row['p_exceed_dose']:.1f} %"
    assert shown["Projected kidney BED, median (Gy)"] == f"{row['bed_p50_gy']:.1f}"
    assert at.error[0].value.startswith("**Verdict on 2025-03-17: not eligible**")
