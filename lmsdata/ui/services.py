"""Long-lived things the pages share: the embedded demo (sandbox, mail sink, demo cache).

Clients and mailers for actions are made per action (`clever_client`, `mailer`): nothing that
holds a socket or a sqlite connection is shared between sessions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from lmsdata import demo
from lmsdata.config import ConfigError
from lmsdata.ui.progress import with_progress

if TYPE_CHECKING:
    from lmsdata.client import CleverClient
    from lmsdata.mail import Mailer
    from lmsdata.ui.context import Context


@st.cache_resource(show_spinner="Starting the built-in Clever sandbox…", on_release=lambda env: env.close())
def _environment(db_path: str) -> demo.DemoEnvironment:
    env = demo.start(db_path)
    if demo.is_built(db_path):
        demo.restore(env)
    return env


def demo_environment(configured_db_path: str) -> demo.DemoEnvironment:
    """The in-process sandbox and mail sink, started once per server; the demo cache built on first use."""
    env = _environment(str(demo.demo_db_path(configured_db_path)))
    if not demo.is_built(env.db_path):
        with st.status("First start: building the demo cache from the built-in Clever sandbox…",
                       expanded=True) as status:
            with_progress("Pulling districts", lambda report: demo.build(env, on_progress=report))
            status.update(label="Demo cache ready", state="complete", expanded=False)
    env.start_worker()  # after the build: it never changes the demo's data while it is being built
    return env


def clever_client(ctx: Context) -> CleverClient:
    """A fresh client for one action (the demo's sandbox, or the real Clever)."""
    from lmsdata.client import CleverClient

    return CleverClient.from_settings(ctx.settings)


def mailer(ctx: Context) -> Mailer:
    """Where invitations go: the demo's mail sink, or SMTP_URL."""
    from lmsdata.mail import Mailer

    if ctx.demo is not None:
        return Mailer.from_url(ctx.demo.mail_sink.url)
    if not ctx.settings.smtp_url:
        raise ConfigError("SMTP_URL is not set, so invitations cannot be sent. Set it to smtp://user:pass@host:587.")
    return Mailer.from_url(ctx.settings.smtp_url)
