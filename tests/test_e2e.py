"""One browser test: Debian's chromium against `streamlit run dashboard.py` on a fresh server.

It opens a district's deep link FIRST (so Streamlit routes that first request through `pages/`,
engineering-notes §1.1), then visits every page, retries failed pushes and sends an invitation.
The server starts on an empty cache in demo mode, so it also proves the first-start demo build.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from lmsdata.demo import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_SEED
from lmsdata.ui.frame import PAGES

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh `streamlit run` in demo mode on an empty temp cache; its URL."""
    workdir = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLEVER_", "SMTP_", "LMSDATA_"))}
    env["LMSDATA_DB"] = str(workdir / "demo.db")
    log = (workdir / "streamlit.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard.py"), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=1).text == "ok":
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail(f"streamlit did not start:\n{(workdir / 'streamlit.log').read_text()}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        print((workdir / "streamlit.log").read_text()[-5000:])


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[Page]:
    if not Path(CHROMIUM).exists():
        chromium = shutil.which("chromium")
        assert chromium, "Debian's chromium is missing: scripts/test installs it (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1600, "height": 1200})
        tab = context.new_page()
        tab.set_default_timeout(60_000)
        expect.set_options(timeout=30_000)  # a click's rerun may not have started when wait_for_app looks
        yield tab
        browser.close()


def wait_for_app(page: Page) -> None:
    """Streamlit's own readiness signals (its e2e suite waits on the same attributes)."""
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']")
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']")
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0, timeout=60_000)


def no_exception(page: Page) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_text("Something went wrong")).to_have_count(0)


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
        wait_for_app(page)
        expect(page.get_by_role("heading", level=1).first).to_be_visible()
        no_exception(page)
        assert url_path in page.url or url_path == "overview"

    # Retry: every push that looks ready, confirmed, with a result per push
    nav.get_by_text("Failed pushes", exact=True).click()
    wait_for_app(page)
    page.get_by_text("Only those that look ready").click()
    wait_for_app(page)
    page.get_by_role("button", name=re.compile(r"Retry all that look ready \(\d+\)")).click()
    wait_for_app(page)
    expect(page.get_by_text(re.compile(r"Retry \d+ push"))).to_be_visible()
    page.get_by_role("button", name="Retry now").click()
    wait_for_app(page)
    summary = page.get_by_text(re.compile(r"Retry finished: .*sent"))
    expect(summary).to_be_visible()
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
    expect(page.get_by_text("e2e-contact@example.org").last).to_be_visible()
    no_exception(page)

    # /overview (what Streamlit's own pages/ routing served on the fresh server) still works
    page.goto(f"{server}/overview")
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    expect(page.get_by_text("Page not found")).to_have_count(0)
