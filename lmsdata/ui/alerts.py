"""The Alerts page: open and resolved alerts, one alert's detail with acknowledge and snooze, the rules
with their thresholds and the channels (masked).

Alert details and resolutions come from Clever's data and error messages: they are shown with `st.text`
or in table cells, never as Markdown. Filters live in the URL (`lmsdata.ui.links`); `?alert=ID` opens one.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pandas as pd
import streamlit as st

from lmsdata.access import AccessDenied, Permission
from lmsdata.config import ConfigError
from lmsdata.db import connect
from lmsdata.ui import links, loaders, safe, widgets
from lmsdata.worker import alerts
from lmsdata.worker.config import WorkerConfig, load_worker_config
from lmsdata.worker.rules import describe
from lmsdata.worker.status import read, summary

if TYPE_CHECKING:
    from lmsdata.ui.context import Context

ALL = "all"
OUTCOME = "alert_outcome"  # the last ack/snooze message, shown after the rerun


def alert_url(alert_id: int) -> str:
    """A relative deep link to one alert (works in a table's link column)."""
    return f"alerts?alert={alert_id}"


def alerts_page(ctx: Context) -> None:
    st.title("Alerts")
    with connect(ctx.db_path) as db:
        healthy, line = summary(read(db, ctx.now), ctx.now)
        rows = alerts.list_alerts(db)
        sent = list(db.query("SELECT channel, state, COUNT(*) AS n FROM outbox GROUP BY channel, state"))
    (st.caption if healthy else st.warning)(line)
    names = loaders.district_names(ctx.db_path, ctx.data_version)
    config = _config()
    wanted = _wanted_alert()
    if wanted is not None:
        _one(ctx, next((r for r in rows if r["id"] == wanted), None), names)
    elif not rows:
        widgets.empty("No alerts yet. Alerts come from the worker: run `lmsdata worker` beside the dashboard "
                      "(docs/worker.md); it syncs on a schedule, evaluates the rules below after each sync and "
                      "notifies the channels.")
    else:
        _table(ctx, rows, names)
    _rules_and_channels(config, sent)


def _wanted_alert() -> int | None:
    raw = st.query_params.get("alert")
    return int(raw) if raw and raw.isdigit() else None


def _subject(subject: str, names: dict[str, str]) -> str:
    return names.get(subject, subject)


def _table(ctx: Context, rows: list[dict[str, Any]], names: dict[str, str]) -> None:
    frame = pd.DataFrame(rows)
    c1, c2, c3 = st.columns(3)
    links.seed("alerts_state", "state", choices=("open", "resolved", ALL))
    links.seed("alerts_rule", "rule", choices=[ALL, *sorted(frame["rule"].unique())])
    subjects = sorted(frame["subject"].unique(), key=lambda s: _subject(s, names).lower())
    links.seed("alerts_subject", "district", choices=[ALL, *subjects])
    state = c1.selectbox("State", ("open", "resolved", ALL), key="alerts_state")
    rule = c2.selectbox("Rule", [ALL, *sorted(frame["rule"].unique())], key="alerts_rule",
                        format_func=lambda r: r if r == ALL else widgets.words(r))
    subject = c3.selectbox("Subject", [ALL, *subjects], key="alerts_subject",
                           format_func=lambda s: s if s == ALL else _subject(s, names))
    links.keep("state", state, default="open")
    links.keep("rule", rule, default=ALL)
    links.keep("district", subject, default=ALL)
    shown = frame
    if state != ALL:
        shown = shown[shown["state"] == state]
    if rule != ALL:
        shown = shown[shown["rule"] == rule]
    if subject != ALL:
        shown = shown[shown["subject"] == subject]
    if shown.empty:
        widgets.empty(f"No {'' if state == ALL else state + ' '}alerts match these filters.")
        return
    st.dataframe(
        pd.DataFrame({
            "Alert": shown["id"].map(alert_url),
            "State": shown["state"],
            "Subject": shown["subject"].map(lambda s: _subject(s, names)),
            "District": shown["subject"].map(lambda s: widgets.district_url(s) if s in names else None),
            "Rule": shown["rule"].map(widgets.words),
            "Since": shown["opened_at"].map(lambda v: widgets.age(v, ctx.now)),
            "Notified": shown["notifications"],
            "Acknowledged by": shown["acked_by"].fillna(""),
            "Snoozed until": shown["snoozed_until"].fillna(""),
            "Detail": shown["detail"],
        }),
        hide_index=True,
        column_config={
            "Alert": st.column_config.LinkColumn(display_text=r"alerts\?alert=(\d+)"),
            "District": st.column_config.LinkColumn(display_text="Open district"),
            "Detail": st.column_config.TextColumn(width="large"),
        },
    )


def _one(ctx: Context, row: dict[str, Any] | None, names: dict[str, str]) -> None:
    if row is None:
        st.warning(f"No alert {safe.text(st.query_params.get('alert'))} in this cache. The table lists them all.")
        _back()
        return
    st.subheader(f"Alert {row['id']}: {safe.text(widgets.words(row['rule']))}")
    if row["subject"] in names:
        st.link_button(f"District: {safe.text(_subject(row['subject'], names))}",
                       f"district?district={quote(row['subject'], safe='')}")
    else:
        st.text(f"Subject: {row['subject']}")
    cols = st.columns(4)
    cols[0].metric("State", row["state"])
    cols[1].metric("Since", widgets.age(row["opened_at"], ctx.now))
    cols[2].metric("Notified", row["notifications"])
    cols[3].metric("Acknowledged by", row["acked_by"] or "nobody")
    st.text(row["detail"])
    if row["resolution"]:
        st.text(f"{widgets.age(row['resolved_at'], ctx.now)}: {row['resolution']}")
    if row["snoozed_until"]:
        st.text(f"Snoozed until {row['snoozed_until']}")
    if row["state"] == "open":
        if ctx.can(Permission.CASEWORK):
            _actions(ctx, row)
        else:
            st.caption("Your role may read alerts; an operator acknowledges or snoozes them.")
    message = st.session_state.pop(OUTCOME, None)
    if message:
        st.text(message)
    _back()


def _back() -> None:
    """Back to the table: drop `?alert=` (the filters stay in the URL)."""
    if st.button("All alerts", key="alerts_all"):
        st.query_params.pop("alert", None)
        st.rerun()


def _actions(ctx: Context, row: dict[str, Any]) -> None:
    c1, c2, c3 = st.columns(3)
    ack = c1.button("Acknowledge", key="alert_ack", disabled=bool(row["acked_by"]),
                    help="No more re-notifications; its resolution still notifies.")
    until = c2.date_input("Snooze until (UTC midnight)", value=None, min_value=ctx.now.date(), key="alert_until")
    snooze = c3.button("Snooze", key="alert_snooze", disabled=not isinstance(until, date))
    try:
        if ack:
            alerts.acknowledge(ctx.db_path, ctx.actor, row["id"], ctx.now)
            st.session_state[OUTCOME] = f"Alert {row['id']} acknowledged."
        elif snooze and isinstance(until, date):
            moment = datetime.combine(until, time(), tzinfo=UTC)
            alerts.snooze(ctx.db_path, ctx.actor, row["id"], moment, ctx.now)
            st.session_state[OUTCOME] = f"Alert {row['id']} snoozed until {moment:%Y-%m-%d %H:%M} UTC."
        else:
            return
    except (AccessDenied, alerts.AlertError) as exc:
        st.session_state[OUTCOME] = f"Not done: {exc}"
    st.rerun()


def _config() -> WorkerConfig | str:
    """The worker's settings the page can read (the same file the worker uses), or why not."""
    try:
        return load_worker_config(os.environ.get("LMSDATA_WORKER_CONFIG") or None)
    except ConfigError as exc:
        return str(exc)


def _rules_and_channels(config: WorkerConfig | str, sent: list[dict[str, Any]]) -> None:
    with st.expander("Rules and channels"):
        if isinstance(config, str):
            st.warning(f"The worker configuration cannot be read: {safe.text(config)}")
            return
        st.dataframe(pd.DataFrame(describe(config.health, config.alerts, len(config.district_overrides))),
                     hide_index=True)
        counts: dict[str, dict[str, int]] = {}
        for r in sent:
            counts.setdefault(r["channel"], {})[r["state"]] = r["n"]
        if not config.channels:
            st.caption("No channels: set [[channels]] in $LMSDATA_WORKER_CONFIG (docs/worker.md). Alerts are "
                       "still recorded here.")
            return
        st.dataframe(pd.DataFrame([{
            "Channel": c.display,
            "Receives": ", ".join(sorted(c.rules)),
            "Sent": counts.get(alerts.channel_key(c), {}).get("sent", 0),
            "Pending": counts.get(alerts.channel_key(c), {}).get("pending", 0),
            "Unknown (interrupted)": counts.get(alerts.channel_key(c), {}).get("unknown", 0),
        } for c in config.channels]), hide_index=True)
