"""Small pieces every page shares: freshness, status badges, empty states, district links."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from lmsdata.exposure import DEMO_ADMIN
from lmsdata.health import OWNERS, STATUS_BY_NAME, STATUSES
from lmsdata.ui import loaders
from lmsdata.wording import lms_name, local_time, plural, relative

if TYPE_CHECKING:
    from lmsdata.ui.context import Context

# Streamlit's badge colour for each status (the table cells use the health model's own colours).
BADGE = {
    "action_needed": "red",
    "stale": "orange",
    "below_target": "yellow",
    "setting_up": "blue",
    "not_connected": "gray",
    "healthy": "green",
}
READY = {1: "ready", 0: "blocked"}
READY_COLOURS = {"ready": "#2ca02c", "blocked": "#d62728", "unknown": "#7f7f7f"}


def age(value: Any, now: datetime) -> str:
    """'5 min ago', '3 h ago', '4 days ago', or 'never' (no time) / 'unknown' (unreadable): `wording.relative`."""
    return relative(value, now, missing="never")


def when(value: Any) -> str:
    """The hover text of a relative time: the absolute local time ('' when there is none)."""
    return local_time(value)


TIME_COLUMNS = ("last_lms_sync", "when", "at", "created", "first_seen", "last_seen", "oldest", "newest")
HEADERS = {"at": "When", "when": "When", "created": "Created", "district_name": "District", "params": "Parameters"}
_ACRONYMS = {"lms": "LMS", "http": "HTTP", "sis": "SIS", "lti": "LTI", "url": "URL", "id": "ID", "ids": "IDs"}


def _spoken_state(state: str) -> str:
    return state_label(state)


SPOKEN_VALUES = {"lms_type": lms_name, "lms_state": _spoken_state, "kind": _spoken_state, "action": _spoken_state}


def words(name: str) -> str:
    """A column name as a header people read: 'http_status' → 'HTTP status', 'started_at' → 'Started'."""
    if name in HEADERS:
        return HEADERS[name]
    parts = name.removesuffix("_at").split("_") if name.endswith("_at") else name.split("_")
    spoken = [_ACRONYMS.get(part, part) for part in parts if part]
    if not spoken:
        return name
    first = spoken[0]
    return " ".join([first if first.isupper() else first.capitalize(), *spoken[1:]])


def with_times(frame: pd.DataFrame, columns: dict[str, str], now: datetime) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A table's time columns as people read them: raw column `name` shows a relative time ("3 min ago",
    "in 2 h") under `label`, followed by "`label` (local)", the exact local time, because a dataframe cell
    has no hover text of its own. Column names stay (tests and selections read them); the labels are in
    the returned column_config."""
    shown, config = frame.copy(), {}
    here = datetime.now().astimezone()
    for name, label in columns.items():
        if name not in shown.columns:
            continue
        raw = shown[name]
        shown[name] = raw.map(lambda v: relative(v, now))
        exact, local_name = f"{label} (local)", f"{name}__local"
        local = pd.to_datetime(raw, utc=True, errors="coerce", format="ISO8601").dt.tz_convert(here.tzinfo)
        shown.insert(list(shown.columns).index(name) + 1, local_name, local.dt.tz_localize(None))
        config[name] = st.column_config.TextColumn(label, help=f"Relative to now; the exact time is in “{exact}”")
        config[local_name] = st.column_config.DatetimeColumn(exact, format="YYYY-MM-DD HH:mm:ss",
                                                             help=f"Local time ({here.strftime('%Z')})")
    return shown, config


def readable(frame: pd.DataFrame, now: datetime, labels: dict[str, Any] | None = None) -> tuple[pd.DataFrame, dict]:
    """Any cache table as people read it: headers in words, times relative (exact local time beside),
    empty cells empty rather than "None". `labels` overrides a header (or gives a whole column config)."""
    labels = labels or {}
    times = {c: labels.get(c) or words(c) for c in frame.columns
             if (c.endswith("_at") or c in TIME_COLUMNS) and isinstance(labels.get(c, ""), str)}
    shown, config = with_times(frame, times, now)
    for column in frame.columns:
        if column in times:
            continue
        values = shown[column]
        if column in SPOKEN_VALUES:  # Clever's codes in words: 'google_classroom' → 'Google Classroom'
            spoken = SPOKEN_VALUES[column]
            values = shown[column] = values.map(lambda v, say=spoken: say(v) if isinstance(v, str) else v)
        nullable_int = str(values.dtype) == "Int64" and bool(values.isna().any())  # e.g. no HTTP status: blank
        if nullable_int or not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values)):
            shown[column] = values.astype(object).where(values.notna(), "")
        config[column] = labels.get(column, words(column))
    return shown, config


def status_label(status: str) -> str:
    known = STATUS_BY_NAME.get(status)
    return known.label if known else status


def status_badge(status: str) -> None:
    st.badge(status_label(status), color=BADGE.get(status, "gray"))  # type: ignore[arg-type]


def pills(values: pd.Series) -> pd.Series:
    """Cell values for a `pill_column`: each a one-item list."""
    return values.map(lambda value: [value])


def pill_column(label: str, colours: dict[str, str], width: int | None = None) -> Any:
    """A read-only column that shows each value as a label in its colour (cheaper than a Styler)."""
    return st.column_config.MultiselectColumn(label, options=list(colours), color=list(colours.values()), width=width)


STATUS_COLOURS = {s.label: s.colour for s in STATUSES}


def http_status(values: pd.Series) -> pd.Series:
    """HTTP statuses as text, blank (not "None") for a push that got no answer or never reached Clever."""
    return values.map(lambda status: "" if pd.isna(status) else str(int(status)))


def state_label(state: str | None) -> str:
    """Clever's lms_state in words: 'matching_in_progress' → 'matching in progress' ('' when none)."""
    return (state or "").replace("_", " ")


def owner_label(owner: str) -> str:
    return OWNERS.get(owner, owner)


def reasons_cell(reasons: Any) -> str:
    """Every live reason of a district in one short cell: 'Stale · Below target · Action needed'."""
    if not isinstance(reasons, list):
        return ""
    counts: dict[str, int] = {}
    for reason in reasons:  # most urgent first, kept in that order
        label = status_label(reason["status"])
        counts[label] = counts.get(label, 0) + 1
    return " · ".join(label if n == 1 else f"{label} ×{n}" for label, n in counts.items())


def empty(message: str) -> None:
    """An empty state that says what to do next."""
    st.info(message, icon=":material/inbox:")


def sidebar_status(ctx: Context) -> None:
    """Demo banner, how fresh the data is, and the last sync run, on every page."""
    if ctx.is_demo:
        who = "No sign-in: you act as the demo admin, and actions" if ctx.actor == DEMO_ADMIN else "Actions"
        st.info(
            "**Demo mode**: this is the built-in Clever sandbox with made-up districts, not real data. "
            f"{who} work against the sandbox; invitations go to a local mail sink. Set `CLEVER_CLIENT_ID` and "
            "`CLEVER_CLIENT_SECRET` (and sign-in, docs/access.md) to see your own districts.",
            icon=":material/science:",
        )
    fresh = loaders.freshness(ctx.db_path, ctx.data_version)
    with st.sidebar:
        pulled = age(fresh["last_pulled_at"], ctx.now)
        st.caption(f"**Data pulled** {pulled} · {plural(fresh['districts'], 'district')}",
                   help=when(fresh["last_pulled_at"]) or None)
        run = fresh["last_run"]
        if run:
            failed = f", {run['districts_failed']} failed" if run["districts_failed"] else ""
            st.caption(
                f"Last sync #{run['id']} ({run['mode']}): **{run['outcome']}**{failed}, "
                f"{age(run['finished_at'] or run['started_at'], ctx.now)}",
                help=when(run["finished_at"] or run["started_at"]) or None,
            )
        else:
            st.caption("No sync has run yet.")
        st.caption(f"Acting as `{ctx.actor}` · cache `{ctx.db_path}`")


def district_url(district_id: str) -> str:
    """A relative deep link to a district page (works in a table's link column)."""
    return f"district?district={district_id}"


def selection_key(base: str) -> str:
    """The key of a selectable table now: a new key after `clear_selection`, so the browser forgets its ticks."""
    generation = st.session_state.get(f"{base}__generation", 0)
    return base if not generation else f"{base}_{generation}"


def clear_selection(base: str) -> None:
    """After an action: nothing stays ticked (a kept selection would point at other rows once the table changes)."""
    st.session_state.pop(selection_key(base), None)
    st.session_state[f"{base}__generation"] = st.session_state.get(f"{base}__generation", 0) + 1


def selected_rows(event: Any) -> list[int]:
    """Positional rows of a dataframe selection event (empty when nothing is selected)."""
    try:
        return list(event.selection.rows)
    except AttributeError:
        return list((event or {}).get("selection", {}).get("rows", []))
