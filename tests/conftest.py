"""Shared fixtures: a fresh cache file, the Clever sandbox in-process and on loopback, the passback lab."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lmsdata.config import Settings
from tests.push_fixtures import Lab, running_lab

SPEC_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "clever-spec"
SANDBOX_CLIENT_ID = "sandbox-client"
SANDBOX_CLIENT_SECRET = "sandbox-secret-do-not-log"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "lmsdata.db"


@pytest.fixture
def sandbox():  # type: ignore[no-untyped-def]
    """A fresh demo-scale sandbox (in memory; nothing served yet)."""
    from lmsdata.sandbox import Sandbox

    return Sandbox(
        seed=7, scale="demo", faults="none", client_id=SANDBOX_CLIENT_ID, client_secret=SANDBOX_CLIENT_SECRET
    )


@pytest.fixture
def sandbox_url(sandbox) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The `sandbox` fixture served over real HTTP on 127.0.0.1 (one base URL for OAuth and API)."""
    from lmsdata.sandbox import serve

    server = serve(sandbox, host="127.0.0.1", port=0)
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture
def settings(sandbox_url: str, db_path: Path) -> Settings:
    """Settings that point the real client at the loopback sandbox and a fresh cache file."""
    return Settings(
        client_id=SANDBOX_CLIENT_ID,
        client_secret=SANDBOX_CLIENT_SECRET,
        api_url=sandbox_url,
        oauth_url=sandbox_url,
        db_path=db_path,
    )


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """A tiny sandbox on loopback and a cache synced from it, one per test (modules that share one
    across their tests define a module-scoped `lab` of their own)."""
    with running_lab(tmp_path) as lab:
        yield lab
