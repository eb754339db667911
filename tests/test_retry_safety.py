"""Retry safety against the sandbox over loopback HTTP: two overlapping runs never send a push twice,
a killed run (real subprocess, SIGKILL) is resumed without re-sending, and a low rate limit is paced
without a single 429."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path

from lmsdata.db import connect
from lmsdata.pushes import RetryOptions, retry_pushes
from lmsdata.pushes import log as push_log
from tests.push_fixtures import (
    CLIENT_ID,
    CLIENT_SECRET,
    Lab,
    running_lab,
    transient_failures,
    writes_per_grade,
)


def test_two_overlapping_runs_never_send_the_same_push_twice(lab: Lab) -> None:
    with lab.client() as client:
        ids = transient_failures(lab, client)
    lab.sandbox.inject("/submissions/", delay_s=0.01, count=10_000)  # slow writes: the runs really overlap
    start = threading.Barrier(2)
    reports = []

    def run() -> None:
        with lab.client() as client:
            start.wait()
            reports.append(retry_pushes(client, lab.db_path, all_failed=True, options=RetryOptions(claim_batch=4)))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    sent = [[i.push_id for i in report.items if i.outcome == "sent"] for report in reports]
    assert sorted(sent[0] + sent[1]) == sorted(ids)  # every push sent, by exactly one of the runs
    assert sent[0] and sent[1], "both runs should have sent part of the work"
    held = [i for report in reports for i in report.items if i.outcome == "skipped"]
    assert held and all("being sent by another run" in i.reason or "already sent" in i.reason for i in held)
    writes = writes_per_grade(lab)
    assert len(writes) == len(ids) and set(writes.values()) == {1}


def test_a_killed_run_is_resumed_without_resending(lab: Lab) -> None:
    with lab.client() as client:
        ids = transient_failures(lab, client)
    slow = lab.push_row(ids[len(ids) // 2])
    # Clever takes 1.5 s over one write (the run is killed while it is on the wire), 20 ms over the others.
    slow_path = f"/submissions/{slow['student_id']}"
    lab.sandbox.inject(slow_path, delay_s=1.5, count=1, method="PATCH")
    lab.sandbox.inject("/submissions/", delay_s=0.02, count=10_000, method="PATCH")
    env = {**os.environ, "CLEVER_CLIENT_ID": CLIENT_ID, "CLEVER_CLIENT_SECRET": CLIENT_SECRET}
    command = [sys.executable, "-m", "lmsdata", "retry", "--all-failed", "--sandbox", lab.url,
               "--db", str(lab.db_path)]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not _arrived(lab, slow_path) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.01)
        assert process.poll() is None and _in_flight(lab, slow["id"]), "the slow write was never on the wire"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()

    with connect(lab.db_path) as db:
        held = db.execute("SELECT COUNT(*) FROM pushes WHERE lease_owner IS NOT NULL").fetchone()[0]
    assert held > 1, "the killed run should have left claimed pushes behind"
    on_the_wire = {i for i in ids if _in_flight(lab, i)}  # the slow one, and maybe one from the other district
    sent_before = _count_sent(lab, ids)
    assert slow["id"] in on_the_wire and sent_before + len(on_the_wire) < len(ids)

    options = RetryOptions(settle_s=2.5)
    with lab.client() as client:  # the killed run's leases are taken over at once: its process is gone
        resumed = {i.push_id: i for i in retry_pushes(client, lab.db_path, all_failed=True, options=options).items}
        # Clever may still be working on the killed run's writes: reading them now proves nothing, so wait.
        assert {i for i, item in resumed.items() if item.outcome == "skipped"} == on_the_wire
        assert "may still be in progress at Clever" in resumed[slow["id"]].reason
        assert Counter(i.outcome for i in resumed.values())["sent"] == len(ids) - sent_before - len(on_the_wire)
        time.sleep(max(0.0, 2.6 - (time.time() - push_log.parse_time(_in_flight(lab, slow["id"])).timestamp())))
        settled = {i.push_id: i for i in retry_pushes(client, lab.db_path, all_failed=True, options=options).items}
    assert set(settled) == on_the_wire and {i.outcome for i in settled.values()} == {"sent"}
    assert "checked in Clever" in settled[slow["id"]].reason  # it had arrived: confirmed, not sent again
    writes = writes_per_grade(lab)
    assert len(writes) == len(ids) and set(writes.values()) == {1}, "a grade was sent twice"
    with connect(lab.db_path) as db:
        assert db.execute("SELECT COUNT(*) FROM pushes WHERE lease_owner IS NOT NULL OR state != 'sent' "
                          "AND kind = 'submission_update'").fetchone()[0] == 0  # fmt: skip
        assert db.execute("SELECT COUNT(*) FROM push_attempts WHERE outcome = 'in_flight'").fetchone()[0] == 0


def _arrived(lab: Lab, path: str) -> bool:
    """The sandbox has taken the request (its one-off injection is used up) and is working on it."""
    return not any(i.path_contains == path for i in lab.sandbox.faults._injections)


def _in_flight(lab: Lab, push_id: int) -> str | None:
    """When the request a run left on the wire for this push started, if there is one."""
    with connect(lab.db_path) as db:
        row = db.execute(
            "SELECT started_at FROM push_attempts WHERE push_id = ? AND outcome = 'in_flight'", [push_id]
        ).fetchone()
    return row[0] if row else None


def _count_sent(lab: Lab, ids: list[int]) -> int:
    with connect(lab.db_path) as db:
        marks = ",".join("?" * len(ids))
        return db.execute(f"SELECT COUNT(*) FROM pushes WHERE state = 'sent' AND id IN ({marks})", ids).fetchone()[0]


def test_bulk_retry_paces_under_a_low_rate_limit_without_429s(tmp_path: Path) -> None:
    speed = 60.0  # the sandbox and the client share a clock running 60x faster: a minute lasts a second
    origin = time.time()

    def fast_clock() -> float:
        return origin + (time.time() - origin) * speed

    def fast_sleep(seconds: float) -> None:
        time.sleep(seconds / speed)

    limit = 15
    with running_lab(tmp_path, rate_limit=limit, clock=fast_clock) as lab:
        with lab.client(sleep=fast_sleep, clock=fast_clock) as client:
            ids = transient_failures(lab, client)
            before = lab.sandbox.stats()
            report = retry_pushes(client, lab.db_path, all_failed=True, sleep=fast_sleep)
        after = lab.sandbox.stats()
    assert Counter(i.outcome for i in report.items) == {"sent": len(ids)}
    assert after["rate_limited"] == 0
    busiest = max(after["requests_by_district"][d] - before["requests_by_district"].get(d, 0)
                  for d in after["requests_by_district"])  # fmt: skip
    assert busiest > limit  # the retry needed more than one rate-limit window, and waited for it
    districts = [i.district_id for i in report.items]  # in the order the results came in
    switches = sum(a != b for a, b in pairwise(districts))
    assert switches >= 2, "the two districts should be retried side by side, not one after the other"


def test_leases_are_free_only_when_expired_or_their_process_is_gone(db_path: Path) -> None:
    with connect(db_path) as db:
        ids = [push_log.insert_push(db, push_log.NewPush("d", "s", "a", "submission_update", {"g": 1}, f"u{i}"),
                                    source="api", state="failed") for i in range(4)]  # fmt: skip
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        host = socket.gethostname()
        holders = [
            (f"{host}:{os.getpid()}:live", push_log.lease_deadline(300)),   # alive, not expired: kept
            (f"{host}:{dead.pid}:dead", push_log.lease_deadline(300)),      # its process is gone: free
            ("elsewhere:1:remote", push_log.lease_deadline(300)),           # another host, not expired: kept
            ("elsewhere:1:remote", push_log.lease_deadline(-1)),            # expired: free
        ]  # fmt: skip
        for push_id, (owner, until) in zip(ids, holders, strict=True):
            db.execute("UPDATE pushes SET lease_owner = ?, lease_until = ? WHERE id = ?", [owner, until, push_id])
        claimed = push_log.claim(db, ids, "me:1:run", lease_s=60)
    assert claimed == [ids[1], ids[3]]
