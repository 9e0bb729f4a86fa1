"""Every write names its writer: each writing entry point of prrt_core takes a required actor and
refuses a viewer (or nobody) in the core, before anything is written."""
from __future__ import annotations

import inspect

import pytest

from prrt_core import importer
from prrt_core.datasets import demo
from prrt_core.dicom import study_dose
from prrt_core.errors import AccessDenied
from prrt_core.importer import dosimetry_results
from prrt_core.store import Store, backup
from prrt_core.store.access import Actor, Role
from prrt_core.testing import phantom
from tests.support import editor

VIEWER = Actor("Dr Viewer <v@clinic.example>", Role.VIEWER, "oidc")
PATIENTS_CSV = b"patient_id,sex,primary_site,hypertension,diabetes\nNEW-1,F,lung,0,0\n"
WRITERS = {
    "Store.transaction": Store.transaction, "Store.insert": Store.insert, "Store.update": Store.update,
    "Store.delete": Store.delete, "importer.commit_import": importer.commit_import,
    "importer.import_files": importer.import_files, "importer.commit_edits": importer.commit_edits,
    "demo.load": demo.load, "backup.restore": backup.restore, "backup.restore_data": backup.restore_data,
    "dosimetry_results.save_to_cycle": dosimetry_results.save_to_cycle,
}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_the_actor_is_a_required_argument(name):
    parameter = inspect.signature(WRITERS[name]).parameters["actor"]
    assert parameter.default is inspect.Parameter.empty, f"{name} has a default writer"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return study_dose.analyse(phantom.write_phantom(tmp_path_factory.mktemp("writers") / "series").folder)


@pytest.mark.parametrize("actor, message", [(VIEWER, "is a viewer"), (None, "nobody is signed in")])
def test_a_viewer_or_nobody_writes_nothing_through_any_entry_point(fresh_demo_db, tmp_path, study, actor, message):
    spare = backup.backup(fresh_demo_db, tmp_path / "spare.sqlite")
    with Store(fresh_demo_db) as store:
        revision, tables = store.revision, store.read_all()
        original = importer.editable_frame(tables, "patients")
        edited = original.assign(sex=original["sex"].where(original.index > 0, "M"))
        attempts = {
            "import_files": lambda: importer.import_files(store, [("patients.csv", PATIENTS_CSV)], actor=actor),
            "commit_import": lambda: importer.commit_import(
                store, importer.read_files([("patients.csv", PATIENTS_CSV)]), actor=actor),
            "commit_edits": lambda: importer.commit_edits(store, "patients", original, edited, actor=actor),
            "save_to_cycle": lambda: dosimetry_results.save_to_cycle(store, study, "NET-003", 2, actor=actor),
            "demo.load": lambda: demo.load(store, actor=actor),
            "restore": lambda: backup.restore(spare, fresh_demo_db, actor=actor),
        }
        for name, attempt in attempts.items():
            with pytest.raises(AccessDenied, match=message):
                attempt()
            assert not store.conn.in_transaction, name
        assert store.revision == revision
        assert store.read_all().patients.equals(tables.patients)
        assert store.read_all().dosimetry.equals(tables.dosimetry)
    assert not list(tmp_path.parent.glob("*.pre-restore-*"))  # restore refused before saving a copy


def test_the_audit_log_records_the_writer(fresh_demo_db):
    with Store(fresh_demo_db) as store:
        importer.import_files(store, [("patients.csv", PATIENTS_CSV)], actor=editor("Dr E <e@clinic.example>"))
        audit = store.read("audit")
    assert audit.iloc[-1]["user"] == "Dr E <e@clinic.example>" and audit.iloc[-1]["table_name"] == "patients"
