"""`lmsdata` commands for invitations (owned by the invitations work; see lmsdata/cli/__init__.py)."""

from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    """Add this domain's commands to the `lmsdata` group."""
