"""Casework in the dashboard: the "My queue" page and the case panel on a district.

Everything typed by people or sent by Clever (notes, names, ticket ids) is shown with `st.text` or in
table cells, never as Markdown. Operators get the edit form; the library checks the role again.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from lmsdata import cases
from lmsdata.access import AccessDenied, Permission, actor_name
from lmsdata.ui import loaders, widgets

if TYPE_CHECKING:
    from lmsdata.ui.context import Context

NOBODY = "(nobody)"
OUTCOME = "case_outcome"  # the last save's message, shown after the rerun


def queue_page(ctx: Context) -> None:
    st.title("My queue")
    me = actor_name(ctx.actor)
    st.caption(f"Cases assigned to {me} that are not resolved or snoozed, then unassigned districts whose next "
               "step is ours, most urgent and oldest first.")
    rows = cases.queue(loaders.district_health(ctx).to_dict("records"), cases.all_cases(ctx.db_path), me,
                       ctx.now.date())
    if not rows:
        widgets.empty("Nothing waits for you: no open case of yours and no unassigned district needs us. "
                      "Take a district from the Overview page to start a case.")
        return
    frame = pd.DataFrame(rows)
    view, times = widgets.with_times(
        pd.DataFrame({
            "Queue": frame["queue"].map({"mine": "my case", "unassigned": "unassigned"}),
            "District": frame["name"],
            "Status": frame["health"].map(widgets.status_label),
            "Next step": frame["next_step"],
            "Case state": frame["state"].fillna(""),
            "last_lms_sync": frame["last_lms_sync"],
            "Open": frame["id"].map(widgets.district_url),
        }), {"last_lms_sync": "Last LMS sync"}, ctx.now)
    st.dataframe(
        view,
        hide_index=True,
        column_config={"Open": st.column_config.LinkColumn(display_text="open"),
                       "Next step": st.column_config.TextColumn(width="large"), **times},
    )


def case_panel(ctx: Context, district_id: str) -> None:
    """The district's case: who is on it, its state, snooze, ticket and notes; the edit form for operators."""
    case = cases.get(ctx.db_path, district_id) or {}
    st.subheader("Case")
    cols = st.columns(3)
    cols[0].metric("Assignee", case.get("assignee") or NOBODY)
    cols[1].metric("State", case.get("state") or "no case yet")
    cols[2].metric("Snoozed until", case.get("snoozed_until") or "not snoozed")
    st.text(f"Ticket: {case.get('ticket_id') or 'none'}")  # typed by people or copied from a ticket system
    link = cases.ticket_link(case.get("ticket_id"), ctx.settings.ticket_url)
    if link:
        st.link_button("Open the ticket", link)
    if ctx.can(Permission.CASEWORK):
        _edit_form(ctx, district_id, case)
    else:
        st.caption("Your role may read this case; an operator edits it.")
    for note in case.get("notes", []):
        st.text(f"{widgets.age(note['at'], ctx.now)} ({widgets.when(note['at'])}) · {note['author']}")
        st.text(note["body"])


def _edit_form(ctx: Context, district_id: str, case: dict[str, Any]) -> None:
    me = actor_name(ctx.actor)
    # New widgets after each save (a note does not touch updated_at), so they show what was saved and
    # a note just added is not in the box to be added again.
    fresh = f"{case.get('updated_at') or 'new'}-{len(case.get('notes', []))}"
    people = list(dict.fromkeys([NOBODY, me, *([case["assignee"]] if case.get("assignee") else [])]))
    with st.form("case_form"):
        c1, c2, c3, c4 = st.columns(4)
        assignee = c1.selectbox("Assignee", people, index=people.index(case.get("assignee") or NOBODY),
                                key=f"case_assignee_{fresh}")
        state = c2.selectbox("State", cases.STATES, index=cases.STATES.index(case.get("state") or "open"),
                             key=f"case_state_{fresh}")
        snoozed = case.get("snoozed_until")
        until = c3.date_input("Snooze until", value=date.fromisoformat(snoozed) if snoozed else None,
                              key=f"case_snooze_{fresh}")
        ticket = c4.text_input("Ticket id", value=case.get("ticket_id") or "", key=f"case_ticket_{fresh}")
        note = st.text_area("Add a note (shown as plain text)", key=f"case_note_{fresh}")
        saved = st.form_submit_button("Save case", key="case_save")
    if saved:
        st.session_state[OUTCOME] = _save(ctx, district_id, case, assignee=None if assignee == NOBODY else assignee,
                                          state=state, until=until if isinstance(until, date) else None,
                                          ticket=ticket.strip() or None, note=note)
        st.rerun()
    message = st.session_state.pop(OUTCOME, None)
    if message:
        st.text(message)


def _save(ctx: Context, subject: str, case: dict[str, Any], *, assignee: str | None, state: str,
          until: date | None, ticket: str | None, note: str) -> str:
    """Apply only what changed (each change is its own audit entry); the outcome in one sentence."""
    changes = []
    try:
        if assignee != case.get("assignee"):
            cases.assign(ctx.db_path, ctx.actor, subject, assignee)
            changes.append("assignee")
        if state != (case.get("state") or "open"):
            cases.set_state(ctx.db_path, ctx.actor, subject, state)
            changes.append("state")
        if (until.isoformat() if until else None) != case.get("snoozed_until"):
            cases.snooze(ctx.db_path, ctx.actor, subject, until)
            changes.append("snooze")
        if ticket != case.get("ticket_id"):
            cases.set_ticket(ctx.db_path, ctx.actor, subject, ticket)
            changes.append("ticket")
        if note.strip():
            cases.add_note(ctx.db_path, ctx.actor, subject, note)
            changes.append("note")
    except (AccessDenied, cases.CaseError) as exc:
        return f"Not saved: {exc}"
    return f"Saved: {', '.join(changes)}." if changes else "Nothing changed."
