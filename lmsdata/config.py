"""Settings from the environment or Streamlit secrets, validated once with messages a person can act on.

No credentials means demo mode: the dashboard runs on the bundled Clever sandbox.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmsdata import inputs

DEFAULT_API_URL = "https://api.clever.com"
DEFAULT_OAUTH_URL = "https://clever.com"
DEFAULT_DB_PATH = Path("cache") / "lmsdata.db"
# Without credentials the dashboard runs the demo and the CLI reads the same file: one rule for both.
DEMO_DB_PATH = DEFAULT_DB_PATH.with_name("demo.db")


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names the setting and the fix."""


# The longest invitation expiry accepted: ten years (a typo such as 99999999999 would overflow dates).
MAX_EXPIRY_DAYS = 3650


@dataclass(frozen=True)
class Settings:
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    api_url: str = DEFAULT_API_URL
    oauth_url: str = DEFAULT_OAUTH_URL
    db_path: Path = DEFAULT_DB_PATH
    smtp_url: str = field(default="", repr=False)
    mail_from: str = "LMS Connect Health <support@example.com>"
    invitation_expiry_days: int = 14
    ticket_url: str = ""  # LMSDATA_TICKET_URL: a template such as https://x.zendesk.com/agent/tickets/{id}
    escalation_email: str = ""  # LMSDATA_ESCALATION_EMAIL: where escalation bundles for Clever support go

    @property
    def demo(self) -> bool:
        """True when no Clever credentials are configured: use the embedded sandbox."""
        return not (self.client_id and self.client_secret)


def _flatten(secrets: Mapping[str, Any] | None) -> dict[str, str]:
    """Accept `KEY = "v"` at the top of secrets.toml or inside a `[clever]`/`[smtp]` table."""
    flat: dict[str, str] = {}
    for key, value in (secrets or {}).items():
        if isinstance(value, Mapping):
            for inner, inner_value in value.items():
                flat[f"{key}_{inner}".upper()] = str(inner_value)
        else:
            flat[str(key).upper()] = str(value)
    return flat


def load_settings(
    env: Mapping[str, str] | None = None,
    secrets: Mapping[str, Any] | None = None,
    db_path: str | Path | None = None,
) -> Settings:
    """Environment wins over secrets; an explicit `db_path` (the `--db` flag) wins over both."""
    try:
        return _settings(env, secrets, db_path)
    except inputs.InputError as exc:
        raise ConfigError(str(exc)) from None


def _settings(env: Mapping[str, str] | None, secrets: Mapping[str, Any] | None, db_path: str | Path | None) -> Settings:
    values = _flatten(secrets)
    values.update({k: v for k, v in (os.environ if env is None else env).items() if v != ""})

    client_id = values.get("CLEVER_CLIENT_ID", "")
    client_secret = values.get("CLEVER_CLIENT_SECRET", "")
    if bool(client_id) != bool(client_secret):
        missing = "CLEVER_CLIENT_SECRET" if client_id else "CLEVER_CLIENT_ID"
        raise ConfigError(f"{missing} is not set: give both the Clever client id and secret, or neither for the demo")

    expiry = inputs.whole_number("LMSDATA_INVITATION_EXPIRY_DAYS", values.get("LMSDATA_INVITATION_EXPIRY_DAYS", "14"),
                                 low=1, high=MAX_EXPIRY_DAYS, unit="days")  # fmt: skip
    smtp_url = values.get("SMTP_URL", "")
    if smtp_url:
        try:
            inputs.url("SMTP_URL", smtp_url, ("smtp", "smtps"), "smtp://user:password@host:587")
        except inputs.InputError:  # never echo the value: it holds the SMTP password
            raise ConfigError("SMTP_URL must look like smtp://user:password@host:587 or smtps://host:465 "
                              "(a host, a port from 1 to 65535, no spaces or line breaks)") from None  # fmt: skip

    ticket_url = values.get("LMSDATA_TICKET_URL", "")
    if ticket_url and "{id}" not in ticket_url:
        raise ConfigError("LMSDATA_TICKET_URL must contain {id} where the ticket id goes, for example "
                          "https://example.zendesk.com/agent/tickets/{id}")
    escalation = values.get("LMSDATA_ESCALATION_EMAIL", "").strip()
    if escalation:
        _plain_address("LMSDATA_ESCALATION_EMAIL", escalation)

    return Settings(
        client_id=client_id,
        client_secret=client_secret,
        api_url=inputs.http_url("CLEVER_API_URL", values.get("CLEVER_API_URL", DEFAULT_API_URL)),
        oauth_url=inputs.http_url("CLEVER_OAUTH_URL", values.get("CLEVER_OAUTH_URL", DEFAULT_OAUTH_URL),
                                  "https://clever.com"),
        db_path=Path(db_path or values.get("LMSDATA_DB") or (DEFAULT_DB_PATH if client_id else DEMO_DB_PATH)),
        smtp_url=smtp_url,
        mail_from=inputs.header_text("MAIL_FROM", values.get("MAIL_FROM", Settings.mail_from)),
        invitation_expiry_days=expiry,
        ticket_url=ticket_url,
        escalation_email=escalation,
    )


def _plain_address(where: str, value: str) -> None:
    """One e-mail address (the invitation rule), named by its setting when it is wrong."""
    from lmsdata.invitations import InvitationError, validate_email

    try:
        validate_email(value)
    except InvitationError as exc:
        raise ConfigError(f"{where}: {exc}") from None
