"""The worker's loop: hold the lease, run each due job once, heartbeat, stop cleanly when asked.

Jobs are injected (`name -> (step, next_after)`) with the clock and the wait, so tests run cycles
without sleeping. A stop request (SIGTERM) is honoured between steps: the current step finishes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lmsdata.db import connect
from lmsdata.pushes.log import new_lease_owner
from lmsdata.redact import redact
from lmsdata.worker import lease, schedule

Step = Callable[[], str]                  # runs the job; returns a one-line summary
_running = threading.local()              # the worker whose job runs on this thread (for `heartbeat_now`)


def heartbeat_now() -> None:
    """Renew the lease of the worker running the current job, from inside a long job (a queued bulk
    retry), so the sidebar does not call it silent and no `--wait` worker takes the cache meanwhile."""
    worker = getattr(_running, "worker", None)
    if worker is not None:
        with connect(worker.db_path) as db:
            lease.heartbeat(db, worker.owner, worker.now(), worker.lease_s)


@dataclass(frozen=True)
class Job:
    step: Step
    next_after: Callable[[datetime], datetime]
    first_after: Callable[[datetime], datetime] | None = None  # a nightly job waits for its hour at start-up


class Worker:
    def __init__(self, db_path: str | Path, jobs: Mapping[str, Job], *, now: Callable[[], datetime],
                 lease_s: float = 120.0, owner: str | None = None, stop: threading.Event | None = None,
                 on_start: Callable[[datetime | None], object] | None = None) -> None:
        self.db_path = db_path
        self.on_start = on_start  # called with the previous worker's last sign of life once the lease is ours
        self.jobs = jobs
        self.now = now
        self.lease_s = lease_s
        self.owner = owner or new_lease_owner()
        self.stop = stop or threading.Event()  # shared with jobs that check it between their own items

    def start(self) -> None:
        """Take the lease (LeaseHeld if another worker runs) and plan jobs that never ran."""
        from lmsdata.worker.watch import last_activity

        with connect(self.db_path) as db:
            last = last_activity(db)
            lease.acquire(db, self.owner, self.now(), self.lease_s)
            for name, job in self.jobs.items():
                schedule.plan_first(db, name, job.first_after(self.now()) if job.first_after else self.now())
        if self.on_start is not None:
            self.on_start(last)

    def cycle(self) -> list[str]:
        """Run every due job once, in order, each with a heartbeat first; returns the names run."""
        ran = []
        for name, job in self.jobs.items():
            if self.stop.is_set():
                break
            with connect(self.db_path) as db:
                lease.heartbeat(db, self.owner, self.now(), self.lease_s)
                if not schedule.due(db, name, self.now()):
                    continue
                schedule.started(db, name, self.now())
            _running.worker = self
            try:
                outcome, detail = "ok", job.step()
            except Exception as exc:  # one failing job must not stop the others; its error is recorded
                outcome, detail = "failed", redact(f"{type(exc).__name__}: {exc}")
            finally:
                _running.worker = None
            with connect(self.db_path) as db:
                schedule.finished(db, name, self.now(), job.next_after(self.now()), outcome, detail)
            ran.append(name)
        return ran

    def run(self, wait: Callable[[float], object] | None = None, tick_s: float = 15.0) -> None:
        """Cycle until `stop` is set, then give the lease back."""
        wait = wait or self.stop.wait
        self.start()
        try:
            while not self.stop.is_set():
                self.cycle()
                wait(tick_s)
        finally:
            with connect(self.db_path) as db:
                lease.release(db, self.owner)
