"""Sign-in in a real browser against a real OpenID Connect provider: Chromium clicks "Sign in" in
``streamlit run app.py``, completes oidc-provider-mock's login form, and comes back signed in
(``st.login`` needs ``streamlit[auth]``: Authlib and httpx). Only a verified address gets a role.
"""

from __future__ import annotations

import pytest

from tests.support import streamlit_app
from ui.text import WORD_JOINER

pytestmark = pytest.mark.browser

EDITOR = "physicist@clinic.example"


@pytest.fixture(scope="module")
def signed_app(oidc_provider, tmp_path_factory):
    """The app with sign-in through ``oidc_provider`` (its issuer pinned); two subjects there:
    "physicist" (the editor's address, verified) and "impostor" (the same address with altered
    case and blanks, not verified, a markdown link as its name)."""
    oidc_provider.set_user("physicist", email=EDITOR, email_verified=True, name="Dr Physicist",
                           groups=["prrt-editors"])
    oidc_provider.set_user("impostor", email=" Physicist@CLINIC.example ", email_verified=False,
                           name="[Dr Physicist](https://evil.example)", groups=["prrt-editors"])
    secrets = {"auth": oidc_provider.auth(),
               "prrt": {"roles": {"editors": [EDITOR], "issuer": oidc_provider.url}}}
    workdir = tmp_path_factory.mktemp("sign_in")
    with streamlit_app(workdir / "board.sqlite", workdir, secrets=secrets) as url:
        yield url


def sign_in_as(page, url: str, sub: str) -> None:
    """Open the app, click "Sign in", give ``sub`` on the provider's login form and authorize."""
    page.goto(url)
    page.get_by_text("Sign in to see and change the clinical record.").wait_for()
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Authorize Client").wait_for()  # the provider's page
    page.locator('input[name="sub"]').fill(sub)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{url}/**")


def no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def test_editor_signs_in_with_the_provider_and_sees_patient_data(signed_app, page):
    sign_in_as(page, signed_app, "physicist")
    sidebar = page.get_by_test_id("stSidebar")
    # md() puts an invisible word joiner after '@' so the address is not a mailto: link.
    sidebar.get_by_text(f"Signed in as Dr Physicist <{EDITOR.replace('@', '@' + WORD_JOINER)}> (editor).").wait_for()
    page.get_by_role("heading", name="Salvage PRRT Board").wait_for()
    metrics = page.locator('[data-testid="stMetric"]')
    metrics.nth(4).wait_for()
    text = " ".join(metrics.all_inner_texts())
    assert "Patients" in text and "35" in text
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Patient review").click()
    page.get_by_role("heading", name="Patient review").wait_for()
    page.get_by_text("Cumulative kidney dose (Gy)").wait_for()
    assert sidebar.get_by_role("button", name="Sign out").count() == 1
    no_exception(page)


def test_unverified_address_signs_in_but_sees_no_patient_data(signed_app, page):
    sign_in_as(page, signed_app, "impostor")
    page.get_by_text("has no role here: the identity provider does not confirm that the e-mail "
                     "address is verified").wait_for()
    # escaped, shown as typed (an invisible word joiner after '@' keeps it from being a mailto: link)
    assert page.get_by_text(f"Physicist@{WORD_JOINER}CLINIC.example has no role here").count() == 1
    assert page.locator('a[href^="mailto:"]').count() == 0
    page.get_by_role("button", name="Sign out").wait_for()  # drawn after the message: wait, then count
    assert page.get_by_role("button", name="Sign out").count() == 1
    assert page.get_by_text("Signed in as").count() == 0
    assert page.locator('[data-testid="stMetric"]').count() == 0
    assert page.locator('[data-testid="stDataFrame"], [data-testid="stTable"]').count() == 0
    assert page.get_by_text("NET-0").count() == 0
    assert page.locator('a[href*="evil.example"]').count() == 0
    no_exception(page)
