"""Settings: demo mode without credentials, clear errors for wrong values."""

from pathlib import Path

import pytest

from lmsdata.config import ConfigError, load_settings
from lmsdata.demo import demo_db_path


def test_no_credentials_means_demo_mode_on_the_demo_cache() -> None:
    """The CLI without credentials reads the file the dashboard's demo writes."""
    settings = load_settings(env={})
    assert settings.demo
    assert settings.db_path == Path("cache/demo.db") == demo_db_path(Path("cache/lmsdata.db"))
    assert settings.api_url == "https://api.clever.com"
    real = load_settings(env={"CLEVER_CLIENT_ID": "id", "CLEVER_CLIENT_SECRET": "secret"})
    assert real.db_path == Path("cache/lmsdata.db")


def test_environment_wins_over_secrets_and_db_flag_wins_over_both() -> None:
    settings = load_settings(
        env={"CLEVER_CLIENT_ID": "env-id", "CLEVER_CLIENT_SECRET": "env-secret", "LMSDATA_DB": "env.db"},
        secrets={"clever": {"client_id": "secret-id", "client_secret": "s"}, "CLEVER_API_URL": "https://x.test/"},
        db_path="flag.db",
    )
    assert (settings.client_id, settings.client_secret) == ("env-id", "env-secret")
    assert settings.api_url == "https://x.test"
    assert settings.db_path == Path("flag.db")
    assert not settings.demo


def test_secret_never_in_repr() -> None:
    settings = load_settings(env={"CLEVER_CLIENT_ID": "id", "CLEVER_CLIENT_SECRET": "hunter2-secret"})
    assert "hunter2-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CLEVER_CLIENT_ID": "only-id"}, "CLEVER_CLIENT_SECRET is not set"),
        ({"CLEVER_CLIENT_SECRET": "only-secret"}, "CLEVER_CLIENT_ID is not set"),
        ({"CLEVER_API_URL": "api.clever.com"}, "CLEVER_API_URL must be an http(s) URL"),
        ({"LMSDATA_INVITATION_EXPIRY_DAYS": "two weeks"}, "whole number of days"),
        ({"SMTP_URL": "mail.example.com"}, "SMTP_URL must look like"),
    ],
)
def test_wrong_values_name_the_setting_and_the_fix(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(env=env)


def test_casework_settings_the_ticket_template_and_the_escalation_address() -> None:
    """Read once here (not by the UI from the environment), and refused in words when wrong."""
    settings = load_settings(env={"LMSDATA_TICKET_URL": "https://acme.zendesk.example/agent/tickets/{id}",
                                  "LMSDATA_ESCALATION_EMAIL": " support@Clever.example "})
    assert settings.ticket_url == "https://acme.zendesk.example/agent/tickets/{id}"
    assert settings.escalation_email == "support@Clever.example"
    assert load_settings(env={}).ticket_url == load_settings(env={}).escalation_email == ""
    with pytest.raises(ConfigError, match=r"LMSDATA_TICKET_URL must contain \{id\}"):
        load_settings(env={"LMSDATA_TICKET_URL": "https://acme.zendesk.example/agent/tickets/"})
    with pytest.raises(ConfigError, match="LMSDATA_ESCALATION_EMAIL"):
        load_settings(env={"LMSDATA_ESCALATION_EMAIL": "Clever <support@clever.example>, b@x.example"})
