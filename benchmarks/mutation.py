"""Mutation testing of one clinical module against its own unit tests (issue 17; not in CI).

    .venv/bin/python -m benchmarks.mutation MODULE [--workdir DIR] [--max-children N]

MODULE is a table of ``[tool.mutmut.modules]`` in pyproject.toml (dosimetry, toxicity,
response, eligibility, projection): its ``only_mutate`` globs and its ``tests`` files. mutmut 3
reads its settings only from ./pyproject.toml and writes a ``mutants/`` copy of the sources
next to it, so the run happens in a scratch directory (default
``<tempdir>/prrt_mutation/MODULE``, kept, so that a rerun resumes and ``mutmut results`` /
``mutmut show NAME`` / ``mutmut browse`` can be run there): prrt_core/, tests/ and data/ are
copied into it and a pyproject.toml is written with the repository's pytest settings and
``[tool.mutmut]`` plus the module's two entries. Prints one table row: mutants, killed,
survived, no tests, timeouts, suspicious, and the score (killed + timeouts) / mutants.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COPIED = ("prrt_core", "tests", "data")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.sqlite", "*.sqlite-wal", "*.sqlite-shm")


def _toml_value(value) -> str:
    """A TOML literal of a string, bool, number or list of those (JSON strings are TOML basic strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"pyproject value {value!r} is not a string, bool, number or list")


def _table(name: str, values: dict) -> str:
    return f"[{name}]\n" + "".join(f"{key} = {_toml_value(v)}\n" for key, v in values.items())


def module_config(pyproject: dict, module: str) -> str:
    """The scratch pyproject.toml for ``module``: pytest's settings and [tool.mutmut] for that module only."""
    mutmut = dict(pyproject["tool"]["mutmut"])
    modules = mutmut.pop("modules")
    if module not in modules:
        raise SystemExit(f"unknown module {module!r}; pyproject.toml [tool.mutmut.modules] has {sorted(modules)}")
    mutmut["only_mutate"] = modules[module]["only_mutate"]
    mutmut["pytest_add_cli_args_test_selection"] = modules[module]["tests"]
    return (_table("tool.pytest.ini_options", pyproject["tool"]["pytest"]["ini_options"]) + "\n"
            + _table("tool.mutmut", mutmut))


def prepare(workdir: Path, module: str) -> None:
    """Copy the sources, tests and data into ``workdir`` (replacing older copies) and write its pyproject.toml."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        target = workdir / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(REPO / name, target, ignore=IGNORED)
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    (workdir / "pyproject.toml").write_text(module_config(pyproject, module), encoding="utf-8")


def score_row(module: str, stats: dict) -> str:
    total = stats["total"]
    caught = stats["killed"] + stats["timeout"]
    score = f"{100.0 * caught / total:.1f} %" if total else "–"
    return (f"| {module} | {total:,} | {stats['killed']:,} | {stats['survived']:,} | {stats['no_tests']:,} | "
            f"{stats['timeout']:,} | {stats['suspicious']:,} | {score} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", help="a table of [tool.mutmut.modules] in pyproject.toml")
    parser.add_argument("--workdir", type=Path, help="scratch directory (default <tempdir>/prrt_mutation/MODULE)")
    parser.add_argument("--max-children", type=int, default=1, help="parallel mutant workers (default 1)")
    args = parser.parse_args(argv)
    workdir = (args.workdir or Path(tempfile.gettempdir()) / "prrt_mutation" / args.module).resolve()
    if workdir == REPO or REPO in workdir.parents:
        raise SystemExit(f"--workdir {workdir} is inside the repository; ruff and pytest would see mutants/")
    prepare(workdir, args.module)
    mutmut = shutil.which("mutmut", path=str(Path(sys.executable).parent)) or "mutmut"
    run = subprocess.run([mutmut, "run", "--max-children", str(args.max_children)], cwd=workdir)
    if run.returncode != 0:
        print(f"mutmut run failed (exit {run.returncode}) in {workdir}")
        return run.returncode
    subprocess.run([mutmut, "export-cicd-stats"], cwd=workdir, check=True, capture_output=True)
    stats = json.loads((workdir / "mutants" / "mutmut-cicd-stats.json").read_text(encoding="utf-8"))
    print("| module | mutants | killed | survived | no tests | timeouts | suspicious | score |")
    print("|---|---|---|---|---|---|---|---|")
    print(score_row(args.module, stats))
    print(f"survivors: cd {workdir} && {mutmut} results   (mutmut show NAME prints the diff)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
