"""The one verdict of a reconcile: how the LMS's submission compares with our newest push."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lmsdata.pushes.gate import matches
from lmsdata.pushes.log import parse_time

STATES = ("landed", "missing", "different", "override", "assignment_gone")


def verdict(push: Mapping[str, Any], submission: Mapping[str, Any] | None) -> str:
    """landed | missing | different | override for one student (assignment_gone is decided per assignment).

    A teacher override is a different value written by another grader than the one we sent, or written
    after our write reached Clever: re-sending would clobber a teacher's hand edit.
    """
    if submission is None or (submission.get("grade") is None and submission.get("grade_points") is None):
        return "missing"
    if matches(push["payload"], submission):
        return "landed"
    ours = json.loads(push["payload"]).get("grader_id")
    theirs = submission.get("grader_id")
    if theirs and theirs != ours:
        return "override"
    written = submission.get("last_modified")
    if push["state"] == "sent" and written and parse_time(written) > parse_time(push["updated_at"]):
        return "override"
    return "different"
