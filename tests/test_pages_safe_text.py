"""Text from Clever or a URL is shown as text: no Markdown, directive, link or HTML of theirs is drawn."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from lmsdata.db import bump_data_version, connect
from lmsdata.ui.safe import WORD_JOINER
from lmsdata.ui.safe import text as safe_text
from tests.test_pages import cache, open_page  # noqa: F401 (fixtures)

HOSTILE = [
    "**Bold ISD** https://evil.example.com",
    ":red[Alarm] Schools",
    "[click](https://evil.example.com) <b>html</b> <script>alert(1)</script>",
    "`code` # heading\n- list item\r\n> quote",
    "$x^2$ ~~struck~~ _em_ \\*already escaped\\*",
]
_ESCAPED = re.compile(r"\\([" + re.escape(string.punctuation) + "])")


@pytest.mark.parametrize("value", HOSTILE)
def test_every_mark_is_escaped_and_the_text_reads_as_given(value: str) -> None:
    shown = safe_text(value)
    assert "\n" not in shown and "\r" not in shown
    assert not re.search(r"(?<!\\)[" + re.escape(string.punctuation) + "]", _ESCAPED.sub("", shown))
    # what a person reads is the value itself: the word joiners that stop auto-links are invisible
    assert _ESCAPED.sub(r"\1", shown).replace(WORD_JOINER, "") == re.sub(r"[\r\n]+", " ", value)
    assert not re.search(r"(?i)https?://|www\.|\w@", _ESCAPED.sub(r"\1", shown))


def test_empty_values_are_empty() -> None:
    assert safe_text(None) == ""


def test_a_hostile_district_name_and_sync_error_are_shown_as_text(cache: Path) -> None:  # noqa: F811
    name, error = HOSTILE[0], HOSTILE[1]
    with connect(cache) as db, db.conn:
        db.execute("UPDATE districts SET name = ?, last_sync_error = ? WHERE id = 'd-below'", [name, error])
        bump_data_version(db)
    at = open_page("district", district="d-below")
    assert at.title[0].value == safe_text(name)
    assert f"failed: {safe_text(error)}" in at.error[0].value


def test_a_crafted_district_link_puts_no_markup_in_the_warning(cache: Path) -> None:  # noqa: F811
    crafted = "x` **bold** [link](https://evil.example.com) :red[red]"
    at = open_page("district", district=crafted)
    assert f"no district with id {safe_text(crafted)}." in at.warning[0].value
