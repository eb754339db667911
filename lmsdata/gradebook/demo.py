"""The demo's gradebook: teacher edits, an assignment deleted in the LMS and two look-alike students,
then a reconcile, so the Gradebook page shows overrides, missing and gone grades and split identities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmsdata.client import CleverClient
from lmsdata.config import Settings
from lmsdata.db import connect
from lmsdata.gradebook.reconcile import reconcile

EDITS = 6  # teacher overrides


def stage_demo_gradebook(sandbox: Any, db_path: Path) -> None:
    """Change the sandbox's gradebook and users behind our back (the demo's next sync pulls the users)."""
    with connect(db_path) as db:
        sent = list(db.query(
            "SELECT p.section_id, p.student_id, a.assignment_id FROM pushes p JOIN assignments a "
            "ON a.district_id = p.district_id AND a.section_id = p.section_id AND a.assignment_key = p.assignment_key "
            "WHERE p.kind = 'submission_update' AND p.state = 'sent' AND a.deleted_at IS NULL ORDER BY p.id"))
    for n, push in enumerate(sent[:EDITS]):
        teacher = sandbox.section(push["section_id"])["teacher"]
        sandbox.gradebook.teacher_edit(push["assignment_id"], push["student_id"], None, 7.5 + n, teacher)
    with connect(db_path) as db:  # only an assignment without failed grades: a restarted demo can retry those
        gone = db.execute(
            "SELECT a.assignment_id FROM assignments a WHERE a.assignment_id IS NOT NULL AND NOT EXISTS (SELECT 1 "
            "FROM pushes p WHERE p.section_id = a.section_id AND p.assignment_key = a.assignment_key "
            "AND p.state != 'sent') ORDER BY a.created_at DESC LIMIT 1").fetchone()
    if gone and len(sent) > EDITS:
        sandbox.delete_assignment_in_lms(gone[0])
    if sent:
        twin_section = sandbox.section(sent[0]["section_id"])
        district_id = twin_section["district"]
        for _ in range(2):  # the sandbox names every added student "Jordan Newcomer": a split identity
            sandbox.add_user(district_id, role="student", section_ids=[twin_section["id"]])


def reconcile_demo(settings: Settings, db_path: Path, actor: str) -> None:
    with CleverClient.from_settings(settings) as client:
        reconcile(client, db_path, actor=actor)
