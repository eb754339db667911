"""Who is looking: the sign-in page, the refusal page, and the signed-in person's line in the sidebar.

The decisions are the library's (`lmsdata.exposure`, `lmsdata.access`); this module reads what only
Streamlit knows (`st.user`, `server.address`) and draws. `st.user.is_logged_in` exists only when an
`[auth]` section does, so the claims are read with `.get` (engineering-notes §1.7).
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from typing import Any, NoReturn

import streamlit as st

from lmsdata.access import Principal, RoleMap
from lmsdata.config import Settings
from lmsdata.exposure import Admission, Exposure, Mode, admit, allows_unauthenticated, auth_configured, decide


def admission(settings: Settings, secrets: Mapping[str, Any]) -> tuple[Exposure, Admission]:
    """How this dashboard may be used with this configuration, and who this session's person is."""
    exposure = decide(
        demo=settings.demo,
        auth=auth_configured(secrets),
        allow_unauthenticated=allows_unauthenticated(os.environ, secrets),
        server_address=st.get_option("server.address"),
    )
    claims = {key: st.user.get(key) for key in ("is_logged_in", "email", "name")}
    roles = RoleMap.from_config(os.environ, secrets)
    return exposure, admit(exposure, roles, claims, local_user=getpass.getuser())


def keep_out(admitted: Admission, secrets: Mapping[str, Any]) -> NoReturn:
    """The whole page for someone who may not look: a sign-in button, or why not and what to do."""
    st.title("LMS Connect Health")
    if admitted.sign_in:
        st.markdown("This dashboard shows student data from many districts. Sign in with your work account "
                    "to continue.")
        for provider, label in providers(secrets):
            st.button(label, type="primary", icon=":material/login:", key=f"sign_in_{provider or 'default'}",
                      on_click=st.login, args=(provider,) if provider else ())
    else:
        st.error(admitted.refusal, icon=":material/lock:")
        if st.user.get("is_logged_in", False):
            st.button("Sign out", key="sign_out", on_click=st.logout)
    st.stop()
    raise AssertionError("unreachable: st.stop() ends the run")  # pragma: no cover


def providers(secrets: Mapping[str, Any]) -> list[tuple[str | None, str]]:
    """One sign-in button per identity provider in `[auth]`: the default one and any `[auth.<name>]`."""
    auth = secrets.get("auth") or {}
    named = [name for name, value in auth.items() if isinstance(value, Mapping)]
    default = [(None, "Sign in")] if "client_id" in auth or not named else []
    return default + [(name, f"Sign in with {name.replace('_', ' ').title()}") for name in named]


def who(exposure: Exposure, principal: Principal) -> None:
    """The signed-in person, their role and a sign-out button; or the warning that nobody signs in."""
    with st.sidebar:
        if exposure.mode is Mode.SIGN_IN:
            st.caption(f"Signed in as **{principal.name or principal.email}** ({principal.email}) · "
                       f"{principal.role.label}")
            st.button("Sign out", key="sign_out", icon=":material/logout:", on_click=st.logout)
        elif exposure.mode is Mode.LOCAL:
            st.warning(exposure.reason, icon=":material/lock_open:")
