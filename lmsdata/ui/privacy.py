"""Student names, e-mails and SIS ids: masked in every table by default, shown only after an audited reveal.

One student at a time for everyone (`reveal_button`), everything on a page for admins (`bulk_toggle`).
Revealed details live in this session only; a page switch or a new session starts masked again for
bulk reveals, and each reveal of one student is remembered for the session that asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from lmsdata.access import AccessDenied, Permission
from lmsdata.masking import mask_email, mask_name, mask_payload, mask_sis_id
from lmsdata.reveal import reveal_all, reveal_student

if TYPE_CHECKING:
    from lmsdata.ui.context import Context

REVEALED = "privacy_revealed"  # user id → the unmasked details this session asked for
BULK_AUDITED = "privacy_bulk_audited"  # bulk toggles whose reveal is already in the audit log


def revealed(user_id: Any) -> dict[str, Any] | None:
    return st.session_state.get(REVEALED, {}).get(user_id)


def reveal_button(ctx: Context, user_id: str, *, reason: str, key: str) -> None:
    """'Reveal student details': one deliberate click, written to the audit log with the signed-in person."""
    if revealed(user_id) is not None or not ctx.can(Permission.REVEAL_ONE):
        return
    if st.button("Reveal student details", key=key, icon=":material/visibility:",
                 help="Shows the name, e-mail and SIS id; the reveal is written to the audit log."):
        try:
            st.session_state.setdefault(REVEALED, {})[user_id] = reveal_student(ctx.db_path, ctx.actor, user_id,
                                                                                reason=reason)
        except (AccessDenied, LookupError) as exc:
            st.warning(str(exc))
            return
        st.rerun()


def bulk_toggle(ctx: Context, scope: str, *, key: str) -> bool:
    """Admins only: a switch that shows everything on this page unmasked; each switch-on is audited."""
    if not ctx.can(Permission.REVEAL_ALL):
        return False
    on = st.toggle("Show student data unmasked", key=key,
                   help="Admins only. Shows every name, e-mail and SIS id on this page; recorded in the audit log.")
    audited = st.session_state.setdefault(BULK_AUDITED, set())
    if on and key not in audited:
        reveal_all(ctx.db_path, ctx.actor, scope)
        audited.add(key)
    elif not on:
        audited.discard(key)  # switching on again is a new look, audited again
    return on


def mask_users(frame: pd.DataFrame, *, everything: bool = False) -> pd.DataFrame:
    """Student rows (`role` student, or every row without a role column) with name, e-mail and SIS id masked,
    except students this session revealed (or all of them when `everything`)."""
    if frame.empty or everything:
        return frame
    masked = frame.copy()
    hidden = ~masked["id"].map(lambda user_id: revealed(user_id) is not None)
    if "role" in masked.columns:
        hidden &= masked["role"] == "student"
    for column, mask in (("first_name", mask_name), ("last_name", mask_name), ("email", mask_email),
                         ("sis_id", mask_sis_id)):
        if column in masked.columns:
            masked.loc[hidden, column] = masked.loc[hidden, column].map(mask)
    return masked


def mask_students(frame: pd.DataFrame, *, everything: bool = False) -> pd.DataFrame:
    """Push rows: the `student` name and `student_email` masked unless revealed (see `mask_users`)."""
    if frame.empty or everything:
        return frame
    masked = frame.copy()
    hidden = masked["student_id"].map(lambda user_id: bool(user_id) and revealed(user_id) is None)
    for column, mask in (("student", mask_name), ("student_email", mask_email)):
        if column in masked.columns:
            masked.loc[hidden, column] = masked.loc[hidden, column].map(mask)
    return masked


def mask_text(value: Any, student: dict[str, Any]) -> Any:
    """A payload or an attempt's message with the student's details masked wherever they occur."""
    return mask_payload(value, name=student.get("name"), email=student.get("email"), sis_id=student.get("sis_id"))
