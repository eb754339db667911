"""The District page's "Ask the district to fix" panel: preview, send, and each request's progress.

Operators preview the items (student names masked here like everywhere on the page; the district gets
them unmasked in the CSV), edit the message and send; each open request can be reminded or closed.
Viewers read the requests only, and the library checks the role again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from lmsdata import fixrequests
from lmsdata.access import AccessDenied, Permission
from lmsdata.config import ConfigError
from lmsdata.db import connect
from lmsdata.mail import MailError
from lmsdata.redact import redact
from lmsdata.ui import confirm, loaders, privacy, safe, services, widgets
from lmsdata.ui.actions import Outcome
from lmsdata.wording import plural

if TYPE_CHECKING:
    from lmsdata.ui.context import Context

FLAG = "fixrequest"  # the last action's outcome, shown after the rerun


def panel(ctx: Context, district_id: str) -> None:
    """Requests sent to this district with their progress; for operators, the form to send a new one."""
    st.subheader("Ask the district to fix")
    with connect(ctx.db_path) as db:
        requests = fixrequests.list_requests(db, district_id=district_id)
    operator = ctx.can(Permission.CASEWORK)
    if requests:
        _requests(ctx, requests, operator)
    if not operator:
        st.caption("Your role may read these requests; an operator sends them.")
    elif not any(r["state"] in ("sending", "open") for r in requests):
        _new_request(ctx, district_id)
    confirm.last_outcome(FLAG)


def _requests(ctx: Context, requests: list[dict[str, Any]], operator: bool) -> None:
    st.dataframe(
        pd.DataFrame({
            "Request": [f"#{r['id']}" for r in requests],
            "State": [r["state"] for r in requests],
            "Progress": [r["progress"] for r in requests],
            "To": [r["email"] for r in requests],
            "Sent": [widgets.age(r["sent_at"], ctx.now) if r["sent_at"] else "not sent" for r in requests],
            "Reminders": [r["reminders"] for r in requests],
            "Closed": [f"{r['close_reason']} · {widgets.age(r['closed_at'], ctx.now)}" if r["closed_at"] else ""
                       for r in requests],
            "Error": [r["error"] or "" for r in requests],
        }),
        hide_index=True, key="fixrequest_list",
    )
    for request in requests:
        if request["state"] != "open":
            continue
        open_items = request["items"] - request["fixed"]
        st.text(f"Request #{request['id']}: {request['progress']}, {plural(open_items, 'item')} still open.")
        if operator:
            remind, close, _ = st.columns([2, 2, 4])
            if remind.button(f"Send a reminder of the {plural(open_items, 'open item')}",
                             key=f"fixrequest_remind_{request['id']}", icon=":material/mail:"):
                _act(ctx, lambda mail, rid=request["id"]: _remind(ctx, rid, mail))
            if close.button("Close it by hand", key=f"fixrequest_close_{request['id']}"):
                _act(ctx, lambda _mail, rid=request["id"]: _close(ctx, rid), needs_mail=False)


@st.cache_data(**loaders.CACHE)
def _preview(db_path: str, version: int, district_id: str) -> dict[str, Any]:
    """The items as of this data version: for a district with 10,931 items building them takes 0.2 s warm
    and 1.2 s cold (bench/fixrequests.py), too slow for every rerun of the page."""
    return fixrequests.preview(db_path, district_id)


def _new_request(ctx: Context, district_id: str) -> None:
    try:
        preview = _preview(ctx.db_path, ctx.data_version, district_id)
    except fixrequests.FixRequestError as exc:
        st.text(str(exc))
        return
    items = preview["items"]
    if not items:
        widgets.empty("Nothing to ask: every student, teacher and section of this district is matched.")
        return
    with st.expander(f"Preview: {plural(len(items), 'item')} to ask about", icon=":material/checklist:"):
        st.caption("Student names are masked here; the district receives them unmasked in the attached CSV "
                   "(it is their data). Sending needs the operator role and is written to the audit log.")
        shown = privacy.mask_users(pd.DataFrame([
            {"id": i["object_id"], "role": i["kind"], "first_name": i["name"], "email": i["email"],
             "sis_id": i["sis_id"], "school": i["school"], "reason": i["reason"]} for i in items]))
        headers = {"id": "Clever id", "role": "Kind", "first_name": "Name", "email": "E-mail", "sis_id": "SIS id",
                   "school": "School", "reason": "Likely reason"}
        table, config = widgets.readable(shown.rename(columns=headers), ctx.now, {
            **{h: h for h in headers.values()}, "Likely reason": st.column_config.TextColumn(width="large")})
        st.dataframe(table, hide_index=True, key="fixrequest_preview", column_config=config)
        with st.form("fixrequest_form"):
            email = st.text_input("To", value=preview["to"], key="fixrequest_to")
            message = st.text_area("Message (plain text; the list and the CSV follow it)", value=preview["message"],
                                   key="fixrequest_message", height=140)
            sent = st.form_submit_button("Send the fix request", key="fixrequest_send")
        if sent:
            _act(ctx, lambda mail: _create(ctx, district_id, email.strip(), message, mail))


def _act(ctx: Context, action: Callable[[dict[str, Any]], Outcome], *, needs_mail: bool = True) -> None:
    """Run one action; a refusal, a missing mail server or a mail error becomes its outcome sentence."""
    try:
        mail = {"mailer": services.mailer(ctx), "mail_from": ctx.settings.mail_from} if needs_mail else {}
        outcome = action(mail)
    except (fixrequests.FixRequestError, AccessDenied, MailError, ConfigError) as exc:
        outcome = Outcome(False, redact(str(exc)))
    # Addresses and mail-server replies are outside text: shown as text, never as Markdown.
    confirm.remember(FLAG, Outcome(outcome.ok, safe.text(outcome.summary)))
    st.rerun()


def _create(ctx: Context, district_id: str, email: str, message: str, mail: dict[str, Any]) -> Outcome:
    row = fixrequests.create(ctx.db_path, district_id, actor=ctx.actor, email=email or None, message=message, **mail)
    if row["state"] != "open":
        return Outcome(False, f"Fix request #{row['id']} to {row['email']} could not be sent: {row['error']}")
    return Outcome(True, f"Fix request #{row['id']} sent to {row['email']}: {plural(row['items'], 'item')}.")


def _remind(ctx: Context, request_id: int, mail: dict[str, Any]) -> Outcome:
    row = fixrequests.remind(ctx.db_path, request_id, actor=ctx.actor, **mail)
    if row["reminder_error"]:
        return Outcome(False, f"The reminder for #{request_id} could not be sent: {row['reminder_error']}")
    return Outcome(True, f"Reminder for #{request_id} sent to {row['email']} ({row['progress']}).")


def _close(ctx: Context, request_id: int) -> Outcome:
    row = fixrequests.close(ctx.db_path, request_id, actor=ctx.actor)
    return Outcome(True, f"Fix request #{request_id} closed ({row['progress']}).")
