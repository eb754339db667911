"""The sidebar's worker line: last and next sync, or a warning when no worker is running."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from lmsdata.db import connect
from lmsdata.worker.status import read, summary


def worker_sidebar(db_path: str, now: datetime) -> None:
    with connect(db_path) as db:
        healthy, line = summary(read(db, now), now)
    with st.sidebar:
        if healthy:
            st.caption(line)
        else:
            st.warning(line, icon=":material/schedule:")
