"""Overview: which districts need us, why, and who owns the next step."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from lmsdata.health import STATUS_BY_NAME, healthy_share, urgency
from lmsdata.ui import links, loaders, lti, widgets
from lmsdata.ui.context import Context
from lmsdata.ui.frame import page_path, show
from lmsdata.wording import lms_name, plural

SORTS = {
    "Most urgent first": (["_urgency", "failed_pushes", "name"], [True, False, True]),
    "Name": (["name"], [True]),
    "Lowest matched students": (["matched_students", "name"], [True, True]),
    "Most failed pushes": (["failed_pushes", "name"], [False, True]),
    "Oldest LMS sync": (["last_lms_sync", "name"], [True, True]),
}


def render(ctx: Context) -> None:
    st.title("Overview")
    frame = loaders.district_health(ctx)
    if frame.empty:
        widgets.empty(
            "No districts in the cache yet. Run a sync (`lmsdata sync --full`, or **Sync all now** on the "
            "Sync log page) once the app has district connections in Clever."
        )
        return
    headline(ctx, frame)
    st.plotly_chart(status_chart(frame), key="status_chart")
    table(ctx, frame)


def headline(ctx: Context, frame: pd.DataFrame) -> None:
    """Six short figures (labels that fit a 1280 px window); the longer wording is in each help."""
    counts = loaders.headline(ctx.db_path, ctx.data_version, ctx.now.replace(second=0, microsecond=0))
    rows = frame[["lms_state", "health"]].fillna("").to_dict("records")
    healthy, connected = healthy_share(rows)  # one definition of connected: `health.is_connected`
    set_up = int((frame["lms_state"] == "success").sum())
    cols = st.columns(6)
    cols[0].metric("Connected", f"{connected} of {len(frame)}",
                   help=f"{plural(connected, 'district')} with LMS Connect, in any LMS state ({set_up} fully set up); "
                   "the others never connected")
    cols[1].metric("Healthy", f"{healthy} of {connected}",
                   help=f"Healthy: {healthy} of {plural(connected, 'connected district')} need nothing "
                   "(districts never connected are not counted)")
    cols[2].metric("Unmatched", f"{counts['unmatched_students']:,}",
                   help="Unmatched students, in districts past LMS Connect setup (those still setting up are still "
                   "matching)")
    cols[3].metric("Failed, 24 h", f"{counts['failed_last_day']:,}", help="Failed grade pushes in the last day")
    cols[4].metric("Failed, 7 days", f"{counts['failed_last_week']:,}",
                   help=f"Failed grade pushes in the last week; {counts['failed_total']:,} failed pushes in all")
    cols[5].metric("Invitations", f"{counts['open_invitations']:,}", help="Open LMS Connect invitations")


def status_chart(frame: pd.DataFrame) -> go.Figure:
    counts = frame["health"].value_counts()
    statuses = [s for s in STATUS_BY_NAME if s in counts.index]
    figure = go.Figure(
        go.Bar(
            x=[int(counts[s]) for s in statuses],
            y=[STATUS_BY_NAME[s].label for s in statuses],
            orientation="h",
            marker_color=[STATUS_BY_NAME[s].colour for s in statuses],
            text=[int(counts[s]) for s in statuses],
        )
    )
    figure.update_layout(
        title="Districts by status", height=260, margin={"l": 10, "r": 10, "t": 40, "b": 10},
        yaxis={"autorange": "reversed"}, xaxis_title="districts",
    )
    return figure


def table(ctx: Context, frame: pd.DataFrame) -> None:
    left, middle, right, search_col, sort_col = st.columns([2, 2, 2, 3, 2])
    lms_choices = sorted(frame["lms_type"].fillna("").unique())
    owner_choices = sorted(frame["owner"].unique())
    links.seed("overview_status", "status", many=True, choices=STATUS_BY_NAME)
    links.seed("overview_lms", "lms", many=True, choices=lms_choices)
    links.seed("overview_owner", "owner", many=True, choices=owner_choices)
    links.seed("overview_search", "q")
    links.seed("overview_sort", "sort", choices=SORTS)
    statuses = left.multiselect(
        "Status", list(STATUS_BY_NAME), format_func=lambda s: STATUS_BY_NAME[s].label, key="overview_status"
    )
    lms_types = middle.multiselect("LMS", lms_choices,
                                   format_func=lambda t: lms_name(t) or "(none)", key="overview_lms")
    owners = right.multiselect("Owner", owner_choices, format_func=widgets.owner_label,
                               key="overview_owner")
    search = search_col.text_input("Search", placeholder="district name or id", key="overview_search")
    sort = sort_col.selectbox("Sort by", list(SORTS), key="overview_sort")
    for param, value in (("status", statuses), ("lms", lms_types), ("owner", owners), ("q", search.strip())):
        links.keep(param, value)
    links.keep("sort", sort, default=next(iter(SORTS)))

    shown = frame
    if statuses:
        shown = shown[shown["health"].isin(statuses)]
    if lms_types:
        shown = shown[shown["lms_type"].fillna("").isin(lms_types)]
    if owners:
        shown = shown[shown["owner"].isin(owners)]
    if search.strip():
        needle = search.strip().lower()
        shown = shown[shown["name"].str.lower().str.contains(needle, regex=False) | (shown["id"] == search.strip())]
    if shown.empty:
        widgets.empty("No district matches these filters. Clear a filter or the search to see more.")
        return
    by, ascending = SORTS[sort]
    shown = shown.assign(_urgency=shown["health"].map(urgency)).sort_values(by, ascending=ascending,
                                                                             na_position="first")
    shown = shown.reset_index(drop=True)
    now = ctx.now
    view = pd.DataFrame(
        {
            # the answer first, so it fits 1280 px without scrolling: status, district, owner, next step, problems
            "Status": widgets.pills(shown["health"].map(widgets.status_label)),
            "District": shown["name"],
            "Owner": shown["owner"].map(widgets.owner_label),
            "Next step": shown["next_step"],
            "Problems": shown["reasons"].map(widgets.reasons_cell) if "reasons" in shown else "",
            "LMS": shown["lms_type"].fillna("").map(lms_name),
            "LTI launch": shown["lms_type"].map(lti.label),
            "LMS state": shown["lms_state"].fillna("").map(widgets.state_label),
            "Students %": shown["matched_students"],
            "Teachers %": shown["matched_teachers"],
            "Sections %": shown["matched_sections"],
            "Unmatched students": shown["unmatched_students"],
            "Unmatched teachers": shown["unmatched_teachers"],
            "Unsynced sections": shown["unsynced_sections"],
            "Failed pushes": shown["failed_pushes"],
            "last_lms_sync": shown["last_lms_sync"],
            "last_pulled_at": shown["last_pulled_at"],
            "Open": shown["id"].map(widgets.district_url),
        }
    )
    view, times = widgets.with_times(view, {"last_lms_sync": "Last LMS sync", "last_pulled_at": "Last pull"}, now)
    st.caption(f"{len(shown)} of {len(frame)} districts · select a row to open the district")
    percent = {"format": "%.0f%%", "min_value": 0, "max_value": 100}
    event = st.dataframe(
        view,
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key="overview_table",
        column_config={
            # widths that put Status, District, Owner and Next step inside the 818 px a 1280 px window leaves
            "Status": widgets.pill_column("Status", widgets.STATUS_COLOURS, width=120),
            "District": st.column_config.TextColumn(width=200),
            "Owner": st.column_config.TextColumn(width=105),
            "Students %": st.column_config.ProgressColumn(**percent),
            "Teachers %": st.column_config.ProgressColumn(**percent),
            "Sections %": st.column_config.ProgressColumn(**percent),
            "LTI launch": lti.column(),
            "Open": st.column_config.LinkColumn(display_text="open"),
            "Next step": st.column_config.TextColumn(width=330, help="The most urgent problem's next step: "
                                                     "click a cell for the whole text, the district for all"),
            "Problems": st.column_config.TextColumn(width="medium", help="Every live problem, most urgent first"),
            **times,
        },
    )
    rows = widgets.selected_rows(event)
    if rows:
        st.switch_page(page_path("district"), query_params={"district": shown.iloc[rows[0]]["id"]})


show(render)
