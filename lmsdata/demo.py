"""The embedded default: a demo cache built from the in-process Clever sandbox, no credentials needed.

`start()` serves a sandbox (seeded, so every start has the same districts) on 127.0.0.1 and a local
mail sink; `build()` fills an empty cache through the real code path — a full sync over HTTP,
realistic grade-push traffic, a few invitations — so the demo exercises exactly what production
runs. Later starts reuse the cache and re-create the sandbox from the same seed (`restore` replays
the partner traffic into a scratch cache), so "Sync now", retries and invitations keep working.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lmsdata import audit
from lmsdata.config import DEFAULT_DB_PATH, Settings
from lmsdata.db import bump_data_version, connect

DEMO_SEED = 7
DEMO_CLIENT_ID = "demo-client"
DEMO_CLIENT_SECRET = "demo-sandbox-secret"  # the sandbox's own made-up credential, not a real one
DEMO_ACTOR = "demo"
DEMO_INVITATIONS = 3
_BUILT_KEY = "demo_built_at"
_build_lock = threading.Lock()

Progress = Callable[[float, str], None]


@dataclass
class DemoEnvironment:
    """A running sandbox, its HTTP server and a mail sink, plus settings that point at them."""

    sandbox: Any  # lmsdata.sandbox.Sandbox
    server: Any  # lmsdata.sandbox.serve(...) result: .url, .close()
    mail_sink: Any  # lmsdata.mail.MailSink
    settings: Settings

    @property
    def db_path(self) -> Path:
        return self.settings.db_path

    def close(self) -> None:
        self.server.close()
        self.mail_sink.close()


def demo_db_path(configured: str | Path) -> Path:
    """The demo keeps its own file next to the default cache, so it never mixes with real data;
    an explicitly configured path (LMSDATA_DB) is used as given."""
    configured = Path(configured)
    return configured.with_name("demo.db") if configured == DEFAULT_DB_PATH else configured


def start(db_path: str | Path, *, seed: int = DEMO_SEED, scale: str = "demo") -> DemoEnvironment:
    """Serve a fresh sandbox on a free loopback port and open a mail sink."""
    from lmsdata.mail import MailSink
    from lmsdata.sandbox import Sandbox, serve

    sandbox = Sandbox(seed=seed, scale=scale, faults="none", client_id=DEMO_CLIENT_ID,
                      client_secret=DEMO_CLIENT_SECRET)
    server = serve(sandbox, host="127.0.0.1", port=0)
    sink = MailSink()
    settings = replace(
        Settings(),
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        api_url=server.url,
        oauth_url=server.url,
        db_path=Path(db_path),
        smtp_url=sink.url,
    )
    return DemoEnvironment(sandbox=sandbox, server=server, mail_sink=sink, settings=settings)


def is_built(db_path: str | Path) -> bool:
    if not Path(db_path).exists():
        return False
    with connect(db_path) as db:
        return db.execute("SELECT 1 FROM meta WHERE key = ?", [_BUILT_KEY]).fetchone() is not None


def build(env: DemoEnvironment, on_progress: Progress | None = None) -> None:
    """Fill the demo cache once (two sessions starting together build it once)."""
    report = on_progress or (lambda share, text: None)
    with _build_lock:
        if is_built(env.db_path):
            return
        now = datetime.now(UTC)
        _replay(env, env.db_path, report, now)
        report(0.8, "Pulling what changed since (an incremental sync)")
        _sync(env, env.db_path, full=False)
        report(0.9, "Sending a few LMS Connect invitations")
        send_demo_invitations(env)
        with connect(env.db_path) as db, db.conn:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [_BUILT_KEY, now.isoformat()])
            audit.record(db, actor=DEMO_ACTOR, action="demo_build", target=str(env.db_path), outcome="ok",
                         params={"seed": DEMO_SEED})
            bump_data_version(db)
        report(1.0, "Done")


def restore(env: DemoEnvironment) -> None:
    """Bring a fresh sandbox to the state the existing demo cache was built against.

    The partner traffic created assignments (with ids derived from the seed and their order) and
    matched some students; replaying it, with the same clock, into a scratch cache recreates exactly
    those, so retries of the cached pushes reach the assignments and students they were built on.
    """
    with connect(env.db_path) as db:
        built_at = db.execute("SELECT value FROM meta WHERE key = ?", [_BUILT_KEY]).fetchone()[0]
    with tempfile.TemporaryDirectory(prefix="lmsdata-demo-") as scratch:
        _replay(env, Path(scratch) / "replay.db", lambda share, text: None, datetime.fromisoformat(built_at))


def _replay(env: DemoEnvironment, db_path: Path, report: Progress, now: datetime) -> None:
    """A full sync, then a few days of a partner app pushing grades (the sandbox changes too)."""
    from lmsdata.client import CleverClient
    from lmsdata.pushes.demo import generate_demo_traffic

    _sync(env, db_path, full=True, report=report)
    report(0.6, "Pushing grades the way a partner app does")
    with CleverClient.from_settings(replace(env.settings, db_path=db_path)) as client:
        generate_demo_traffic(client, env.sandbox, db_path, seed=DEMO_SEED, now=now)


def _sync(env: DemoEnvironment, db_path: Path, *, full: bool, report: Progress | None = None) -> None:
    from lmsdata.client import CleverClient
    from lmsdata.sync import sync

    def progress(p: Any) -> None:
        if report is not None:
            report(0.6 * p.districts_done / max(p.districts_total, 1),
                   f"Pulled {p.districts_done} of {p.districts_total} districts")

    with CleverClient.from_settings(replace(env.settings, db_path=db_path)) as client:
        sync(client, db_path, full=full, actor=DEMO_ACTOR, on_progress=progress)


def send_demo_invitations(env: DemoEnvironment) -> None:
    """Invite the first few districts that have not set up LMS Connect, as support staff would."""
    from lmsdata.invitations import invite
    from lmsdata.mail import Mailer

    with connect(env.db_path) as db:
        waiting = [
            row[0]
            for row in db.execute(
                "SELECT id FROM districts WHERE COALESCE(lms_state, '') = '' AND contact_email IS NOT NULL "
                "ORDER BY name LIMIT ?",
                [DEMO_INVITATIONS],
            )
        ]
    mailer = Mailer.from_url(env.mail_sink.url)
    for district_id in waiting:
        invite(env.db_path, district_id, actor=DEMO_ACTOR, mailer=mailer)
