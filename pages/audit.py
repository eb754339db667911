"""Audit log: every action anyone took here or on the command line, newest first."""

from __future__ import annotations

import streamlit as st

from lmsdata.access import audit_scope
from lmsdata.ui import links, loaders, widgets
from lmsdata.ui.context import Context
from lmsdata.ui.frame import show


def render(ctx: Context) -> None:
    st.title("Audit log")
    st.caption("Append-only: every invitation, retry, sync and reveal, with who did it and how it ended.")
    own = audit_scope(ctx.actor)
    if own is not None:
        st.info(f"You see your own entries ({own}); admins see everyone's.", icon=":material/person:")
    choices = loaders.audit_choices(ctx.db_path, ctx.data_version, own)
    if not choices["actions"]:
        widgets.empty("Nothing has been done yet: actions (sync, retry, invite, cancel, reveal) appear here.")
        return
    c1, c2, c3 = st.columns([2, 2, 3])
    links.seed("audit_action", "action", many=True, choices=choices["actions"])
    links.seed("audit_actor", "actor", many=True, choices=choices["actors"])
    links.seed("audit_search", "q")
    actions = tuple(c1.multiselect("Action", choices["actions"], format_func=widgets.state_label, key="audit_action"))
    actors = (own,) if own else tuple(c2.multiselect("Actor", choices["actors"], key="audit_actor"))
    search = c3.text_input("Search", placeholder="target, parameters or detail", key="audit_search")
    for param, value in (("action", list(actions)), ("actor", [] if own else list(actors)), ("q", search.strip())):
        links.keep(param, value)
    rows = loaders.audit_log(ctx.db_path, ctx.data_version, actions=actions, actors=actors, search=search)
    if rows.empty:
        widgets.empty("No entry matches these filters.")
        return
    shown, labels = widgets.readable(rows, ctx.now, {"detail": st.column_config.TextColumn("Detail", width="large")})
    st.dataframe(shown, hide_index=True, column_config=labels)


show(render)
