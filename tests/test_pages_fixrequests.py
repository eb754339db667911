"""The District page's "Ask the district to fix" panel through AppTest, with a real SMTP sink and cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from lmsdata import fixrequests
from lmsdata.db import connect
from lmsdata.mail import Mailer, MailSink
from tests.test_fixrequests import attachment, audit_rows
from tests.test_pages import _clear_streamlit_caches, texts  # noqa: F401 (autouse fixture)
from tests.test_pages_access import OPERATOR, VIEWER, as_user, button_keys, roles  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("roles")  # the page tests' cache at db_path, with three roles


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[MailSink]:
    with MailSink() as server:
        monkeypatch.setenv("SMTP_URL", server.url)
        yield server


def frame(at: AppTest, column: str) -> pd.DataFrame:
    """The one table on the page with this column."""
    [found] = [d.value for d in at.dataframe if column in d.value.columns]
    return found


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_operator_previews_sends_and_follows_progress_to_the_end(db_path: Path, sink: MailSink) -> None:
    at = as_user(OPERATOR, "district", district="d-below")
    preview = frame(at, "Likely reason")
    assert sorted(preview["Clever id"]) == ["s-un", "u-un1", "u-un2"]
    assert "Grace Hopper" not in set(preview["Name"]) and "G. H." in set(preview["Name"])  # masked on the page
    message = next(w for w in at.text_area if w.key == "fixrequest_message")
    assert message.value == fixrequests.DEFAULT_MESSAGE
    message.input("Please fix these before Friday.")
    click(at, "fixrequest_send")
    assert "Fix request #1 sent to it@d-below.example.org: 3 items." in texts(at)
    [mail] = sink.messages
    assert "Please fix these before Friday." in str(mail.get_body(("plain",)).get_content())
    assert {row["name"] for row in attachment(mail)} >= {"Grace Hopper", "Alan Turing"}  # unmasked for the district
    assert list(frame(at, "Progress")["Progress"]) == ["0 of 3 fixed"]
    assert "fixrequest_send" not in button_keys(at)  # one open request per district

    with connect(db_path) as db:  # what a sync writes, then its refresh
        db.execute("UPDATE users SET synced_in_lms = 1 WHERE id = 'u-un1'")
        db.execute("UPDATE sections SET synced_in_lms = 1 WHERE id = 's-un'")
        db.conn.commit()
        fixrequests.refresh(db)
    at = as_user(OPERATOR, "district", district="d-below")
    assert list(frame(at, "Progress")["Progress"]) == ["2 of 3 fixed"]
    click(at, "fixrequest_remind_1")
    assert "Reminder for #1 sent to it@d-below.example.org (2 of 3 fixed)." in texts(at)
    assert [row["clever_id"] for row in attachment(sink.messages[-1])] == ["u-un2"]
    click(at, "fixrequest_close_1")
    assert list(frame(at, "Progress")["State"]) == ["closed"]
    assert [a[:2] for a in audit_rows(db_path) if a[0] == OPERATOR] == [
        (OPERATOR, "fix-request"), (OPERATOR, "fix-request-remind"), (OPERATOR, "fix-request-close")]


def test_a_viewer_reads_the_requests_but_has_no_controls(db_path: Path, sink: MailSink) -> None:
    fixrequests.create(db_path, "d-below", actor="cli:test", mailer=Mailer.from_url(sink.url))
    at = as_user(VIEWER, "district", district="d-below")
    assert not at.exception
    assert list(frame(at, "Progress")["Progress"]) == ["0 of 3 fixed"]
    assert not {k for k in button_keys(at) if k.startswith("fixrequest_")}
    assert not [d for d in at.dataframe if "Likely reason" in d.value.columns]  # no preview either
    assert "Your role may read these requests; an operator sends them." in [c.value for c in at.caption]
