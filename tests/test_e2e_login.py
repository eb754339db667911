"""Sign-in through a real OpenID Connect provider on loopback (`oidc-provider-mock`), in Debian's chromium.

`streamlit run dashboard.py` gets an `[auth]` section (a temp secrets file, so the repository stays
clean) pointing at the provider, and role lists in the environment. The test opens a deep link
before signing in, then signs in through the real redirect flow as an operator and as a viewer
(each in its own browser context); the provider's authorize form takes the e-mail as `sub`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e_support import chromium, clean_env, free_port, new_tab, no_exception, streamlit_server, wait_for_app

pytestmark = pytest.mark.e2e

OPERATOR = "ana@partner.example"
VIEWER = "lee@district.example"


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """The identity provider's base URL (it accepts any client id and secret)."""
    with warnings.catch_warnings():  # authlib turns its own deprecation warnings to "always" when imported
        import authlib.deprecate

        warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
        from oidc_provider_mock import run_server_in_thread
    with run_server_in_thread(port=0) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, provider: str) -> Iterator[str]:
    """The demo data behind a sign-in (a configured [auth] applies to the demo too)."""
    workdir = tmp_path_factory.mktemp("e2e-login")
    port = free_port()
    secrets = workdir / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        'cookie_secret = "a-long-random-cookie-secret-for-the-login-test"\n'
        'client_id = "lmsdata-e2e"\n'
        'client_secret = "lmsdata-e2e-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n'
    )
    env = clean_env(LMSDATA_DB=str(workdir / "demo.db"), LMSDATA_OPERATORS=OPERATOR, LMSDATA_VIEWERS="district.example")
    with streamlit_server(workdir, env, "--secrets.files", str(secrets), port=port) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as found:
        yield found


def sign_in(page: Page, email: str) -> None:
    """Streamlit's sign-in button → the provider's authorize form → back to the dashboard, signed in."""
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/oauth2/authorize.*"))
    page.locator("input[name=sub]").fill(email)
    page.get_by_role("button", name="Authorize").click()
    wait_for_app(page)
    expect(page.get_by_text(f"({email})")).to_be_visible()  # the sidebar's "Signed in as …"


def shows_only_the_sign_in_page(page: Page) -> None:
    wait_for_app(page)
    expect(page.get_by_role("heading", name="LMS Connect Health")).to_be_visible()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    expect(page.get_by_test_id("stDataFrame")).to_have_count(0)


def open_page(page: Page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    wait_for_app(page)
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    no_exception(page)


def test_a_deep_link_before_sign_in_shows_only_the_sign_in_page(server: str, browser: Browser) -> None:
    page = new_tab(browser)
    page.goto(f"{server}/pushes")  # the first request of a fresh server: Streamlit runs pages/pushes.py alone
    shows_only_the_sign_in_page(page)
    expect(page.get_by_role("heading", name="Failed pushes")).to_have_count(0)
    page.goto(f"{server}/district?district=anything")
    shows_only_the_sign_in_page(page)
    page.context.close()


def test_an_operator_signs_in_and_gets_the_act_buttons(server: str, browser: Browser) -> None:
    page = new_tab(browser)
    page.goto(f"{server}/pushes")
    wait_for_app(page)
    sign_in(page, OPERATOR)
    expect(page.get_by_text("operator", exact=False).first).to_be_visible()
    expect(page.get_by_text("Demo mode")).to_be_visible()  # demo data, but behind the sign-in:
    expect(page.get_by_text("you act as the demo admin")).to_have_count(0)  # the operator acts as themself
    open_page(page, "Failed pushes")
    expect(page.get_by_role("button", name=re.compile(r"Retry all that look ready"))).to_be_visible()
    open_page(page, "Sync log")
    expect(page.get_by_role("button", name="Sync all now")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="End session").click()  # the provider's own sign-out, then back
    page.wait_for_url(f"{server}/**")
    shows_only_the_sign_in_page(page)
    page.context.close()


def test_a_viewer_signs_in_and_sees_no_act_buttons(server: str, browser: Browser) -> None:
    page = new_tab(browser)
    page.goto(server)
    wait_for_app(page)
    sign_in(page, VIEWER)
    open_page(page, "Failed pushes")
    expect(page.get_by_text("Look ready to retry")).to_be_visible()  # the page itself is there
    expect(page.get_by_role("button", name=re.compile("Retry"))).to_have_count(0)
    open_page(page, "Sync log")
    expect(page.get_by_role("button", name="Sync all now")).to_have_count(0)
    open_page(page, "Invitations")
    expect(page.get_by_role("button", name="Send invitation")).to_have_count(0)
    page.context.close()
