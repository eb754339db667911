"""The term readiness board: every district's current and next term, riskiest first (lmsdata.terms grades)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from lmsdata import terms
from lmsdata.db import connect
from lmsdata.ui import widgets
from lmsdata.ui.context import Context

GRADE_COLOURS = {terms.NOT_READY: "#d62728", terms.AT_RISK: "#ff7f0e", terms.READY: "#2ca02c"}


@st.cache_data(show_spinner=False)
def board(db_path: str, data_version: int, today: str) -> pd.DataFrame:
    """Keyed on the data version and the day, so a sync or midnight refreshes it."""
    with connect(db_path) as db:
        return pd.DataFrame(terms.board(db, date.fromisoformat(today)))


def render(ctx: Context) -> None:
    st.title("Term readiness")
    st.caption(f"Is each district's current term set up for grade passback? Ready when {terms.READY_SHARE:.0%} "
               f"of its sections are synced and their students matched; not ready when still short "
               f"{terms.GRACE_DAYS} days after the term started.")  # fmt: skip
    frame = board(ctx.db_path, ctx.data_version, ctx.now.date().isoformat())
    if frame.empty:
        widgets.empty("No districts in the cache yet. Run a sync (`lmsdata sync --full`) to see their terms.")
        return
    params = st.query_params
    left, right = st.columns([2, 3])
    grades = left.multiselect("Grade", list(GRADE_COLOURS), default=[g for g in params.get_all("grade")
                              if g in GRADE_COLOURS], key="readiness_grade")  # fmt: skip
    search = right.text_input("Search", value=params.get("q", ""), placeholder="district name or id",
                              key="readiness_search")  # fmt: skip
    params["grade"] = grades
    params["q"] = search
    shown = frame
    if grades:
        shown = shown[shown["grade"].isin(grades)]
    if search.strip():
        needle = search.strip().lower()
        shown = shown[shown["name"].fillna("").str.lower().str.contains(needle, regex=False)
                      | (shown["district_id"] == search.strip())]  # fmt: skip
    counts = frame["grade"].value_counts()
    cols = st.columns(3)
    for col, grade in zip(cols, GRADE_COLOURS, strict=True):
        col.metric(grade.capitalize(), int(counts.get(grade, 0)))
    if shown.empty:
        widgets.empty("No district matches these filters. Clear a filter or the search to see more.")
        return
    st.caption(f"{len(shown)} of {len(frame)} districts · riskiest first")
    view = pd.DataFrame({
        "Grade": widgets.pills(shown["grade"]), "District": shown["name"], "Current term": shown["current_term"],
        "Started": shown["current_start"], "Days in": shown["days_since_start"],
        "Sections synced %": shown["sections_synced"], "Students matched %": shown["students_matched"],
        "Next term": shown["next_term"], "Next starts": shown["next_start"],
        "Next synced %": shown["next_sections_synced"], "Reason": shown["reason"],
        "Owner": shown["owner"].map(widgets.owner_label), "Next step": shown["next_step"],
    })  # fmt: skip
    percent = {"format": "%.0f%%", "min_value": 0, "max_value": 100}
    st.dataframe(view, hide_index=True, key="readiness_table", column_config={
        "Grade": widgets.pill_column("Grade", GRADE_COLOURS),
        "Sections synced %": st.column_config.ProgressColumn(**percent),
        "Students matched %": st.column_config.ProgressColumn(**percent),
        "Reason": st.column_config.TextColumn(width="large"),
    })  # fmt: skip
    trend_chart(ctx, shown)


def trend_chart(ctx: Context, shown: pd.DataFrame) -> None:
    """Readiness through the term's first weeks for one district, from the sync history."""
    choices = dict(zip(shown["district_id"], shown["name"].fillna(shown["district_id"]), strict=True))
    chosen = st.selectbox("Trend since the term started", list(choices), format_func=choices.get,
                          key="readiness_trend")  # fmt: skip
    start = shown.loc[shown["district_id"] == chosen, "current_start"].iloc[0]
    if not chosen or not isinstance(start, str):
        widgets.empty("This district has no current term, so there is no trend to show.")
        return
    with connect(ctx.db_path) as db:
        points = pd.DataFrame(terms.trend(db, chosen, date.fromisoformat(start)))
    if points.empty:
        widgets.empty("No sync since the term started yet: the trend fills in with every sync.")
        return
    # times on a time axis and series named in words (not ISO text categories and column names)
    series = pd.DataFrame({"Sections synced %": points["sections_matched"],
                           "Students matched %": points["students_matched"]})
    series.index = pd.to_datetime(points["pulled_at"], utc=True, format="ISO8601").rename("Pulled")
    st.line_chart(series, height=240, y_label="%")
