"""Queued jobs on the pages that queue them, and a one-line summary in the sidebar.

The panel is a fragment that re-runs itself every couple of seconds while a job is active, so the
progress moves without reloading the page; it shows who asked, the estimate next to what the job
actually cost, each item's result, and a cancel button for whoever may run that kind of job.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import streamlit as st

from lmsdata import jobqueue
from lmsdata.access import AccessDenied
from lmsdata.db import connect
from lmsdata.redact import redact
from lmsdata.ui import actions, safe
from lmsdata.ui.actions import Outcome, show_outcome
from lmsdata.ui.context import Context
from lmsdata.wording import plural

REFRESH_S = 2.0
CANCEL_NOTE = "jobs_cancel_outcome"
SHOWN_JOBS = 5
SHOWN_ITEMS = 500
STATE_LABELS = {
    "queued": "waiting for the worker", "running": "running", "cancelling": "stopping after the current items",
    "cancelled": "cancelled", "finished": "finished", "failed": "failed", "interrupted": "interrupted; resuming",
}


def queue(ctx: Context, kind: str, *, push_ids: Sequence[int] | None = None,
          district_ids: Sequence[str] | None = None) -> Outcome:
    """Queue a job for the worker; the outcome says its number and where to follow it."""
    try:
        job_id = jobqueue.enqueue(ctx.db_path, kind, actor=ctx.actor, push_ids=push_ids, district_ids=district_ids)
    except (AccessDenied, jobqueue.JobError) as exc:
        return Outcome(False, redact(str(exc)))
    what = jobqueue.describe_kind(kind, {"push_ids": push_ids or [], "district_ids": district_ids or []})
    return Outcome(True, f"{what}: queued as job #{job_id}. The worker runs it; follow it under Jobs below.")


def retry(ctx: Context, push_ids: Sequence[int]) -> Outcome:
    """One push is retried at once; more than one is a job for the worker (not the page's thread)."""
    if len(push_ids) == 1:
        return actions.retry(ctx, list(push_ids))
    return queue(ctx, "bulk_retry", push_ids=push_ids)


def panel(ctx: Context, kinds: Sequence[str]) -> None:
    """The recent jobs of these kinds, live while one is active."""
    with connect(ctx.db_path) as db:
        active = any(j["state"] in jobqueue.ACTIVE for j in _jobs(db, kinds))
    st.fragment(run_every=REFRESH_S if active else None)(_panel_body)(ctx, tuple(kinds))


def _jobs(db: Any, kinds: Sequence[str]) -> list[dict[str, Any]]:
    return [j for j in jobqueue.recent(db, limit=50) if j["kind"] in kinds][:SHOWN_JOBS]


def _panel_body(ctx: Context, kinds: tuple[str, ...]) -> None:
    with connect(ctx.db_path) as db:
        jobs = _jobs(db, kinds)
        found = {j["id"]: jobqueue.items(db, j["id"], limit=SHOWN_ITEMS) for j in jobs}
    st.subheader("Jobs")
    show_outcome(st.session_state.pop(CANCEL_NOTE, None))
    if not jobs:
        st.caption("No job queued yet. Long actions run in the worker, not in this page: you can leave and come back.")
        return
    for job in jobs:
        _job(ctx, job, found[job["id"]])


def _job(ctx: Context, job: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    params = json.loads(job["params"])
    total = job["total"]
    with st.container(border=True, key=f"job_{job['id']}"):
        st.markdown(f"**Job #{job['id']} · {jobqueue.describe_kind(job['kind'], params)}** · "
                    f"{STATE_LABELS.get(job['state'], job['state'])}")
        share = job["done"] / total if total else (1.0 if job["state"] == "finished" else 0.0)
        st.progress(min(share, 1.0), text=f"{job['done']:,} of {_total(job)} items")
        st.caption(f"Requested by {safe.text(job['requested_by'])} at {job['requested_at']} · {cost_line(job)}")
        if job["summary"]:  # text: it can quote Clever
            st.text(f"Finished: {job['summary']}" if job["state"] == "finished" else job["summary"])
        permission = jobqueue.KINDS.get(job["kind"])
        may_cancel = job["state"] in jobqueue.ACTIVE and job["state"] != "cancelling" and permission is not None \
            and ctx.can(permission)
        if may_cancel and st.button("Cancel", key=f"job_cancel_{job['id']}", icon=":material/cancel:",
                                    help="A running job stops between two chunks of items; what was sent stays sent."):
            _cancel(ctx, job["id"])
        if rows:
            with st.expander(f"Results per item ({plural(len(rows), 'row')})"):
                st.dataframe(rows, hide_index=True, key=f"job_items_{job['id']}")


def cost_line(job: dict[str, Any]) -> str:
    """'estimated 140 requests, about 12 s · so far 96 requests in 9.1 s'."""
    estimate = (f"estimated {job['estimate_requests']:,} requests, about {job['estimate_seconds']:.0f} s"
                if job["estimate_requests"] is not None else "no estimate")
    spent = "so far" if job["state"] in jobqueue.ACTIVE else "actual"
    return f"{estimate} · {spent} {job['actual_requests']:,} requests in {job['actual_seconds']:.1f} s"


def _cancel(ctx: Context, job_id: int) -> None:
    """Cancel, keep what happened for the panel's next run, and redraw the panel with the new state."""
    try:
        state = jobqueue.cancel(ctx.db_path, job_id, actor=ctx.actor)
        st.session_state[CANCEL_NOTE] = Outcome(True, f"Job #{job_id}: {STATE_LABELS.get(state, state)}.")
    except (AccessDenied, jobqueue.JobError) as exc:
        st.session_state[CANCEL_NOTE] = Outcome(False, redact(str(exc)))
    st.rerun()  # a whole run: during a full run (a click in AppTest, a first draw) a fragment rerun is refused


def sidebar_summary(ctx: Context) -> None:
    """'jobs: 1 running (42 of 140), 2 waiting' under the worker line; nothing when no job is active."""
    with connect(ctx.db_path) as db:
        line = summary_line(jobqueue.recent(db, limit=20))
    if line:
        st.sidebar.caption(line)


def summary_line(jobs: Sequence[dict[str, Any]]) -> str:
    running = [j for j in jobs if j["state"] in ("running", "cancelling", "interrupted")]
    waiting = sum(j["state"] == "queued" for j in jobs)
    parts = []
    if running:
        first = running[0]
        parts.append(f"{len(running)} running (#{first['id']}: {first['done']:,} of {_total(first)})")
    if waiting:
        parts.append(f"{waiting} waiting")
    return f"jobs: {', '.join(parts)}" if parts else ""


def _total(job: dict[str, Any]) -> str:
    return "?" if job["total"] is None else f"{job['total']:,}"
