"""Sign-in end to end: Chromium, ``streamlit run serve.py`` and a real OpenID Connect provider
(oidc-provider-mock on a loopback port, its login form filled in as a user would).

Roles: the editor by a group of the ID token's ``groups`` claim (``editor_groups``), the viewer by
address; a verified address in neither, and an unverified one, get no role. Downloads (Streamlit's
``/media/`` URLs) answer only a valid sign-in (ui/media_gate.py); an idle sign-in ends
(``[prrt.session] idle_minutes``).
"""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import expect
from streamlit.web.server.starlette.starlette_app_utils import create_signed_value

from prrt_core.errors import AccessDenied
from prrt_core.store import Store, access
from tests.browser.test_data import fill, open_editor, type_into_cell, upload
from tests.support import APP, navigate, streamlit_app, visit
from ui.media_gate import REFUSAL
from ui.text import WORD_JOINER

pytestmark = pytest.mark.browser

EDITOR = "physicist@clinic.example"
VIEWER = "oncologist@clinic.example"
EDITOR_NAME = f"Dr Physicist <{EDITOR}>"
SIGN_IN_PROMPT = "Sign in to see and change the clinical record."
PAGES = (("", "Salvage PRRT Board"), ("/patient?patient=NET-004", "Patient review"),
         ("/planner?patient=NET-004", "Salvage planner"), ("/cohort", "Cohort statistics"),
         ("/dosimetry", "Dosimetry"), ("/data", "Data"))
IDLE_MINUTES = 0.1  # 6 s: the idle-expiry test waits past it


def users(provider) -> dict:
    """The provider's subjects and the [prrt.roles] table that gives them their roles."""
    provider.set_user("physicist", email=EDITOR, email_verified=True, name="Dr Physicist", groups=["prrt-editors"])
    provider.set_user("oncologist", email=VIEWER, email_verified=True, name="Dr Oncologist", groups=["oncology"])
    provider.set_user("stranger", email="stranger@clinic.example", email_verified=True, groups=["oncology", "staff"])
    provider.set_user("impostor", email=" Physicist@CLINIC.example ", email_verified=False,
                      name="[Dr Physicist](https://evil.example)", groups=["prrt-editors"])
    return {"editor_groups": ["prrt-editors"], "viewers": [VIEWER], "issuer": provider.url}


@pytest.fixture(scope="module")
def signed_app(oidc_provider, tmp_path_factory):
    """The app with sign-in through ``oidc_provider`` on a demo database of its own (the tests write):
    ``{"url", "db", "roles", "issuer"}``."""
    roles = users(oidc_provider)
    secrets = {"auth": oidc_provider.auth(), "prrt": {"roles": roles}}
    workdir = tmp_path_factory.mktemp("sign_in")
    db = workdir / "board.sqlite"
    with streamlit_app(db, workdir, secrets=secrets) as url:
        yield {"url": url, "db": db, "roles": roles, "issuer": oidc_provider.url}


def sign_in_as(page, url: str, sub: str, button: str = "Sign in") -> None:
    """Click ``button`` on the app's sign-in screen, give ``sub`` on the provider's login form, authorize."""
    page.get_by_role("button", name=button).click()
    page.get_by_role("heading", name="Authorize Client").wait_for()  # the provider's page
    page.locator('input[name="sub"]').fill(sub)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{url}/**")


def open_and_sign_in(page, url: str, sub: str) -> None:
    page.goto(url)
    page.get_by_text(SIGN_IN_PROMPT).wait_for()
    sign_in_as(page, url, sub)


def shown_address(address: str) -> str:
    """An address as ui.text.md() shows it: an invisible word joiner after '@' (no mailto: link)."""
    return address.replace("@", "@" + WORD_JOINER)


def no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def no_patient_data(page) -> None:
    assert page.locator('[data-testid="stMetric"]').count() == 0
    assert page.locator('[data-testid="stDataFrame"], [data-testid="stTable"]').count() == 0
    assert page.get_by_text("NET-0").count() == 0


def download_url(page, button: str) -> tuple[str, bytes]:
    """Click the download ``button``; the file's ``/media/`` URL and its bytes."""
    with page.expect_download() as info:
        page.get_by_role("button", name=button).click()
    return info.value.url, info.value.path().read_bytes()


def test_editor_by_group_imports_and_edits_and_the_audit_log_names_them(signed_app, page):
    url, db = signed_app["url"], signed_app["db"]
    open_and_sign_in(page, url, "physicist")
    page.get_by_test_id("stSidebar").get_by_text(f"Signed in as Dr Physicist <{shown_address(EDITOR)}> (editor).").wait_for()
    navigate(page, "Data", "Data")
    template_url, template = download_url(page, "Download the import template (.xlsx)")
    # The download URL answers this sign-in, and nobody else (a file lives as long as its session).
    assert page.request.get(template_url).body() == template
    anonymous = page.context.browser.new_context()
    try:
        refused = anonymous.request.get(template_url)
        assert refused.status == 403 and refused.text() == REFUSAL
    finally:
        anonymous.close()
    upload(page, "clinic.xlsx", fill(template, sex="F"))
    page.get_by_role("button", name="Import 2 row(s)").click()
    page.get_by_text("Imported.").wait_for()
    # Edit the imported cycle's date (the 4th column) from 2024-02-01 to 2024-02-02, and save.
    grid = open_editor(page, url, "cycles", "NEW-1", 1)
    type_into_cell(page, grid, 1, 4, "2024-02-01", "2024-02-02")
    page.get_by_role("button", name="Save changes").click()
    page.get_by_text("Saved.").wait_for()
    page.get_by_role("tab", name="Audit log").click()
    page.get_by_test_id("stMultiSelect").filter(has_text="User").click()
    page.get_by_role("option", name=EDITOR_NAME).wait_for()  # the audit's users, offered as a filter
    no_exception(page)
    with Store(db) as store:
        audit = store.read("audit")
        cycles = store.read("cycles", patient_id="NEW-1")
    mine = audit[audit["user"] == EDITOR_NAME]
    assert mine["action"].tolist() == ["import", "import", "update"]  # patient and cycle, then the edit
    assert cycles["cycle_date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-02-02"]


def test_viewer_sees_every_page_and_no_write_control_and_the_core_refuses_their_write(signed_app, page):
    url, db = signed_app["url"], signed_app["db"]
    open_and_sign_in(page, url, "oncologist")
    page.get_by_test_id("stSidebar").get_by_text(f"Signed in as Dr Oncologist <{shown_address(VIEWER)}> (viewer).").wait_for()
    for path, heading in PAGES:
        visit(page, url + path, heading)
        page.get_by_test_id("stApp").and_(page.locator('[data-test-script-state="notRunning"]')).wait_for()
        assert page.locator('[data-testid="stFileUploader"]').filter(has_text=re.compile("import|Restore")).count() == 0
        for write in ("Import", "Save changes", "Sign and record", "Load the demo cohort", "Restore this backup ..."):
            assert page.get_by_role("button", name=write, exact=True).count() == 0, (path, write)
        no_exception(page)
    page.get_by_role("tab", name="Export and backup").click()
    page.get_by_text("Exports and backups of the whole record are for editors.").wait_for()
    assert page.get_by_role("button", name="Download a backup (SQLite)").count() == 0
    visit(page, url + "/planner?patient=NET-010", "Salvage planner")  # alive: a verdict, and the form
    page.get_by_text("Record the board's decision").click()
    page.get_by_text("Only editors record decisions.").wait_for()
    # The viewer's claims, through the core: the role they give cannot write, and nothing is written.
    claims = {"iss": signed_app["issuer"], "email": VIEWER, "email_verified": True, "groups": ["oncology"]}
    viewer = access.Actor(f"Dr Oncologist <{VIEWER}>", access.sign_in(claims, signed_app["roles"]).role, "oidc")
    assert viewer.role is access.Role.VIEWER
    with Store(db) as store:
        before = store.read("patients", patient_id="NET-004")
        n_audit = len(store.read("audit"))
        with pytest.raises(AccessDenied, match="is a viewer: only an editor may change data"):
            store.update("patients", "NET-004", {"weight_kg": 99.0}, actor=viewer)
        assert store.read("patients", patient_id="NET-004").equals(before)
        assert len(store.read("audit")) == n_audit


def test_an_unauthenticated_visitor_gets_no_page_deep_link_or_file(signed_app, page):
    url = signed_app["url"]
    for path, heading in PAGES:
        page.goto(url + path)
        page.get_by_text(SIGN_IN_PROMPT).wait_for()
        page.get_by_test_id("stApp").and_(page.locator('[data-test-script-state="notRunning"]')).wait_for()
        if heading != "Salvage PRRT Board":
            assert page.get_by_role("heading", name=heading).count() == 0, path
        no_patient_data(page)
        no_exception(page)
    # A download URL that a signed-in session made: refused to this visitor, and to a forged cookie.
    other = page.context.browser.new_context()
    try:
        signed = other.new_page()
        open_and_sign_in(signed, url, "physicist")
        navigate(signed, "Data", "Data")
        media_url, template = download_url(signed, "Download the import template (.xlsx)")
        assert "/media/" in media_url and signed.request.get(media_url).body() == template
        refused = page.request.get(media_url)
        assert refused.status == 403 and refused.text() == REFUSAL
        forged = page.request.get(media_url, headers={"Cookie": '_streamlit_user={"is_logged_in": true}'})
        assert forged.status == 403
    finally:
        other.close()


@pytest.mark.parametrize(("sub", "shown", "reason"), [
    ("impostor", f"Physicist@{WORD_JOINER}CLINIC.example", "the identity provider does not confirm that the "
     "e-mail address is verified"),
    ("stranger", f"stranger@{WORD_JOINER}clinic.example", "ask the administrator to add the address"),
])
def test_a_sign_in_without_a_role_sees_why_and_no_patient_data(signed_app, page, sub, shown, reason):
    open_and_sign_in(page, signed_app["url"], sub)
    page.get_by_text(f"{shown} has no role here").wait_for()  # escaped, shown as typed
    page.get_by_text(reason, exact=False).wait_for()
    page.get_by_role("button", name="Sign out").wait_for()  # drawn after the message: wait, then count
    assert page.get_by_role("button", name="Sign out").count() == 1
    assert page.get_by_text("Signed in as").count() == 0
    assert page.locator('a[href^="mailto:"], a[href*="evil.example"]').count() == 0
    no_patient_data(page)
    no_exception(page)


def signed_cookie(secret: str, claims: dict) -> str:
    """A ``_streamlit_user`` cookie as Streamlit signs it after a provider's callback (its own signer)."""
    value = json.dumps(claims | {"is_logged_in": True, "provider": "default"})
    return "_streamlit_user=" + create_signed_value(secret, "_streamlit_user", value).decode()


def test_the_download_gate_checks_the_role_and_age_of_a_validly_signed_cookie(signed_app, oidc_provider, page):
    # Cookies signed with the app's cookie_secret, as if Streamlit had set them: the gate still asks
    # for a role under [prrt.roles] and a sign-in within [prrt.session]'s limits.
    url, secret = signed_app["url"], oidc_provider.auth()["cookie_secret"]
    open_and_sign_in(page, url, "physicist")
    navigate(page, "Data", "Data")
    media_url, template = download_url(page, "Download the import template (.xlsx)")
    now = int(time.time())
    editor = {"iss": signed_app["issuer"], "sub": "physicist", "email": EDITOR, "email_verified": True,
              "groups": ["prrt-editors"], "iat": now}
    stranger = editor | {"sub": "stranger", "email": "stranger@clinic.example", "groups": ["staff"]}
    other = page.context.browser.new_context()
    try:
        def status(claims: dict) -> int:
            return other.request.get(media_url, headers={"Cookie": signed_cookie(secret, claims)}).status
        assert status(editor | {"sub": "physicist-2"}) == 200  # a valid editor's sign-in: the file
        assert status(stranger) == 403  # signed, but no role
        assert status(editor | {"sub": "physicist-3", "iat": now - 12 * 3600 - 60}) == 403  # older than max_hours
        assert status(editor | {"sub": "physicist-4", "iat": None}) == 403  # no issue time
        assert status(editor | {"sub": "physicist-5"}) == 200
        forged = other.request.get(media_url, headers={"Cookie": signed_cookie("another secret", editor)})
        assert forged.status == 403
    finally:
        other.close()


def test_signing_out_in_one_tab_ends_the_sign_in_in_the_others(signed_app, page):
    url = signed_app["url"]
    open_and_sign_in(page, url, "oncologist")
    second = page.context.new_page()  # the same browser: the same sign-in cookie
    visit(second, url + "/cohort", "Cohort statistics")
    second.get_by_test_id("stSidebar").get_by_text("(viewer).", exact=False).wait_for()
    page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="End Session").wait_for()
    navigate_without_waiting = second.get_by_test_id("stSidebarNav").get_by_role("link", name="Home")
    navigate_without_waiting.click()
    second.get_by_text("Signed out (in this or another tab of this sign-in): sign in again to go on.").wait_for()
    no_patient_data(second)


def test_sign_out_returns_to_the_sign_in_screen(signed_app, page):
    url = signed_app["url"]
    open_and_sign_in(page, url, "oncologist")
    visit(page, url + "/cohort", "Cohort statistics")
    page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
    # RP-initiated logout: the provider's end-session page (OpenID Connect RP-Initiated Logout 1.0),
    # then back to the app through its redirect URI.
    page.get_by_role("heading", name="End Session").wait_for()
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(f"{url}/**")
    page.get_by_text(SIGN_IN_PROMPT).wait_for()
    page.goto(url + "/cohort")  # the sign-in is gone, not just hidden
    page.get_by_text(SIGN_IN_PROMPT).wait_for()
    assert page.get_by_role("heading", name="Cohort statistics").count() == 0
    no_patient_data(page)


def test_an_idle_sign_in_ends_and_its_files_with_it(oidc_provider, tmp_path, page):
    secrets = {"auth": oidc_provider.auth(),
               "prrt": {"roles": users(oidc_provider), "session": {"idle_minutes": IDLE_MINUTES}}}
    with streamlit_app(tmp_path / "board.sqlite", tmp_path, secrets=secrets) as url:
        open_and_sign_in(page, url, "physicist")
        navigate(page, "Data", "Data")
        media_url, template = download_url(page, "Download the import template (.xlsx)")
        assert page.request.get(media_url).body() == template
        time.sleep(IDLE_MINUTES * 60 + 2)
        # No click: the page notices by itself (ui.identity.watch_sign_in, every 2 s here).
        page.get_by_text("Signed out after 6 s without activity: sign in again to go on.").wait_for()
        no_patient_data(page)
        assert page.request.get(media_url).status == 403
        page.reload()  # the same cookie in a new session: still ended
        page.get_by_text("Signed out after 6 s without activity").wait_for()
        sign_in_as(page, url, "physicist", button="Sign in again")
        page.get_by_test_id("stSidebar").get_by_text("(editor).", exact=False).wait_for()
        expect(page.get_by_text("without activity")).to_have_count(0)
        no_exception(page)


def test_app_py_without_the_download_gate_shows_no_page_when_sign_in_is_configured(oidc_provider, tmp_path, page):
    secrets = {"auth": oidc_provider.auth(), "prrt": {"roles": users(oidc_provider)}}
    with streamlit_app(tmp_path / "board.sqlite", tmp_path, secrets=secrets, script=APP) as url:
        page.goto(url)
        alert = page.get_by_test_id("stAlert").filter(has_text="This server was started with")
        alert.wait_for()
        assert "With sign-in configured, start it with streamlit run serve.py." in alert.inner_text()
        assert page.get_by_role("button", name="Sign in").count() == 0
        no_patient_data(page)
