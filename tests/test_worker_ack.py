"""Acknowledge and snooze: operators only (a viewer is refused and audited), each change audited; an
acknowledged alert is not re-notified but its resolution is; a snoozed one waits until the time; the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from lmsdata.access import AccessDenied, Principal, Role
from lmsdata.audit import entries
from lmsdata.cli import cli
from lmsdata.db import connect
from lmsdata.worker.alerts import AlertError, acknowledge, list_alerts, reconcile, snooze
from lmsdata.worker.config import Channel

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CHANNELS = [Channel("json://127.0.0.1:9/hook")]
FOUND = {("failed_pushes", "d1"): "3 failed grade pushes (threshold 1)"}
OPERATOR = Principal("op@partner.example", Role.OPERATOR)
VIEWER = Principal("viewer@partner.example", Role.VIEWER)


def _cycle(db_path: Path, at: datetime, found: dict = FOUND) -> list[str]:  # type: ignore[type-arg]
    """One rules pass at `at`; the outbox's event keys so far."""
    with connect(db_path) as db:
        reconcile(db, found, rules=["failed_pushes"], now=at, renotify_hours=6, channels=CHANNELS)
        return [r[0] for r in db.execute("SELECT event_key FROM outbox ORDER BY id").fetchall()]


def _alert_id(db_path: Path) -> int:
    with connect(db_path) as db:
        return int(list_alerts(db)[0]["id"])


def test_an_acknowledged_alert_is_not_renotified_but_its_resolution_is(db_path: Path) -> None:
    _cycle(db_path, NOW)
    alert = _alert_id(db_path)
    acknowledge(db_path, OPERATOR, alert, NOW + timedelta(minutes=5))
    assert _cycle(db_path, NOW + timedelta(hours=7)) == [f"alert:{alert}:opened"]
    assert _cycle(db_path, NOW + timedelta(hours=8), {}) == [f"alert:{alert}:opened", f"alert:{alert}:resolved"]
    with connect(db_path) as db:
        row = list_alerts(db)[0]
        audit = entries(db, action="alert-ack")
    assert row["acked_by"] == "op@partner.example" and row["acked_at"].startswith("2026-12-01T12:05")
    assert [(a["actor"], a["target"], a["outcome"]) for a in audit] == [
        ("op@partner.example", f"alert:{alert}", "ok")]


def test_a_snoozed_alert_waits_until_the_snooze_ends(db_path: Path) -> None:
    _cycle(db_path, NOW)
    alert = _alert_id(db_path)
    snooze(db_path, OPERATOR, alert, NOW + timedelta(hours=12), NOW)
    assert _cycle(db_path, NOW + timedelta(hours=7)) == [f"alert:{alert}:opened"]  # due, but snoozed
    assert _cycle(db_path, NOW + timedelta(hours=12, minutes=1)) == [
        f"alert:{alert}:opened", f"alert:{alert}:renotify:2"]
    with pytest.raises(AlertError, match="in the future"):
        snooze(db_path, OPERATOR, alert, NOW - timedelta(hours=1), NOW)


def test_a_viewer_is_refused_and_the_refusal_audited_and_a_resolved_alert_cannot_be_acked(db_path: Path) -> None:
    _cycle(db_path, NOW)
    alert = _alert_id(db_path)
    with pytest.raises(AccessDenied, match="viewer"):
        acknowledge(db_path, VIEWER, alert, NOW)
    _cycle(db_path, NOW + timedelta(hours=1), {})
    with pytest.raises(AlertError, match="already resolved"):
        snooze(db_path, OPERATOR, alert, NOW + timedelta(days=1), NOW)
    with pytest.raises(AlertError, match="does not exist"):
        acknowledge(db_path, OPERATOR, 999, NOW)
    with connect(db_path) as db:
        audit = [(a["actor"], a["action"], a["outcome"]) for a in reversed(entries(db))]
        row = list_alerts(db)[0]
    assert audit == [("viewer@partner.example", "alert-ack", "refused"),
                     ("op@partner.example", "alert-snooze", "failed"), ("op@partner.example", "alert-ack", "failed")]
    assert row["acked_by"] is None and row["snoozed_until"] is None


def test_the_cli_lists_acks_and_snoozes(db_path: Path) -> None:
    _cycle(db_path, NOW)
    _cycle(db_path, NOW, {**FOUND, ("token_refused", "d2"): "the last sync was refused"})
    runner = CliRunner()
    db = str(db_path)
    listed = runner.invoke(cli, ["alerts", "list", "--db", db, "--format", "json", "--rule", "failed_pushes"])
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.output)
    assert (row["rule"], row["subject"], row["state"], row["notifications"]) == ("failed_pushes", "d1", "open", 1)
    acked = runner.invoke(cli, ["alerts", "ack", str(row["id"]), "--db", db, "--actor", "cli:ana"])
    assert acked.exit_code == 0 and f"Alert {row['id']} acknowledged" in acked.output
    snoozed = runner.invoke(cli, ["alerts", "snooze", str(row["id"]), "--until", "2099-01-02 08:00", "--db", db])
    assert snoozed.exit_code == 0, snoozed.output
    missing = runner.invoke(cli, ["alerts", "ack", "999", "--db", db])
    assert missing.exit_code == 1 and "does not exist" in missing.output
    [after] = json.loads(runner.invoke(cli, ["alerts", "list", "--db", db, "--format", "json", "--district", "d1"]
                                       ).output)
    assert after["acked_by"] == "cli:ana" and after["snoozed_until"].startswith("2099-01-02T08:00")
