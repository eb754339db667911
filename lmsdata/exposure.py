"""The safe default: real student data is shown only behind a sign-in, or explicitly to this machine alone.

Streamlit listens on every interface unless told otherwise, so starting the dashboard with real
Clever credentials and no `[auth]` section would publish FERPA data to the network. The dashboard
asks `decide` before drawing anything and shows `Exposure.reason` when the answer is REFUSED.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lmsdata.access import Principal, Role, RoleMap
from lmsdata.config import ConfigError

ALLOW_SETTING = "LMSDATA_ALLOW_UNAUTHENTICATED"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


class Mode(enum.Enum):
    DEMO = "demo"          # sandbox data only: no sign-in, a demo admin, a banner that says so
    SIGN_IN = "sign_in"    # [auth] configured: everyone signs in and gets the role configuration gives
    LOCAL = "local"        # real data without sign-in, explicitly allowed, served to this machine only
    REFUSED = "refused"    # real data, no sign-in, not allowed (or not bound to localhost): show nothing


@dataclass(frozen=True)
class Exposure:
    mode: Mode
    reason: str  # one or two sentences for the page: why, and what to change


@dataclass(frozen=True)
class Admission:
    """Who may look: a principal, or why not (`sign_in`: show the sign-in page; else `refusal`)."""

    principal: Principal | None
    sign_in: bool = False
    refusal: str = ""


DEMO_ADMIN = Principal("demo", Role.ADMIN, "Demo admin")


def auth_configured(secrets: Mapping[str, Any] | None) -> bool:
    """True when secrets.toml has an `[auth]` section (Streamlit's OIDC sign-in) with something in it."""
    return bool((secrets or {}).get("auth"))


def allows_unauthenticated(env: Mapping[str, str], secrets: Mapping[str, Any] | None) -> bool:
    """`LMSDATA_ALLOW_UNAUTHENTICATED=1` (environment or secrets.toml) or `[access] allow_unauthenticated = true`."""
    secrets = secrets or {}
    access = secrets.get("access") or {}
    for source, value in (
        (ALLOW_SETTING, env.get(ALLOW_SETTING)),
        (ALLOW_SETTING, secrets.get(ALLOW_SETTING)),
        ("[access] allow_unauthenticated", access.get("allow_unauthenticated") if isinstance(access, Mapping)
         else None),
    ):
        if value is None:
            continue
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text not in _FALSE:
            raise ConfigError(f"{source} must be true or false (1 or 0), got {value!r}")
    return False


def is_loopback(address: str | None) -> bool:
    """Whether the server listens on this machine only (Streamlit's `server.address`; empty = everywhere)."""
    text = (address or "").strip().strip("[]")
    if text == "localhost":
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def decide(*, demo: bool, auth: bool, allow_unauthenticated: bool, server_address: str | None) -> Exposure:
    """Whether (and how) this dashboard may show its data, from what is configured."""
    if auth:
        return Exposure(Mode.SIGN_IN, "Sign in to continue.")
    if demo:
        return Exposure(Mode.DEMO, "Demo mode: the embedded Clever sandbox (made-up data), no sign-in, every action "
                                   "allowed. Configure [auth] and the role lists before using real credentials.")
    if not allow_unauthenticated:
        return Exposure(Mode.REFUSED, (
            "Real Clever credentials are configured but sign-in is not, so no data is shown. Add an [auth] "
            "section to .streamlit/secrets.toml and the role lists (docs/access.md), or, on a machine only you "
            f"use, set {ALLOW_SETTING}=1 and keep the server on localhost."
        ))
    if not is_loopback(server_address):
        where = f"on {server_address}" if (server_address or "").strip() else "on every network interface"
        return Exposure(Mode.REFUSED, (
            f"{ALLOW_SETTING} allows use without sign-in only from this machine, but the server listens {where}. "
            'Set address = "127.0.0.1" under [server] in .streamlit/config.toml (or start it with '
            "--server.address 127.0.0.1), or configure [auth] (docs/access.md)."
        ))
    return Exposure(Mode.LOCAL, (
        f"No sign-in ({ALLOW_SETTING} is set): this dashboard shows real data to anyone using this machine, "
        "and every action is recorded as the local user."
    ))


def admit(exposure: Exposure, roles: RoleMap, user: Mapping[str, Any], *, local_user: str) -> Admission:
    """The person behind this session, from the sign-in claims (`st.user`) and the role lists.

    A signed-in person with no role is refused by name, so they know whom to ask; outside sign-in
    mode everyone is the same all-powerful local person (demo admin or the machine's user).
    """
    if exposure.mode is Mode.DEMO:
        return Admission(DEMO_ADMIN)
    if exposure.mode is Mode.LOCAL:
        return Admission(Principal(f"local:{local_user}", Role.ADMIN, local_user))
    if exposure.mode is Mode.REFUSED:
        return Admission(None, refusal=exposure.reason)
    if not user.get("is_logged_in", False):
        return Admission(None, sign_in=True)
    email = str(user.get("email") or "").strip()
    if not email:
        return Admission(None, refusal=(
            "The sign-in did not say who you are (no e-mail address). Ask your administrator to add the "
            "email scope and claim to this app's sign-in settings."
        ))
    principal = roles.principal(email, str(user.get("name") or ""))
    if principal is None:
        where = "no e-mail address or domain has a role yet" if roles.empty else "it has no role here"
        return Admission(None, refusal=(
            f"You are signed in as {email}, but {where}. Ask an admin of this dashboard to add you to the "
            "viewers, operators or admins (docs/access.md)."
        ))
    return Admission(principal)
