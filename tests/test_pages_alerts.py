"""The Alerts page through AppTest: the empty state, open and resolved alerts with URL filters, the
deep link to one alert, acknowledge and snooze for operators only (audited), hostile details as text,
and the rules and channels with the channel's secret never shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from lmsdata.db import connect
from lmsdata.worker.alerts import reconcile
from lmsdata.worker.config import Channel
from tests.test_pages import _clear_streamlit_caches, table  # noqa: F401 (autouse fixture)
from tests.test_pages_access import OPERATOR, VIEWER, as_user, button_keys, roles  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("roles")

HOSTILE = '<img src=x onerror=alert(1)> **bold** [link](javascript:alert(1))'
SECRET = "s3cr3t-token-4711"
NOW = datetime.now(UTC)


def _alerts(db_path: Path) -> dict[str, int]:
    """Three alerts: an open one on Riverside (hostile detail), an open cluster, a resolved one on Lakeview."""
    channels = [Channel(f"json://hooks.example.com/{SECRET}")]
    with connect(db_path) as db:
        found = {("failed_pushes", "d-below"): HOSTILE, ("failure_cluster", "cluster:abc123"): "3 districts",
                 ("token_refused", "d-error"): "the last sync was refused"}
        rules = ["failed_pushes", "failure_cluster", "token_refused"]
        reconcile(db, found, rules=rules, now=NOW - timedelta(hours=2), renotify_hours=6, channels=channels)
        del found[("token_refused", "d-error")]
        reconcile(db, found, rules=rules, now=NOW - timedelta(hours=1), renotify_hours=6, channels=channels)
        return {r["rule"]: r["id"] for r in db.query("SELECT id, rule FROM alerts")}


def _texts(at: AppTest) -> list[str]:
    return [t.value for t in at.text]


def test_without_alerts_the_page_says_to_run_the_worker(db_path: Path) -> None:
    at = as_user(VIEWER, "alerts")
    assert not at.exception
    assert any("run `lmsdata worker`" in i.value for i in at.info)


def test_open_alerts_by_default_resolved_through_the_url_and_details_as_text(db_path: Path) -> None:
    ids = _alerts(db_path)
    at = as_user(VIEWER, "alerts")
    assert not at.exception, [e.value for e in at.exception]
    shown = table(at, 0)
    assert sorted(shown["Rule"]) == ["Failed pushes", "Failure cluster"]  # rule names in words
    riverside = shown[shown["Rule"] == "Failed pushes"].iloc[0]
    assert riverside["Subject"] == "Riverside Unified" and riverside["District"] == "district?district=d-below"
    assert riverside["Detail"] == HOSTILE and riverside["Alert"] == f"alerts?alert={ids['failed_pushes']}"
    cluster = shown[shown["Rule"] == "Failure cluster"].iloc[0]
    assert cluster["Subject"] == "cluster:abc123" and pd.isna(cluster["District"])  # no district page to link
    assert not [m for m in at.markdown if "onerror" in m.value or "javascript" in m.value]

    at = as_user(VIEWER, "alerts", state="resolved")
    assert list(table(at, 0)["Subject"]) == ["Lakeview Public Schools"]
    at.selectbox(key="alerts_state").set_value("all").run()
    assert len(table(at, 0)) == 3 and "state" in at.query_params and at.query_params["state"] == "all"
    at.selectbox(key="alerts_subject").set_value("d-below").run()
    assert list(table(at, 0)["Rule"]) == ["Failed pushes"] and at.query_params["district"] == "d-below"


def test_a_viewer_reads_one_alert_and_an_operator_acknowledges_and_snoozes_it(db_path: Path) -> None:
    ids = _alerts(db_path)
    alert = str(ids["failed_pushes"])
    at = as_user(VIEWER, "alerts", alert=alert)
    assert HOSTILE in _texts(at) and "alert_ack" not in button_keys(at)

    at = as_user(OPERATOR, "alerts", alert=alert)
    at.button(key="alert_ack").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert f"Alert {alert} acknowledged." in _texts(at)
    assert {m.label: m.value for m in at.metric}["Acknowledged by"] == OPERATOR
    at.date_input(key="alert_until").set_value((NOW + timedelta(days=3)).date()).run()
    at.button(key="alert_snooze").click().run()
    assert any(t.startswith(f"Alert {alert} snoozed until") for t in _texts(at))
    with connect(db_path) as db:
        row = next(db.query("SELECT acked_by, snoozed_until FROM alerts WHERE id = ?", [int(alert)]))
        audit = [(r["actor"], r["action"], r["target"]) for r in db.query(
            "SELECT * FROM audit_log WHERE action LIKE 'alert-%' ORDER BY id")]
    assert row["acked_by"] == OPERATOR and row["snoozed_until"].startswith(str((NOW + timedelta(days=3)).date()))
    assert audit == [(OPERATOR, "alert-ack", f"alert:{alert}"), (OPERATOR, "alert-snooze", f"alert:{alert}")]

    resolved = as_user(OPERATOR, "alerts", alert=str(ids["token_refused"]))
    assert "alert_ack" not in button_keys(resolved)  # a resolved alert has nothing to acknowledge
    missing = as_user(VIEWER, "alerts", alert="999")
    assert any("No alert 999" in w.value for w in missing.warning)


def test_rules_and_channels_are_shown_with_the_channel_secret_masked(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _alerts(db_path)
    config = tmp_path / "worker.toml"
    config.write_text(f'[alerts]\ncluster_districts = 4\n\n[[channels]]\nurl = "json://hooks.example.com/{SECRET}"\n'
                      'rules = ["failed_pushes"]\n')
    monkeypatch.setenv("LMSDATA_WORKER_CONFIG", str(config))
    at = as_user(VIEWER, "alerts")
    assert not at.exception, [e.value for e in at.exception]
    rules = table(at, 1)
    assert "cluster_districts = 4 within 60 min" in set(rules["thresholds"])
    assert {"matched_dropped", "unmatched_growing", "failure_cluster", "worker_silent"} <= set(rules["rule"])
    [channel] = table(at, 2).to_dict("records")
    assert channel["Channel"] == "json://hoo…com" and channel["Receives"] == "failed_pushes"
    assert channel["Pending"] == 4  # three opened and one resolved (queued for the same URL), none delivered
    everything = " ".join(str(v) for frame in at.dataframe for v in frame.value.to_numpy().ravel())
    everything += " ".join(str(e.value) for e in [*at.markdown, *at.text, *at.caption])
    assert SECRET not in everything and "hooks.example.com" not in everything
