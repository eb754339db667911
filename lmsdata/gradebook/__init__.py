"""Gradebook truth: what the LMS now holds for the grades we pushed (docs/gradebook.md)."""

from lmsdata.gradebook.approvals import confirm_identity, overwrite_anyway
from lmsdata.gradebook.guard import Hold, hold_reason
from lmsdata.gradebook.identity import Duplicate, suspected_duplicates
from lmsdata.gradebook.reconcile import ReconcileReport, reconcile
from lmsdata.gradebook.verdict import STATES, verdict

__all__ = ["STATES", "Duplicate", "Hold", "ReconcileReport", "confirm_identity", "hold_reason", "overwrite_anyway",
           "reconcile", "suspected_duplicates", "verdict"]
