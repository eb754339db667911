"""Views that a copied URL reproduces: every filter, search and sort lives in the query string.

`seed` gives a widget its value from the URL on the first run of a session (a fresh server, a link
from a ticket); `keep` writes the value back after each run, and drops it when it is the default,
so the URL stays short and always says what the page shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import streamlit as st


def seed(key: str, param: str, *, many: bool = False, choices: Iterable[Any] | None = None,
         flag: bool = False) -> None:
    """Before drawing widget `key`: take its first value from `?param=` (several for `many`)."""
    if key in st.session_state or param not in st.query_params:
        return
    allowed = None if choices is None else {str(c): c for c in choices}
    values = st.query_params.get_all(param)
    if allowed is not None:
        values = [allowed[v] for v in values if v in allowed]
    if flag:
        st.session_state[key] = values[:1] == ["1"]
    elif many:
        st.session_state[key] = values
    elif values:
        st.session_state[key] = values[0]


def keep(param: str, value: Any, *, default: Any = None) -> None:
    """After drawing: the widget's value in the URL (removed when empty or the default)."""
    if value in (None, "", [], (), False) or value == default:
        st.query_params.pop(param, None)
    elif isinstance(value, list | tuple):
        st.query_params[param] = [str(v) for v in value]
    else:
        st.query_params[param] = "1" if value is True else str(value)
