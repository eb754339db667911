"""Access control in the dashboard through AppTest: the sign-in page on every URL, what each role sees
and may do, masking and audited reveals, and the safe default for real data without sign-in.

The roles come from the environment (`LMSDATA_ADMINS`… as in production); `at.secrets["auth"]` tells
the frame sign-in is configured and `at.user` plays the identity provider (tests/ui_fixtures.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from lmsdata import audit
from lmsdata.db import connect
from tests.test_pages import (
    ROOT,
    _clear_streamlit_caches,  # noqa: F401 (an autouse fixture: fresh caches per test)
    _real_mode,
    navigate,
    run_with,
    table,
    texts,
)
from tests.ui_fixtures import ADMIN_EMAIL, build_cache, signed_in

OPERATOR = "ana@partner.example"
VIEWER = "lee@district.example"
PAGES = ("overview", "district", "unmatched", "pushes", "sync", "invitations", "audit", "queue")
ACT_BUTTONS = {"pushes": ["pushes_retry_selected", "pushes_retry_ready"], "sync": ["sync_all_button"],
               "district": ["district_sync_button"]}  # fmt: skip


@pytest.fixture
def roles(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The page tests' cache with real (made-up) credentials; test@example.com an admin, two more roles."""
    build_cache(db_path)
    _real_mode(monkeypatch, db_path)
    monkeypatch.setenv("LMSDATA_OPERATORS", OPERATOR)
    monkeypatch.setenv("LMSDATA_VIEWERS", "@district.example")
    return db_path


def as_user(email: str | None, page: str | None = None, **query: str) -> AppTest:
    """`page` opened through the entry point (navigation), or run by itself as a fresh server's deep link does."""
    script = f"pages/{page}.py" if page else "dashboard.py"
    return run_with(signed_in(AppTest.from_file(str(ROOT / script), default_timeout=30), email), **query)


def button_keys(at: AppTest) -> set[str]:
    return {b.key for b in at.button if b.key}


def only_the_sign_in_page(at: AppTest) -> None:
    assert not at.exception
    assert [t.value for t in at.title] == ["LMS Connect Health"]
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.dataframe and not at.metric
    assert "Data pulled" not in texts(at)  # not even the frame's sidebar


@pytest.mark.parametrize("page", [None, *PAGES])
def test_visitors_see_only_the_sign_in_page_on_every_url(roles: Path, page: str | None) -> None:
    only_the_sign_in_page(as_user(None, page, district="d-below"))


def test_someone_without_a_role_is_refused_by_name_and_can_sign_out(roles: Path) -> None:
    at = as_user("eve@elsewhere.example")
    assert "You are signed in as eve@elsewhere.example, but it has no role here" in at.error[0].value
    assert not at.dataframe
    at.button(key="sign_out").click().run()
    only_the_sign_in_page(at)


def test_a_viewer_browses_reveals_one_student_and_may_not_act(roles: Path) -> None:
    at = as_user(VIEWER)
    assert "Signed in as" in texts(at) and "viewer" in texts(at)
    for page in PAGES:
        navigate(at, page, district="d-below")
        assert not set(ACT_BUTTONS.get(page, [])) & button_keys(at), page
        assert "Show student data unmasked" not in [t.label for t in at.toggle]
    navigate(at, "district", district="d-below")
    assert not [f for f in at.get("form")]  # no invitation form
    navigate(at, "invitations")
    assert "Send an invitation" not in [e.label for e in at.expander]
    assert "Select an invitation to resend or cancel it." not in texts(at)

    navigate(at, "unmatched")
    users = table(at, 0)
    assert "Grace" not in set(users["first_name"])
    row = list(users["id"]).index("u-un1")
    at.session_state["unmatched_users_table"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    at.button(key="unmatched_reveal_u-un1").click().run()
    assert "**Grace Hopper** · grace.hopper@riverside.example.org · SIS id S200" in texts(at)
    with connect(roles) as db:
        [reveal] = audit.entries(db, action="reveal")
    assert (reveal["actor"], reveal["target"]) == (VIEWER, "user:u-un1")

    navigate(at, "audit")
    assert set(table(at)["actor"]) == {VIEWER}  # not the demo's invitation
    assert "You see your own entries" in texts(at)


def test_an_operator_gets_the_act_buttons_but_no_bulk_reveal_and_only_their_own_audit(roles: Path) -> None:
    at = as_user(OPERATOR)
    for page, keys in ACT_BUTTONS.items():
        navigate(at, page, district="d-below")
        if page == "pushes":
            at.session_state["pushes_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
            at.run()
        assert set(keys) <= button_keys(at), page
        assert "Show student data unmasked" not in [t.label for t in at.toggle]
    navigate(at, "invitations")
    assert "Send an invitation" in [e.label for e in at.expander]
    navigate(at, "audit")
    assert "Nothing has been done yet" in texts(at)  # the demo's invitation is someone else's


def test_an_admin_reveals_a_page_in_bulk_audited_and_sees_everyones_audit_log(roles: Path) -> None:
    at = as_user(ADMIN_EMAIL)
    navigate(at, "unmatched")
    assert set(table(at, 0)["last_name"]) == {"H.", "T."}
    at.toggle(key="unmatched_unmasked").set_value(True).run()
    assert set(table(at, 0)["last_name"]) == {"Hopper", "Turing"}
    at.run()  # another rerun with the switch on is the same look: not audited twice
    with connect(roles) as db:
        [bulk] = audit.entries(db, action="reveal_all")
    assert (bulk["actor"], bulk["outcome"]) == (ADMIN_EMAIL, "ok")
    navigate(at, "audit")
    assert set(table(at)["actor"]) == {ADMIN_EMAIL, "demo"}
    assert "You see your own entries" not in texts(at)


def test_the_payload_and_attempts_stay_masked_until_the_reveal(roles: Path) -> None:
    at = as_user(VIEWER)
    navigate(at, "pushes")
    position = list(table(at, 2)["Push"]).index(1)
    at.session_state["pushes_table"] = {"selection": {"rows": [position], "columns": [], "cells": []}}
    at.run()
    assert "grace.hopper" not in str(at.json[0].value)
    at.button(key="reveal_1").click().run()
    assert "grace.hopper@riverside.example.org" in str(at.json[0].value)
    with connect(roles) as db:
        [reveal] = audit.entries(db, action="reveal")
    assert (reveal["actor"], reveal["target"]) == (VIEWER, "user:u-un1")
    assert '"reason": "push 1"' in reveal["params"]


@pytest.fixture
def server_address() -> Iterator[None]:
    before = config.get_option("server.address")
    yield
    config.set_option("server.address", before)


@pytest.mark.parametrize(
    ("allow", "address", "shown"),
    [
        (None, "127.0.0.1", "Real Clever credentials are configured but sign-in is not, so no data is shown"),
        ("1", "0.0.0.0", "but the server listens on 0.0.0.0"),
        ("1", "127.0.0.1", None),
    ],
)
def test_real_data_without_sign_in_is_refused_unless_allowed_on_localhost(
    roles: Path, monkeypatch: pytest.MonkeyPatch, server_address: None, allow: str | None, address: str,
    shown: str | None,
) -> None:  # fmt: skip
    if allow:
        monkeypatch.setenv("LMSDATA_ALLOW_UNAUTHENTICATED", allow)
    config.set_option("server.address", address)
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=30).run()
    assert not at.exception
    if shown:
        assert shown in at.error[0].value
        assert not at.dataframe and not at.button
    else:
        assert at.title[0].value == "Overview" and at.dataframe
        assert "shows real data to anyone using this machine" in texts(at)
        assert "Acting as `local:" in texts(at)
