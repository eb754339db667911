"""Who may do what: roles from configuration, checked inside the library functions that act.

A `Principal` is a signed-in person with a role; the dashboard passes one to every action, and the
action refuses (and audits the refusal) when the role is not enough. A plain string actor is the
trusted local operator (the CLI: whoever can run it can already read the cache file).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lmsdata.config import ConfigError


class Role(enum.IntEnum):
    """Ordered: each role may do everything the one below it may."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class Permission(enum.Enum):
    """An action someone may take; `least_role` says who may."""

    VIEW = "view the dashboard"
    REVEAL_ONE = "reveal a student's details"  # one deliberate, audited click
    RETRY = "retry grade pushes"
    INVITE = "send, resend or cancel invitations"
    SYNC = "run a sync"
    CASEWORK = "edit cases"
    REVEAL_ALL = "reveal student data in bulk"
    AUDIT_ALL = "see everyone's audit log"

    @property
    def verb(self) -> str:
        return str(self.value)

    @property
    def least_role(self) -> Role:
        return _LEAST_ROLE[self]


_LEAST_ROLE = {
    Permission.VIEW: Role.VIEWER,
    Permission.REVEAL_ONE: Role.VIEWER,
    Permission.RETRY: Role.OPERATOR,
    Permission.INVITE: Role.OPERATOR,
    Permission.SYNC: Role.OPERATOR,
    Permission.CASEWORK: Role.OPERATOR,
    Permission.REVEAL_ALL: Role.ADMIN,
    Permission.AUDIT_ALL: Role.ADMIN,
}


class AccessDenied(PermissionError):
    """The signed-in person's role does not allow this action; the message says which role does."""


@dataclass(frozen=True)
class Principal:
    email: str
    role: Role
    name: str = ""

    def can(self, permission: Permission) -> bool:
        return self.role >= permission.least_role

    def __str__(self) -> str:
        return self.email


Actor = str | Principal


def actor_name(actor: Actor) -> str:
    """What the audit log records: the signed-in e-mail, or the CLI's actor string."""
    return actor.email if isinstance(actor, Principal) else actor


def require(actor: Actor, permission: Permission) -> str:
    """Return the actor's audit name, or raise AccessDenied if a signed-in role is not enough."""
    if isinstance(actor, Principal) and not actor.can(permission):
        needed = permission.least_role.label
        raise AccessDenied(
            f"{actor.email} is a {actor.role.label} and may not {permission.verb}; "
            f"ask an admin for the {needed} role."
        )
    return actor_name(actor)


def audit_scope(viewer: Actor) -> str | None:
    """Whose audit entries `viewer` may read: None for everyone's, else only their own audit name."""
    if isinstance(viewer, Principal) and not viewer.can(Permission.AUDIT_ALL):
        return viewer.email
    return None


@dataclass(frozen=True)
class RoleMap:
    """E-mail addresses and domains mapped to roles; an exact address beats a domain rule."""

    addresses: Mapping[str, Role] = field(default_factory=dict)
    domains: Mapping[str, Role] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.addresses or self.domains)

    def role_for(self, email: str | None) -> Role | None:
        if not email or "@" not in email:
            return None
        email = email.strip().lower()
        if email in self.addresses:
            return self.addresses[email]
        return self.domains.get(email.rsplit("@", 1)[1])

    def principal(self, email: str | None, name: str = "") -> Principal | None:
        role = self.role_for(email)
        return Principal(email=str(email).strip().lower(), role=role, name=name) if role and email else None

    @classmethod
    def from_config(cls, env: Mapping[str, str], secrets: Mapping[str, Any] | None = None) -> RoleMap:
        """Read `[access] admins/operators/viewers` from secrets and `LMSDATA_ADMINS`… from the environment.

        Each entry is an address (`ana@example.com`) or a domain (`@example.com` or `example.com`).
        """
        table = (secrets or {}).get("access", {}) or {}
        addresses: dict[str, Role] = {}
        domains: dict[str, Role] = {}
        for role in Role:  # ascending, so a higher role given for the same entry wins
            plural = f"{role.label}s"
            entries = [*_entries(table.get(plural), f"[access] {plural}"),
                       *_entries(env.get(f"LMSDATA_{plural.upper()}"), f"LMSDATA_{plural.upper()}")]
            for entry in entries:
                if "@" in entry.lstrip("@"):
                    addresses[entry] = role
                else:
                    domains[entry.lstrip("@")] = role
        return cls(addresses, domains)


def _entries(value: Any, source: str) -> Iterable[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ConfigError(f"{source} must be a list of e-mail addresses or domains, got {value!r}")
    cleaned = [str(item).strip().lower() for item in items if str(item).strip()]
    for entry in cleaned:
        if " " in entry or "." not in entry.rsplit("@", 1)[-1]:
            raise ConfigError(f"{source}: {entry!r} is neither an e-mail address nor a domain such as example.com")
    return cleaned
