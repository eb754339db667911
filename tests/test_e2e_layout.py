"""Browser checks of what a person sees at laptop width, of links that reproduce a view, and of
outside text drawn as text (issue 10: the first screen answers, links reproduce views; issue 14:
Clever's text is never interpreted).

One server on a demo cache built in-process, into which Clever-side text full of Markdown, HTML,
directives and links was written first (as a hostile district, section or contact would send it).
`st.dataframe` is a canvas (Glide Data Grid): its DOM holds an accessibility table whose header
cells are only the columns inside the visible part of the grid, which is what the layout check reads.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Page, expect

from lmsdata import cases
from lmsdata.db import bump_data_version, connect
from lmsdata.ui.frame import PAGES
from lmsdata.ui.safe import WORD_JOINER
from tests.cache_fixtures import built_demo
from tests.e2e_support import chromium, clean_env, no_exception, streamlit_server, wait_for_app

pytestmark = pytest.mark.e2e

INJECTED = "**bold** <b>x</b> [link](http://evil.example) :red[red] <script>alert(1)</script>"
CRAFTED_LINK = "<script>alert(2)</script>**x**[y](http://evil.example)"
NOTE = "<img src=x onerror=alert(1)> [link](http://x) **bold**"  # a support person's case note (issue 12)


@pytest.fixture(scope="module")
def hostile_cache(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    """The demo cache with hostile text in a district's name, contact and errors, a section and a user;
    the id of a failed push of that district, and the district's id."""
    workdir = tmp_path_factory.mktemp("e2e-layout")
    db_path = built_demo(workdir / "demo.db")
    with connect(db_path) as db, db.conn:
        district_id, push_id, section_id, student_id = db.execute(
            "SELECT district_id, id, section_id, student_id FROM pushes WHERE state = 'failed' ORDER BY id LIMIT 1"
        ).fetchone()
        db.execute("UPDATE districts SET name = ?, contact_name = ?, sis_error = ?, last_sync_error = ? WHERE id = ?",
                   [f"Hostile {INJECTED}", INJECTED, INJECTED, INJECTED, district_id])
        db.execute("UPDATE sections SET name = ? WHERE id = ?", [INJECTED, section_id])
        db.execute("UPDATE users SET first_name = ?, last_name = ? WHERE id = ?", [INJECTED, INJECTED, student_id])
        bump_data_version(db)
    cases.add_note(db_path, "cli:e2e", str(district_id), NOTE)
    return db_path, int(push_id), str(district_id)


@pytest.fixture(scope="module")
def server(hostile_cache: tuple[Path, int, str]) -> Iterator[str]:
    db_path = hostile_cache[0]
    with streamlit_server(db_path.parent, clean_env(LMSDATA_DB=str(db_path))) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as found:
        yield found


def laptop_tab(browser: Browser) -> Page:
    """A fresh person (own cookies, own Streamlit session) at 1280×800."""
    tab = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    tab.set_default_timeout(60_000)
    expect.set_options(timeout=30_000)
    return tab


def open_view(browser: Browser, url: str) -> Page:
    tab = laptop_tab(browser)
    tab.goto(url)
    wait_for_app(tab)
    no_exception(tab)
    return tab


def visible_columns(page: Page) -> dict[str, object]:
    """The grid's header cells inside its visible part, its horizontal scroll and its right edge."""
    grid = page.get_by_test_id("stDataFrame").first
    grid.scroll_into_view_if_needed()
    expect(grid.locator("[role=columnheader]").first).to_be_attached()
    return grid.evaluate("""grid => {
        const scroller = grid.querySelector('.dvn-scroller');
        return {headers: [...grid.querySelectorAll('[role=columnheader]')].map(h => h.textContent.trim()),
                scrollLeft: scroller.scrollLeft, right: scroller.getBoundingClientRect().right,
                viewport: window.innerWidth};
    }""")


def test_owner_and_next_step_fit_a_laptop_screen(server: str, browser: Browser) -> None:
    page = open_view(browser, f"{server}/overview")
    seen = visible_columns(page)
    headers = seen["headers"]
    assert isinstance(headers, list)
    assert headers[:4] == ["Status", "District", "Owner", "Next step"], seen
    # the column after Next step starts inside the visible part, so Next step ends inside it, uncut
    assert "Problems" in headers, seen
    assert seen["scrollLeft"] == 0
    assert float(seen["right"]) <= float(seen["viewport"])  # type: ignore[arg-type]
    page.context.close()


def test_no_headline_figure_is_cut_at_1280(server: str, browser: Browser,
                                           hostile_cache: tuple[Path, int, str]) -> None:
    """The Overview's six figures and the District header's (LMS, LMS state, times) fit their columns."""
    for url in (f"{server}/overview", f"{server}/district?district={hostile_cache[2]}"):
        page = open_view(browser, url)
        expect(page.get_by_test_id("stMetricValue").first).to_be_visible()
        cut = page.evaluate("""() => [...document.querySelectorAll(
                '[data-testid=stMetricLabel] p, [data-testid=stMetricValue] div')]
            .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)""")
        assert cut == [], (url, cut)
        page.context.close()


def test_a_copied_url_reopens_the_same_view(server: str, browser: Browser,
                                            hostile_cache: tuple[Path, int, str]) -> None:
    page = open_view(browser, f"{server}/overview")
    search = page.get_by_role("textbox", name="Search")
    search.fill("County")
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]q=County"))
    wait_for_app(page)
    page.get_by_test_id("stMultiSelect").filter(has_text="Status").click()
    page.get_by_role("option", name="Action needed").click()
    page.keyboard.press("Escape")
    expect(page).to_have_url(re.compile(r"[?&]status=action_needed"))
    wait_for_app(page)
    caption = page.get_by_text(re.compile(r"^\d+ of \d+ districts")).inner_text()
    copied = page.url
    page.context.close()

    fresh = open_view(browser, copied)
    expect(fresh.get_by_role("textbox", name="Search")).to_have_value("County")
    expect(fresh.get_by_test_id("stMultiSelect").filter(has_text="Status")).to_contain_text("Action needed")
    expect(fresh.get_by_text(re.compile(r"^\d+ of \d+ districts"))).to_have_text(caption)
    fresh.context.close()

    # another page's filters, from a link alone: the Unmatched page's role and search
    unmatched = open_view(browser, f"{server}/unmatched?role=teacher&q=no-such-teacher")
    expect(unmatched.get_by_role("textbox", name="Search")).to_have_value("no-such-teacher")
    expect(unmatched.get_by_test_id("stMultiSelect").filter(has_text="Role")).not_to_contain_text("student")
    expect(unmatched.get_by_text("No unmatched users with these filters", exact=False)).to_be_visible()
    unmatched.context.close()

    push_id = hostile_cache[1]
    linked = open_view(browser, f"{server}/pushes?push={push_id}")
    expect(linked.get_by_text(re.compile(rf"^Push {push_id} · "))).to_be_visible()
    linked.context.close()


def assert_nothing_injected(page: Page, where: str) -> None:
    assert page.locator('a[href*="evil.example"], a[href^="http://x"], img[src="x"]').count() == 0, where
    for tag in ("b", "strong"):
        marked = page.locator(tag).filter(has_text=re.compile(r"^(x|bold|y)$"))
        assert marked.count() == 0, f"{where}: <{tag}> {marked.all_inner_texts()}"
    scripts = page.locator("script").filter(has_text="alert(")
    assert scripts.count() == 0, where
    coloured = page.locator("[class*=red], span[style*=color]").filter(has_text=re.compile(r"^red$"))
    assert coloured.count() == 0, where


def test_outside_text_is_drawn_as_text_on_every_page(server: str, browser: Browser,
                                                     hostile_cache: tuple[Path, int, str]) -> None:
    _, push_id, district_id = hostile_cache
    views = [f"{server}/{url_path}" for _, _, url_path, _ in PAGES]
    views += [f"{server}/district?district={district_id}", f"{server}/pushes?push={push_id}",
              f"{server}/district?district={quote(CRAFTED_LINK)}"]
    dialogs: list[str] = []
    for url in views:
        page = open_view(browser, url)
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        assert_nothing_injected(page, url)
        read = page.get_by_test_id("stMain").inner_text().replace(WORD_JOINER, "")  # as a person reads it
        if district_id in url:  # the hostile name reads exactly as Clever sent it
            heading = page.get_by_role("heading", level=1).inner_text().replace(WORD_JOINER, "")
            assert heading.strip() == f"Hostile {INJECTED}"
            assert NOTE in read  # the case note, as typed
        if "evil" in url:
            assert CRAFTED_LINK in read, read[:2000]
        page.context.close()
    assert dialogs == []


def test_the_cache_holds_the_hostile_text(hostile_cache: tuple[Path, int, str]) -> None:
    """Guards the other tests: the injected text is what the pages read (no sync overwrote it)."""
    db_path, _, district_id = hostile_cache
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT name FROM districts WHERE id = ?", [district_id]).fetchone()[0].endswith(INJECTED)
