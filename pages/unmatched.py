"""Unmatched users and sections across districts: the lists to hand to a district, with CSV export."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from lmsdata.ui import loaders, widgets
from lmsdata.ui.frame import Context, show

SHOWN_ROWS = 2000


def render(ctx: Context) -> None:
    st.title("Unmatched users and sections")
    st.caption(
        "Records Clever could not match between the district's SIS and its LMS (`synced_in_lms` false). "
        "Grades for these students and sections cannot reach the LMS; the district fixes them with Clever support."
    )
    names = loaders.district_names(ctx.db_path, ctx.data_version)
    if not names:
        widgets.empty("No districts in the cache yet. Run a sync first (`lmsdata sync --full`, or the Sync log page).")
        return
    districts_frame = loaders.district_health(ctx)
    c1, c2, c3, c4 = st.columns([3, 2, 2, 3])
    district_ids = tuple(c1.multiselect("District", list(names), format_func=names.get, key="unmatched_district"))
    lms_types = tuple(c2.multiselect("LMS", sorted(districts_frame["lms_type"].fillna("").unique()),
                                     format_func=lambda t: t or "(none)", key="unmatched_lms"))
    roles = tuple(c3.multiselect("Role", ["student", "teacher"], default=["student", "teacher"], key="unmatched_role"))
    schools = loaders.schools(ctx.db_path, ctx.data_version, district_ids) if district_ids else pd.DataFrame()
    school_ids = tuple(
        c4.multiselect("School", list(schools["id"]) if not schools.empty else [],
                       format_func=dict(zip(schools.get("id", []), schools.get("name", []), strict=True)).get,
                       placeholder="pick a district first" if not district_ids else "all schools",
                       key="unmatched_school")
    )
    search = st.text_input("Search", placeholder="name, e-mail or SIS id", key="unmatched_search").strip()
    filters = {"district_ids": district_ids, "lms_types": lms_types, "school_ids": school_ids, "search": search}

    users_tab, sections_tab = st.tabs(["Users", "Sections"])
    with users_tab:
        if not roles:
            widgets.empty("Pick at least one role.")
        else:
            listing(ctx, "users", loaders.unmatched_users, {**filters, "roles": roles},
                    "No unmatched users with these filters: every student and teacher here is matched in the LMS.")
    with sections_tab:
        listing(ctx, "sections", loaders.unsynced_sections, filters,
                "No unsynced sections with these filters: every section here is synced in the LMS.")


def listing(ctx: Context, noun: str, loader: Callable[..., pd.DataFrame], filters: dict, when_empty: str) -> None:
    rows = loader(ctx.db_path, ctx.data_version, **filters, limit=SHOWN_ROWS + 1)
    if rows.empty:
        widgets.empty(when_empty)
        return
    more = len(rows) > SHOWN_ROWS
    st.caption(f"{'More than ' if more else ''}{min(len(rows), SHOWN_ROWS):,} unmatched {noun}"
               + (" (the first shown; narrow the filters, or export them all)" if more else ""))
    st.dataframe(rows.head(SHOWN_ROWS).drop(columns=["district_id"]), hide_index=True, key=f"unmatched_{noun}_table")
    if more and not st.button(f"Prepare a CSV of every matching {noun.rstrip('s')}", key=f"unmatched_{noun}_prepare"):
        return
    everything = loader(ctx.db_path, ctx.data_version, **filters, limit=None) if more else rows
    st.download_button(
        f"Download CSV ({len(everything):,} rows)",
        data=everything.to_csv(index=False).encode(),
        file_name=f"unmatched-{noun}.csv",
        mime="text/csv",
        key=f"unmatched_{noun}_csv",
        icon=":material/download:",
    )


show(render)
