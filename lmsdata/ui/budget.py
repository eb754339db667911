"""The request budget shown in the bulk retry and sync-all confirmations (lmsdata.budget does the sums)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import streamlit as st

from lmsdata.budget import BudgetSettings, Estimate, describe, estimate_retry, estimate_sync, settings_from_env
from lmsdata.db import connect
from lmsdata.ui.confirm import pending
from lmsdata.ui.context import Context

RETRY_CONCURRENCY, SYNC_CONCURRENCY = 8, 4  # what actions.retry / actions.sync_now run with (library defaults)


def _settings(concurrency: int) -> BudgetSettings:
    try:
        return settings_from_env(os.environ, concurrency=concurrency)
    except ValueError as exc:
        st.warning(f"{exc}; the budget below uses Clever's default limit.")
        return BudgetSettings(concurrency=concurrency)


def _show(projected: Estimate) -> None:
    with st.expander("Request budget", expanded=True, icon=":material/speed:"):
        st.text("\n".join(describe(projected)))  # text: district ids come from Clever


def retry_note(ctx: Context, push_ids: Sequence[int]) -> None:
    with connect(ctx.db_path) as db:
        _show(estimate_retry(db, _settings(RETRY_CONCURRENCY), push_ids=push_ids))


def sync_note(ctx: Context, flag: str) -> None:
    """Shown while the sync-all confirmation is pending."""
    if pending(flag) is None:
        return
    with connect(ctx.db_path) as db:
        targets = [row[0] for row in db.execute("SELECT id FROM districts ORDER BY id")]
        _show(estimate_sync(db, _settings(SYNC_CONCURRENCY), targets, full=False))
