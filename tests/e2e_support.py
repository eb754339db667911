"""What the browser tests share: `streamlit run dashboard.py` on a free port, Debian's chromium, and
Streamlit's own readiness signals (its e2e suite waits on the same attributes)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any Clever, mail or lmsdata setting of the machine running the tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLEVER_", "SMTP_", "LMSDATA_"))}
    return {**env, **extra}


@contextlib.contextmanager
def streamlit_server(workdir: Path, env: Mapping[str, str], *options: str, port: int | None = None) -> Iterator[str]:
    """A fresh `streamlit run dashboard.py` on 127.0.0.1 (extra `options` such as `--secrets.files`); its URL."""
    port = port or free_port()
    log_path = workdir / "streamlit.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard.py"), "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none", *options],
            cwd=ROOT, env=dict(env), stdout=log, stderr=subprocess.STDOUT,
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
                pytest.fail(f"streamlit did not start:\n{log_path.read_text()}")
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
            print(log_path.read_text()[-5000:])


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        assert shutil.which("chromium"), "Debian's chromium is missing: scripts/test installs it (apt install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_tab(browser: Browser) -> Page:
    """A tab in a fresh browser context (its own cookies: a separate person)."""
    tab = browser.new_context(viewport={"width": 1600, "height": 1200}).new_page()
    tab.set_default_timeout(60_000)
    expect.set_options(timeout=30_000)  # a click's rerun may not have started when wait_for_app looks
    return tab


def wait_for_app(page: Page) -> None:
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']")
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']")
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0, timeout=60_000)


def no_exception(page: Page) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_text("Something went wrong")).to_have_count(0)
