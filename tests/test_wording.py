"""Relative times, as a table: the one function every page, the sidebar and the worker line use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest

from lmsdata.pushes.log import iso
from lmsdata.wording import local_time, relative, span

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("at", "expected"), [
    (NOW - timedelta(seconds=20), "just now"),
    (NOW + timedelta(seconds=20), "in under a minute"),
    (NOW - timedelta(minutes=3), "3 min ago"),
    (NOW - timedelta(seconds=61), "1 min ago"),
    (NOW + timedelta(hours=2), "in 2 h"),
    (NOW - timedelta(minutes=89), "89 min ago"),
    (NOW - timedelta(minutes=91), "2 h ago"),
    (NOW - timedelta(hours=47), "47 h ago"),
    (NOW - timedelta(days=8), "8 days ago"),
    (NOW + timedelta(days=3), "in 3 days"),
    (iso(NOW - timedelta(minutes=5)), "5 min ago"),  # the cache's ISO text
    ("2026-12-01T11:55:00", "5 min ago"),  # a naive time is UTC
    ("2026-12-01T13:55:00+02:00", "5 min ago"),  # an offset is honoured
    (pd.Timestamp(NOW - timedelta(hours=3)), "3 h ago"),
    (None, ""),  # empty cells stay empty
    ("", ""),
    (float("nan"), ""),
    (pd.NaT, ""),
    ("not a time", "unknown"),
])  # fmt: skip
def test_relative(at: object, expected: str) -> None:
    assert relative(at, NOW) == expected


def test_relative_says_what_a_missing_time_means_where_asked() -> None:
    assert relative(None, NOW, missing="never") == "never"
    assert relative("garbage", NOW, missing="never") == "unknown"


@pytest.mark.parametrize(("seconds", "expected"), [
    (0, "0 s"), (59, "59 s"), (60, "1 min"), (30 * 60, "30 min"), (2 * 3600, "2 h"), (-2 * 3600, "2 h"),
    (47 * 3600, "47 h"), (48 * 3600, "2 days"),
])  # fmt: skip
def test_span(seconds: float, expected: str) -> None:
    assert span(timedelta(seconds=seconds)) == expected == span(seconds)


def test_local_time_is_the_absolute_time_in_this_machines_zone() -> None:
    shown = local_time("2026-12-01T11:55:00.000Z")
    expected = datetime(2026, 12, 1, 11, 55, tzinfo=UTC).astimezone()
    assert shown == expected.strftime("%Y-%m-%d %H:%M:%S %Z")
    assert local_time(datetime(2026, 12, 1, 13, 55, tzinfo=timezone(timedelta(hours=2)))) == shown
    assert local_time(None) == local_time("bad") == ""
