"""Every dashboard page of the demo at 1280x800 in chromium: a screenshot each, and the texts a reader would
trip over (cut metric labels and values, ISO times, "None" cells, snake_case headers), for item-by-item review.

    .venv/bin/python bench/screens.py [OUT_DIR]      # default /tmp/lmsdata-screens
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lmsdata.ui.frame import PAGES  # noqa: E402
from tests.cache_fixtures import built_demo  # noqa: E402
from tests.e2e_support import chromium, clean_env, streamlit_server, wait_for_app  # noqa: E402

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
SNAKE = re.compile(r"^[a-z]+(_[a-z]+)+$")


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        db_path = built_demo(Path(work) / "demo.db")
        with streamlit_server(Path(work), clean_env(LMSDATA_DB=str(db_path))) as url, chromium() as browser:
            for _, title, slug, _ in PAGES:
                tab = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
                tab.set_default_timeout(60_000)
                tab.goto(f"{url}/{slug}" + ("?district=" + first_district(db_path) if slug == "district" else ""))
                wait_for_app(tab)
                tab.wait_for_timeout(1500)
                print(f"== {title}: {out / (slug + '.png')}")
                for problem in problems(tab):
                    print("  ", problem)
                tab.set_viewport_size({"width": 1280, "height": 3000})  # the app scrolls inside: a tall window
                tab.wait_for_timeout(1500)
                tab.screenshot(path=str(out / f"{slug}.png"))
                tab.context.close()


def first_district(db_path: Path) -> str:
    from lmsdata.db import connect

    with connect(db_path) as db:
        return str(db.execute("SELECT id FROM districts ORDER BY name LIMIT 1").fetchone()[0])


def problems(tab) -> list[str]:  # type: ignore[no-untyped-def]
    found = tab.evaluate("""() => {
        const cut = [...document.querySelectorAll(
                '[data-testid=stMetricLabel] p, [data-testid=stMetricLabel] div, [data-testid=stMetricValue] div')]
            .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => 'cut metric: ' + e.textContent);
        const headers = [...document.querySelectorAll('[role=columnheader]')]
            .map(h => 'header: ' + h.textContent.trim());
        const text = document.querySelector('[data-testid=stMain]')?.innerText || '';
        return {cut, headers, text};
    }""")
    seen = list(dict.fromkeys(found["cut"]))
    seen += [h for h in dict.fromkeys(found["headers"]) if SNAKE.match(h.removeprefix("header: "))]
    seen += [f"ISO time in text: {m}" for m in dict.fromkeys(ISO.findall(found["text"]))][:5]
    seen += ["'None' shown"] if re.search(r"\bNone\b", found["text"]) else []
    return seen


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/lmsdata-screens"))
