""""Find a push: every state" on the Failed pushes page: a ticket's student, teacher, section, assignment or
day, across districts, sent pushes too. The query lives in the URL (`?find=`, `by`, `from`, `to`), so a
link in a ticket reopens the same answer. Student names are masked unless revealed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from lmsdata.pushes.search import BY, Query, SearchError
from lmsdata.ui import links, loaders, privacy, widgets
from lmsdata.wording import plural

if TYPE_CHECKING:
    from lmsdata.ui.context import Context

TABLE_KEY = "push_search_table"
BY_LABELS = {"any": "anything", "student": "student (name, e-mail, SIS or Clever id)", "teacher": "teacher",
             "section": "section (id, SIS id or name)", "assignment": "assignment (key, Clever id or title)"}


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _empty(key: str) -> dict[str, None]:
    """No day by default; none passed when the URL already gave one (Streamlit refuses both)."""
    return {} if key in st.session_state else {"value": None}


def find(ctx: Context, show: Callable[[int], None]) -> None:
    """The search box and its results; `show(push_id)` draws a picked push's details and attempts."""
    links.seed("push_find", "find")
    links.seed("push_find_by", "by", choices=BY)
    for key, param in (("push_find_from", "from"), ("push_find_to", "to")):
        if key not in st.session_state and _day(st.query_params.get(param)):
            st.session_state[key] = _day(st.query_params.get(param))
    c1, c2, c3, c4 = st.columns([4, 3, 2, 2])
    text = c1.text_input("Find a push: every state", key="push_find", placeholder="a student, teacher, section, "
                         "assignment…")
    by = c2.selectbox("By", BY, format_func=BY_LABELS.get, key="push_find_by")
    since = c3.date_input("Produced from", key="push_find_from", **_empty("push_find_from"))
    until = c4.date_input("to", key="push_find_to", **_empty("push_find_to"))
    since = since if isinstance(since, date) else None
    until = until if isinstance(until, date) else None
    for param, value, default in (("find", text.strip(), ""), ("by", by, "any"),
                                  ("from", since.isoformat() if since else None, None),
                                  ("to", until.isoformat() if until else None, None)):
        links.keep(param, value, default=default)
    query = Query(text.strip(), by, since, until)
    if query.empty:
        st.caption("Type what the ticket says: a student's name, e-mail, SIS or Clever id; a teacher; a section; an "
                   "assignment; or pick days. Sent pushes are found too.")
        return
    try:
        found = loaders.push_search(ctx.db_path, ctx.data_version, query)
    except SearchError as exc:
        st.text(str(exc))
        return
    if found.empty:
        widgets.empty("No push matches. Names and e-mails are matched whole (a last name, or first and last).")
        return
    unmasked = privacy.bulk_toggle(ctx, "push search: student names", key="push_search_unmasked")
    view = pd.DataFrame({
        "Push": found["id"],
        "State": found["state"],
        "Ready now": widgets.pills(found["ready"].map(widgets.READY).fillna("unknown")),
        "District": found["district"],
        "Section": found["section"],
        "Student": privacy.mask_students(found, everything=unmasked)["student"],
        "Assignment": found["assignment_key"],
        "Operation": found["kind"],
        "Attempts": found["attempts_list"].map(len),
        "Last answer": found["last_status"].astype("Int64"),
        "Produced": found["created_at"],
        "Last change": found["updated_at"],
    })
    st.caption(f"{plural(len(found), 'push')} (newest first) · select one to see its attempts")
    event = st.dataframe(view, hide_index=True, on_select="rerun", selection_mode="single-row", key=TABLE_KEY,
                         column_config={"Ready now": widgets.pill_column("Ready now", widgets.READY_COLOURS)})
    picked = [i for i in widgets.selected_rows(event) if i < len(found)]
    if picked:
        show(int(found.iloc[picked[0]]["id"]))
