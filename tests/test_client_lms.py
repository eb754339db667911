"""The LMS Connect calls of DistrictClient against the sandbox over loopback HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lmsdata.errors import BadRequest, NotFound
from tests.sandbox_fixtures import ready_setup
from tests.sync_fixtures import client_for, served


def test_assignment_and_submission_round_trip_with_clevers_errors_verbatim() -> None:
    due = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    with served() as (sandbox, url), client_for(url) as client:
        setup = ready_setup(sandbox, "canvas")
        dc = client.district(setup["district"])
        section = setup["section"]

        with pytest.raises(BadRequest) as missing:
            dc.create_assignment(section, {"title": "Quiz"})
        assert missing.value.message.startswith("missing required field(s): ")
        assert missing.value.status == 400 and dc.requests_made == 1  # a refused POST is not retried

        created = dc.create_assignment(section, {"title": "Fractions Quiz", "description": "<p>Q</p>",
                                                 "due_date": due, "points_possible": 20, "grading_type": "points"})
        assignment = created["id"]
        assert dc.get_assignment(section, assignment)["title"] == "Fractions Quiz"
        assert dc.update_assignment(section, assignment, {"title": "Fractions Quiz 2"})["title"] == "Fractions Quiz 2"

        submissions = list(dc.iter_submissions(section, assignment))
        assert setup["student"] in {s["user_id"] for s in submissions}
        graded = dc.update_submission(section, assignment, setup["student"],
                                      {"grade_points": 18, "state": "returned", "grader_id": setup["teacher"]})
        assert graded["grade_points"] == 18
        assert dc.get_submission(section, assignment, setup["student"])["state"] == "returned"
        assert sandbox.submission(section, assignment, setup["student"])["grade_points"] == 18

        dc.delete_assignment(section, assignment)
        with pytest.raises(NotFound) as gone:
            dc.get_assignment(section, assignment)
        assert gone.value.message == "Assignment does not exist"
        assert "Assignment does not exist" in str(gone.value) and sandbox.token_for(setup["district"]) not in str(
            gone.value
        )
