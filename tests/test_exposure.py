"""The safe default: real data is shown behind a sign-in, or (explicitly allowed) to this machine alone."""

from __future__ import annotations

import pytest

from lmsdata.access import Principal, Role, RoleMap
from lmsdata.config import ConfigError
from lmsdata.exposure import (
    DEMO_ADMIN,
    Exposure,
    Mode,
    admit,
    allows_unauthenticated,
    auth_configured,
    decide,
    is_loopback,
)

AUTH = {"auth": {"client_id": "x", "client_secret": "y", "redirect_uri": "http://localhost:8501/oauth2callback"}}


@pytest.mark.parametrize(
    ("demo", "auth", "allow", "address", "mode"),
    [
        (False, True, False, None, Mode.SIGN_IN),          # real data behind the sign-in, wherever it listens
        (True, True, False, "0.0.0.0", Mode.SIGN_IN),      # a configured sign-in applies to the demo too
        (True, False, False, None, Mode.DEMO),             # the embedded demo runs without sign-in
        (False, False, False, "127.0.0.1", Mode.REFUSED),  # real credentials, no [auth], not allowed
        (False, False, True, "127.0.0.1", Mode.LOCAL),
        (False, False, True, "localhost", Mode.LOCAL),
        (False, False, True, "::1", Mode.LOCAL),
        (False, False, True, None, Mode.REFUSED),          # Streamlit's default: every interface
        (False, False, True, "0.0.0.0", Mode.REFUSED),
        (False, False, True, "192.168.1.20", Mode.REFUSED),
    ],
)
def test_who_sees_what(demo: bool, auth: bool, allow: bool, address: str | None, mode: Mode) -> None:
    assert decide(demo=demo, auth=auth, allow_unauthenticated=allow, server_address=address).mode is mode


def test_refusals_say_what_to_change() -> None:
    no_auth = decide(demo=False, auth=False, allow_unauthenticated=False, server_address="127.0.0.1")
    assert "Real Clever credentials are configured but sign-in is not, so no data is shown" in no_auth.reason
    assert "[auth]" in no_auth.reason and "LMSDATA_ALLOW_UNAUTHENTICATED=1" in no_auth.reason
    public = decide(demo=False, auth=False, allow_unauthenticated=True, server_address="")
    assert "listens on every network interface" in public.reason
    assert 'address = "127.0.0.1" under [server] in .streamlit/config.toml' in public.reason
    assert "listens on 0.0.0.0" in decide(demo=False, auth=False, allow_unauthenticated=True,
                                          server_address="0.0.0.0").reason  # fmt: skip


@pytest.mark.parametrize(
    ("env", "secrets", "allowed"),
    [
        ({}, {}, False),
        ({"LMSDATA_ALLOW_UNAUTHENTICATED": "1"}, {}, True),
        ({"LMSDATA_ALLOW_UNAUTHENTICATED": "true"}, {}, True),
        ({"LMSDATA_ALLOW_UNAUTHENTICATED": "0"}, {}, False),
        ({}, {"LMSDATA_ALLOW_UNAUTHENTICATED": "yes"}, True),
        ({}, {"access": {"allow_unauthenticated": True}}, True),
        ({}, {"access": {"allow_unauthenticated": False}}, False),
        ({}, {"access": {"operators": ["partner.example"]}}, False),
    ],
)
def test_unauthenticated_use_is_allowed_only_explicitly(env: dict, secrets: dict, allowed: bool) -> None:
    assert allows_unauthenticated(env, secrets) is allowed


def test_a_mistyped_allow_setting_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="LMSDATA_ALLOW_UNAUTHENTICATED must be true or false"):
        allows_unauthenticated({"LMSDATA_ALLOW_UNAUTHENTICATED": "maybe"}, {})


def test_auth_is_configured_by_a_non_empty_auth_section() -> None:
    assert auth_configured(AUTH)
    assert not auth_configured({"auth": {}})
    assert not auth_configured(None)


@pytest.mark.parametrize(("address", "loopback"), [("127.0.0.2", True), ("[::1]", True), ("example.com", False)])
def test_loopback_addresses(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


ROLES = RoleMap.from_config({"LMSDATA_OPERATORS": "partner.example", "LMSDATA_VIEWERS": "lee@district.example"})
SIGN_IN = Exposure(Mode.SIGN_IN, "")


@pytest.mark.parametrize(
    ("user", "principal"),
    [
        ({"is_logged_in": True, "email": "Ana@Partner.example", "name": "Ana"},
         Principal("ana@partner.example", Role.OPERATOR, "Ana")),
        ({"is_logged_in": True, "email": "lee@district.example"}, Principal("lee@district.example", Role.VIEWER)),
    ],
)  # fmt: skip
def test_signed_in_people_get_the_role_configuration_gives(user: dict, principal: Principal) -> None:
    assert admit(SIGN_IN, ROLES, user, local_user="pat").principal == principal


def test_visitors_sign_in_first_and_people_without_a_role_are_refused_by_name() -> None:
    assert admit(SIGN_IN, ROLES, {}, local_user="pat").sign_in
    assert admit(SIGN_IN, ROLES, {"is_logged_in": False, "email": "ana@partner.example"}, local_user="pat").sign_in
    stranger = admit(SIGN_IN, ROLES, {"is_logged_in": True, "email": "eve@elsewhere.example"}, local_user="pat")
    assert (stranger.principal, stranger.sign_in) == (None, False)
    assert stranger.refusal.startswith("You are signed in as eve@elsewhere.example, but it has no role here.")
    nobody = admit(SIGN_IN, RoleMap(), {"is_logged_in": True, "email": "ana@partner.example"}, local_user="pat")
    assert "no e-mail address or domain has a role yet" in nobody.refusal
    anonymous = admit(SIGN_IN, ROLES, {"is_logged_in": True}, local_user="pat")
    assert "no e-mail address" in anonymous.refusal and anonymous.principal is None


def test_demo_and_local_use_act_as_one_admin_and_refused_exposure_admits_nobody() -> None:
    assert admit(Exposure(Mode.DEMO, ""), ROLES, {}, local_user="pat").principal == DEMO_ADMIN
    local = admit(Exposure(Mode.LOCAL, ""), ROLES, {}, local_user="pat").principal
    assert local == Principal("local:pat", Role.ADMIN, "pat")
    refused = admit(Exposure(Mode.REFUSED, "no sign-in configured"), ROLES,
                    {"is_logged_in": True, "email": "ana@partner.example"}, local_user="pat")  # fmt: skip
    assert (refused.principal, refused.refusal) == (None, "no sign-in configured")
