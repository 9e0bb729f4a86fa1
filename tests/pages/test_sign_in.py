"""Sign-in claims through AppTest: only a verified, well-formed, listed address (from the pinned
issuer, when one is set) gets a role; a refused sign-in is told why and sees no patient data."""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from tests import support
from ui.text import md

ISSUER = "https://login.clinic.example"
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "test-secret",
        "client_id": "id", "client_secret": "secret",
        "server_metadata_url": f"{ISSUER}/.well-known/openid-configuration"}
ROLES = {"editors": ["e@clinic.example"], "viewers": ["v@clinic.example"]}
HOSTILE_NAME = "[Re-verify your account](https://evil.example) <b>x</b>"


def open_app(user: dict, **roles) -> AppTest:
    return support.open_page(secrets={"auth": AUTH, "prrt": {"roles": ROLES | roles}},
                             user={"is_logged_in": True} | user)


def shows_no_patient_data(at: AppTest) -> bool:
    return not at.metric and not at.dataframe and not at.tabs


def test_unverified_address_with_altered_case_and_blanks_sees_nothing(fresh_demo_db, app_env):
    app_env(fresh_demo_db)
    at = open_app({"email": " E@Clinic.Example ", "email_verified": False, "name": HOSTILE_NAME})
    assert shows_no_patient_data(at)
    assert [e.value for e in at.error] == [
        f"{md('E@Clinic.Example')} has no role here: the identity provider does not confirm that the e-mail "
        "address is verified (`email_verified`)."]
    assert not any("Signed in as" in c.value for c in at.sidebar.caption)
    assert at.button(key="sign_out")  # to sign in with another account
    at = open_app({"email": "e@clinic.example", "name": "Dr E"})  # email_verified missing
    assert shows_no_patient_data(at) and "`email_verified`" in at.error[0].value


def test_malformed_or_url_like_address_is_refused_without_echoing_it(fresh_demo_db, app_env):
    app_env(fresh_demo_db)
    at = open_app({"email": "e\u202e @clinic.example", "email_verified": True})
    assert shows_no_patient_data(at)
    assert at.error[0].value == ("This sign-in has no role here: the e-mail address sent by the identity "
                                 "provider contains blanks, control characters or look-alike characters.")
    # Well formed but not plain: not echoed either (Streamlit's markdown would link the URL).
    at = open_app({"email": "https://evil.example/@x.example", "email_verified": True})
    assert shows_no_patient_data(at) and at.error[0].value.startswith("This sign-in has no role here: ask")


def test_verified_editor_reads_and_claims_are_shown_escaped(fresh_demo_db, app_env):
    app_env(fresh_demo_db)
    at = open_app({"email": " E@Clinic.Example ", "email_verified": True, "name": HOSTILE_NAME})
    assert {m.label: m.value for m in at.metric}["Patients"] == "35"
    caption = next(c.value for c in at.sidebar.caption if "Signed in as" in c.value)
    assert caption == f"Signed in as {md(HOSTILE_NAME + ' <E@Clinic.Example>')} (editor)."
    assert md("[Re-verify your account](https://evil.example) <b>") in caption  # no link, no HTML


def test_issuer_pin(fresh_demo_db, app_env):
    app_env(fresh_demo_db)
    claims = {"email": "v@clinic.example", "email_verified": True, "name": "Dr V"}
    at = open_app(claims | {"iss": "https://evil.example"}, issuer=ISSUER)
    assert shows_no_patient_data(at)
    assert at.error[0].value == ("This sign-in has no role here: it did not come from the identity provider "
                                 "set as `issuer` in `[prrt.roles]`.")
    at = open_app(claims | {"iss": ISSUER}, issuer=ISSUER)
    assert {m.label: m.value for m in at.metric}["Patients"] == "35"
    assert any(c.value == f"Signed in as {md('Dr V <v@clinic.example>')} (viewer)." for c in at.sidebar.caption)


def test_roles_from_the_groups_claim(fresh_demo_db, app_env):
    # Keycloak's "groups" claim, and Entra ID's app roles in "roles" with xms_edov for a verified address.
    app_env(fresh_demo_db)
    claims = {"email": "someone@clinic.example", "email_verified": True, "name": "Dr S"}
    at = open_app(claims | {"groups": ["/staff", "prrt-editors"]}, editor_groups=["prrt-editors"])
    assert any(c.value == f"Signed in as {md('Dr S <someone@clinic.example>')} (editor)." for c in at.sidebar.caption)
    at = open_app(claims | {"groups": "prrt-editors"}, editor_groups=["prrt-editors"])  # a string, not a list
    assert shows_no_patient_data(at) and "the groups claim sent by the identity provider" in at.error[0].value
    entra = {"email": "someone@clinic.example", "xms_edov": True, "roles": ["PRRT.Viewer"], "name": "Dr S"}
    at = open_app(entra, viewer_groups=["PRRT.Viewer"], groups_claim="roles", email_verified_claim="xms_edov")
    assert any(c.value.endswith("(viewer).") for c in at.sidebar.caption)
    at = open_app(entra, viewer_groups=["PRRT.Viewer"], groups_claim="roles")  # email_verified still asked for
    assert shows_no_patient_data(at) and "`email_verified`" in at.error[0].value


def test_a_sign_in_ends_at_its_maximum_age_and_without_an_issue_time(fresh_demo_db, app_env):
    # [prrt.session] max_hours = 12 by default: a token issued 12 h 1 min ago has ended.
    app_env(fresh_demo_db)
    claims = {"email": "v@clinic.example", "email_verified": True, "sub": "v"}
    at = open_app(claims | {"iat": int(time.time()) - 12 * 3600 - 60})
    assert shows_no_patient_data(at)
    assert at.warning[0].value == ("Signed out 12 h after signing in (the longest a sign-in lasts here): "
                                   "sign in again to go on.")
    assert at.button(key="sign_in").label == "Sign in again"
    at = open_app(claims | {"iat": None})
    assert shows_no_patient_data(at)
    assert at.warning[0].value.startswith("Signed out: the identity provider's token carries no issue time")
    at = support.open_page(secrets={"auth": AUTH, "prrt": {"roles": ROLES, "session": {"idle_minutes": -1}}},
                           user={"is_logged_in": True} | claims)
    assert shows_no_patient_data(at) and "`[prrt.session]` in `.streamlit/secrets.toml` is invalid" in at.warning[0].value


def test_a_long_name_claim_is_cut_for_the_sidebar_and_the_audit_log(fresh_demo_db, app_env):
    app_env(fresh_demo_db)
    at = open_app({"email": "e@clinic.example", "email_verified": True, "name": "A" * 300})
    shown = "A" * 79 + "…"  # ui.identity.MAX_NAME_CHARS = 80
    assert any(c.value == f"Signed in as {md(shown + ' <e@clinic.example>')} (editor)." for c in at.sidebar.caption)
