"""Options and output helpers every command shares, so commands stay a few lines each."""

from __future__ import annotations

import dataclasses
import functools
import getpass
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from lmsdata import inputs
from lmsdata.config import ConfigError, Settings, load_settings
from lmsdata.csvsafe import write_rows
from lmsdata.db import MAX_ROW_ID, CacheError, usable_cache_path
from lmsdata.mail import Mailer, MailError
from lmsdata.redact import redact

F = TypeVar("F", bound=Callable[..., Any])


def db_option(func: F) -> F:
    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Cache file (default: $LMSDATA_DB or cache/lmsdata.db).",
    )(func)


def format_option(func: F) -> F:
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(["table", "json", "csv"]),
        default="table",
        show_default=True,
        help="Output format.",
    )(func)


def actor_option(func: F) -> F:
    return click.option(
        "--actor", default=None, help="Who to record in the audit log (default: the OS user)."
    )(func)


# A push, invitation or attempt id as the CLI accepts it: SQLite's row ids are 1 to 2**63 - 1.
ROW_ID = click.IntRange(1, MAX_ROW_ID)


def default_actor(actor: str | None) -> str:
    return actor or f"cli:{getpass.getuser()}"


def sandbox_option(func: F) -> F:
    return click.option(
        "--sandbox",
        "sandbox_url",
        default=None,
        metavar="URL",
        help="Talk to a running `lmsdata sandbox` at this URL instead of Clever; `demo`: the running "
        "demo's sandbox (`scripts/demo`).",
    )(func)


def clever_settings(db_path: Path | None, sandbox_url: str | None, command: str) -> Settings:
    """Settings for a command that talks to Clever (or to `--sandbox URL`); refuses plainly without credentials."""
    settings = settings_for(db_path)
    if sandbox_url == "demo":
        from lmsdata.demo import demo_settings

        demo = demo_settings(settings.db_path)
        if demo is None:
            raise click.UsageError(
                f"No running demo recorded in {settings.db_path}: start it with `scripts/demo` and keep it open."
            )
        return demo
    if sandbox_url:
        from lmsdata.sandbox.core import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

        url = inputs.http_url("--sandbox", sandbox_url, "http://127.0.0.1:8765")
        if not settings.client_id:  # the credentials `lmsdata sandbox` prints by default
            settings = dataclasses.replace(settings, client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET)
        return dataclasses.replace(settings, api_url=url, oauth_url=url)
    if settings.demo:
        raise click.UsageError(
            "No Clever credentials are configured. Set CLEVER_CLIENT_ID and CLEVER_CLIENT_SECRET (environment or "
            f".streamlit/secrets.toml), or start `lmsdata sandbox` and run `lmsdata {command} --sandbox URL` with "
            "the URL it prints."
        )
    return settings


def mailer_for(settings: Settings, what: str) -> Mailer:
    """The mail server for sending `what` ("an invitation"): SMTP_URL, or the running demo's mail sink."""
    if not settings.smtp_url and settings.demo:  # the running demo's mail sink, if it recorded one
        from lmsdata.demo import demo_settings

        running = demo_settings(settings.db_path)
        settings = running or settings
    if not settings.smtp_url:
        demo = (" The dashboard's demo sends to its built-in local mail sink instead; while `scripts/demo` runs, "
                "this command uses that sink too.") if settings.demo else ""  # fmt: skip
        raise click.UsageError(
            f"Sending {what} needs a mail server: set SMTP_URL, for example "
            f"smtp://user:password@mail.example.org:587 (STARTTLS) or smtps://mail.example.org:465.{demo}"
        )
    try:
        return Mailer.from_url(settings.smtp_url)
    except MailError as exc:
        raise click.UsageError(str(exc)) from None


def settings_for(db_path: Path | None) -> Settings:
    """Load settings, turning a bad value into a clean CLI error."""
    try:
        return load_settings(db_path=db_path)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc


def cached_settings(db_path: Path | None) -> Settings:
    """Settings for a command that only reads the cache; exits 2 with a plain line when there is none yet."""
    settings = settings_for(db_path)
    if not usable_cache_path(settings.db_path).exists():
        click.echo(f"No cache at {settings.db_path} yet: run `lmsdata sync` first.", err=True)
        sys.exit(2)
    return settings


def friendly_errors(func: F) -> F:
    """Config and cache problems end in one readable line and exit code 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, CacheError, inputs.InputError) as exc:
            click.echo(f"Error: {redact(str(exc))}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def emit(rows: Sequence[Mapping[str, Any]], output_format: str, columns: Iterable[str] | None = None) -> None:
    """Print rows as an aligned table, JSON, or CSV on stdout."""
    cols = list(columns) if columns is not None else (list(rows[0]) if rows else [])
    if output_format == "json":
        click.echo(json.dumps([{c: r.get(c) for c in cols} for r in rows], indent=2, default=str))
        return
    if output_format == "csv":
        write_rows(sys.stdout, ({c: _cell(v) if isinstance(v, (dict, list)) else v for c, v in r.items()}
                                for r in rows), cols)
        return
    if not rows:
        click.echo("(no rows)")
        return
    cells = [[_cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)
