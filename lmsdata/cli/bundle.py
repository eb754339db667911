"""`lmsdata bundle DISTRICT_ID | --cluster KEY`: the escalation bundle for Clever support, from the cache."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from lmsdata.cli._common import actor_option, cached_settings, db_option, default_actor, friendly_errors


def register(cli: click.Group) -> None:
    """Add this domain's commands to the `lmsdata` group."""
    cli.add_command(bundle_command)


@click.command("bundle")
@click.argument("district_id", required=False)
@click.option("--cluster", "cluster", default=None, metavar="KEY",
              help="A failure cluster instead of a district (its key, or cluster:KEY, as the Failed pushes page "
                   "shows it).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the ZIP here (default: escalation-SUBJECT.zip in the current folder).")
@click.option("--format", "output_format", type=click.Choice(["zip", "json"]), default="zip", show_default=True,
              help="zip: write the ZIP and print the Markdown summary; json: print every part as JSON.")
@click.option("--attempts", type=click.IntRange(1, 1000), default=20, show_default=True,
              help="How many of the newest failed attempts to include.")
@db_option
@actor_option
@friendly_errors
def bundle_command(district_id: str | None, cluster: str | None, out: Path | None, output_format: str,
                   attempts: int, db_path: Path | None, actor: str | None) -> None:
    """Package a district (or a failure cluster) for Clever support: redacted, students masked; audited."""
    from lmsdata import bundle
    from lmsdata.db import connect

    if bool(district_id) == bool(cluster):
        raise click.UsageError("give a DISTRICT_ID or --cluster KEY, not both")
    settings = cached_settings(db_path)
    secrets = [settings.client_secret]
    try:
        with connect(settings.db_path) as db:
            made = (bundle.for_cluster(db, cluster, attempts=attempts, secrets=secrets) if cluster
                    else bundle.for_district(db, str(district_id), attempts=attempts, secrets=secrets))
    except bundle.BundleError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    bundle.record_download(settings.db_path, default_actor(actor), made)
    if output_format == "json":
        click.echo(json.dumps({"subject": made.subject, "title": made.title, "summary": made.summary, **made.parts},
                              indent=2, default=str))
        return
    target = out or Path(made.filename)
    target.write_bytes(made.zip_bytes())
    click.echo(made.summary)
    click.echo(f"Wrote {target} ({len(made.files)} files).", err=True)
