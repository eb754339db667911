"""Helpers for the sandbox's own tests: a controllable clock and a served sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from lmsdata.client import CleverClient
from lmsdata.config import Settings
from lmsdata.sandbox import Sandbox, serve
from lmsdata.sync import sync

CLIENT_ID = "sandbox-test-client"
CLIENT_SECRET = "sandbox-test-secret"
START = 1_800_000_030.0  # half a minute into a rate-limit window


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextmanager
def served(**options: Any) -> Iterator[tuple[Sandbox, str]]:
    """A sandbox (tiny scale unless told) on a real loopback port."""
    settings: dict[str, Any] = {"seed": 7, "scale": "tiny", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    settings.update(options)
    sandbox = Sandbox(**settings)
    server = serve(sandbox, host="127.0.0.1", port=0)
    try:
        yield sandbox, server.url
    finally:
        server.close()


def pull(url: str, db_path: Path, district_id: str, *, full: bool = False) -> None:
    """A real sync of one district of a `served` sandbox into the cache at `db_path`; it must succeed."""
    settings = Settings(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, api_url=url, oauth_url=url, db_path=db_path)
    with CleverClient.from_settings(settings) as client:
        result = sync(client, db_path, full=full, district_ids=[district_id])
    assert result.failed == {}


def client_for(sandbox: Sandbox, url: str, district_id: str, **kwargs: Any) -> httpx.Client:
    """An httpx client holding that district's bearer token."""
    token = sandbox.token_for(district_id)
    kwargs.setdefault("timeout", 10)
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, **kwargs)


def ready_setup(sandbox: Sandbox, lms_type: str) -> dict[str, str]:
    """A district in `success` with that LMS, a synced section and a matched student in it."""
    for did in sandbox.district_ids():
        district = sandbox.district(did)
        if district["lms_state"] != "success" or district["lms_type"] != lms_type:
            continue
        for section in sandbox.sections(did):
            if not (section["lms_status"] or {}).get("synced_in_lms"):
                continue
            for uid in section["students"]:
                user = sandbox.user(uid)
                if user["lms_status"]["synced_in_lms"] and sandbox.has_launched(uid):
                    teacher = section["teacher"]
                    return {"district": did, "section": section["id"], "student": uid, "teacher": teacher}
    raise LookupError(f"no ready {lms_type} setup in this sandbox")


def first_link(payload: dict[str, Any], rel: str) -> str | None:
    return next((link["uri"] for link in payload.get("links") or [] if link["rel"] == rel), None)
