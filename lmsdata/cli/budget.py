"""The budget lines `lmsdata retry --dry-run` and `lmsdata sync --dry-run` print (lmsdata.budget does the sums)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import click

from lmsdata.budget import BudgetSettings, describe, estimate_retry, estimate_sync, settings_from_env, sync_targets
from lmsdata.db import connect


def _settings(concurrency: int) -> BudgetSettings:
    try:
        return settings_from_env(os.environ, concurrency=concurrency)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def echo_retry_budget(
    db_path: Path, push_ids: Sequence[int], *, district_id: str | None, category: str | None, concurrency: int
) -> None:
    with connect(db_path) as db:
        projected = estimate_retry(db, _settings(concurrency), push_ids=push_ids or None, district_id=district_id,
                                   category=category)  # fmt: skip
    for line in ["Budget:", *describe(projected)]:
        click.echo(line, err=True)


def echo_sync_budget(db_path: Path, district_ids: Sequence[str], *, full: bool, concurrency: int) -> None:
    with connect(db_path) as db:
        targets = sync_targets(db, district_ids)
        if not targets:
            click.echo("Dry run: no districts in the cache yet; the first sync lists and pulls every district.")
            return
        projected = estimate_sync(db, _settings(concurrency), targets, full=full)
    click.echo("Dry run (nothing pulled):")
    for line in describe(projected):
        click.echo(line)
