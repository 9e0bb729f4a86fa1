"""Access: roles from e-mail lists, the core refusing writes without an editor, the audit view."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from prrt_core import importer
from prrt_core.store import Store, backup, schema
from prrt_core.store.access import AccessDenied, Actor, Role, audit_log, require_editor, role_for
from tests.support import editor

PATIENT = {"patient_id": "P1", "sex": "F", "primary_site": "lung", "hypertension": 0, "diabetes": 0}
VIEWER = Actor("Dr Viewer <v@clinic.example>", Role.VIEWER, "oidc")
EDITOR = Actor("Dr Editor <e@clinic.example>", Role.EDITOR, "oidc")
ROLES = {"editors": ["E@Clinic.example"], "viewers": ["v@clinic.example", "e@clinic.example"]}


def test_require_editor():
    assert require_editor(EDITOR) is EDITOR
    assert EDITOR.role is Role.EDITOR and EDITOR.can_write and not VIEWER.can_write
    with pytest.raises(AccessDenied, match="Dr Viewer <v@clinic.example> is a viewer: only an editor"):
        require_editor(VIEWER)
    with pytest.raises(AccessDenied, match="nobody is signed in"):
        require_editor(None)
    with pytest.raises(AccessDenied, match="got str"):
        require_editor("editor")


def test_roles_from_email_lists():
    assert role_for("e@clinic.example", ROLES) is Role.EDITOR  # in both lists: editor
    assert role_for(" V@CLINIC.EXAMPLE ", ROLES) is Role.VIEWER  # case and blanks ignored
    assert role_for("stranger@gmail.example", ROLES) is None  # default: no access
    assert role_for("stranger@gmail.example", ROLES | {"default": "viewer"}) is Role.VIEWER
    assert role_for("", ROLES) is None and role_for(None, {}) is None
    with pytest.raises(ValueError, match="default = 'editor'"):
        role_for("x@y.z", {"default": "editor"})  # editors are only ever listed by address
    with pytest.raises(ValueError, match="unknown key 'admins'"):
        role_for("x@y.z", {"admins": ["x@y.z"]})
    with pytest.raises(ValueError, match="must be a list"):
        role_for("x@y.z", {"editors": "x@y.z"})
    with pytest.raises(ValueError, match="'bob' is not an e-mail address"):
        role_for("x@y.z", {"viewers": ["bob"]})


def test_store_refuses_every_write_of_a_viewer_and_writes_nothing(tmp_path):
    path = tmp_path / "a.sqlite"
    with Store(path) as store:
        with pytest.raises(TypeError, match="actor"):  # no default writer: the actor is required
            store.insert({"patients": [PATIENT]})
        with pytest.raises(AccessDenied, match="nobody is signed in"):
            store.insert({"patients": [PATIENT]}, actor=None)
        store.insert({"patients": [PATIENT]}, actor=editor("setup"))
        revision = store.revision
    with Store(path) as store:
        assert len(store.read("patients")) == 1  # a viewer reads
        attempts = [
            lambda: store.insert({"patients": [PATIENT | {"patient_id": "P2"}]}, actor=VIEWER),
            lambda: store.update("patients", "P1", {"sex": "M"}, actor=VIEWER),
            lambda: store.delete("patients", "P1", actor=VIEWER),
            lambda: store.transaction(VIEWER).__enter__(),
            lambda: importer.import_files(store, [("patients.csv", b"patient_id,sex,primary_site,"
                                                    b"hypertension,diabetes\nP2,F,lung,0,0\n")],
                                           actor=VIEWER),
        ]
        for attempt in attempts:
            with pytest.raises(AccessDenied, match="is a viewer"):
                attempt()
        assert not store.conn.in_transaction
        assert store.revision == revision and len(store.read("patients")) == 1
    with Store(path) as store:
        store.update("patients", "P1", {"sex": "M"}, actor=EDITOR)
        assert store.read("audit").iloc[-1]["user"] == "Dr Editor <e@clinic.example>"


def test_a_viewer_cannot_restore_a_backup(tmp_path):
    path = tmp_path / "a.sqlite"
    with Store(path) as store:
        store.insert({"patients": [PATIENT]}, actor=editor("setup"))
    copy = backup.backup(path, tmp_path / "copy.sqlite")
    with pytest.raises(AccessDenied):
        backup.restore(copy, path, actor=VIEWER)
    assert not list(tmp_path.glob("*pre-restore*"))


def test_audit_log_filters(tmp_path):
    with Store(tmp_path / "a.sqlite") as store:
        store.insert({"patients": [PATIENT, PATIENT | {"patient_id": "P2"}]}, actor=editor("dr_a"), audit_rows=True)
        store.update("patients", "P2", {"sex": "M"}, actor=editor("dr_b"))
        store.delete("patients", "P1", actor=editor("dr_b"))
        audit = store.read("audit")
    everything = audit_log(audit)
    assert list(everything.columns) == ["Audit id", "Time (UTC)", "User", "Action", "Table", "Key",
                                        "Before", "After"]
    assert everything["Audit id"].tolist() == sorted(audit["audit_id"], reverse=True)  # newest first
    by_b = audit_log(audit, users=["dr_b"])
    assert by_b["Action"].tolist() == ["delete", "update"]
    assert audit_log(audit, actions=["insert"])["Key"].tolist() == ["patient_id=P2", "patient_id=P1"]
    assert audit_log(audit, text="p2")["Key"].tolist() == ["patient_id=P2", "patient_id=P2"]
    migrations = audit_log(audit, tables=["schema"])
    assert len(migrations) == schema.SCHEMA_VERSION
    today = dt.datetime.now(dt.UTC).date()
    assert len(audit_log(audit, since=today, until=today)) == len(audit)
    assert audit_log(audit, until=today - dt.timedelta(days=1)).empty
    assert isinstance(audit_log(audit.iloc[:0]), pd.DataFrame)
