"""LTI 1.3 launch availability, one row per LMS Clever reports."""

from __future__ import annotations

import pytest

from lmsdata.lti import lti_launch


@pytest.mark.parametrize(
    ("lms_type", "available", "mentions"),
    [
        ("canvas", True, "Canvas"),
        ("schoology", True, "Schoology"),
        ("Canvas ", True, "Canvas"),
        ("google_classroom", False, "Google Classroom"),
        (None, False, "not connected"),
        (float("nan"), False, "not connected"),  # pandas' missing value
        ("", False, "not connected"),
        ("moodle", False, "moodle"),
    ],
)
def test_lti_launch_depends_on_the_lms(lms_type: object, available: bool, mentions: str) -> None:
    verdict = lti_launch(lms_type)
    assert verdict.available is available
    assert verdict.label == ("available" if available else "not available")
    assert mentions in verdict.explanation


def test_status_json_carries_lti_launch_and_why(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from click.testing import CliRunner

    from lmsdata.cli import cli
    from lmsdata.db import connect

    db_path = tmp_path / "lmsdata.db"
    with connect(db_path) as db:
        db.table("districts").insert_all([{"id": "d1", "name": "Canvas District", "lms_type": "canvas"},
                                          {"id": "d2", "name": "Classroom District", "lms_type": "google_classroom"}])
    result = CliRunner().invoke(cli, ["status", "--format", "json", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    rows = {row["id"]: row for row in json.loads(result.output)}
    assert rows["d1"]["lti_launch"] == "available" and rows["d2"]["lti_launch"] == "not available"
    assert "docs/readiness.md#lti-13-launch" in rows["d2"]["lti_launch_why"]
