"""District: one district's health, trend and problems, with "Sync now" and "Send invitation"."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from lmsdata.access import Permission
from lmsdata.health import transitions
from lmsdata.invitations import can_invite
from lmsdata.ui import (
    actions,
    confirm,
    escalation,
    fixrequests,
    gradebook,
    loaders,
    lti,
    privacy,
    safe,
    widgets,
)
from lmsdata.ui.cases import case_panel
from lmsdata.ui.context import Context
from lmsdata.ui.frame import show
from lmsdata.ui.timeline import section as timeline_section
from lmsdata.wording import lms_name

SYNC_FLAG = "district_sync"
INVITE_FLAG = "district_invite"


def render(ctx: Context) -> None:
    names = loaders.district_names(ctx.db_path, ctx.data_version)
    if not names:
        st.title("District")
        widgets.empty("No districts in the cache yet. Run a sync first (`lmsdata sync --full`, or the Sync log page).")
        return
    district_id = pick(names)
    if district_id is None:
        return
    row = loaders.district(ctx.db_path, ctx.data_version, district_id)
    frame = loaders.district_health(ctx)
    matches = frame[frame["id"] == district_id]
    if row is None or matches.empty:
        st.warning(f"The cache has no district with id {safe.text(district_id)}. Pick one from the list above.")
        return
    health = matches.iloc[0]
    header(ctx, row, health)
    trend(ctx, district_id)
    act(ctx, row)
    gradebook.summary(ctx, district_id)
    case_panel(ctx, district_id)
    fixrequests.panel(ctx, district_id)
    escalation.panel(ctx, district_id, key="district_bundle")
    timeline_section(ctx, district_id)
    details(ctx, district_id, connected=bool(row.get("lms_state")))


def pick(names: dict[str, str]) -> str | None:
    """The district from `?district=`, kept in the URL so the page can be shared."""
    wanted = st.query_params.get("district")
    ids = list(names)
    if wanted and wanted not in names:
        st.title("District")
        st.warning(f"The cache has no district with id {safe.text(wanted)}. Pick one below.")
        wanted = None
    chosen = st.selectbox(
        "District", ids, index=ids.index(wanted) if wanted else None, format_func=lambda d: f"{names[d]} · {d}",
        placeholder="Choose a district", key=f"district_pick_{wanted or ''}",
    )
    if chosen is None:
        st.title("District")
        widgets.empty("Choose a district, or open one from the Overview table.")
        return None
    if chosen != wanted:
        st.query_params["district"] = chosen
    return str(chosen)


def header(ctx: Context, row: dict, health: pd.Series) -> None:
    st.title(safe.text(row["name"]))
    widgets.status_badge(health["health"])
    st.markdown(f"**Owner:** {widgets.owner_label(health['owner'])}  \n**Next step:** {safe.text(health['next_step'])}")
    problems(health)
    if row.get("last_sync_error"):
        st.error(f"The last pull of this district failed: {safe.text(row['last_sync_error'])}")
    # two rows, so "Google Classroom", "pending authorization" and "8 days ago" fit a 1280 px window uncut
    cols = st.columns(2)
    cols[0].metric("LMS", lms_name(row.get("lms_type")) or "(none)")
    cols[1].metric("LMS state", widgets.state_label(row.get("lms_state")) or "(none)",
                   help="Clever's lms_state for this district")
    cols = st.columns(4)
    cols[0].metric("Last LMS sync", widgets.age(row.get("last_lms_sync"), ctx.now),
                   help=widgets.when(row.get("last_lms_sync")) or None)
    cols[1].metric("Last pull", widgets.age(row.get("last_pulled_at"), ctx.now),
                   help=widgets.when(row.get("last_pulled_at")) or None)
    cols[2].metric("Students / teachers", f"{row['students']:,} / {row['teachers']:,}")
    cols[3].metric("Failed pushes", int(health.get("failed_pushes") or 0))
    lti.line(row.get("lms_type"))
    cols = st.columns(3)
    for col, kind, unmatched in (
        (cols[0], "students", "unmatched_students"),
        (cols[1], "teachers", "unmatched_teachers"),
        (cols[2], "sections", "unsynced_sections"),
    ):
        value = row.get(f"matched_{kind}")
        col.metric(f"Matched {kind}", "n/a" if value is None else f"{value:.0f}%",
                   help=f"{row.get(unmatched) or 0} not matched")
    contact = " · ".join(str(v) for v in (row.get("contact_name"), row.get("contact_title"), row.get("contact_email"))
                         if v)
    if contact:
        st.caption(f"District contact: {safe.text(contact)}")


def problems(health: pd.Series) -> None:
    """Every live reason with its owner, the figure behind it and its next step (not only the most urgent)."""
    reasons = health.get("reasons")
    if not isinstance(reasons, list) or not reasons:
        return
    st.dataframe(
        pd.DataFrame(
            {
                "Problem": [widgets.status_label(r["status"]) for r in reasons],
                "What we see": [r["figure"] for r in reasons],
                "Owner": [widgets.owner_label(r["owner"]) for r in reasons],
                "Next step": [r["next_step"] for r in reasons],
            }
        ),
        hide_index=True, key="district_problems",
        column_config={"What we see": st.column_config.TextColumn(width="large"),
                       "Next step": st.column_config.TextColumn(width="large")},
    )


def trend(ctx: Context, district_id: str) -> None:
    snapshots = loaders.history(ctx.db_path, ctx.data_version, district_id)
    if not snapshots:
        return
    history = pd.DataFrame(snapshots)
    left, right = st.columns(2)
    figure = go.Figure()
    for kind in ("students", "teachers", "sections"):
        figure.add_trace(go.Scatter(x=history["pulled_at"], y=history[f"matched_{kind}"], mode="lines+markers",
                                    name=kind))
    figure.update_layout(title="Matched % over time", height=300, yaxis={"range": [0, 105]},
                         margin={"l": 10, "r": 10, "t": 40, "b": 10})
    left.plotly_chart(figure, key="district_trend")
    states = history["lms_state"].fillna("(null)").replace("", "(not connected)")
    timeline = go.Figure(go.Scatter(x=history["pulled_at"], y=states, mode="lines+markers", line_shape="hv"))
    timeline.update_layout(title="LMS state over time", height=300, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    right.plotly_chart(timeline, key="district_states")
    changes = transitions(snapshots)
    if changes:
        shown, labels = widgets.readable(pd.DataFrame([{"when": c.at, "change": c.summary,
                                                        "worse": "yes" if c.regression else ""}
                                                       for c in reversed(changes)]), ctx.now)
        st.dataframe(shown, hide_index=True, column_config=labels)


def act(ctx: Context, row: dict) -> None:
    """The buttons that change things, for the roles that may (the library checks again)."""
    sync_col, invite_col = st.columns(2)
    if ctx.can(Permission.SYNC):
        sync(ctx, row, sync_col)
    if ctx.can(Permission.INVITE):
        invite(ctx, row, invite_col)


def sync(ctx: Context, row: dict, sync_col: Any) -> None:
    with sync_col:
        if st.button("Sync now", icon=":material/sync:", key="district_sync_button"):
            confirm.ask(SYNC_FLAG, row["id"])
        confirm.question(SYNC_FLAG, f"Pull **{safe.text(row['name'])}** from Clever now?", "Sync now",
                         lambda district_id: actions.sync_now(ctx, [district_id]), keep_label="Don't sync")
        confirm.last_outcome(SYNC_FLAG)


def invite(ctx: Context, row: dict, invite_col: Any) -> None:
    """The invitation form, only where the library would send one (`can_invite`: no lms_state yet)."""
    allowed, why = can_invite(row)
    if not allowed:
        invite_col.caption(safe.text(why))
        return
    with invite_col, st.expander("Send invitation", icon=":material/mail:"):
        with st.form("district_invite_form"):
            email = st.text_input("To", value=row.get("contact_email") or "")
            message = st.text_area("Personal message (optional)")
            sent = st.form_submit_button("Send invitation")
        if sent:
            confirm.remember(INVITE_FLAG, actions.invite(ctx, row["id"], email.strip(), message.strip()))
            st.rerun()
        confirm.last_outcome(INVITE_FLAG)


def details(ctx: Context, district_id: str, *, connected: bool) -> None:
    only = (district_id,)
    here = ["district_id", "district", "district_name", "lms_type", "message"]  # same for every row on this page
    unmasked = privacy.bulk_toggle(ctx, f"district {district_id}: unmatched users and pushes", key="district_unmasked")
    tabs = st.tabs(["Unsynced sections", "Unmatched users", "Recent pushes", "Sync history", "Invitations"])
    table = partial(_table, ctx.now)
    with tabs[0]:
        table(loaders.unsynced_sections(ctx.db_path, ctx.data_version, district_ids=only, limit=500), here,
               "Every section is synced in the LMS." if connected
               else "No LMS is connected yet, so no section is synced: see the next step above.")
    with tabs[1]:
        users = loaders.unmatched_users(ctx.db_path, ctx.data_version, district_ids=only, limit=500)
        table(privacy.mask_users(users, everything=unmasked), here, "Every student and teacher is matched.")
    with tabs[2]:
        pushes = loaders.pushes(ctx.db_path, ctx.data_version, district_ids=only, limit=200)
        table(privacy.mask_students(pushes, everything=unmasked), here, "No grade pushes for this district yet.")
    with tabs[3]:
        table(loaders.sync_run_districts(ctx.db_path, ctx.data_version, district_id=district_id), here,
               "This district has not been synced yet.")
    with tabs[4]:
        table(loaders.invitations(ctx.db_path, ctx.data_version, district_id=district_id), here,
               "No invitation sent to this district yet.")


def _table(now: datetime, frame: pd.DataFrame, hidden: list[str], when_empty: str) -> None:
    if frame.empty:
        widgets.empty(when_empty)
    else:
        shown, labels = widgets.readable(frame.drop(columns=[c for c in hidden if c in frame.columns]), now)
        st.dataframe(shown, hide_index=True, column_config=labels)


show(render)
