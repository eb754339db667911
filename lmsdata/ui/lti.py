"""The LTI 1.3 launch column and line the Overview and District pages show (lmsdata.lti decides)."""

from __future__ import annotations

import streamlit as st

from lmsdata.lti import EXPLANATION_URL, lti_launch

HELP = ("LTI 1.3 launch works through Canvas and Schoology, not Google Classroom or without an LMS. "
        f"Details: {EXPLANATION_URL}")  # fmt: skip


def label(lms_type: str | None) -> str:
    return lti_launch(lms_type).label


def column() -> object:
    """Column config for the Overview table's "LTI launch" column: the explanation on hover."""
    return st.column_config.TextColumn("LTI launch", help=HELP)


def line(lms_type: str | None) -> None:
    """The District page's line: the verdict, and why, as plain text."""
    verdict = lti_launch(lms_type)
    st.text(f"LTI 1.3 launch: {verdict.label}. {verdict.explanation}", help=HELP)  # text: lms_type is Clever's
