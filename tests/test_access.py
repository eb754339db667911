"""Roles from configuration, and the permission check every acting library function makes."""

import re

import pytest

from lmsdata.access import AccessDenied, Permission, Principal, Role, RoleMap, actor_name, require
from lmsdata.config import ConfigError

ROLES = RoleMap.from_config(
    env={"LMSDATA_VIEWERS": "@district-support.example", "LMSDATA_ADMINS": "boss@partner.example"},
    secrets={"access": {"operators": ["partner.example", "ops@district-support.example"]}},
)


@pytest.mark.parametrize(
    ("email", "role"),
    [
        ("boss@partner.example", Role.ADMIN),
        ("Boss@Partner.Example ", Role.ADMIN),
        ("ana@partner.example", Role.OPERATOR),
        ("ops@district-support.example", Role.OPERATOR),  # an exact address beats its domain's rule
        ("lee@district-support.example", Role.VIEWER),
        ("mallory@elsewhere.example", None),
        ("", None),
        (None, None),
    ],
)
def test_addresses_and_domains_map_to_roles(email: str | None, role: Role | None) -> None:
    assert ROLES.role_for(email) == role


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.VIEWER, {Permission.VIEW, Permission.REVEAL_ONE}),
        (Role.OPERATOR, {Permission.VIEW, Permission.REVEAL_ONE, Permission.RETRY, Permission.INVITE,
                         Permission.SYNC, Permission.CASEWORK}),
        (Role.ADMIN, set(Permission)),
    ],
)
def test_each_role_may_do_exactly_its_actions(role: Role, allowed: set[Permission]) -> None:
    principal = Principal("someone@partner.example", role)
    assert {p for p in Permission if principal.can(p)} == allowed
    assert len(Permission) == 8  # every action is its own member, none an alias of another


def test_refusal_names_the_person_the_action_and_the_role_needed() -> None:
    viewer = Principal("lee@district-support.example", Role.VIEWER)
    expected = (
        "lee@district-support.example is a viewer and may not retry grade pushes; ask an admin for the operator role"
    )
    with pytest.raises(AccessDenied, match=re.escape(expected)):
        require(viewer, Permission.RETRY)


def test_cli_actor_string_is_trusted_and_recorded_as_is() -> None:
    assert require("cli:ana", Permission.REVEAL_ALL) == "cli:ana"
    assert actor_name(Principal("ana@partner.example", Role.OPERATOR)) == "ana@partner.example"


@pytest.mark.parametrize("bad", ["not an address", "localhost", 42])
def test_bad_role_entries_are_configuration_errors(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"\[access\] operators"):
        RoleMap.from_config(env={}, secrets={"access": {"operators": bad if isinstance(bad, int) else [bad]}})
