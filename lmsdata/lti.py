"""Can a district's teachers launch our tool from their LMS over LTI 1.3? It depends only on the LMS.

Clever LMS Connect offers LTI 1.3 launches through Canvas and Schoology; Google Classroom has no LTI,
and a district without an LMS has nothing to launch from. docs/readiness.md explains it for support.
"""

from __future__ import annotations

from dataclasses import dataclass

EXPLANATION_URL = "docs/readiness.md#lti-13-launch"


@dataclass(frozen=True)
class LtiLaunch:
    available: bool
    label: str          # what a table cell shows
    explanation: str    # one sentence for a support person


def lti_launch(lms_type: object) -> LtiLaunch:
    """The one verdict on LTI 1.3 launch for a district whose LMS is `lms_type` (Clever's value; None, NaN: none)."""
    lms = lms_type.strip().lower() if isinstance(lms_type, str) else ""
    if lms in ("canvas", "schoology"):
        name = "Canvas" if lms == "canvas" else "Schoology"
        return LtiLaunch(True, "available", f"{name} supports LTI 1.3 launch through LMS Connect.")
    if lms == "google_classroom":
        return LtiLaunch(False, "not available",
                         "Google Classroom has no LTI: teachers open the tool from its link instead.")  # fmt: skip
    if not lms:
        return LtiLaunch(False, "not available", "The district has not connected an LMS in Clever.")
    return LtiLaunch(False, "not available", f"LTI 1.3 launch is not offered for the LMS {lms_type!r}.")
