"""Run every benchmarks/bench_*.py and print one table: `python -m benchmarks.run [--quick] [--only NAME]`.

Each module exposes run(quick: bool) -> list[dict] with keys name, median_s, peak_mb,
target, ratio (or None), note, and optionally met (bool or None).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import platform
import sys

import numpy as np

import benchmarks


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _blas() -> str:
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - the BLAS line is informational only
        return "unknown BLAS"


def machine_line() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"machine: {platform.platform()} | CPU: {_cpu_model()} | cores available: {cores} | "
            f"Python {platform.python_version()} | numpy {np.__version__} ({_blas()})")


def _fmt_time(seconds) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _table(rows: list[dict]) -> str:
    head = ["benchmark", "median", "peak MB", "target", "ratio", "met", "note"]
    body = [[r["name"], _fmt_time(r.get("median_s")),
             "-" if r.get("peak_mb") is None else f"{r['peak_mb']:.0f}", r.get("target") or "-",
             "-" if r.get("ratio") is None else f"{r['ratio']:.2f}",
             {True: "yes", False: "NO", None: "-"}[r.get("met")], r.get("note", "")] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    line = lambda cells: " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(head), "-+-".join("-" * w for w in widths)] + [line(b) for b in body])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller loop subsets")
    parser.add_argument("--only", metavar="NAME", help="run only benchmarks/bench_NAME.py (e.g. dvk)")
    args = parser.parse_args(argv)
    # Page benchmarks call cached page code outside a server: Streamlit's bare-mode
    # warnings ("missing ScriptRunContext") would bury the table.
    for name in ("streamlit", "streamlit.runtime.scriptrunner_utils.script_run_context",
                 "streamlit.runtime.caching.cache_data_api"):
        logging.getLogger(name).setLevel(logging.ERROR)
    rows: list[dict] = []
    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda m: m.name):
        if info.name.startswith("bench_") and args.only in (None, info.name.removeprefix("bench_")):
            module = importlib.import_module(f"benchmarks.{info.name}")
            rows.extend(module.run(args.quick))
    print(machine_line())
    print(f"mode: {'quick' if args.quick else 'full'}")
    print(_table(rows))
    return 0 if all(r.get("met") is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
