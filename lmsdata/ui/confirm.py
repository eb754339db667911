"""Confirmations kept in session state: a button sets a flag, the next runs show the question.

A flag (not the button's one-run `True`) survives the rerun that the confirm click causes, in the
browser and in AppTest alike (engineering-notes §1.4, streamlit/streamlit#9786).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from lmsdata.ui.actions import Outcome, show_outcome


def ask(flag: str, payload: Any) -> None:
    """Start asking: remember what the confirmation is about."""
    st.session_state[flag] = payload


def pending(flag: str) -> Any:
    return st.session_state.get(flag)


def question(flag: str, text: str, confirm_label: str, act: Callable[[Any], Outcome], *,
             keep_label: str = "Keep it", after: Callable[[], None] | None = None) -> None:
    """If a confirmation is pending, ask it; on confirm run `act(payload)` and keep its outcome.

    Both buttons say what they do (`confirm_label` the verb, `keep_label` the way out); `after` runs
    once the question is answered either way (e.g. to clear the table selection it was about).
    """
    payload = st.session_state.get(flag)
    if payload is None:
        return
    with st.container(border=True):
        st.warning(text, icon=":material/help:")
        yes, no, _ = st.columns([2, 1, 5])
        if yes.button(confirm_label, type="primary", key=f"{flag}_yes"):
            outcome = act(payload)
            st.session_state.pop(flag, None)
            st.session_state[f"{flag}_outcome"] = outcome
            if after:
                after()
            st.rerun()
        if no.button(keep_label, key=f"{flag}_no"):
            st.session_state.pop(flag, None)
            if after:
                after()
            st.rerun()


def last_outcome(flag: str) -> None:
    """Show (and keep showing until the next action) what the last confirmed action did."""
    show_outcome(st.session_state.get(f"{flag}_outcome"))


def remember(flag: str, outcome: Outcome) -> None:
    """Keep an outcome of an action that needs no confirmation (e.g. a form submit)."""
    st.session_state[f"{flag}_outcome"] = outcome
