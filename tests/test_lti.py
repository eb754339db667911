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
