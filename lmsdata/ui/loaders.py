"""Cached readers for the pages: each opens the cache for one query and caches the result.

The key is `(db_path, data_version, …)`: a finished sync, retry or invitation bumps the data
version, so the next run reads fresh rows without any global cache clear. A connection is never
shared across threads (Streamlit runs sessions on different threads): one per call.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd
import streamlit as st

from lmsdata import queries
from lmsdata.db import connect

if TYPE_CHECKING:
    from lmsdata.ui.context import Context

T = TypeVar("T")
CACHE = {"show_spinner": False, "max_entries": 256, "ttl": "1h"}


def _read(db_path: str, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    with connect(db_path) as db:
        return query(db, *args, **kwargs)


@st.cache_data(**CACHE)
def freshness(db_path: str, version: int) -> dict[str, Any]:
    return _read(db_path, queries.freshness)


@st.cache_data(**CACHE)
def districts(db_path: str, version: int, clock: str) -> pd.DataFrame:
    """Every district with health, owner and next step (`clock` is the time the ages refer to,
    rounded by the caller so that the cache still hits within a few minutes)."""
    from lmsdata.status import district_rows

    with connect(db_path) as db:
        rows = district_rows(db)
        invitations = queries.open_invitations_by_district(db)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["open_invitations"] = frame["id"].map(invitations).fillna(0).astype(int)
    return frame


def district_health(ctx: Context) -> pd.DataFrame:
    """Every district with its health, the ages measured at the current ten minutes."""
    return districts(ctx.db_path, ctx.data_version, ctx.now.strftime("%Y-%m-%dT%H:%M")[:-1])


@st.cache_data(**CACHE)
def headline(db_path: str, version: int, now: datetime) -> dict[str, int]:
    return _read(db_path, queries.headline, now)


@st.cache_data(**CACHE)
def district(db_path: str, version: int, district_id: str) -> dict[str, Any] | None:
    return _read(db_path, queries.district, district_id)


@st.cache_data(**CACHE)
def district_names(db_path: str, version: int) -> dict[str, str]:
    return _read(db_path, queries.district_names)


@st.cache_data(**CACHE)
def history(db_path: str, version: int, district_id: str | None = None) -> list[dict[str, Any]]:
    return _read(db_path, queries.history, district_id)


@st.cache_data(**CACHE)
def unmatched_users(db_path: str, version: int, **filters: Any) -> pd.DataFrame:
    return _read(db_path, queries.unmatched_users, **filters)


@st.cache_data(**CACHE)
def unsynced_sections(db_path: str, version: int, **filters: Any) -> pd.DataFrame:
    return _read(db_path, queries.unsynced_sections, **filters)


@st.cache_data(**CACHE)
def unmatched_counts(db_path: str, version: int, district_ids: tuple[str, ...] = ()) -> pd.DataFrame:
    return _read(db_path, queries.unmatched_counts, district_ids)


@st.cache_data(**CACHE)
def schools(db_path: str, version: int, district_ids: tuple[str, ...] = ()) -> pd.DataFrame:
    return _read(db_path, queries.schools, district_ids)


@st.cache_data(**CACHE)
def pushes(db_path: str, version: int, **filters: Any) -> pd.DataFrame:
    return _read(db_path, queries.pushes, **filters)


@st.cache_data(**CACHE)
def failed_pushes(db_path: str, version: int, **filters: Any) -> pd.DataFrame:
    return _read(db_path, queries.failed_pushes, **filters)


@st.cache_data(**CACHE)
def failed_by_category(db_path: str, version: int) -> pd.DataFrame:
    return _read(db_path, queries.failed_by_category)


@st.cache_data(**CACHE)
def failure_clusters(db_path: str, version: int) -> pd.DataFrame:
    return _read(db_path, queries.failure_clusters)


@st.cache_data(**CACHE)
def push(db_path: str, version: int, push_id: int) -> dict[str, Any] | None:
    return _read(db_path, queries.push, push_id)


@st.cache_data(**CACHE)
def push_attempts(db_path: str, version: int, push_id: int) -> pd.DataFrame:
    return _read(db_path, queries.push_attempts, push_id)


@st.cache_data(**CACHE)
def sync_runs(db_path: str, version: int) -> pd.DataFrame:
    return _read(db_path, queries.sync_runs)


@st.cache_data(**CACHE)
def sync_run_districts(db_path: str, version: int, run_id: int | None = None,
                       district_id: str | None = None) -> pd.DataFrame:
    return _read(db_path, queries.sync_run_districts, run_id=run_id, district_id=district_id)


@st.cache_data(**CACHE)
def events(db_path: str, version: int, district_id: str | None = None) -> pd.DataFrame:
    return _read(db_path, queries.events, district_id=district_id)


@st.cache_data(**CACHE)
def invitations(db_path: str, version: int, district_id: str | None = None) -> pd.DataFrame:
    from lmsdata.invitations import list_invitations

    with connect(db_path) as db:
        return pd.DataFrame(list_invitations(db, district_id=district_id, limit=1000))


@st.cache_data(**CACHE)
def inbound_requests(db_path: str, version: int) -> pd.DataFrame:
    from lmsdata.invitations import inbound_requests

    with connect(db_path) as db:
        return pd.DataFrame(inbound_requests(db))


@st.cache_data(**CACHE)
def audit_log(db_path: str, version: int, **filters: Any) -> pd.DataFrame:
    return _read(db_path, queries.audit_log, **filters)


@st.cache_data(**CACHE)
def audit_choices(db_path: str, version: int, actor: str | None = None) -> dict[str, list[str]]:
    return _read(db_path, queries.audit_choices, actor)


@st.cache_data(**CACHE)
def timeline(db_path: str, version: int, district_id: str, kinds: tuple[str, ...] = ()) -> list[Any]:
    from lmsdata.timeline import district_timeline

    return _read(db_path, district_timeline, district_id, kinds=kinds)


@st.cache_data(**CACHE)
def bundle(db_path: str, version: int, subject: str, _secrets: tuple[str, ...] = ()) -> Any:
    """A district's or cluster's escalation bundle (`_secrets`, also masked in it, are not hashed into the key)."""
    from lmsdata import bundle as bundles

    if subject.startswith(bundles.CLUSTER_PREFIX):
        return _read(db_path, bundles.for_cluster, subject, secrets=_secrets)
    return _read(db_path, bundles.for_district, subject, secrets=_secrets)


@st.cache_data(**CACHE)
def push_search(db_path: str, version: int, query: Any) -> pd.DataFrame:
    from lmsdata.pushes.search import search

    return _read(db_path, search, query)


@st.cache_data(**CACHE)
def gradebook_counts(db_path: str, version: int, district_id: str | None, limit: int) -> pd.DataFrame:
    from lmsdata.gradebook.views import assignment_counts

    with connect(db_path) as db:
        return pd.DataFrame(assignment_counts(db, district_id, limit=limit))


@st.cache_data(**CACHE)
def gradebook_students(db_path: str, version: int, district_id: str | None, states: tuple[str, ...],
                       limit: int) -> pd.DataFrame:
    from lmsdata.gradebook.views import student_rows

    with connect(db_path) as db:
        return pd.DataFrame(student_rows(db, district_id, states, limit=limit))


@st.cache_data(**CACHE)
def suspected_duplicates(db_path: str, version: int, district_id: str | None) -> list[Any]:
    """What the last sync stored (`identity_suspects`), not the rules run again over every user."""
    from lmsdata.gradebook.identity import stored_duplicates

    with connect(db_path) as db:
        return stored_duplicates(db, district_id)
