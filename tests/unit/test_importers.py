"""Import: template, validation of every row, unit conversion, natural keys, bad inputs."""

from __future__ import annotations

import csv
import io
import zipfile

import openpyxl
import pandas as pd
import pytest

from prrt_core import importer
from prrt_core.cli import main as cli_main
from prrt_core.importer import TABLES, ColumnKind
from prrt_core.importer.files import table_for
from prrt_core.store import Store, StoreError, schema
from tests.support import editor

PATIENT = {"patient_id": "P1", "sex": "F", "age_at_first_prrt_years": 61,
           "primary_site": "small intestine", "hypertension": 0, "diabetes": 0}
CYCLE = {"patient_id": "P1", "cycle_number": 1, "phase": "initial", "cycle_date": "2021-03-01",
         "activity_gbq": 7.4}


def csv_bytes(rows: list[dict], header: list[str] | None = None, encoding: str = "utf-8") -> bytes:
    header = header or list(rows[0])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        values = [row.get(h) for h in header]
        writer.writerow(["" if v is None else repr(v) if isinstance(v, float) else v for v in values])
    return out.getvalue().encode(encoding)


def problems_of(store: Store, files: list[tuple[str, bytes]]) -> pd.DataFrame:
    return importer.check_import(store, importer.read_files(files)).problems


def reasons(problems: pd.DataFrame) -> str:
    return " | ".join(problems["Reason"])


@pytest.fixture
def seeded(tmp_path):
    """P1 with cycle 1 (2021-03-01), P3 without cycles."""
    with Store(tmp_path / "seeded.sqlite") as store:
        store.insert({"patients": [PATIENT, PATIENT | {"patient_id": "P3"}],
                      "cycles": [CYCLE | {"cycle_id": 1}]}, actor=editor("seed"))
        yield store


# ---- the column specification and the schema --------------------------------------
def test_spec_covers_every_store_column_and_nothing_else(store):
    internal = {"cycle_id", "recorded_via"} | set(schema.PRIMARY_KEYS.values()) - {"patient_id"}
    for name, spec in TABLES.items():
        spec_columns = [c.name for c in spec.columns]
        store_columns = [c for c in store.columns(name) if c not in internal]
        extra = {"patient_id", "cycle_number"} if name == "dosimetry" else set()  # the cycle's key
        assert set(spec_columns) == set(store_columns) | extra, name
        assert set(spec.key) <= set(spec_columns)


class _Rollback(Exception):
    pass


def store_accepts(store: Store, table: str, row: dict) -> bool:
    if table == "dosimetry":
        row = {k: v for k, v in row.items() if k not in ("patient_id", "cycle_number")} | {"cycle_id": 1}
    try:
        with store.transaction(editor()):
            store.insert({table: [row]}, actor=editor("t"))
            raise _Rollback
    except _Rollback:
        return True
    except StoreError:
        return False


def importer_accepts(store: Store, table: str, row: dict) -> bool:
    return problems_of(store, [(f"{table}.csv", csv_bytes([row]))]).empty


BASE = {
    "patients": {"patient_id": "P2", "sex": "F", "primary_site": "lung", "hypertension": 0, "diabetes": 0},
    "cycles": {"patient_id": "P3", "cycle_number": 2, "phase": "initial", "cycle_date": "2021-05-01",
               "activity_gbq": 7.4},
    "dosimetry": {"patient_id": "P1", "cycle_number": 1, "organ": "kidneys", "label": "",
                  "dose_gy": 3.0, "method": "SPECT/CT"},
    "labs": {"patient_id": "P1", "lab_date": "2021-03-01", "hb_g_dl": 12.0},
    "assessments": {"patient_id": "P1", "assessment_date": "2021-02-01", "phase": "initial",
                    "role": "baseline", "modality": "CT", "new_lesions": 0},
    "events": {"patient_id": "P1", "event_date": "2022-01-01", "event_type": "progression",
               "phase": "initial"},
    "performance_status": {"patient_id": "P1", "status_date": "2021-02-20", "ecog": 1},
    "ssa_administrations": {"patient_id": "P1", "administration_date": "2021-01-10", "drug": "lanreotide",
                            "dose_mg": 120.0},
    "findings": {"patient_id": "P1", "finding_date": "2021-02-01", "finding": "pregnancy", "present": 0},
    "board_decisions": {"patient_id": "P1", "record_number": 1, "board_date": "2021-06-01",
                        "decision": "salvage", "n_cycles": 2, "activity_gbq": 7.4, "attendees": "oncology",
                        "rationale": "disease control", "snapshot_json": '{"verdict": "eligible"}',
                        "signed_by": "chair", "signed_at_utc": "2021-06-01T15:00:00Z"},
}


def boundary_cases(table: str) -> list[tuple[str, object]]:
    """(column, value) at, just inside and just outside every range; every choice; ids, dates."""
    cases = []
    for col in TABLES[table].columns:
        if col.kind.numeric and not (table == "dosimetry" and col.name == "cycle_number"):
            eps = 1 if col.kind == ColumnKind.INT else 1e-6 * max(1.0, abs(col.high))
            for value in (col.low, col.high, col.low - eps, col.high + eps, col.low + eps):
                cases.append((col.name, int(value) if col.kind == ColumnKind.INT else float(value)))
        elif col.kind == ColumnKind.ENUM:
            cases += [(col.name, value) for value in col.choices + ("not-a-choice",)]
    cases += {"labs": [("lab_date", "2021-02-28"), ("lab_date", "2021-02-30"), ("lab_date", "01/03/2021")],
              "cycles": [("cycle_date", "2024-02-29"), ("cycle_date", "2023-02-29")],
              # Schema 3 (issue 13): a decision's details as its kind requires, strict JSON, UTC time.
              "board_decisions": [("n_cycles", None), ("defer_until", "2021-07-01"),
                                  ("snapshot_json", "[1, 2]"), ("snapshot_json", '{"p": NaN}'),
                                  ("snapshot_json", "{" + '"a": 1, ' * 6000 + '"b": 2}'),
                                  ("signed_at_utc", "2021-06-01 15:00:00"), ("signed_at_utc", "2021-02-30T10:00:00Z"),
                                  ("signed_at_utc", "2021-06-01T24:00:00Z"), ("supersedes_record", 1),
                                  ("rationale", "r" * 2000), ("rationale", "r" * 2001)],
              "patients": [("patient_id", "A" * 32), ("patient_id", "A" * 33), ("patient_id", "Jane Doe"),
                           ("patient_id", "x'); DROP TABLE--"), ("childbearing_potential", 1),
                           ("childbearing_potential", None)]}.get(table, [])
    return cases


@pytest.fixture(scope="module")
def many_patients():
    """P1 with cycle 1; Q000-Q199 without data, one per boundary case (so rows never interact)."""
    with Store(":memory:") as store:
        store.insert({"patients": [PATIENT] + [PATIENT | {"patient_id": f"Q{i:03d}"} for i in range(200)],
                      "cycles": [CYCLE | {"cycle_id": 1}]}, actor=editor("seed"))
        yield store


@pytest.mark.parametrize("table", list(TABLES))
def test_importer_and_schema_checks_agree(many_patients, table):
    """Each boundary value, fed to the schema's CHECK constraints (one insert, rolled back)
    and to the importer (one file, a row per case), is accepted by both or refused by both."""
    rows = []
    for i, (column, value) in enumerate(boundary_cases(table)):
        new_id = f"{'N' if table == 'patients' else 'Q'}{i:03d}"  # a new patient, or Q with no data
        row = BASE[table] | {"patient_id": new_id, column: value}
        if table == "dosimetry":
            row |= {"patient_id": "P1", "label": f"VOI {i}"}
        if table == "events" and column == "event_type" and value != "progression":
            row["phase"] = None  # the schema's row rule: only a progression has a phase
        rows.append(row)
    by_store = [store_accepts(many_patients, table, row) for row in rows]
    problems = problems_of(many_patients, [(f"{table}.csv", csv_bytes(rows, header=list(
        dict.fromkeys(k for row in rows for k in row))))])
    refused_rows = set(problems["Row"])
    by_importer = [i + 2 not in refused_rows for i in range(len(rows))]
    disagree = [(c, v, s) for (c, v), s, m in zip(boundary_cases(table), by_store, by_importer) if s != m]
    assert not disagree, f"(column, value, schema accepts) where the importer differs: {disagree}"
    assert any(by_store) and not all(by_store)  # both outcomes were exercised


def test_boundaries_really_are_exercised(seeded):
    # The agreement test above would pass vacuously if both always accepted: spot-check.
    assert store_accepts(seeded, "cycles", BASE["cycles"] | {"activity_gbq": 15.0})
    assert not store_accepts(seeded, "cycles", BASE["cycles"] | {"activity_gbq": 15.000015})
    assert not importer_accepts(seeded, "cycles", BASE["cycles"] | {"activity_gbq": 0.0})
    assert importer_accepts(seeded, "performance_status", BASE["performance_status"] | {"karnofsky_pct": 70})
    assert not importer_accepts(seeded, "performance_status", BASE["performance_status"] | {"karnofsky_pct": 75})
    assert not store_accepts(seeded, "events", BASE["events"] | {"phase": None})
    assert not importer_accepts(seeded, "events", BASE["events"] | {"phase": None})


# ---- template ----------------------------------------------------------------------
def test_template_is_generated_from_the_specification():
    book = openpyxl.load_workbook(io.BytesIO(importer.template_workbook()))
    assert book.sheetnames == list(TABLES) + [importer.EXPLANATION_SHEET]
    for name, spec in TABLES.items():
        rows = list(book[name].iter_rows(values_only=True))
        assert list(rows[0]) == [c.header for c in spec.columns]
        assert len(rows) == 2 and rows[1][0] == importer.EXAMPLE_PATIENT_ID
    assert book["cycles"]["E1"].value == "activity (GBq)"
    assert book["labs"]["I1"].value == "egfr (mL/min/1.73 m²)"
    explained = importer.columns_table()
    assert len(explained) == sum(len(t.columns) for t in TABLES.values())
    row = explained[explained["column (header)"] == "creatinine (mg/dL)"].iloc[0]
    assert row["other accepted units"] == "creatinine (µmol/L)"
    assert row["allowed values"] == "number in [0.1, 30] mg/dL"
    sheet = list(book[importer.EXPLANATION_SHEET].iter_rows(values_only=True))
    assert any(r[1] == "activity (GBq)" and r[5] == "number in (0, 15] GBq" for r in sheet if r[1])


def test_unchanged_template_is_refused_only_for_its_example_rows(seeded):
    problems = problems_of(seeded, [("template.xlsx", importer.template_workbook())])
    # One example row per table sheet, nothing else: the examples are otherwise valid.
    assert len(problems) == len(TABLES)
    assert set(problems["Reason"]) == {"the template's example row: replace it with real data or delete it"}
    assert set(problems["Row"]) == {2}


def filled_template(rows_by_sheet: dict[str, list[list]]) -> bytes:
    """The template with its example rows replaced by ``rows_by_sheet`` (others emptied)."""
    book = openpyxl.load_workbook(io.BytesIO(importer.template_workbook()))
    for name in TABLES:
        book[name].delete_rows(2)
        for row in rows_by_sheet.get(name, []):
            book[name].append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_filled_template_imports_and_converts_header_units(store):
    data = filled_template({
        "patients": [["NEW-1", "F", 55, "pancreas", "G2", 7.5, 1, 0, None, "surgery"]],
        "cycles": [["NEW-1", 1, "initial", "2024-01-15", 7.4], ["NEW-1", 2, "initial", "2024-03-11", 7.3]],
        "labs": [["NEW-1", "2024-01-10", 12.5, 210, 6.1, 3.9, 1.5, 0.9, 85, None, None, None]],
    })
    plan = importer.import_files(store, [("clinic.xlsx", data)], actor=editor("dr_a"))
    assert plan.summary().set_index("Table").loc["cycles", "Added"] == 2
    assert store.read("cycles")["activity_gbq"].tolist() == [7.4, 7.3]
    assert store.read("patients").iloc[0]["hypertension"]


# ---- units -------------------------------------------------------------------------
@pytest.mark.parametrize("table, header, text, column, expected, tol", [
    # 150 umol/L x 113.12 g/mol = 16.97 mg/L = 1.697 mg/dL (creatinine molar mass).
    ("labs", "creatinine (µmol/L)", "150", "creatinine_mg_dl", 1.6968, 1e-4),
    ("labs", "creatinine (umol/l)", "88.4", "creatinine_mg_dl", 1.0, 1e-12),
    # CTCAE v5.0 anaemia grade 2 bound: 10.0 g/dL = 6.2 mmol/L (rounded).
    ("labs", "hb (mmol/L)", "6.2", "hb_g_dl", 10.0, 0.02),
    ("labs", "hb (g/L)", "125", "hb_g_dl", 12.5, 1e-12),
    # 17.1 umol/L per mg/dL: 34.2 umol/L = 2 mg/dL.
    ("labs", "bilirubin (μmol/L)", "34.2", "bilirubin_mg_dl", 2.0, 1e-12),
    ("labs", "plt (10^3/µL)", "150", "plt_10e9_l", 150.0, 0),
    # US prescribing information: 7.4 GBq (200 mCi) per cycle.
    ("cycles", "activity (mCi)", "200", "activity_gbq", 7.4, 1e-12),
    ("cycles", "activity (MBq)", "7400", "activity_gbq", 7.4, 1e-12),
    ("cycles", "activity_gbq", "7.4", "activity_gbq", 7.4, 0),
    ("assessments", "target_sum (cm)", "8.5", "target_sum_mm", 85.0, 1e-12),
])
def test_header_units_are_converted(seeded, table, header, text, column, expected, tol):
    base = {k: v for k, v in BASE[table].items() if k != column} | {"patient_id": "P1"}
    if table == "cycles":
        base |= {"cycle_number": 2}
    body = ",".join(base) + f",{header}\n" + ",".join(repr(v) if isinstance(v, float) else str(v)
                                                       for v in base.values()) + f",{text}\n"
    importer.import_files(seeded, [(f"{table}.csv", body.encode())], actor=editor("t"))
    value = seeded.read(table)[column].dropna().iloc[-1]
    assert value == pytest.approx(expected, abs=tol)


def test_unknown_missing_and_contradicting_units_are_refused(seeded):
    body = ("patient_id,lab_date,creatinine (mmol/L),hb,plt_10e9_l (G/L),activity (GBq)\n"
            "P1,2021-03-01,0.1,12,200,7\n")
    problems = problems_of(seeded, [("labs.csv", body.encode())]).set_index("Column")
    assert problems.loc["creatinine (mmol/L)", "Reason"] == \
        "unknown unit for creatinine; accepted: mg/dL, µmol/L"
    assert problems.loc["hb", "Reason"] == "unit missing: write hb (g/dL) or hb (g/L) or hb (mmol/L)"
    assert problems.loc["plt_10e9_l (G/L)", "Reason"].startswith("plt_10e9_l is in 10^9/L")
    assert problems.loc["activity (GBq)", "Reason"].startswith("unknown column")
    assert len(seeded.read("labs")) == 0


def test_out_of_range_after_conversion_names_both_units(seeded):
    body = "patient_id,cycle_number,phase,cycle_date,activity (mCi)\nP1,2,initial,2021-05-01,500\n"
    problem = problems_of(seeded, [("cycles.csv", body.encode())]).iloc[0]
    # 500 mCi x 37 MBq/mCi = 18.5 GBq > 15 GBq (schema bound).
    assert (problem["Row"], problem["Column"], problem["Value"]) == (2, "activity (GBq)", "500")
    assert problem["Reason"] == "500 mCi = 18.5 GBq: outside (0, 15] GBq"


# ---- validation of every row, all problems at once ------------------------------------
def test_every_problem_is_reported_at_once_and_nothing_is_written(seeded):
    patients = ("patient_id,sex,age_at_first_prrt (years),primary_site,hypertension,diabetes\n"
                "P10,X,61,lung,0,0\n"          # row 2: bad sex
                "P11,F,61.5,brain,maybe,0\n"   # row 3: age not whole, site, flag
                "P12,F,200,lung,0,0\n"         # row 4: age out of range
                "P12,M,50,lung,1,1\n")         # row 5: duplicate of row 4
    cycles = ("patient_id,cycle_number,phase,cycle_date,activity (GBq)\n"
              "P99,1,initial,2021-01-01,7.4\n"          # row 2: unknown patient
              "P1,2,initial,01/05/2021,seven\n"        # row 3: date format, not a number
              "P1,3,initial,2021-02-30,7.4\n")         # row 4: impossible date
    before = seeded.revision
    problems = problems_of(seeded, [("patients.csv", patients.encode()), ("cycles.csv", cycles.encode())])
    got = {(r.File, r.Row, r.Column, r.Reason) for r in problems.itertuples()}
    expected = {
        ("patients.csv", 2, "sex", "one of: M, F"),
        ("patients.csv", 3, "age_at_first_prrt (years)", "not a whole number"),
        ("patients.csv", 3, "primary_site", "one of: small intestine, pancreas, lung, CUP, rectum, "
                                            "colon, stomach, paraganglioma, pheochromocytoma, other"),
        ("patients.csv", 3, "hypertension", "not yes/no: write 1 or 0"),
        ("patients.csv", 4, "age_at_first_prrt (years)", "outside [0, 120] years"),
        ("patients.csv", 5, "patient_id", "duplicate key: also row 4"),
        ("cycles.csv", 2, "patient_id", "unknown patient: not in the patients table or the database"),
        ("cycles.csv", 3, "cycle_date", "not a date: write YYYY-MM-DD"),
        ("cycles.csv", 3, "activity (GBq)", "not a number"),
        ("cycles.csv", 4, "cycle_date", "no such calendar date"),
    }
    assert expected <= got, expected - got
    assert len(problems) == len(expected) + 1  # row 4 is also a duplicate of row 5
    assert list(problems.columns) == ["File", "Row", "Column", "Value", "Reason"]
    with pytest.raises(importer.ImportRejected):
        importer.commit_import(seeded, importer.read_files(
            [("patients.csv", patients.encode()), ("cycles.csv", cycles.encode())]), actor=editor("t"))
    assert seeded.revision == before and len(seeded.read("patients")) == 2


def test_date_order_rules_against_file_and_store(seeded):
    cycles = ("patient_id,cycle_number,phase,cycle_date,activity_gbq\n"
              "P1,2,initial,2021-02-01,7.4\n"      # before stored cycle 1 (2021-03-01)
              "P3,1,salvage,2021-01-01,7.4\n"
              "P3,2,initial,2021-03-01,7.4\n")     # initial after salvage
    assessments = ("patient_id,assessment_date,phase,role,modality,new_lesions\n"
                   "P1,2021-02-01,initial,baseline,CT,0\n"
                   "P1,2021-01-15,initial,follow-up,CT,0\n")  # follow-up before baseline
    events = "patient_id,event_date,event_type,phase\nP1,2021-02-15,death,\n"  # before stored cycle 1
    problems = problems_of(seeded, [("cycles.csv", cycles.encode()), ("assessments.csv", assessments.encode()),
                                    ("events.csv", events.encode())])
    got = {(r.File, r.Row, r.Column, r.Reason) for r in problems.itertuples()}
    assert got == {
        ("cycles.csv", 2, "cycle_date", "not after cycle 1 on 2021-03-01"),
        ("cycles.csv", 4, "phase", "an initial cycle after salvage cycle 1"),
        ("assessments.csv", 3, "assessment_date", "not after the initial baseline on 2021-02-01"),
        # the stored cycle 1 is after the death in the file: the file's death row is blamed
        ("events.csv", 2, "event_date", "death before a cycles record on 2021-03-01"),
    }


def test_references_to_cycles_and_patients_in_the_same_file_or_store(seeded):
    files = [("patients.csv", b"patient_id,sex,primary_site,hypertension,diabetes\nP5,M,CUP,0,0\n"),
             ("cycles.csv", b"patient_id,cycle_number,phase,cycle_date,activity_gbq\nP5,1,initial,2022-01-01,7.4\n"),
             ("dosimetry.csv", b"patient_id,cycle_number,organ,label,dose_gy,method\n"
                               b"P5,1,kidneys,,3.1,SPECT\nP1,1,kidneys,,2.9,SPECT\nP1,2,kidneys,,2.9,SPECT\n")]
    problems = problems_of(seeded, files)
    assert problems[["Row", "Column", "Reason"]].values.tolist() == [[4, "cycle_number", "patient P1 has no cycle 2"]]
    plan = importer.import_files(seeded, files[:2] + [("dosimetry.csv", files[2][1].rsplit(b"\n", 2)[0] + b"\n")],
                                  actor=editor("t"))
    assert plan.summary().set_index("Table")["Added"].to_dict() == {"patients": 1, "cycles": 1, "dosimetry": 2}
    dosimetry = seeded.read("dosimetry").merge(seeded.read("cycles"), on="cycle_id")
    assert sorted(zip(dosimetry["patient_id"], dosimetry["dose_gy"])) == [("P1", 2.9), ("P5", 3.1)]


def test_reimport_is_idempotent_and_a_change_is_an_audited_update(seeded):
    labs = b"patient_id,lab_date,hb (g/dL),creatinine (umol/L)\nP1,2021-03-01,12.1,80\nP1,2021-04-01,11.0,\n"
    first = importer.import_files(seeded, [("labs.csv", labs)], actor=editor("dr_a"))
    assert first.summary()["Added"].tolist() == [2]
    revision = seeded.revision
    again = importer.import_files(seeded, [("labs.csv", labs)], actor=editor("dr_a"))
    assert again.n_writes == 0 and again.unchanged == {"labs": 2}
    assert seeded.revision == revision  # not even an audit row
    changed = labs.replace(b"12.1", b"12.4")
    plan = importer.import_files(seeded, [("labs.csv", changed)], actor=editor("dr_b"))
    assert plan.summary()[["Added", "Updated", "Unchanged"]].values.tolist() == [[0, 1, 1]]
    assert plan.changes["Changes"].tolist() == ["hb (g/dL): 12.1 → 12.4"]
    audit = seeded.read("audit").iloc[-1]
    assert (audit["user"], audit["action"], audit["table_name"]) == ("dr_b", "update", "labs")
    assert '"hb_g_dl": 12.1' in audit["before_json"] and '"hb_g_dl": 12.4' in audit["after_json"]
    # An empty cell clears a value; a column the file lacks is left alone.
    cleared = importer.import_files(seeded, [("labs.csv", b"patient_id,lab_date,hb (g/dL)\nP1,2021-03-01,\n")],
                                     actor=editor("dr_b"))
    assert cleared.n_writes == 1
    row = seeded.read("labs").iloc[0]
    assert pd.isna(row["hb_g_dl"]) and row["creatinine_mg_dl"] == pytest.approx(80 / 88.4)


def test_inserts_are_audited_row_by_row_with_their_key(seeded):
    importer.import_files(seeded, [("labs.csv", b"patient_id,lab_date,hb (g/dL)\nP1,2021-03-01,12.1\n")],
                           actor=editor("dr_a"))
    audit = seeded.read("audit").iloc[-1]
    assert (audit["user"], audit["action"], audit["row_key"]) == ("dr_a", "import", "lab_id=1")
    assert '"patient_id": "P1"' in audit["after_json"]


def test_export_reimports_unchanged_into_an_empty_store(demo_db, tmp_path):
    with Store(demo_db) as source:
        data = importer.export_zip(source)
        expected = importer.export_frames(source.read_all())
    with Store(tmp_path / "copy.sqlite") as target:
        plan = importer.import_files(target, [("export.zip", data)], actor=editor("t"))
        assert plan.ok and plan.summary()["Added"].sum() == sum(len(f) for f in expected.values())
        got = importer.export_frames(target.read_all())
        again = importer.import_files(target, [("export.zip", data)], actor=editor("t"), dry_run=True)
    for name in expected:
        pd.testing.assert_frame_equal(got[name], expected[name], check_dtype=False)
    assert again.n_writes == 0


# ---- bad input -------------------------------------------------------------------------
def only_problem(store, name, data) -> pd.Series:
    problems = problems_of(store, [(name, data)])
    assert len(problems) == 1, problems.to_string()
    return problems.iloc[0]


def test_malformed_csv_is_refused_with_line(seeded):
    unclosed = b'patient_id,sex,primary_site,hypertension,diabetes\nP7,F,"lung,0,0\nP8,M,lung,0,0\n'
    problem = only_problem(seeded, "patients.csv", unclosed)
    assert problem["Reason"].startswith("malformed CSV: unexpected end of data")
    ragged = b"patient_id,sex,primary_site,hypertension,diabetes\nP7,F,lung,0,0,extra,more\n"
    problem = only_problem(seeded, "patients.csv", ragged)
    assert (problem["Row"], problem["Reason"]) == (2, "7 fields but the header has 5")


def test_encodings_utf16_with_bom_accepted_latin1_refused(seeded):
    body = "patient_id,sex,primary_site,hypertension,diabetes,prior_therapies\nP7,F,lung,0,0,Müller-Thurgau Studie\n"
    plan = importer.import_files(seeded, [("patients.csv", body.encode("utf-16"))], actor=editor("t"))
    assert plan.ok and seeded.read("patients").set_index("patient_id").loc["P7", "prior_therapies"] == \
        "Müller-Thurgau Studie"
    problem = only_problem(seeded, "patients.csv", body.encode("latin-1"))
    assert problem["Reason"].startswith("not UTF-8 text: byte 0xfc on line 2")
    problem = only_problem(seeded, "patients.csv", body.encode("utf-16-le"))  # no byte-order mark
    assert problem["Reason"].startswith("contains NUL bytes: UTF-16 without a byte-order mark")


def test_empty_and_oversized_files_are_refused(seeded, tmp_path):
    assert only_problem(seeded, "patients.csv", b"")["Reason"] == "empty file"
    assert only_problem(seeded, "patients.csv", b"\n\n")["Reason"] == "empty file"
    big = tmp_path / "labs.csv"
    line = b"P1,2021-03-01,12.5,210,6.1,3.9,1.5,0.9,85,230,0.6,4.2\n"
    with open(big, "wb") as f:
        f.write(b"patient_id,lab_date\n")
        f.write(line * (50 * 2**20 // len(line) + 1))
    assert big.stat().st_size > 50 * 2**20
    problems = importer.read_paths([big]).problems
    assert len(problems) == 1 and problems[0]["Reason"] == \
        f"larger than the {importer.MAX_FILE_MB} MB limit: split the file"
    assert problems[0]["Value"] == "50.0 MB"
    uploaded = importer.read_files([("labs.csv", big.read_bytes())]).problems  # an upload, in memory
    assert [p["Reason"] for p in uploaded] == [problems[0]["Reason"]]
    header_only = importer.import_files(seeded, [("labs.csv", b"patient_id,lab_date,hb (g/dL)\n")],
                                         actor=editor("t"), dry_run=True)
    assert header_only.ok and header_only.n_writes == 0


def test_wrong_kinds_of_file_are_named(seeded, tmp_path):
    sqlite_file = tmp_path / "db.sqlite"
    Store(sqlite_file).close()
    assert "a database backup" in only_problem(seeded, "patients.csv", sqlite_file.read_bytes())["Reason"]
    assert "Excel 97-2003" in only_problem(seeded, "old.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 100)["Reason"]
    assert "cannot tell the table" in only_problem(seeded, "clinic data.csv", b"a,b\n1,2\n")["Reason"]
    assert _table_is("patients (1).csv", "patients") and _table_is("labs_2024.csv", "labs")


def _table_is(name: str, table: str) -> bool:
    return table_for(name) == table


def test_excel_merged_cells_extra_sheets_and_formulas_are_refused(seeded):
    book = openpyxl.load_workbook(io.BytesIO(filled_template({
        "patients": [["P20", "F", 50, "lung", None, None, 0, 0, None, None],
                     ["P21", "F", 50, "lung", None, None, 0, 0, None, None]],
        "labs": [["P20", "2024-01-10", None, 150, None, None, None, None, None, None, None, None]],
    })))
    book["patients"].merge_cells("B2:B3")
    book["labs"]["C2"] = "=D2/12"
    book.create_sheet("Notes")["A1"] = "call the lab"
    buffer = io.BytesIO()
    book.save(buffer)
    problems = problems_of(seeded, [("clinic.xlsx", buffer.getvalue())])
    got = {(r.File, r.Row, r.Column, r.Reason) for r in problems.itertuples()}
    assert ("clinic.xlsx › patients", 2, "B2:B3",
            "merged cells: unmerge them (every cell holds its own value)") in got
    assert ("clinic.xlsx › labs", 2, "C2", "a formula: paste values only") in got
    assert any(r[0] == "clinic.xlsx › Notes" and r[3].startswith("this sheet is not a table") for r in got)
    assert len(seeded.read("patients")) == 2


def test_sql_and_formula_looking_text_is_stored_inertly_and_exported_neutralised(seeded):
    rows = [{"patient_id": "P30", "sex": "F", "primary_site": "lung", "hypertension": 0, "diabetes": 0,
             "other_renal_risk": "'); DROP TABLE patients;--", "prior_therapies": "=HYPERLINK(\"http://x\")"},
            {"patient_id": "P31", "sex": "F", "primary_site": "lung", "hypertension": 0, "diabetes": 0,
             "other_renal_risk": "-1+1", "prior_therapies": "@SUM(A1)"}]
    importer.import_files(seeded, [("patients.csv", csv_bytes(rows))], actor=editor("t"))
    stored = seeded.read("patients").set_index("patient_id")
    assert stored.loc["P30", "other_renal_risk"] == "'); DROP TABLE patients;--"
    assert stored.loc["P30", "prior_therapies"] == '=HYPERLINK("http://x")'
    assert len(stored) == 4  # the table is still there
    with zipfile.ZipFile(io.BytesIO(importer.export_zip(seeded))) as archive:
        exported = archive.read("patients.csv").decode("utf-8-sig")
    assert "'=HYPERLINK" in exported and "'-1+1" in exported and "'@SUM(A1)" in exported
    # Re-importing the export restores the original text (the apostrophe is the export's).
    again = importer.import_files(seeded, [("patients.csv", exported.encode())], actor=editor("t"), dry_run=True)
    assert again.ok and again.n_writes == 0


def test_identifying_columns_and_control_characters_are_refused(seeded):
    body = "patient_id,sex,primary_site,hypertension,diabetes,Name,Date of birth\nP40,F,lung,0,0,Jane,1950-01-01\n"
    problems = problems_of(seeded, [("patients.csv", body.encode())])
    assert problems["Reason"].tolist() == ["identifying data is never stored: remove this column"] * 2
    assert "Jane" not in problems["Value"].tolist()  # the identifying values are not echoed
    bell = b"patient_id,sex,primary_site,hypertension,diabetes,prior_therapies\nP40,F,lung,0,0,a\x07b\n"
    assert only_problem(seeded, "patients.csv", bell)["Reason"] == "contains control or text-direction characters"
    # U+202E RIGHT-TO-LEFT OVERRIDE: stored "Dr \u202eliveE" would display as "Dr Eevil".
    bidi = "patient_id,sex,primary_site,hypertension,diabetes,prior_therapies\nP40,F,lung,0,0,Dr \u202eliveE\n"
    assert only_problem(seeded, "patients.csv", bidi.encode())["Reason"] == \
        "contains control or text-direction characters"


def test_semicolon_csv_with_decimal_commas(seeded):
    body = "patient_id;cycle_number;phase;cycle_date;activity (GBq)\nP3;1;initial;2021-06-01;7,4\n"
    importer.import_files(seeded, [("cycles.csv", body.encode())], actor=editor("t"))
    assert seeded.read("cycles", patient_id="P3")["activity_gbq"].tolist() == [7.4]


def test_same_table_twice_is_refused(seeded):
    body = b"patient_id,sex,primary_site,hypertension,diabetes\nP50,F,lung,0,0\n"
    problems = problems_of(seeded, [("patients.csv", body), ("patients (2).csv", body)])
    assert problems["Reason"].tolist() == ["table patients also comes from patients.csv: give each table once"]


# ---- command line ---------------------------------------------------------------------
def cli(*argv: str) -> int:
    return cli_main(list(argv))


def test_cli_template_import_dry_run_backup_and_restore(tmp_path, capsys):
    db = str(tmp_path / "cli.sqlite")
    template = tmp_path / "t.xlsx"
    assert cli("template", str(template)) == 0
    assert cli("--db", db, "import", str(template)) == 1
    assert "the template's example row" in capsys.readouterr().err
    patients = tmp_path / "patients.csv"
    patients.write_bytes(b"patient_id,sex,primary_site,hypertension,diabetes\nC1,F,lung,0,0\n")
    assert cli("--db", db, "import", str(patients), "--dry-run") == 0
    assert "1 row(s) would write" in capsys.readouterr().out
    with Store(db) as store:
        assert store.is_empty()
    assert cli("--db", db, "--user", "dr_cli", "import", str(patients)) == 0
    with Store(db) as store:
        assert store.read("audit").iloc[-1]["user"] == "dr_cli"
    out = tmp_path / "b.sqlite"
    assert cli("--db", db, "backup", str(out)) == 0 and out.exists()
    assert cli("--db", db, "restore", str(patients)) == 1
    assert "not an SQLite database" in capsys.readouterr().err
    assert cli("--db", db, "restore", str(out)) == 0
    assert cli("--db", db, "import", str(tmp_path / "missing.csv")) == 1
    assert "no such file" in capsys.readouterr().err


# ---- the editor (Data page) -------------------------------------------------------------
def test_editor_adds_updates_and_deletes_with_the_import_checks(seeded):
    original = importer.editable_frame(seeded.read_all(), "cycles")
    assert list(original.columns) == [c.name for c in TABLES["cycles"].columns] + ["_pk"]
    assert original["cycle_date"].tolist() == ["2021-03-01"] and original.index.tolist() == [1]  # ISO text
    edited = pd.concat([original, pd.DataFrame([{
        "patient_id": "P1", "cycle_number": 2, "phase": "initial",
        "cycle_date": pd.Timestamp("2021-01-01"), "activity_gbq": 7.2, "_pk": None}], index=[2])])
    edited.loc[1, "activity_gbq"] = 6.9
    problems = importer.check_edits(seeded, "cycles", original, edited).problems
    assert problems[["File", "Row", "Column", "Reason"]].values.tolist() == [
        ["cycles (editor)", 2, "cycle_date", "not after cycle 1 on 2021-03-01"]]
    edited.loc[2, "cycle_date"] = pd.Timestamp("2021-05-01")
    plan = importer.commit_edits(seeded, "cycles", original, edited, actor=editor("dr_a"))
    assert plan.summary()[["Added", "Updated", "Deleted"]].values.tolist() == [[1, 1, 0]]
    assert seeded.read("cycles")["activity_gbq"].tolist() == [6.9, 7.2]
    audit = seeded.read("audit").tail(2)
    assert audit[["user", "action", "row_key"]].values.tolist() == [
        ["dr_a", "update", "cycle_id=1"], ["dr_a", "insert", "cycle_id=2"]]
    # Delete cycle 2, with its dosimetry; the cascade is spelled out before.
    seeded.insert({"dosimetry": [{"cycle_id": 2, "organ": "kidneys", "dose_gy": 3.0, "method": "x"}]},
                  actor=editor("t"))
    tables = seeded.read_all()
    original = importer.editable_frame(tables, "cycles", "P1")
    plan = importer.check_edits(seeded, "cycles", original, original.iloc[:1])
    assert plan.deletes == {"cycles": [2]}
    assert importer.delete_text(tables, plan, "cycles") == \
        "Delete 1 row(s) from **cycles**: P1 / 2. This also deletes 1 dosimetry row(s)."
    importer.commit_edits(seeded, "cycles", original, original.iloc[:1], actor=editor("dr_a"))
    assert len(seeded.read("cycles")) == 1 and seeded.read("dosimetry").empty
    assert seeded.read("audit").iloc[-1][["action", "row_key"]].tolist() == ["delete", "cycle_id=2"]


def test_editor_yes_no_columns_have_no_silent_default(seeded):
    """Issue 13 review: a flag is "yes", "no" or empty in the editor, never a pre-ticked box. A new
    patient without hypertension/diabetes is refused (a renal risk factor decides the 28 vs 40 Gy
    BED limit); child-bearing potential left empty stays unrecorded, not "no"."""
    original = importer.editable_frame(seeded.read_all(), "patients")
    assert original.loc[1, "hypertension"] == "no" and original.loc[1, "childbearing_potential"] is None
    new = {"patient_id": "P8", "sex": "F", "primary_site": "lung", "_pk": None}
    edited = pd.concat([original, pd.DataFrame([new], index=[2])])
    problems = importer.check_edits(seeded, "patients", original, edited).problems
    assert set(problems.loc[problems["Reason"] == "required", "Column"]) == {"hypertension", "diabetes"}
    edited.loc[2, ["hypertension", "diabetes"]] = ["yes", "no"]
    importer.commit_edits(seeded, "patients", original, edited, actor=editor("dr_a"))
    stored = seeded.read("patients").set_index("patient_id").loc["P8"]
    assert stored["hypertension"] and not stored["diabetes"] and pd.isna(stored["childbearing_potential"])


def test_editor_refuses_renaming_a_patient_and_moves_dosimetry_by_natural_key(seeded):
    original = importer.editable_frame(seeded.read_all(), "patients")
    renamed = original.copy()
    renamed.loc[1, "patient_id"] = "P9"
    problems = importer.check_edits(seeded, "patients", original, renamed).problems
    assert problems["Reason"].tolist() == ["a patient id cannot be changed (was P1): add the patient "
                                           "anew and delete the old row"]
    seeded.insert({"cycles": [CYCLE | {"cycle_id": 5, "cycle_number": 2, "cycle_date": "2021-05-01"}],
                   "dosimetry": [{"cycle_id": 1, "organ": "kidneys", "dose_gy": 3.0, "method": "x"}]},
                  actor=editor("t"))
    original = importer.editable_frame(seeded.read_all(), "dosimetry")
    moved = original.copy()
    moved.loc[1, "cycle_number"] = 2  # the dose belongs to cycle 2
    importer.commit_edits(seeded, "dosimetry", original, moved, actor=editor("t"))
    assert seeded.read("dosimetry")["cycle_id"].tolist() == [5]
    wrong = moved.copy()
    wrong.loc[1, "cycle_number"] = 3
    problems = importer.check_edits(seeded, "dosimetry", importer.editable_frame(
        seeded.read_all(), "dosimetry"), wrong).problems
    assert problems["Reason"].tolist() == ["patient P1 has no cycle 3"]


def test_files_without_optional_key_columns_or_with_a_required_column_missing(seeded):
    dosimetry = b"patient_id,cycle_number,organ,dose (Gy),method\nP1,1,kidneys,3.2,SPECT\n"  # no label
    events = b"patient_id,event_date,event_type\nP1,2023-01-01,last_contact\n"  # no phase
    plan = importer.import_files(seeded, [("dosimetry.csv", dosimetry), ("events.csv", events)], actor=editor("t"))
    assert plan.summary().set_index("Table")["Added"].to_dict() == {"dosimetry": 1, "events": 1}
    assert seeded.read("dosimetry")["label"].tolist() == [""]
    again = importer.import_files(seeded, [("dosimetry.csv", dosimetry), ("events.csv", events)],
                                   actor=editor("t"), dry_run=True)
    assert again.n_writes == 0  # matched on the empty label and the empty phase
    progression = b"patient_id,event_date,event_type\nP1,2022-01-01,progression\n"
    assert only_problem(seeded, "events.csv", progression)["Reason"] == \
        "required for a progression: initial or salvage"
    no_number = b"patient_id,phase,cycle_date,activity (GBq)\nP1,initial,2021-05-01,7.4\n"
    problem = only_problem(seeded, "cycles.csv", no_number)
    assert (problem["Row"], problem["Column"], problem["Reason"]) == (1, "cycle_number", "required column missing")
