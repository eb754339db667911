"""The district timeline section: one stream, newest first, filtered by kind (kept in the URL as `?kinds=`).

Every entry is a table cell (text), so a note with HTML or Markdown reads exactly as it was typed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from lmsdata import timeline
from lmsdata.ui import links, loaders, widgets

if TYPE_CHECKING:
    from lmsdata.ui.context import Context

KEY = "district_timeline_kinds"


def section(ctx: Context, district_id: str) -> None:
    st.subheader("Timeline")
    links.seed(KEY, "kinds", many=True, choices=timeline.KINDS)
    kinds = st.multiselect("Show only", timeline.KINDS, format_func=timeline.LABELS.get, key=KEY,
                           placeholder="every kind")
    links.keep("kinds", list(kinds))
    entries = loaders.timeline(ctx.db_path, ctx.data_version, district_id, tuple(kinds))
    if not entries:
        widgets.empty("Nothing of these kinds has happened for this district yet." if kinds
                      else "Nothing has happened for this district yet.")
        return
    st.caption(f"The newest {len(entries):,} events" if len(entries) == timeline.LIMIT else f"{len(entries):,} events")
    shown, times = widgets.with_times(pd.DataFrame({
        "When": [e.at for e in entries],
        "Kind": [timeline.LABELS.get(e.kind, e.kind) for e in entries],
        "What": [e.summary for e in entries],
        "Who": [e.who for e in entries],
        "Worse": ["yes" if e.worse else "" for e in entries],
    }), {"When": "When"}, ctx.now)
    st.dataframe(shown, hide_index=True, key="district_timeline",
                 column_config={**times, "What": st.column_config.TextColumn(width="large")})
