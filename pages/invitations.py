"""Invitations: send LMS Connect invitations, follow them until accepted, resend or cancel; inbound requests."""

from __future__ import annotations

import streamlit as st

from lmsdata.access import Permission
from lmsdata.invitations import can_invite
from lmsdata.ui import actions, confirm, links, loaders, safe, widgets
from lmsdata.ui.context import Context
from lmsdata.ui.frame import show
from lmsdata.wording import plural

SEND_FLAG = "invitations_send"
ROW_FLAG = "invitations_row"  # {"action": "resend" | "cancel", "id": invitation id}
TABLE_KEY = "invitations_table"


def render(ctx: Context) -> None:
    st.title("Invitations")
    st.caption("Clever has no API for LMS Connect invitations: an invitation is an e-mail to the district's "
               "contact, marked accepted automatically when a later sync sees the district's lms_state set.")
    names = loaders.district_names(ctx.db_path, ctx.data_version)
    if not names:
        widgets.empty("No districts in the cache yet. Run a sync first (`lmsdata sync --full`, or the Sync log page).")
        return
    if ctx.can(Permission.INVITE):
        send_form(ctx, names)
    listing(ctx)
    inbound(ctx)
    if ctx.is_demo:
        demo_mailbox(ctx)
        demo_notifications(ctx)


def send_form(ctx: Context, names: dict[str, str]) -> None:
    frame = loaders.district_health(ctx)
    sent = loaders.invitations(ctx.db_path, ctx.data_version)
    open_ids = set(sent.loc[sent["state"] == "sent", "district_id"]) if not sent.empty else set()
    # only districts the library would invite (`can_invite`: no LMS Connect yet); open invitations last
    candidates = frame[["id", "name", "lms_state"]].fillna("").to_dict("records")
    invitable = {row["id"] for row in candidates if can_invite(row)[0]}
    status = {d: "not connected" + (", invitation open" if d in open_ids else "") for d in invitable}
    order = sorted((d for d in names if d in invitable), key=lambda d: (d in open_ids, names[d]))
    if not order:
        widgets.empty("Every district in the cache has LMS Connect set up (or is setting it up): nobody to invite.")
        return
    with st.expander("Send an invitation", expanded=True, icon=":material/send:"):
        pick, _ = st.columns([3, 2])
        district_id = pick.selectbox(
            "District", order, index=None, format_func=lambda d: f"{names[d]} · {d} — {status.get(d, '')}",
            key="invite_district", placeholder="districts without LMS Connect (open invitations last)",
        )
        contact = loaders.district(ctx.db_path, ctx.data_version, district_id) if district_id else None
        with st.form("invite_form", clear_on_submit=False):
            email = st.text_input(
                "To", value=(contact or {}).get("contact_email") or "", key=f"invite_to_{district_id}",
                help="Prefilled with the district contact Clever reports; change it if needed.",
            )
            message = st.text_area("Personal message (optional)", key="invite_message")
            sent = st.form_submit_button("Send invitation", type="primary")
        if sent:
            if not district_id:
                confirm.remember(SEND_FLAG, actions.Outcome(False, "Choose the district to invite first."))
            else:
                confirm.remember(SEND_FLAG, actions.invite(ctx, district_id, email.strip(), message.strip()))
            st.rerun()
        confirm.last_outcome(SEND_FLAG)


def listing(ctx: Context) -> None:
    st.subheader("Sent invitations")
    rows = loaders.invitations(ctx.db_path, ctx.data_version)
    confirm.last_outcome(ROW_FLAG)
    if rows.empty:
        widgets.empty("No invitation sent yet. Invite a district that is not connected with the form above.")
        return
    state_choices = sorted(rows["state"].unique())
    links.seed("invitations_state", "state", many=True, choices=state_choices)
    states = st.multiselect("State", state_choices, key="invitations_state")
    links.keep("state", states)
    shown = rows[rows["state"].isin(states)] if states else rows
    may_act = ctx.can(Permission.INVITE)
    if may_act:
        st.caption("Select an invitation to resend or cancel it.")
    table, labels = widgets.readable(
        shown[["id", "district_name", "email", "state", "sent_at", "expires_at", "accepted_at", "cancelled_at",
               "error", "actor", "resent_from", "replaced_by"]], ctx.now, {"id": "Invitation", "email": "To"})
    event = st.dataframe(table, hide_index=True, on_select="rerun", selection_mode="single-row",
                         key=widgets.selection_key(TABLE_KEY), column_config=labels)
    selected = widgets.selected_rows(event)
    if selected and may_act:
        row = shown.iloc[selected[0]]
        invitation_id = int(row["id"])
        left, right, _ = st.columns([1, 1, 4])
        if left.button("Resend", key="invitation_resend", disabled=row["state"] in ("accepted", "sending")):
            confirm.ask(ROW_FLAG, {"action": "resend", "id": invitation_id, "to": row["email"],
                                   "district": row["district_name"]})
        if right.button("Cancel invitation", key="invitation_cancel", disabled=row["state"] != "sent"):
            confirm.ask(ROW_FLAG, {"action": "cancel", "id": invitation_id, "to": row["email"],
                                   "district": row["district_name"]})
    payload = confirm.pending(ROW_FLAG)
    if payload:
        resend = payload["action"] == "resend"
        about = f"the invitation to {safe.text(payload['to'])} ({safe.text(payload['district'])})"
        confirm.question(
            ROW_FLAG, f"{'Send' if resend else 'Cancel'} {about} {'again' if resend else ''}".strip() + "?",
            "Send it again" if resend else "Cancel the invitation",
            lambda p: (actions.resend if p["action"] == "resend" else actions.cancel)(ctx, p["id"]),
            keep_label="Keep it", after=lambda: widgets.clear_selection(TABLE_KEY),
        )


def inbound(ctx: Context) -> None:
    st.subheader("Inbound requests")
    rows = loaders.inbound_requests(ctx.db_path, ctx.data_version)
    if rows.empty:
        widgets.empty("No district is waiting for us to approve its LMS Connect request.")
        return
    st.caption("These districts asked to connect (lms_state pending_authorization): approve them in the Clever App "
               "Dashboard, then the next sync shows them connecting.")
    shown, labels = widgets.readable(rows, ctx.now)
    st.dataframe(shown, hide_index=True, column_config=labels)


def demo_mailbox(ctx: Context) -> None:
    messages = ctx.demo.mail_sink.messages
    with st.expander(f"Demo mailbox: {plural(len(messages), 'message')} the local mail sink received",
                     icon=":material/inbox:"):
        for message in reversed(messages[-20:]):
            st.markdown(f"**{safe.text(message['Subject'])}** → {safe.text(message['To'])}")
            st.text(message.get_content()[:1500])


def demo_notifications(ctx: Context) -> None:
    """What the embedded worker's alerts posted to the demo's local webhook (its Apprise channel)."""
    received = ctx.demo.webhook.received if ctx.demo.webhook is not None else []
    with st.expander(f"Demo notifications: {len(received)} alert message(s) the local webhook received",
                     icon=":material/notifications:"):
        if not received:
            st.caption("The embedded worker posts here when an alert opens, repeats or resolves.")
        for note in reversed(received[-20:]):
            st.markdown(f"**{safe.text(note.get('title'))}** · {safe.text(note.get('type'))} · "
                        f"{safe.text(note.get('received_at'))}")
            st.text(str(note.get("message") or "")[:1500])


show(render)
