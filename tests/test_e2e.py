"""One browser test: Debian's chromium against `streamlit run dashboard.py` on a fresh server.

It opens a district's deep link FIRST (so Streamlit routes that first request through `pages/`,
engineering-notes §1.1), then visits every page, retries failed pushes and sends an invitation.
The server starts on an empty cache in demo mode, so it also proves the first-start demo build.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from lmsdata.demo import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_SEED
from lmsdata.ui.frame import PAGES
from tests.e2e_support import chromium, clean_env, new_tab, no_exception, streamlit_server, wait_for_app

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh `streamlit run` in demo mode on an empty temp cache; its URL."""
    workdir = tmp_path_factory.mktemp("e2e")
    with streamlit_server(workdir, clean_env(LMSDATA_DB=str(workdir / "demo.db"))) as url:
        yield url


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[Page]:
    with chromium() as browser:
        yield new_tab(browser)


def first_district() -> tuple[str, str]:
    from lmsdata.sandbox import Sandbox

    sandbox = Sandbox(seed=DEMO_SEED, scale="demo", client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET)
    district_id = sandbox.district_ids()[0]
    return district_id, sandbox.district(district_id)["name"]


def test_deep_link_first_then_every_page_a_retry_and_an_invitation(server: str, page: Page) -> None:
    district_id, name = first_district()
    page.goto(f"{server}/district?district={district_id}")
    wait_for_app(page)
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    no_exception(page)
    nav = page.get_by_test_id("stSidebarNav")
    for _, title, _, _ in PAGES:  # st.navigation's labels, not Streamlit's file-name labels
        expect(nav.get_by_text(title, exact=True)).to_be_visible()
    expect(page.get_by_text("Demo mode")).to_be_visible()

    for _, title, url_path, _ in PAGES:
        nav.get_by_text(title, exact=True).click()
        # the URL changes when the new page's run starts; only then does waiting for the run mean this page
        expected = r"/(overview)?(\?.*)?$" if url_path == "overview" else rf"/{url_path}(\?.*)?$"
        expect(page).to_have_url(re.compile(expected))
        if url_path != "district":  # the District page is titled with the district's name
            expect(page.get_by_role("heading", level=1, name=re.compile(f"^{title}"))).to_be_visible()
        wait_for_app(page)
        expect(page.get_by_role("heading", level=1).first).to_be_visible()
        no_exception(page)

    # Retry: every push that looks ready, confirmed, with a result per push
    nav.get_by_text("Failed pushes", exact=True).click()
    wait_for_app(page)
    page.get_by_text("Only those that look ready").click()
    wait_for_app(page)
    page.get_by_role("button", name=re.compile(r"Retry all that look ready \(\d+\)")).click()
    wait_for_app(page)
    # the question names the pushes it will touch; the button says the verb
    expect(page.get_by_text(re.compile(r"^Retry \d+ push(es)? \(push \d+ · "))).to_be_visible()
    page.get_by_role("button", name=re.compile(r"^Retry \d+ push(es)?$")).click()
    wait_for_app(page)
    # one push is retried at once; several are a job the demo's embedded worker runs (the panel follows it live)
    summary = page.get_by_text(re.compile(r"^(Retry finished|Finished): .*\d+ sent"))
    expect(summary).to_be_visible(timeout=60_000)
    sent = int(re.search(r"(\d+) sent", summary.inner_text()).group(1))  # type: ignore[union-attr]
    assert sent >= 1
    no_exception(page)

    # Invitation: send one and see it listed (the grid and the demo mailbox)
    nav.get_by_text("Invitations", exact=True).click()
    wait_for_app(page)
    page.get_by_test_id("stSelectbox").filter(has_text="District").click()
    page.get_by_role("option").first.click()
    wait_for_app(page)
    to = page.get_by_role("textbox", name="To", exact=True)
    to.fill("e2e-contact@example.org")
    page.get_by_role("button", name="Send invitation").click()
    wait_for_app(page)
    expect(page.get_by_text("Invitation sent to e2e-contact@example.org.")).to_be_visible()
    page.get_by_text(re.compile("Demo mailbox")).click()
    # the mailbox shows the address as text: safe.text puts an invisible word joiner before "@" (no auto-link)
    expect(page.get_by_text(re.compile("e2e-contact\u2060?@example\\.org")).last).to_be_visible()
    no_exception(page)

    # /overview (what Streamlit's own pages/ routing served on the fresh server) still works
    page.goto(f"{server}/overview")
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    expect(page.get_by_text("Page not found")).to_have_count(0)
