"""Access: roles from e-mail lists and sign-in claims, the core refusing writes without an editor, the audit view."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from prrt_core import importer
from prrt_core.errors import ConfigError
from prrt_core.store import Store, backup, schema
from prrt_core.store.access import (
    AccessDenied,
    Actor,
    Refusal,
    Role,
    SignIn,
    audit_log,
    normalise_address,
    require_editor,
    role_for,
    sign_in,
)
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


ISSUER = "https://login.clinic.example"


def verified(email, **claims) -> dict:
    """The claims of a sign-in whose provider vouches for ``email``."""
    return {"email": email, "email_verified": True} | claims


def test_roles_from_email_lists():
    assert role_for(verified("e@clinic.example"), ROLES) is Role.EDITOR  # in both lists: editor
    assert role_for(verified(" V@CLINIC.EXAMPLE "), ROLES) is Role.VIEWER  # case and outer blanks ignored
    assert role_for(verified("stranger@gmail.example"), ROLES) is None  # default: no access
    assert role_for(verified("stranger@gmail.example"), ROLES | {"default": "viewer"}) is Role.VIEWER
    assert role_for(verified(""), ROLES) is None and role_for(None, {}) is None and role_for({}, ROLES) is None
    with pytest.raises(ValueError, match="default = 'editor'"):
        role_for(verified("x@y.z"), {"default": "editor"})  # editors are only ever listed by address
    with pytest.raises(ValueError, match="unknown key 'admins'"):
        role_for(verified("x@y.z"), {"admins": ["x@y.z"]})
    with pytest.raises(ValueError, match="must be a list"):
        role_for(verified("x@y.z"), {"editors": "x@y.z"})
    with pytest.raises(ValueError, match="'bob' is not an e-mail address"):
        role_for(verified("x@y.z"), {"viewers": ["bob"]})
    with pytest.raises(TypeError, match="got str"):  # a bare address says nothing about verification
        role_for("e@clinic.example", ROLES)


def test_unverified_address_gets_no_role():
    # The reported case: an unverified address with altered case and blanks was an editor.
    claims = {"email": " E@CLINIC.Example ", "email_verified": False, "name": "Mallory"}
    assert sign_in(claims, ROLES) == SignIn(None, "E@CLINIC.Example", Refusal.UNVERIFIED)
    assert role_for(claims | {"email": "e@clinic.example"}, ROLES) is None
    assert role_for(claims, ROLES | {"default": "viewer"}) is None  # not even the default role


def test_missing_or_non_boolean_email_verified_counts_as_false():
    for value in ("missing", None, "true", "True", 1, "yes", [True]):
        claims = {"email": "e@clinic.example"}
        if value != "missing":
            claims["email_verified"] = value
        assert sign_in(claims, ROLES).refusal is Refusal.UNVERIFIED, value


def test_case_and_blank_variants():
    # Case and blanks at either end are normalised; the normalised address must equal a listed one.
    for variant in ("e@clinic.example", "E@CLINIC.EXAMPLE", "  e@Clinic.Example\t", "\ne@clinic.example\n"):
        assert sign_in(verified(variant), ROLES) == SignIn(Role.EDITOR, variant.strip()), repr(variant)
    # Blanks, control and format characters inside are refused, not removed.
    for variant in ("e @clinic.example", "e@clinic .example", "e\t@clinic.example", "e@clinic.exa\nmple",
                    "e\x00@clinic.example", "e@clinic.example\x00", "e\u200b@clinic.example",
                    "e@clinic.example\u202e", "e\u00a0@clinic.example"):
        assert sign_in(verified(variant), ROLES) == SignIn(None, "", Refusal.MALFORMED), repr(variant)
    # Characters that fold or normalise to ASCII would match an address they are not.
    for variant in ("\u212a@clinic.example",  # Kelvin sign: casefold is "k"
                    "e@clinic.exam\u017fple",  # long s: casefold is "s"
                    "\uff45@clinic.example"):  # fullwidth e: NFKC is "e"
        assert sign_in(verified(variant), ROLES | {"editors": ["k@clinic.example", "e@clinic.example",
                                                              "e@clinic.examsple"]}).refusal is Refusal.MALFORMED
    # Not an address: no "@", two of them, an empty side, not text.
    for variant in ("e", "e@clinic@example", "@clinic.example", "e@", 42, ["e@clinic.example"]):
        assert sign_in(verified(variant), ROLES).refusal is Refusal.MALFORMED, repr(variant)
    assert sign_in({"email_verified": True}, ROLES).refusal is Refusal.NO_EMAIL
    assert sign_in(verified("   "), ROLES).refusal is Refusal.NO_EMAIL
    assert normalise_address(" A.B@Clinic.Example ") == "a.b@clinic.example"


def test_listed_addresses_are_checked_like_claims():
    with pytest.raises(ConfigError, match="'e @clinic.example' is not an e-mail address"):
        role_for(verified("x@clinic.example"), {"editors": ["e @clinic.example"]})
    with pytest.raises(ConfigError, match="is not an e-mail address"):
        role_for(verified("x@clinic.example"), {"viewers": ["\u212a@clinic.example"]})


def test_wrong_issuer_gets_no_role():
    roles = ROLES | {"issuer": ISSUER}
    for iss in (None, "https://evil.example", ISSUER + "/", ISSUER.upper(), " " + ISSUER, ["https://login.clinic.example"]):
        claims = verified("e@clinic.example")
        if iss is not None:
            claims["iss"] = iss
        assert sign_in(claims, roles) == SignIn(None, "", Refusal.WRONG_ISSUER), iss
    # The issuer is checked before anything else: a foreign token's other claims mean nothing.
    assert sign_in({"iss": "https://evil.example", "email": "e @x"}, roles).refusal is Refusal.WRONG_ISSUER


def test_right_issuer_gives_the_listed_role():
    roles = ROLES | {"issuer": ISSUER}
    assert sign_in(verified("e@clinic.example", iss=ISSUER), roles) == SignIn(Role.EDITOR, "e@clinic.example")
    assert role_for(verified("v@clinic.example", iss=ISSUER), roles) is Role.VIEWER
    assert sign_in(verified("x@clinic.example", iss=ISSUER), roles).refusal is Refusal.NOT_LISTED
    # The right issuer does not excuse an unverified address.
    assert sign_in({"email": "e@clinic.example", "iss": ISSUER}, roles).refusal is Refusal.UNVERIFIED
    # Without an issuer set, any iss is accepted (Streamlit's Authlib checks it against the metadata).
    assert role_for(verified("e@clinic.example", iss="https://other.example"), ROLES) is Role.EDITOR
    for bad in ("", " https://login.clinic.example", 42, [ISSUER]):
        with pytest.raises(ConfigError, match="issuer"):
            role_for(verified("e@clinic.example", iss=ISSUER), ROLES | {"issuer": bad})


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


# ---- roles from the groups claim (Keycloak "groups", Entra ID "groups"/"roles") ----
GROUP_ROLES = {"editor_groups": ["prrt-editors"], "viewer_groups": ["/oncology/board"], "viewers": ["v@clinic.example"]}
VERIFIED = {"email": "x@clinic.example", "email_verified": True}


@pytest.mark.parametrize(("groups", "role"), [
    (["prrt-editors"], Role.EDITOR),
    (["/oncology/board", "prrt-editors"], Role.EDITOR),  # the higher of the two
    (["/oncology/board"], Role.VIEWER),
    (["PRRT-Editors", "prrt-editors "], None),  # exact, case-sensitive: a directory's names are its own
    ([], None),
])
def test_a_listed_group_gives_its_role(groups, role):
    assert sign_in(VERIFIED | {"groups": groups}, GROUP_ROLES).role is role


def test_address_and_group_give_the_higher_role():
    claims = {"email": "v@clinic.example", "email_verified": True}
    assert sign_in(claims, GROUP_ROLES).role is Role.VIEWER
    assert sign_in(claims | {"groups": ["prrt-editors"]}, GROUP_ROLES).role is Role.EDITOR


@pytest.mark.parametrize("groups", ["prrt-editors", {"prrt-editors": 1}, ["prrt-editors", 7], ["prrt\x00editors"],
                                    ["x" * 257], ["g"] * 1001])
def test_a_malformed_groups_claim_refuses_the_sign_in(groups):
    result = sign_in(VERIFIED | {"groups": groups}, GROUP_ROLES)
    assert result == SignIn(None, "x@clinic.example", Refusal.GROUPS_MALFORMED)


def test_a_group_needs_a_verified_well_formed_address_for_the_audit_log():
    assert sign_in({"email": "x@clinic.example", "groups": ["prrt-editors"]}, GROUP_ROLES).refusal is Refusal.UNVERIFIED
    assert sign_in({"groups": ["prrt-editors"], "email_verified": True}, GROUP_ROLES).refusal is Refusal.NO_EMAIL


def test_entra_id_app_roles_and_its_verified_domain_claim():
    # Entra ID puts app roles in "roles" and sends no email_verified; xms_edov (email domain owner
    # verified) is its optional claim for it.
    roles = {"editor_groups": ["PRRT.Editor"], "groups_claim": "roles", "email_verified_claim": "xms_edov"}
    claims = {"email": "x@clinic.example", "xms_edov": True, "roles": ["PRRT.Editor"], "groups": "ignored"}
    assert sign_in(claims, roles).role is Role.EDITOR
    assert sign_in(claims | {"xms_edov": "true"}, roles).refusal is Refusal.UNVERIFIED


@pytest.mark.parametrize(("roles", "named"), [
    ({"editor_groups": "prrt-editors"}, "editor_groups must be a list"),
    ({"viewer_groups": ["ok", ""]}, "viewer_groups: '' is not a group name"),
    ({"groups_claim": "my groups"}, "groups_claim = 'my groups'"),
    ({"email_verified_claim": 1}, "email_verified_claim = 1"),
    ({"editor_group": ["x"]}, "unknown key 'editor_group'"),
])
def test_invalid_group_settings_are_refused_by_name(roles, named):
    with pytest.raises(ConfigError, match=named):
        sign_in(VERIFIED, roles)
