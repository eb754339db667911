"""The worker schedules what other parts of the library already do: reconcile the gradebooks, back up
the cache with rotation (only when LMSDATA_BACKUP_DIR is set), trim old attempt messages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lmsdata.backup import check_backup, list_backups
from lmsdata.inputs import InputError
from lmsdata.worker.config import WorkerConfig
from lmsdata.worker.jobs import backup_settings, build_jobs
from tests.push_fixtures import Lab, running_lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("worker-jobs")) as lab:
        yield lab


def test_reconcile_and_retention_always_run_and_backup_only_where_configured(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    clock = iter(start + timedelta(hours=h) for h in range(100))
    monkeypatch.delenv("LMSDATA_BACKUP_DIR", raising=False)
    assert {"reconcile", "retention"} <= set(build_jobs(lab.settings, WorkerConfig(), lambda: start))
    assert "backup" not in build_jobs(lab.settings, WorkerConfig(), lambda: start)

    with lab.client() as client:
        canvas, section, pusher = lab.canvas_quiz(client)
        assert pusher.push_grade(canvas, section["id"], "quiz-1", lab.students(section)[0], {"grade_points": 9}).ok
    monkeypatch.setenv("LMSDATA_BACKUP_DIR", str(tmp_path / "backups"))
    monkeypatch.setenv("LMSDATA_BACKUP_KEEP", "2")
    jobs = build_jobs(lab.settings, WorkerConfig(), lambda: next(clock))
    assert "1 landed" in jobs["reconcile"].step()
    assert "trimmed" in jobs["retention"].step()
    for _ in range(3):
        assert "kept the 2 newest" in jobs["backup"].step()
    kept = list_backups(tmp_path / "backups")
    assert len(kept) == 2 and all(check_backup(path).schema_version for path in kept)


@pytest.mark.parametrize(("setting", "value"), [("LMSDATA_BACKUP_KEEP", "0"), ("LMSDATA_BACKUP_EVERY_HOURS", "²")])
def test_a_bad_backup_setting_is_one_message_naming_it(setting: str, value: str) -> None:
    with pytest.raises(InputError, match=setting):
        backup_settings({"LMSDATA_BACKUP_DIR": "/tmp/b", setting: value})
