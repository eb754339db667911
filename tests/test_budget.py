"""Budget before bulk: the projected requests equal what the retry then issues; the time model's arithmetic.

Timing itself is measured by bench/budget.py (estimate vs wall time on bench/retry.py's workload).
"""

from __future__ import annotations

import pytest

from lmsdata.budget import BudgetSettings, estimate, estimate_retry, settings_from_env, token_seconds
from lmsdata.db import connect
from lmsdata.pushes import retry_pushes
from tests.push_fixtures import ASSIGNMENT, Lab

GRADE = {"grade_points": 15, "state": "returned"}


def test_projected_requests_equal_the_requests_the_retry_issues(lab: Lab) -> None:
    canvas = lab.district("success", "canvas")
    schoology = lab.district("success", "schoology")
    section, unsynced = lab.synced_section(canvas), lab.unsynced_section(canvas)
    unmatched = lab.students(section, matched=False)
    s_section = lab.synced_section(schoology)
    not_launched = lab.students(s_section, launched=False)[0]
    with lab.client() as client:
        pusher = lab.pusher(client)
        pusher.create_assignment(canvas, section["id"], "quiz-1", ASSIGNMENT)
        pusher.create_assignment(schoology, s_section["id"], "essay", ASSIGNMENT)
        failed = [pusher.push_grade(canvas, section["id"], "quiz-1", student, GRADE) for student in unmatched]
        failed += [
            pusher.push_grade(canvas, section["id"], "quiz-1", unmatched[0], {**GRADE, "grade_points": 16}),
            pusher.create_assignment(canvas, unsynced["id"], "quiz-1", ASSIGNMENT),
            pusher.push_grade(canvas, unsynced["id"], "quiz-1", unsynced["students"][0], GRADE),
            pusher.push_grade(schoology, s_section["id"], "essay", not_launched, GRADE),
            pusher.create_assignment(canvas, section["id"], "late", {**ASSIGNMENT, "due_date": "2020-01-01"}),
        ]
        assert all(o.state == "failed" for o in failed)
        for student in unmatched:  # fixed in Clever, so every gated push can go out
            lab.sandbox.set_user_matched(student, True)
        lab.sandbox.set_section_synced(unsynced["id"], True)
        lab.sandbox.mark_launched(not_launched)
        with connect(lab.db_path) as db:
            projected = estimate_retry(db, BudgetSettings(concurrency=2))
    with lab.client() as fresh:  # a new client lists the tokens once, as a bulk run's does
        report = retry_pushes(fresh, lab.db_path, all_failed=True)
    counts = report.counts
    assert counts["sent"] == len(unmatched) + 3 and counts["skipped"] == 1  # the bad payload is not sent
    assert projected.requests == report.requests
    by_token = {t.district_id: t for t in projected.tokens}
    assert by_token[canvas].pushes == len(unmatched) + 2 and by_token[schoology].pushes == 1
    assert projected.busiest is not None and projected.busiest.district_id == canvas


def test_time_model_follows_the_pacer_windows() -> None:
    settings = BudgetSettings(limit_per_minute=1200, seconds_per_request=0.01)
    assert settings.window_budget == 1176  # the client keeps 2 % in reserve
    assert token_seconds(1176, settings) == pytest.approx(11.76)
    assert token_seconds(1177, settings) == pytest.approx(60.01)  # one request into the next window
    assert token_seconds(0, settings) == 0.0
    slow = BudgetSettings(limit_per_minute=1200, seconds_per_request=0.1)  # never reaches the limit
    assert token_seconds(2000, slow) == pytest.approx(200.0)


def test_concurrency_and_queued_requests_on_the_same_token() -> None:
    settings = BudgetSettings(concurrency=2, seconds_per_request=1.0, limit_per_minute=10_000)
    work = {"a": (3, 4), "b": (1, 2), "c": (1, 2)}
    parallel = estimate(work, settings)
    assert parallel.requests == 1 + 8 and parallel.seconds == pytest.approx(4.0)  # b then c beside a
    queued = estimate(work, settings, queued={"b": 5})
    assert queued.seconds == pytest.approx(7.0) and queued.busiest is not None and queued.busiest.district_id == "b"
    assert "busiest b with 7" in queued.summary()


@pytest.mark.parametrize(("value", "limit"), [("", 1200), ("600", 600)])
def test_limit_is_configurable(value: str, limit: int) -> None:
    assert settings_from_env({"LMSDATA_CLEVER_RATE_LIMIT": value}).limit_per_minute == limit


def test_bad_limit_says_what_to_set() -> None:
    with pytest.raises(ValueError, match="LMSDATA_CLEVER_RATE_LIMIT must be a whole number"):
        settings_from_env({"LMSDATA_CLEVER_RATE_LIMIT": "fast"})


def test_dry_runs_print_the_budget(lab: Lab) -> None:
    from click.testing import CliRunner

    from lmsdata.cli import cli

    canvas = lab.district("success", "canvas")
    section = lab.synced_section(canvas)
    with lab.client() as client:
        lab.pusher(client).create_assignment(canvas, section["id"], "quiz-1", {**ASSIGNMENT, "due_date": "2020-01-01"})
    db = ["--db", str(lab.db_path)]
    env = {"CLEVER_CLIENT_ID": lab.settings.client_id, "CLEVER_CLIENT_SECRET": lab.settings.client_secret,
           "CLEVER_API_URL": lab.url, "CLEVER_OAUTH_URL": lab.url, "LMSDATA_CLEVER_RATE_LIMIT": "600"}  # fmt: skip
    sync = CliRunner().invoke(cli, ["sync", "--dry-run", "--full", *db], env=env)
    assert sync.exit_code == 0, sync.output
    assert "Dry run (nothing pulled)" in sync.output and "busiest" in sync.output
    retry = CliRunner().invoke(cli, ["retry", "--all-failed", "--dry-run", *db], env=env)
    assert "Budget:" in retry.output and "of 600/min" in retry.output, retry.output


def test_projected_sync_requests_equal_a_full_sync(lab: Lab) -> None:
    from lmsdata.budget import estimate_sync, sync_targets
    from lmsdata.sync import sync

    with connect(lab.db_path) as db:
        projected = estimate_sync(db, BudgetSettings(), sync_targets(db, []), full=True)
    with lab.client() as client:
        result = sync(client, lab.db_path, full=True)
    assert projected.requests == result.requests
