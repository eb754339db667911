"""The `lmsdata` command: a thin shell over the library. Each domain registers its commands."""

from __future__ import annotations

import click

from lmsdata import __version__
from lmsdata.cli import (
    alerts,
    backup,
    bundle,
    cases,
    fixrequests,
    invitations,
    pushes,
    reconcile,
    sandbox,
    sync,
    worker,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="lmsdata")
def cli() -> None:
    """LMS Connect Health: sync Clever LMS Connect state into a local cache and act on it."""


for module in (sandbox, sync, pushes, invitations, reconcile, backup, worker, cases, fixrequests, bundle, alerts):
    module.register(cli)


def main() -> None:
    cli()
