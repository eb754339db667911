"""No token or client secret ends up in the cache file, the CLI's output or the log, even when things fail.

A workload that produces every kind of stored message (a sync, a token revoked between two syncs,
grade pushes refused for it, a retry) runs against the loopback sandbox through the CLI and the
library; then the cache's bytes (database and WAL), every listing command's output and every log
record are searched for each district token and the app's secret.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from lmsdata.cli import cli
from lmsdata.client import CleverClient
from lmsdata.config import Settings
from lmsdata.pushes import GradePusher
from lmsdata.sandbox import Sandbox

FUTURE = "2031-05-01T23:59:00.000Z"


def test_tokens_and_the_secret_never_reach_the_cache_the_output_or_the_log(
    sandbox: Sandbox, settings: Settings, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    for name, value in {"CLEVER_CLIENT_ID": settings.client_id, "CLEVER_CLIENT_SECRET": settings.client_secret,
                        "CLEVER_API_URL": settings.api_url, "CLEVER_OAUTH_URL": settings.oauth_url,
                        "LMSDATA_DB": str(settings.db_path)}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    outputs = [runner.invoke(cli, ["sync", "--full"]).output]

    revoked, echoing = [d for d in sandbox.district_ids() if sandbox.district(d)["lms_state"] == "success"][:2]
    secrets = [sandbox.token_for(d) for d in sandbox.district_ids()] + [settings.client_secret]
    sandbox.revoke_token(revoked)
    # a proxy in front of Clever that echoes the request's Authorization header in its error
    sandbox.inject("/assignments", status=400, body={"message": f"rejected: Bearer {sandbox.token_for(echoing)}"})
    body = {"title": "Quiz", "description": "<p>Quiz</p>", "due_date": FUTURE, "points_possible": 10}
    with CleverClient.from_settings(settings) as client, GradePusher(client, settings.db_path) as pusher:
        for district_id in (revoked, echoing):
            section = next(s for s in sandbox.sections(district_id) if s["students"])
            assert pusher.create_assignment(district_id, section["id"], "quiz", body).state == "failed"

    outputs.append(runner.invoke(cli, ["sync"]).output)  # the revoked district fails, the others sync
    outputs.append(runner.invoke(cli, ["retry", "--all-failed"]).output)
    for command in (["status"], ["pushes", "list"], ["audit"], ["invitations"]):
        result = runner.invoke(cli, [*command, "--format", "json"])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)

    stored = b"".join(path.read_bytes() for path in Path(settings.db_path).parent.glob("lmsdata.db*"))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert b"rejected: Bearer" in stored  # the failures were recorded, in Clever's (here a proxy's) words
    for secret in secrets:
        assert secret.encode() not in stored
        assert all(secret not in output for output in outputs)
        assert secret not in logged
