"""Sync log: every pull from Clever with per-district outcomes, the events received, lms_state changes."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lmsdata.access import Permission
from lmsdata.health import transitions
from lmsdata.masking import mask_json_fields
from lmsdata.sync import run_state, sync_in_progress
from lmsdata.ui import budget, confirm, jobs, links, loaders, privacy, widgets
from lmsdata.ui.context import Context
from lmsdata.ui.frame import show
from lmsdata.wording import plural

SYNC_FLAG = "sync_all"


def render(ctx: Context) -> None:
    st.title("Sync log")
    if ctx.can(Permission.SYNC):
        sync_all(ctx)
    runs_tab, events_tab, changes_tab = st.tabs(["Sync runs", "Clever events", "LMS state changes"])
    with runs_tab:
        runs(ctx)
    with events_tab:
        events(ctx)
    with changes_tab:
        changes(ctx)


def sync_all(ctx: Context) -> None:
    if st.button("Sync all now", icon=":material/sync:", key="sync_all_button",
                 help="An incremental sync of every district (a full one where Clever's event cursor is too old)."):
        confirm.ask(SYNC_FLAG, True)
    budget.sync_note(ctx, SYNC_FLAG)
    confirm.question(SYNC_FLAG, "Pull every district from Clever now? It paces itself under Clever's rate limit, "
                     "and runs in the worker: follow it under Jobs.",
                     "Sync now", lambda _: jobs.queue(ctx, "sync_all"), keep_label="Don't sync")
    confirm.last_outcome(SYNC_FLAG)
    jobs.panel(ctx, ("sync_all", "sync_districts"))


def runs(ctx: Context) -> None:
    found = loaders.sync_runs(ctx.db_path, ctx.data_version)
    if found.empty:
        widgets.empty("No sync has run yet. Press **Sync all now**, or run `lmsdata sync --full`.")
        return
    st.caption("Select a run to see each district's outcome.")
    shown, labels = widgets.readable(
        found[["id", "outcome", "mode", "started_at", "finished_at", "districts_total", "districts_failed", "requests",
               "records", "actor", "error"]], ctx.now, {"id": "Run", "districts_total": "Districts"})
    event = st.dataframe(shown, hide_index=True, on_select="rerun", selection_mode="single-row", key="sync_runs_table",
                         column_config=labels)
    rows = widgets.selected_rows(event)
    run_id = int(found.iloc[rows[0]]["id"]) if rows else linked_run(found)
    links.keep("run", run_id, default=int(found.iloc[0]["id"]))  # `?run=ID`: a ticket can point at one run
    st.markdown(f"**Run #{run_id}, per district**")
    per_district = loaders.sync_run_districts(ctx.db_path, ctx.data_version, run_id=run_id)
    if per_district.empty:
        widgets.empty("This run recorded no district (it may have stopped before the first one).")
        return
    failed = per_district[per_district["outcome"] != "success"]
    state = run_state(str(found.loc[found["id"] == run_id, "outcome"].iloc[0]), sync_in_progress(ctx.db_path))
    if state == "running":
        st.info(f"This run is still going: {plural(len(failed), 'district')} not finished yet.")
    elif not failed.empty:
        stopped = " (it was interrupted)" if state == "interrupted" else ""
        st.warning(f"{plural(len(failed), 'district')} did not sync in this run{stopped}; the reason is in the Error "
                   "column.")
    shown, labels = widgets.readable(per_district.drop(columns=["run_id"]), ctx.now)
    st.dataframe(shown, hide_index=True, column_config=labels)


def linked_run(found: pd.DataFrame) -> int:
    """The run `?run=ID` names when it is one of those listed, else the newest."""
    wanted = st.query_params.get("run", "")
    listed = {int(i) for i in found["id"]}
    return int(wanted) if wanted.isdigit() and len(wanted) < 19 and int(wanted) in listed else int(found.iloc[0]["id"])


def events(ctx: Context) -> None:
    found = loaders.events(ctx.db_path, ctx.data_version)
    if found.empty:
        widgets.empty("No Clever events received yet: incremental syncs record them (a first full sync has none).")
        return
    st.caption(f"The newest {len(found):,} events")
    if not privacy.bulk_toggle(ctx, "Clever events: previous attributes of users", key="events_unmasked"):
        found = found.assign(previous_attributes=found["previous_attributes"].map(mask_json_fields))
    shown, labels = widgets.readable(found, ctx.now)
    st.dataframe(shown, hide_index=True, column_config=labels)


def changes(ctx: Context) -> None:
    history = loaders.history(ctx.db_path, ctx.data_version)
    found = transitions(history)
    if not found:
        widgets.empty("No change in any district's LMS state or matching yet: they show up after the second sync.")
        return
    names = loaders.district_names(ctx.db_path, ctx.data_version)
    shown, labels = widgets.readable(
        pd.DataFrame(
            [{"when": c.at, "district": names.get(c.district_id, c.district_id), "change": c.summary,
              "worse": "yes" if c.regression else "", "district_id": c.district_id} for c in reversed(found)]
        ), ctx.now)
    st.dataframe(shown, hide_index=True, column_config=labels)


show(render)
