"""The command line: bounded arguments, one export for the page and the command, and databases
that are not databases (a directory, a text file, a truncated file, a read-only file, /dev/null,
a missing file) refused in one line, creating nothing."""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from prrt_core import cli
from prrt_core.cli.main import COMMANDS as ALL_COMMANDS
from prrt_core.importer import export
from prrt_core.store import Store, backup
from tests.support import REPO, editor

PATIENT = {"patient_id": "P1", "sex": "F", "primary_site": "lung", "hypertension": 0, "diabetes": 0}
PROJECT = ["project", "--patient", "NET-002"]


# ---- item 8: every numeric argument is bounded ---------------------------------------------
BAD_ARGUMENTS = [
    (PROJECT + ["--cycles", "1000000", "--activity", "7.4"], "--cycles: must be an integer from 1 to 10, got '1000000'"),
    (PROJECT + ["--cycles", "0", "--activity", "7.4"], "--cycles: must be an integer from 1 to 10"),
    (PROJECT + ["--cycles", "2", "--activity", "1e308"], "--activity: must be a number from 1 to 10 GBq, got '1e308'"),
    (PROJECT + ["--cycles", "2", "--activity", "nan"], "--activity: must be a number from 1 to 10 GBq, got 'nan'"),
    (PROJECT + ["--cycles", "2", "--activity", "inf"], "--activity: must be a number from 1 to 10 GBq"),
    (PROJECT + ["--cycles", "2", "--activity", "0.5"], "--activity: must be a number from 1 to 10 GBq"),
    (PROJECT + ["--cycles", "2", "--activity", "7.4", "--samples", "1e8"],
     "--samples: must be an integer from 100 to 100,000, got '1e8'"),
    (PROJECT + ["--cycles", "2", "--activity", "7.4", "--samples", "100000000"],
     "--samples: must be an integer from 100 to 100,000"),
    (PROJECT + ["--cycles", "2", "--activity", "7.4", "--tolerance", "0.5"],
     "--tolerance: must be a number from 0.01 to 0.2, got '0.5'"),
    (PROJECT + ["--cycles", "2", "--activity", "7.4", "--tolerance", "nan"], "--tolerance: must be a number"),
    (PROJECT + ["--cycles", "2", "--activity", "7.4", "--seed", "-1"], "--seed: must be an integer from 0 to"),
    (["demo", "--patients", "0"], "--patients: must be an integer from 1 to 10,000, got '0'"),
    (["demo", "--patients", "1000000"], "--patients: must be an integer from 1 to 10,000"),
    (["demo", "--seed", "-3"], "--seed: must be an integer from 0 to"),
    (["dicom", "no-such-folder", "--activity-mbq", "nan"], "--activity-mbq: must be a number from 1 to 15000 MBq"),
    (["dicom", "no-such-folder", "--activity-mbq", "-7400"], "--activity-mbq: must be a number from 1 to 15000"),
    (["dicom", "no-such-folder", "--calibration-cps-per-mbq", "inf"], "--calibration-cps-per-mbq: must be a number"),
    (["dicom", "no-such-folder", "--scan-duration-s", "0"], "--scan-duration-s: must be a number from 1 to 86400 s"),
    (["dicom", "no-such-folder", "--density-g-per-ml", "1e9"], "--density-g-per-ml: must be a number from 0.1 to 3"),
    (["dicom", "no-such-folder", "--patient", "NET-001", "--cycle", "31"], "--cycle: must be an integer from 1 to 30"),
]


@pytest.mark.parametrize("argv, message", BAD_ARGUMENTS, ids=[
    f"{a[0]} {(o := m.split(':')[0])} {a[a.index(o) + 1]}" for a, m in BAD_ARGUMENTS])
def test_an_argument_out_of_its_range_exits_2_naming_the_range(tmp_path, capsys, argv, message):
    # --db is a directory: had the argument been accepted, the command would fail on it instead.
    with pytest.raises(SystemExit) as info:
        cli.main(["--db", str(tmp_path)] + argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_a_bounded_projection_runs_and_a_negative_activity_is_refused_input(demo_db, capsys):
    assert cli.main(["--db", str(demo_db)] + PROJECT + ["--cycles", "10", "--activity", "10", "--samples", "100",
                                                          "--tolerance", "0.2", "--seed", "4294967295"]) == 0
    assert "10 further cycle(s) x 10 GBq" in capsys.readouterr().out
    assert cli.main(["--db", str(demo_db)] + PROJECT + ["--cycles", "2", "--activity", "-1"]) == 1
    assert "activity" in capsys.readouterr().err


# ---- item 14: the command line writes the page's export --------------------------------------
FORMULAS = {"prior_therapies": "=HYPERLINK(\"http://x.example\",\"click\")", "other_renal_risk": "@SUM(A1:A9)"}


def test_cli_export_writes_the_neutralised_files_of_the_pages_zip(tmp_path, capsys):
    db = tmp_path / "f.sqlite"
    with Store(db) as store:
        store.insert({"patients": [PATIENT | FORMULAS],
                      "cycles": [{"patient_id": "P1", "cycle_number": 1, "phase": "initial",
                                  "cycle_date": "2021-01-01", "activity_gbq": 7.4}],
                      "dosimetry": [{"cycle_id": 1, "organ": "kidneys", "dose_gy": 3.5, "method": "hybrid",
                                     "provenance": "-2+3+cmd|' /C calc'!A0"}]}, actor=editor("t"))
    assert cli.main(["--db", str(db), "export", str(tmp_path / "out")]) == 0
    with zipfile.ZipFile(io.BytesIO(export.export_zip(db))) as archive:
        zipped = {name: archive.read(name) for name in archive.namelist()}
    written = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    assert written == zipped  # the same files, byte for byte, audit.csv included
    patients, dosimetry = written["patients.csv"].decode("utf-8-sig"), written["dosimetry.csv"].decode("utf-8-sig")
    assert "'=HYPERLINK(" in patients and "'@SUM(A1:A9)" in patients and ",=HYPERLINK" not in patients
    assert "'-2+3+cmd|" in dosimetry and ",-2+3+cmd" not in dosimetry
    assert f"{tmp_path / 'out' / 'audit.csv'}: " in capsys.readouterr().out


# ---- item 15: a database path that is not a database ---------------------------------------
def run_cli(*argv: str) -> subprocess.CompletedProcess:
    """``python -m prrt_core ...`` in a child process (what a user sees: stderr, exit code)."""
    return subprocess.run([sys.executable, "-m", "prrt_core", *argv], capture_output=True, text=True, cwd=REPO,
                          timeout=120)


def not_databases(tmp_path: Path, good: Path) -> dict[str, tuple[Path, str]]:
    (folder := tmp_path / "a_directory").mkdir()
    (text := tmp_path / "notes.txt").write_text("patient_id\nP1\n")
    data = good.read_bytes()
    (truncated := tmp_path / "truncated.sqlite").write_bytes(data[: len(data) // 2])
    return {"directory": (folder, "is a directory, not a database file"),
            "text file": (text, "not an SQLite database"),
            "truncated": (truncated, "truncated SQLite file"),
            "/dev/null": (Path("/dev/null"), "is not a regular file")}


@pytest.fixture
def good(tmp_path):
    with Store(tmp_path / "live.sqlite") as store:
        store.insert({"patients": [PATIENT]}, actor=editor("t"))
    return backup.backup(tmp_path / "live.sqlite", tmp_path / "good.sqlite")


COMMANDS = {"init": ["init"], "demo": ["demo"], "export": ["export", "OUT"], "backup": ["backup", "OUT/b.sqlite"],
            "project": PROJECT + ["--cycles", "2", "--activity", "7.4"], "import": ["import", "PATIENTS"],
            "restore": ["restore", "GOOD"]}


@pytest.mark.parametrize("kind", ["directory", "text file", "truncated", "/dev/null"])
def test_a_database_that_is_not_a_database_is_one_line_and_exit_1_and_nothing_is_created(
        tmp_path, good, kind, monkeypatch, capsys):
    path, reason = not_databases(tmp_path, good)[kind]
    monkeypatch.setenv("PRRT_DB", str(path))
    (patients := tmp_path / "patients.csv").write_text("patient_id,sex,primary_site,hypertension,diabetes\n"
                                                       "N1,F,lung,0,0\n")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for name, argv in COMMANDS.items():
        argv = [{"OUT": str(tmp_path / "out"), "OUT/b.sqlite": str(tmp_path / "out" / "b.sqlite"),
                 "PATIENTS": str(patients), "GOOD": str(good)}.get(a, a) for a in argv]
        assert cli.main(argv) == 1, name
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: "), (name, err)
        assert str(path) in err and reason in err, (name, err)
        assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before, name  # nothing created


def test_backup_from_dev_null_is_refused_not_an_empty_file(tmp_path):
    done = run_cli("--db", "/dev/null", "backup", str(tmp_path / "b.sqlite"))
    assert done.returncode == 1 and done.stderr == ("error: database: field path = '/dev/null' rejected: is not a "
                                                    "regular file (a device, pipe or socket), not a database file\n")
    assert not (tmp_path / "b.sqlite").exists()


# ---- issue 13 section 5: a missing database is created by init and demo only -----------------
# Every command, on a database file that does not exist: (arguments, what happens). A command that
# created an empty file would keep the app from loading the demo cohort on its first start.
CREATES, REFUSES, NEEDS_NONE = "creates", "refuses", "needs no database"
ON_A_MISSING_DATABASE = {
    "init": (["init"], CREATES), "demo": (["demo", "--patients", "3"], CREATES),
    "export": (["export", "OUT"], REFUSES), "backup": (["backup", "OUT/b.sqlite"], REFUSES),
    "project": (PROJECT + ["--cycles", "2", "--activity", "7.4"], REFUSES), "import": (["import", "PATIENTS"], REFUSES),
    "restore": (["restore", "GOOD"], REFUSES),
    "dicom": (["dicom", "STUDY", "--patient", "NET-001", "--cycle", "1"], REFUSES),
    "template": (["template", "OUT/template.xlsx"], NEEDS_NONE),
    "demo-spect": (["demo-spect", "OUT/demo.zip"], NEEDS_NONE),
}


@pytest.mark.parametrize("name", [command.NAME for command in ALL_COMMANDS])
def test_a_missing_database_is_created_only_by_init_and_demo(tmp_path, good, capsys, name):
    assert name in ON_A_MISSING_DATABASE, f"say what {name!r} does on a missing database"
    argv, outcome = ON_A_MISSING_DATABASE[name]
    db = tmp_path / "new" / "prrt.sqlite"
    (patients := tmp_path / "patients.csv").write_text("patient_id,sex,primary_site,hypertension,diabetes\n"
                                                       "N1,F,lung,0,0\n")
    (study := tmp_path / "study").mkdir()
    argv = [{"OUT": str(tmp_path / "out"), "OUT/b.sqlite": str(tmp_path / "out" / "b.sqlite"),
             "OUT/template.xlsx": str(tmp_path / "out" / "template.xlsx"), "PATIENTS": str(patients),
             "OUT/demo.zip": str(tmp_path / "out" / "demo.zip"),
             "GOOD": str(good), "STUDY": str(study)}.get(a, a) for a in argv]
    code = cli.main(["--db", str(db)] + argv)
    err = capsys.readouterr().err
    if outcome == REFUSES:
        assert code == 1 and err.count("\n") == 1 and "no such database file" in err and str(db) in err, err
        assert not db.parent.exists() and not (tmp_path / "out").exists()
    elif outcome == NEEDS_NONE:
        assert code == 0 and Path(argv[-1]).exists() and not db.parent.exists()
    else:
        assert code == 0 and db.exists(), err
        with Store(db, create=False) as store:
            assert store.is_demo == (name == "demo") and store.is_empty() == (name == "init")


def test_an_import_dry_run_on_a_missing_database_checks_against_an_empty_one_and_creates_nothing(tmp_path, capsys):
    db = tmp_path / "new" / "prrt.sqlite"
    (patients := tmp_path / "patients.csv").write_text("patient_id,sex,primary_site,hypertension,diabetes\n"
                                                       "N1,F,lung,0,0\n")
    assert cli.main(["--db", str(db), "import", str(patients), "--dry-run"]) == 0
    assert "1 row(s) would write (into an empty database" in capsys.readouterr().out
    assert not db.exists() and not db.parent.exists()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_read_only_database_is_read_and_never_written(tmp_path, good, capsys):
    db = tmp_path / "ro.sqlite"
    with Store(db) as store:
        store.insert({"patients": [PATIENT]}, actor=editor("t"))
    backup.backup(db, ro := tmp_path / "ro" / "clinic.sqlite")  # rollback journal mode, as a copied file is
    ro.chmod(0o444)
    digest, header = sha256(ro), ro.read_bytes()[18:20]
    assert cli.main(["--db", str(ro), "export", str(tmp_path / "out")]) == 0
    assert cli.main(["--db", str(ro), "backup", str(tmp_path / "copy.sqlite")]) == 0
    capsys.readouterr()
    (patients := tmp_path / "patients.csv").write_text("patient_id,sex,primary_site,hypertension,diabetes\n"
                                                       "N1,F,lung,0,0\n")
    assert cli.main(["--db", str(ro), "init"]) == 0  # up to date: nothing to write
    for argv in (["import", str(patients)], ["demo"], ["restore", str(good)]):
        code = cli.main(["--db", str(ro)] + argv)
        err = capsys.readouterr().err
        assert code == 1 and err.count("\n") == 1 and "read-only" in err, (argv, err)
    assert sha256(ro) == digest and ro.read_bytes()[18:20] == header  # no WAL switch, no write
    assert sorted(p.name for p in ro.parent.iterdir()) == ["clinic.sqlite"]
    with Store(ro, create=False) as store:
        assert store.read_only and store.read("patients")["patient_id"].tolist() == ["P1"]


# ---- issue 16: the demo SPECT study in one command ------------------------------------------
def test_demo_spect_writes_the_phantom_zip_that_the_dicom_command_reads(tmp_path, capsys):
    out = tmp_path / "demo.zip"
    assert cli.main(["demo-spect", str(out)]) == 0
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
    # prrt_core.testing.phantom: 5 NM time points and one DICOM SEG.
    assert sorted(n.rsplit("/", 1)[1] for n in names) == [f"spect_tp{i}" for i in range(1, 6)] + ["vois_seg"]
    capsys.readouterr()
    assert cli.main(["dicom", str(out)]) == 0
    printed = capsys.readouterr().out
    # The phantom's left kidney: 0.60 MBq/mL x 45 h / ln2 x 0.085335 Gy g/(MBq h) / 1.04 g/mL = 3.20 Gy
    # (tests/unit/test_voxel.py).
    assert any(line.startswith("Left kidney (Gy)") and "3.20" in line for line in printed.splitlines()), printed
    before = out.read_bytes()
    assert cli.main(["demo-spect", str(out)]) == 1  # never overwritten
    assert "exists; nothing written" in capsys.readouterr().err and out.read_bytes() == before


def test_one_time_point_gives_single_time_point_doses_and_saving_needs_replace_for_a_stored_dose(tmp_path, capsys):
    from prrt_core.datasets import demo
    from prrt_core.testing import phantom

    written = phantom.write_phantom(tmp_path / "one", phantom.default_phantom(times_h=(96.0,)))
    assert cli.main(["dicom", str(written.folder)]) == 1
    assert "give --t-eff-h H" in capsys.readouterr().err
    assert cli.main(["dicom", str(written.folder), "--t-eff-h", "45"]) == 0
    out = capsys.readouterr().out
    # Hänscheid 2018 with the phantom's own T_eff: 0.125 x C0 x T_eff = 0.125 x 0.60 MBq/mL x 45 h = 3.375 Gy.
    left = next(line for line in out.splitlines() if line.strip().startswith("Kidney left"))
    assert "3.375" in left and "T_eff 45.0 h: entered (--t-eff-h)" in out

    db = tmp_path / "demo.sqlite"
    with Store(db) as store:
        demo.load(store, actor=editor("demo"))
        kidneys = store.read("dosimetry", patient_id="NET-005").query("organ == 'kidneys'")["t_eff_h"]
    argv = ["--db", str(db), "dicom", str(written.folder), "--patient", "NET-005", "--cycle", "1",
            "--stp-method", "hanscheid"]
    assert cli.main(argv) == 1  # cycle 1 is of 2018, the study of 2024: refused
    captured = capsys.readouterr()
    assert f"T_eff {kidneys.median():.1f} h: median of NET-005's {len(kidneys)} earlier cycles" in captured.out
    assert "differs from cycle 1's date 2018-12-11" in captured.err  # the date warning: refused without
    assert "give --accept-mismatch" in captured.err
    assert cli.main(argv + ["--accept-mismatch"]) == 1  # and the stored dose: listed, not replaced
    captured = capsys.readouterr()
    assert "give --replace" in captured.err and "Stored dose (Gy)" in captured.err
    assert cli.main(argv + ["--accept-mismatch", "--replace"]) == 0
    with Store(db) as store:
        rows = store.read("dosimetry", patient_id="NET-005")
        audit = store.read("audit").query("table_name == 'dosimetry' and action == 'update'")
    assert rows.query("organ == 'kidneys'")["method"].str.startswith("single-time-point (Hänscheid 2018)").sum() == 1
    assert len(audit) == 1 and '"dose_gy"' in audit["before_json"].iloc[0]


@pytest.mark.parametrize("value", ["200", "nan", "0"])
def test_t_eff_beyond_the_lu177_half_life_or_not_finite_exits_2(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as info:
        cli.main(["--db", str(tmp_path), "dicom", "no-such-folder", "--t-eff-h", value])
    assert info.value.code == 2
    assert "--t-eff-h: must be a number from 1 to 159.528 h" in capsys.readouterr().err
