"""`lmsdata sandbox`: serve the local Clever v3.1 sandbox until stopped."""

from __future__ import annotations

import signal
import threading

import click

from lmsdata.sandbox.core import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from lmsdata.sandbox.data import SCALES
from lmsdata.sandbox.faults import PROFILES


def register(cli: click.Group) -> None:
    """Add this domain's commands to the `lmsdata` group."""
    cli.add_command(sandbox)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8700, show_default=True, type=click.IntRange(0, 65535),
              help="Port (0 picks a free one).")
@click.option("--seed", default=7, show_default=True, type=int, help="Same seed, same data.")
@click.option("--scale", default="demo", show_default=True, type=click.Choice(SCALES))
@click.option("--faults", default="none", show_default=True, type=click.Choice(PROFILES),
              help="flaky: a few 5xx, slow and dropped replies; hostile: 429 storms, broken bodies, a revoked token.")
@click.option("--rate-limit", default=1200, show_default=True, type=click.IntRange(1),
              help="Requests per minute per token.")
@click.option("--slow-s", default=2.0, show_default=True, type=click.FloatRange(0),
              help="How long a 'slow' fault stalls a reply (seconds).")
@click.option("--storm-requests", default=3, show_default=True, type=click.IntRange(1),
              help="How many requests of a token in a row a hostile 429 storm answers.")
@click.option("--client-id", default=DEFAULT_CLIENT_ID, show_default=True)
@click.option("--client-secret", default=DEFAULT_CLIENT_SECRET, show_default=True)
def sandbox(host: str, port: int, seed: int, scale: str, faults: str, rate_limit: int, slow_s: float,
            storm_requests: int, client_id: str, client_secret: str) -> None:
    """Serve a local Clever API v3.1 (OAuth, Data API, Events, LMS Connect) with generated districts."""
    from lmsdata.sandbox import Sandbox, serve

    box = Sandbox(seed=seed, scale=scale, faults=faults, rate_limit=rate_limit, client_id=client_id,
                  client_secret=client_secret, slow_s=slow_s, storm_requests=storm_requests)
    try:
        server = serve(box, host=host, port=port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    click.echo(f"Clever sandbox ({scale}, faults={faults}, {len(box.district_ids())} districts, "
               f"{rate_limit} requests/min per token)")
    click.echo(f"  base URL:       {server.url}   (use it for both CLEVER_API_URL and CLEVER_OAUTH_URL)")
    click.echo(f"  client id:      {client_id}")
    click.echo(f"  client secret:  {client_secret}")
    click.echo(f"  control plane:  {server.url}/__sandbox/stats")
    click.echo("Press Ctrl+C to stop.")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # `kill` stops it as cleanly as Ctrl+C
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        click.echo("Stopping.")
        server.close()
