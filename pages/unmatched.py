"""Unmatched users and sections across districts: the lists to hand to a district, with CSV export."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from lmsdata.csvsafe import frame_to_csv
from lmsdata.ui import links, loaders, privacy, safe, widgets
from lmsdata.ui.context import Context
from lmsdata.ui.frame import show
from lmsdata.wording import lms_name

SHOWN_ROWS = 2000
ROLES = ("student", "teacher")


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
    c1, c2, c3, c4 = st.columns([3, 2, 3, 3])  # Role wide enough for both pills
    lms_choices = sorted(districts_frame["lms_type"].fillna("").unique())
    links.seed("unmatched_district", "district", many=True, choices=names)
    links.seed("unmatched_lms", "lms", many=True, choices=lms_choices)
    links.seed("unmatched_role", "role", many=True, choices=ROLES)
    links.seed("unmatched_search", "q")
    district_ids = tuple(c1.multiselect("District", list(names), format_func=names.get, key="unmatched_district"))
    lms_types = tuple(c2.multiselect("LMS", lms_choices, format_func=lambda t: lms_name(t) or "(none)",
                                     key="unmatched_lms"))
    roles = tuple(c3.multiselect("Role", list(ROLES), default=None if "unmatched_role" in st.session_state
                                 else list(ROLES), key="unmatched_role"))
    schools = loaders.schools(ctx.db_path, ctx.data_version, district_ids) if district_ids else pd.DataFrame()
    school_choices = list(schools["id"]) if not schools.empty else []
    links.seed("unmatched_school", "school", many=True, choices=school_choices)
    school_ids = tuple(
        c4.multiselect("School", school_choices,
                       format_func=dict(zip(schools.get("id", []), schools.get("name", []), strict=True)).get,
                       placeholder="pick a district first" if not district_ids else "all schools",
                       key="unmatched_school")
    )
    search = st.text_input("Search", placeholder="name, e-mail or SIS id", key="unmatched_search").strip()
    for param, value in (("district", list(district_ids)), ("lms", list(lms_types)), ("school", list(school_ids)),
                         ("q", search)):
        links.keep(param, value)
    links.keep("role", list(roles), default=list(ROLES))
    filters = {"district_ids": district_ids, "lms_types": lms_types, "school_ids": school_ids, "search": search}
    unmasked = privacy.bulk_toggle(ctx, "unmatched users: names, e-mails and SIS ids", key="unmatched_unmasked")
    if not unmasked:
        st.caption("Student names, e-mails and SIS ids are masked (the search still finds them); select a student "
                   "to reveal one, which is recorded in the audit log.")

    users_tab, sections_tab = st.tabs(["Users", "Sections"])
    with users_tab:
        if not roles:
            widgets.empty("Pick at least one role.")
        else:
            users = listing(ctx, "users", masked(loaders.unmatched_users, unmasked), {**filters, "roles": roles},
                            "No unmatched users with these filters: every student and teacher here is matched in the "
                            "LMS.")
            if users is not None and not unmasked:
                reveal(ctx, users)
    with sections_tab:
        listing(ctx, "sections", loaders.unsynced_sections, filters,
                "No unsynced sections with these filters: every section here is synced in the LMS.")


def masked(loader: Callable[..., pd.DataFrame], unmasked: bool) -> Callable[..., pd.DataFrame]:
    """The loader with students masked (the table and the CSV alike) unless an admin unmasked the page."""
    return lambda *args, **kwargs: privacy.mask_users(loader(*args, **kwargs), everything=unmasked)


def reveal(ctx: Context, users: pd.DataFrame) -> None:
    """The selected student, masked until a deliberate (audited) click."""
    picked = widgets.selected_rows(st.session_state.get("unmatched_users_table"))
    if not picked or picked[0] >= len(users):
        return
    user = users.iloc[picked[0]]
    if user["role"] != "student":
        return
    shown = privacy.revealed(user["id"])
    if shown is None:
        st.markdown(f"Selected: **{safe.text(user['first_name'])} {safe.text(user['last_name'])}** · "
                    f"{safe.text(user['district'])}")
        privacy.reveal_button(ctx, str(user["id"]), reason="unmatched users", key=f"unmatched_reveal_{user['id']}")
    else:
        st.markdown(f"**{safe.text(shown['name'])}** · {safe.text(shown['email'] or 'no e-mail')} · "
                    f"SIS id {safe.text(shown['sis_id'] or '-')} · {safe.text(user['district'])} "
                    "(revealed to you, recorded in the audit log)")


def listing(ctx: Context, noun: str, loader: Callable[..., pd.DataFrame], filters: dict,
            when_empty: str) -> pd.DataFrame | None:
    """The table (selectable) and its CSV export; returns the rows shown."""
    rows = loader(ctx.db_path, ctx.data_version, **filters, limit=SHOWN_ROWS + 1)
    if rows.empty:
        widgets.empty(when_empty)
        return None
    more = len(rows) > SHOWN_ROWS
    st.caption(f"{'More than ' if more else ''}{min(len(rows), SHOWN_ROWS):,} unmatched {noun}"
               + (" (the first shown; narrow the filters, or export them all)" if more else ""))
    shown = rows.head(SHOWN_ROWS)
    selectable = {"on_select": "rerun", "selection_mode": "single-row"} if noun == "users" else {}
    table, labels = widgets.readable(shown.drop(columns=["district_id"]), ctx.now)
    st.dataframe(table, hide_index=True, key=f"unmatched_{noun}_table", column_config=labels, **selectable)
    if more and not st.button(f"Prepare a CSV of every matching {noun.rstrip('s')}", key=f"unmatched_{noun}_prepare"):
        return shown
    everything = loader(ctx.db_path, ctx.data_version, **filters, limit=None) if more else rows
    st.download_button(
        f"Download CSV ({len(everything):,} rows)",
        data=frame_to_csv(everything),
        file_name=f"unmatched-{noun}.csv",
        mime="text/csv",
        key=f"unmatched_{noun}_csv",
        icon=":material/download:",
    )
    return shown


show(render)
