"""Responsiveness of the tumour-board pages on the 35-patient demo cohort (AppTest reruns).

Each interaction is one AppTest rerun of app.py + the page script in-process: the time
from the widget change to the finished script (data, cached computations, element
serialisation), without the browser's drawing. Target: <= 0.5 s per interaction after
the first render (issue 5). Also timed: the first render of each page with cold caches
and the tumour-board summary built on the download click.
"""
from __future__ import annotations

import datetime as dt
import os
import statistics
import tempfile
import time
from pathlib import Path

from prrt_core.clinical import eligibility
from prrt_core.datasets import demo
from prrt_core.reports import summary
from prrt_core.store import Store, access
from prrt_core.views import planner

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TARGET_S = 0.5


def _timed(at, action) -> float:
    start = time.perf_counter()
    action()
    elapsed = time.perf_counter() - start
    if at.exception:
        raise RuntimeError(f"page raised: {[e.value for e in at.exception]}")
    return elapsed


def _row(name: str, times: list[float], note: str, target: bool = True) -> dict:
    median = statistics.median(times)
    return {"name": name, "median_s": median, "peak_mb": None, "target": f"<= {TARGET_S} s" if target else None,
            "ratio": None, "met": (median <= TARGET_S and max(times) <= 2 * TARGET_S) if target else None,
            "note": f"{note}; n = {len(times)}, max {max(times) * 1000:.0f} ms"}


def run(quick: bool) -> list[dict]:
    from streamlit.testing.v1 import AppTest

    patients = ["NET-007", "NET-013", "NET-020"] if quick else ["NET-002", "NET-007", "NET-011", "NET-013",
                                                                  "NET-020", "NET-026", "NET-031", "NET-035"]
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "demo.sqlite"
        with Store(db) as store:
            demo.load(store, actor=access.Actor("benchmark", access.Role.EDITOR))
        previous = os.environ.get("PRRT_DB")
        os.environ["PRRT_DB"] = str(db)
        try:
            at = AppTest.from_file(APP, default_timeout=120)
            at.query_params["patient"] = "NET-004"
            at.run()
            first_patient = _timed(at, lambda: at.switch_page("pages/patient.py").run())
            rerun_patient = [_timed(at, at.run) for _ in range(3)]
            picker = lambda pid: lambda: at.selectbox(key="board_patient_picker").set_value(pid).run()  # noqa: E731
            choose_patient = [_timed(at, picker(pid)) for pid in patients]
            at.selectbox(key="board_patient_picker").set_value("NET-004").run()
            first_planner = _timed(at, lambda: at.switch_page("pages/planner.py").run())
            changes = [lambda: at.slider(key="pl_cycles").set_value(3).run(),
                       lambda: at.number_input(key="pl_activity").set_value(5.5).run(),
                       lambda: at.slider(key="pl_tolerance").set_value(10).run(),
                       lambda: next(b for b in at.button if b.label.startswith("Day before")).click().run(),
                       lambda: at.number_input(key="pl_ab").set_value(3.0).run(),
                       lambda: at.slider(key="pl_cycles").set_value(1).run()]
            scenario = [_timed(at, change) for change in (changes if not quick else changes[:4])]
            planner_patient = [_timed(at, picker(pid)) for pid in patients]
        finally:
            if previous is None:
                os.environ.pop("PRRT_DB", None)
            else:
                os.environ["PRRT_DB"] = previous
        with Store(db) as store:
            tables = store.read_all()
    request = summary.SummaryRequest("NET-004", dt.date(2025, 3, 17), planner.Scenario(), eligibility.load_config(),
                                     dt.datetime(2026, 1, 1), True)
    summary_s = []
    for _ in range(1 if quick else 3):
        start = time.perf_counter()
        summary.render_html(tables, request)
        summary_s.append(time.perf_counter() - start)
    return [
        _row("patient review: first render, cold caches", [first_patient], "NET-004 via ?patient=", target=False),
        _row("patient review: rerun, same patient", rerun_patient, "cached review and chart specs"),
        _row("patient review: choose another patient", choose_patient, "uncached: review + 12 chart specs"),
        _row("salvage planner: first render", [first_planner], "NET-004 at its latest record", target=False),
        _row("salvage planner: change the scenario", scenario,
             "cycles, activity, tolerance, date, alpha/beta: new assess + path + fan specs"),
        _row("salvage planner: choose another patient", planner_patient, "new plan, fan specs and scenario table"),
        _row("tumour-board summary (on download click)", summary_s, "review, plan, 2 fan charts to inline SVG",
             target=False),
    ]
