"""The dashboard's actions (sync now, retry pushes, invitations) with a progress bar and plain results.

Each library call runs under `with_progress`, which draws a progress bar from the script thread.
Each action returns a short summary plus a row per item, which the page keeps in session state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import streamlit as st

from lmsdata.config import ConfigError
from lmsdata.redact import redact
from lmsdata.ui import services
from lmsdata.ui.progress import Report, with_progress
from lmsdata.wording import plural

if TYPE_CHECKING:
    from lmsdata.ui.context import Context



@dataclass
class Outcome:
    """What an action did, ready to show: `ok` False means nothing (or not everything) worked."""

    ok: bool
    summary: str
    items: list[dict[str, Any]] = field(default_factory=list)


def sync_now(ctx: Context, district_ids: list[str] | None) -> Outcome:
    """Pull the given districts (all when None) from Clever into the cache."""
    from lmsdata.errors import CleverError
    from lmsdata.sync import SyncAlreadyRunning, sync

    def work(report: Report) -> Any:
        def progress(p: Any) -> None:
            report(p.districts_done / max(int(p.districts_total or 0), 1), p.describe())

        with services.clever_client(ctx) as client:
            return sync(client, ctx.db_path, full=False, district_ids=district_ids, on_progress=progress,
                        actor=ctx.actor)

    try:
        result = with_progress("Contacting Clever…", work)
    except (CleverError, SyncAlreadyRunning) as exc:
        return Outcome(False, f"The sync could not start: {redact(str(exc))}")
    items = [{"district": d, "outcome": "failed", "reason": redact(m)} for d, m in sorted(result.failed.items())]
    if result.failed:
        failing = plural(len(result.failed), "district")
        return Outcome(False, f"Sync #{result.run_id} finished with {failing} failing.", items)
    return Outcome(True, f"Sync #{result.run_id} finished: {plural(result.records, 'record')}, "
                         f"{plural(result.requests, 'request')}.")


def retry(ctx: Context, push_ids: list[int] | None = None, *, all_failed: bool = False) -> Outcome:
    """Retry the chosen pushes (or every failed one); blocked ones are skipped with their reason."""
    from lmsdata.errors import CleverError
    from lmsdata.pushes import RetryProgress, retry_pushes

    def work(report: Report) -> Any:
        def progress(p: RetryProgress) -> None:
            report(p.done / max(p.total, 1), f"{p.done} of {p.total} pushes · push {p.item.push_id}: {p.item.outcome}")

        with services.clever_client(ctx) as client:
            return retry_pushes(client, ctx.db_path, push_ids, all_failed=all_failed, on_progress=progress,
                                actor=ctx.actor)

    try:
        report = with_progress("Retrying…", work)
    except CleverError as exc:
        return Outcome(False, f"The retry could not start: {redact(str(exc))}")
    items = [{"push": item.push_id, "outcome": item.outcome, "reason": item.reason or ""} for item in report.items]
    counts: dict[str, int] = {}
    for item in items:
        counts[item["outcome"]] = counts.get(item["outcome"], 0) + 1
    summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "nothing to retry"
    return Outcome(counts.get("sent", 0) == len(items) and bool(items), f"Retry finished: {summary}.", items)


def invite(ctx: Context, district_id: str, email: str | None, message: str | None) -> Outcome:
    from lmsdata.invitations import invite as send

    return _mail(ctx, "sent", lambda mail: send(ctx.db_path, district_id, email=email or None,
                                                message=message or None, **mail))


def resend(ctx: Context, invitation_id: int) -> Outcome:
    from lmsdata.invitations import resend as send_again

    return _mail(ctx, "sent again", lambda mail: send_again(ctx.db_path, invitation_id, **mail))


def _mail(ctx: Context, verb: str, send: Callable[[dict[str, Any]], dict[str, Any]]) -> Outcome:
    """Send an invitation e-mail; a refusal, a mail error or a missing SMTP_URL comes back as a sentence."""
    from lmsdata.invitations import InvitationError
    from lmsdata.mail import MailError

    try:
        row = send({"actor": ctx.actor, "mailer": services.mailer(ctx), "mail_from": ctx.settings.mail_from,
                    "expiry_days": ctx.settings.invitation_expiry_days})
    except (InvitationError, MailError, ConfigError) as exc:
        return Outcome(False, redact(str(exc)))
    if row.get("state") == "failed":
        return Outcome(False, f"The invitation to {row.get('email')} could not be {verb}: {row.get('error')}")
    return Outcome(True, f"Invitation {verb} to {row.get('email')}.")


def cancel(ctx: Context, invitation_id: int) -> Outcome:
    from lmsdata.invitations import InvitationError
    from lmsdata.invitations import cancel as cancel_invitation

    try:
        cancel_invitation(ctx.db_path, invitation_id, actor=ctx.actor)
    except InvitationError as exc:
        return Outcome(False, redact(str(exc)))
    return Outcome(True, f"Invitation {invitation_id} cancelled.")


def show_outcome(outcome: Outcome | None) -> None:
    """The result of the last action: a sentence, and a table with one row per item when there are items."""
    if outcome is None:
        return
    (st.success if outcome.ok else st.warning)(outcome.summary)
    if outcome.items:
        st.dataframe(outcome.items, hide_index=True)
