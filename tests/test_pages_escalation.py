"""Issue 12 in the dashboard through AppTest: the district timeline, the escalation bundle on a district and
on a failure cluster (download audited, send through the real SMTP sink), and "Find a push: every state"."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from lmsdata import bundle, cases
from lmsdata.db import connect
from lmsdata.mail import MailSink
from tests.test_pages import _clear_streamlit_caches, table  # noqa: F401 (autouse fixture)
from tests.test_pages_access import OPERATOR, VIEWER, as_user, button_keys, roles  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("roles")


def audit(db_path: Path, action: str) -> list[tuple[str, str, str]]:
    with connect(db_path) as db:
        return [(r["actor"], r["target"], r["outcome"]) for r in
                db.query("SELECT * FROM audit_log WHERE action = ? ORDER BY id", [action])]


def test_the_district_timeline_merges_and_filters_by_kind_from_the_url(db_path: Path) -> None:
    cases.add_note(db_path, OPERATOR, "d-below", "<b>called</b> the district")
    at = as_user(VIEWER, "district", district="d-below")
    frame = next(f.value for f in at.dataframe if "Kind" in f.value.columns)
    kinds = set(frame["Kind"])
    assert {"sync", "LMS state and matching", "pushes", "notes"} <= kinds
    assert list(frame["When__local"]) == sorted(frame["When__local"], reverse=True)  # newest first
    assert "just now" in list(frame["When"])  # shown as relative times, the exact time beside
    assert "<b>called</b> the district" in list(frame["What"])  # a cell: text as typed
    only_notes = as_user(VIEWER, "district", district="d-below", kinds="note")
    frame = next(f.value for f in only_notes.dataframe if "Kind" in f.value.columns)
    assert set(frame["Kind"]) == {"notes"}


def test_a_district_bundle_is_prepared_downloaded_audited_and_sent_by_an_operator(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with MailSink() as sink:
        monkeypatch.setenv("SMTP_URL", sink.url)
        monkeypatch.setenv("LMSDATA_ESCALATION_EMAIL", "support@clever.example")
        viewer = as_user(VIEWER, "district", district="d-below")
        viewer.button(key="district_bundle_prepare_d-below").click().run()
        assert "district_bundle_send_d-below" not in button_keys(viewer)  # viewers download, operators send
        [summary] = [c.value for c in viewer.code]
        assert "Riverside Unified" in summary and "Grace" not in summary and "grace.hopper" not in summary
        at = as_user(OPERATOR, "district", district="d-below")
        at.button(key="district_bundle_prepare_d-below").click().run()
        at.button(key="district_bundle_send_d-below").click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert "Sent to support@clever.example with escalation-d-below.zip attached." in [t.value for t in at.text]
        [message] = sink.messages
    [attachment] = list(message.iter_attachments())
    with zipfile.ZipFile(io.BytesIO(attachment.get_content())) as archive:
        assert sorted(archive.namelist()) == sorted(bundle.FILES)
        assert not [n for n in archive.namelist() if b"grace.hopper" in archive.read(n)]
    assert audit(db_path, "bundle-send") == [(OPERATOR, "d-below", "ok")]
    [download] = at.get("download_button")
    assert download.proto.label == "Download the ZIP" and download.proto.url.endswith(".zip")


def test_a_cluster_is_escalated_from_the_failed_pushes_page(db_path: Path) -> None:
    at = as_user(OPERATOR, "pushes")
    clusters = next(f.value for f in at.dataframe if "district_ids" in f.value.columns)
    key = clusters.iloc[0]["key"]
    picker = next(s for s in at.selectbox if s.key == "pushes_cluster_pick")
    picker.set_value(key).run()
    at.button(key=f"cluster_bundle_prepare_cluster:{key}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [summary] = [c.value for c in at.code]
    assert f"Failure cluster {key}" in summary
    assert [b.proto.label for b in at.get("download_button")] == ["Download the ZIP"]


def test_find_a_push_in_every_state_from_the_url(db_path: Path) -> None:
    at = as_user(VIEWER, "pushes", find="Ada Lovelace", by="student")
    assert [t.value for t in at.text_input if t.key == "push_find"] == ["Ada Lovelace"]
    found = next(f.value for f in at.dataframe if "Ready now" in f.value.columns)
    assert sorted(found["Push"]) == [2, 3] and set(found["State"]) == {"failed", "sent"}  # sent ones too
    assert "Ada Lovelace" not in list(found["Student"])  # masked until revealed
    next(t for t in at.text_input if t.key == "push_find").input("S201").run()  # an SIS id, typed in the box
    assert at.query_params["find"] == "S201" and at.query_params["by"] == "student"  # the URL follows
    found = next(f.value for f in at.dataframe if "Ready now" in f.value.columns)
    assert list(found["Push"]) == [4]
    nothing = as_user(VIEWER, "pushes", find="Nobody Here")
    assert [i.value for i in nothing.info if i.value.startswith("No push matches")]
