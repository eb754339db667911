"""The Gradebook page and the District page's reconcile summary (what the LMS holds for our pushes)."""

from __future__ import annotations

import io
from functools import partial

import pandas as pd
import streamlit as st

from lmsdata.access import Permission
from lmsdata.db import connect
from lmsdata.gradebook import STATES, overwrite_anyway
from lmsdata.gradebook.export import lms_changes, write_jsonl
from lmsdata.gradebook.views import district_summary
from lmsdata.ui import actions, jobs, links, loaders, privacy, widgets
from lmsdata.ui.context import Context
from lmsdata.wording import plural

LABELS = {"landed": "Landed", "missing": "Missing", "different": "Different", "override": "Teacher override",
          "assignment_gone": "Assignment gone"}
SHOWN = ("missing", "different", "override")  # the states a person acts on, shown unless the URL says otherwise
SHOWN_ROWS = 1000
NOT_YET = "Not reconciled yet: run `lmsdata reconcile` to read the LMS gradebook back."


def summary(ctx: Context, district_id: str) -> None:
    """The District page's component: counts per state and how old they are."""
    with connect(ctx.db_path) as db:
        found = district_summary(db, district_id)
    st.subheader("Gradebook")
    if not found["reconciled_at"]:
        st.caption(NOT_YET)
        return
    st.caption(f"Read back from the LMS {widgets.age(found['reconciled_at'], ctx.now)} · details on the Gradebook page",
               help=widgets.when(found["reconciled_at"]) or None)
    for column, state in zip(st.columns(len(STATES)), STATES, strict=True):
        column.metric(LABELS[state], found["counts"][state])


def page(ctx: Context) -> None:
    st.title("Gradebook")
    st.caption("What the LMS gradebook holds for the grades we pushed, from the last `lmsdata reconcile`. A teacher "
               "override is never written over by a retry unless an operator chooses 'Overwrite anyway'.")
    names = loaders.district_names(ctx.db_path, ctx.data_version)
    links.seed("gradebook_district", "district", choices=names)
    district_id = st.selectbox("District", [None, *names], format_func=lambda d: "All districts" if d is None
                               else names.get(d, d), key="gradebook_district")  # fmt: skip
    links.keep("district", district_id)
    counts = loaders.gradebook_counts(ctx.db_path, ctx.data_version, district_id, SHOWN_ROWS + 1)
    duplicates = loaders.suspected_duplicates(ctx.db_path, ctx.data_version, district_id)
    if counts.empty:
        widgets.empty(NOT_YET)
    else:
        more(counts, "assignments", "choose a district")
        shown, labels = widgets.readable(
            counts.head(SHOWN_ROWS).drop(columns=["district_id", "section_id"]).rename(columns=LABELS), ctx.now)
        st.dataframe(shown, hide_index=True, column_config=labels)
        students(ctx, district_id)
    identities(duplicates)


def students(ctx: Context, district_id: str | None) -> None:
    links.seed("gradebook_states", "show", many=True, choices=STATES)
    states = tuple(st.multiselect("Show", list(STATES), default=None if "gradebook_states" in st.session_state
                                  else list(SHOWN), format_func=LABELS.get, key="gradebook_states"))  # fmt: skip
    links.keep("show", list(states), default=list(SHOWN))
    rows = loaders.gradebook_students(ctx.db_path, ctx.data_version, district_id, states, SHOWN_ROWS + 1)
    if not rows.empty:
        more(rows, "student rows", "choose a district or fewer states")
        rows = rows.head(SHOWN_ROWS)
    unmasked = privacy.bulk_toggle(ctx, f"gradebook {district_id or 'all'}: students", key="gradebook_unmasked")
    if rows.empty:
        widgets.empty("No student rows in these states.")
    else:
        shown = privacy.mask_students(rows, everything=unmasked)
        table, labels = widgets.readable(shown.drop(columns=["student_email", "district_id"]), ctx.now)
        st.dataframe(table, hide_index=True, column_config=labels)
    st.download_button("Download teacher edits (JSON Lines)", partial(teacher_edits, ctx.db_path, district_id),
                       "teacher-edits.jsonl",
                       mime="application/x-ndjson", key="gradebook_export")  # fmt: skip
    if rows.empty or not ctx.can(Permission.RETRY):
        return
    missing = sorted(int(p) for p in rows[(rows["state"] == "missing") & (rows["push_state"] != "sent")]["push_id"])
    if missing and st.button(f"Retry {plural(len(missing), 'missing grade')}", key="gradebook_retry"):
        actions.show_outcome(jobs.retry(ctx, missing))
    jobs.panel(ctx, ("bulk_retry",))
    overridden = sorted(int(p) for p in rows[rows["state"] == "override"]["push_id"])
    if overridden:
        push_id = st.selectbox("Teacher override to replace", overridden, key="gradebook_override")
        reason = st.text_input("Why the partner's grade wins (kept in the audit log)", key="gradebook_reason")
        if st.button("Overwrite anyway", key="gradebook_overwrite", disabled=not reason.strip()):
            overwrite_anyway(ctx.db_path, push_id, ctx.actor, reason)
            actions.show_outcome(actions.retry(ctx, [push_id]))


def teacher_edits(db_path: str, district_id: str | None) -> str:
    """The export, written only when someone downloads it (Streamlit calls this on the click)."""
    out = io.StringIO()
    with connect(db_path) as db:
        write_jsonl(lms_changes(db, district_id), out)
    return out.getvalue()


def more(rows: pd.DataFrame, noun: str, narrow: str) -> None:
    """Say so when a list shows only its first rows (a large read-back has one row per pushed grade)."""
    if len(rows) > SHOWN_ROWS:
        st.caption(f"More than {SHOWN_ROWS:,} {noun}: the first {SHOWN_ROWS:,} are shown; {narrow} to see others.")


def identities(duplicates: list) -> None:  # type: ignore[type-arg]
    st.subheader("Suspected duplicate students")
    if not duplicates:
        st.caption("No two users of these districts look like the same person.")
        return
    st.caption("Grades to these students are held until an operator runs `lmsdata gradebook confirm-identity`.")
    st.dataframe(pd.DataFrame([{"District": d.district_id, "Users": ", ".join(d.user_ids), "Why": d.reason}
                               for d in duplicates]), hide_index=True)  # fmt: skip
