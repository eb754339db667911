"""`lmsdata worker` killed with SIGKILL at random moments, in a real subprocess, while grade writes and
notifications are in flight, then restarted: no job is lost, no grade is sent twice, no notification
is duplicated."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from lmsdata.db import connect
from tests.push_fixtures import CLIENT_ID, CLIENT_SECRET, Lab, running_lab
from tests.webhook_receiver import Receiver, webhook_receiver

KILLS = 6


def _worker(lab: Lab, config: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "CLEVER_CLIENT_ID": CLIENT_ID, "CLEVER_CLIENT_SECRET": CLIENT_SECRET}
    return subprocess.Popen(
        [sys.executable, "-m", "lmsdata", "worker", "--sandbox", lab.url, "--db", str(lab.db_path),
         "--config", str(config), "--tick", "0.05"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _unsettled(lab: Lab, push_ids: list[int], regressed: str) -> dict[str, object]:
    """What is still to do: grades not sent, the alert not resolved, notifications not yet tried."""
    with connect(lab.db_path) as db:
        marks = ",".join("?" * len(push_ids))
        pushes = dict(db.execute(f"SELECT id, state FROM pushes WHERE id IN ({marks}) AND state != 'sent'",
                                 push_ids).fetchall())
        retries = dict(db.execute("SELECT push_id, state || ' ' || COALESCE(note, '') FROM auto_retries "
                                  "WHERE state != 'sent'").fetchall())
        alerts = db.execute("SELECT state, COUNT(*) FROM alerts WHERE rule = 'lms_state_regression' AND subject = ? "
                            "GROUP BY state", [regressed]).fetchall()
        # 'sending' is a send a kill interrupted: delivery is at most once, so it is never sent again
        outbox = db.execute("SELECT state, COUNT(*) FROM outbox WHERE state = 'pending' GROUP BY state").fetchall()
    left: dict[str, object] = {"pushes": pushes, "auto_retries": retries, "outbox": dict(outbox)}
    states = dict(alerts)
    if states.get("open") or not states.get("resolved"):
        left["alerts"] = states
    return {k: v for k, v in left.items() if v}


def _heal_once_alerted(lab: Lab, district_id: str) -> None:
    """Put the district back to `success` once some worker has opened its alert, so it can resolve."""
    with connect(lab.db_path) as db:
        alerted = db.execute("SELECT 1 FROM alerts WHERE rule = 'lms_state_regression' AND subject = ?",
                             [district_id]).fetchone()
    if alerted and lab.sandbox.district(district_id)["lms_state"] != "success":
        lab.sandbox.set_lms_state(district_id, "success")


def _titles(receiver: Receiver) -> Counter[str]:
    return Counter(str(message["title"]) for message in receiver.received)


def test_a_worker_killed_at_random_moments_loses_nothing_and_sends_nothing_twice(tmp_path: Path) -> None:
    rng = random.Random(20261202)
    with running_lab(tmp_path) as lab, webhook_receiver() as receiver:
        with lab.client() as client:
            canvas, section, pusher = lab.canvas_quiz(client)
            students = lab.students(section)
            failed = []
            for i, student in enumerate(students):
                lab.sandbox.inject(f"/submissions/{student}", status=503, count=3, method="PATCH")
                if i % 2:  # the worker's write lands, but its reply is late: a kill may fall in between
                    lab.sandbox.inject(f"/submissions/{student}", delay_s=0.6, after_handling=True, method="PATCH")
                result = pusher.push_grade(canvas, section["id"], "quiz-1", student, {"grade_points": 10 + i})
                assert result.state == "failed", result
                failed.append(result.push_id)
        regressed = next(d for d in lab.sandbox.district_ids()
                         if d != canvas and lab.sandbox.district(d)["lms_state"] == "success")
        lab.sandbox.set_lms_state(regressed, "error")
        writes_before = len(lab.writes("submission.update"))
        config = tmp_path / "worker.toml"
        config.write_text(
            "lease_s = 5\nbackoff_minutes = [0.01, 0.01, 0.01, 0.01, 0.01, 0.01]\n"
            "[schedules]\nsync_s = 1.5\nauto_retry_s = 0.2\nnotify_s = 0.2\n"
            f"[[channels]]\nurl = \"{receiver.url}\"\n", encoding="utf-8")

        for _ in range(KILLS):
            worker = _worker(lab, config)
            time.sleep(rng.uniform(0.5, 3.0))
            worker.send_signal(signal.SIGKILL)
            worker.communicate(timeout=30)
            _heal_once_alerted(lab, regressed)

        worker = _worker(lab, config)
        try:
            deadline = time.monotonic() + 120
            while _unsettled(lab, failed, regressed) and time.monotonic() < deadline and worker.poll() is None:
                _heal_once_alerted(lab, regressed)
                time.sleep(0.2)
            assert not _unsettled(lab, failed, regressed), (_unsettled(lab, failed, regressed), worker.poll())
        finally:
            worker.send_signal(signal.SIGTERM)
            _, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err

        sent = lab.writes("submission.update")[writes_before:]
        per_student = Counter(w["user_id"] for w in sent)
        assert per_student == Counter(students), "each grade written exactly once"
        assert {w["user_id"]: w["body"]["grade_points"] for w in sent} == {s: 10 + i for i, s in enumerate(students)}
        titles = _titles(receiver)
        with connect(lab.db_path) as db:
            delivered = {r[0] for r in db.execute("SELECT title FROM outbox WHERE state = 'sent'")}
            interrupted = {r[0] for r in db.execute("SELECT title FROM outbox WHERE state IN ('sending', 'unknown')")}
        assert all(count == 1 for count in titles.values()), titles  # nothing twice
        assert delivered <= set(titles), (delivered, titles)  # everything recorded as sent arrived
        for event in (f"Alert: lms_state_regression ({regressed})", f"Resolved: lms_state_regression ({regressed})"):
            assert event in delivered | interrupted, (event, delivered, interrupted)
