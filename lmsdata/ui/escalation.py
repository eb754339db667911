"""The escalation bundle in the dashboard: prepare it, read its summary, download the ZIP (audited) or mail
it to the configured Clever support address (operators; audited by the library).

The summary is shown in a code block (`st.code`): literal text with a copy button, never Markdown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from lmsdata import bundle as bundles
from lmsdata.access import AccessDenied, Permission
from lmsdata.config import ConfigError
from lmsdata.mail import MailError
from lmsdata.ui import loaders, services

if TYPE_CHECKING:
    from lmsdata.ui.context import Context

DEMO_ADDRESS = "clever-support@demo.invalid"  # the demo mails its local sink; nothing leaves the machine


def address(ctx: Context) -> str:
    """Where bundles are mailed: LMSDATA_ESCALATION_EMAIL, or in the demo its mail sink's made-up address."""
    return ctx.settings.escalation_email or (DEMO_ADDRESS if ctx.is_demo else "")


def panel(ctx: Context, subject: str, *, key: str) -> None:
    """One button until asked (building reads every failed attempt), then the bundle and its two actions."""
    asked = f"{key}_asked_{subject}"
    if not st.session_state.get(asked):
        if st.button("Prepare an escalation bundle for Clever support", icon=":material/inventory_2:",
                     key=f"{key}_prepare_{subject}"):
            st.session_state[asked] = True
            st.rerun()
        return
    try:
        made = loaders.bundle(ctx.db_path, ctx.data_version, subject, (ctx.settings.client_secret,))
    except bundles.BundleError as exc:
        st.text(str(exc))
        return
    with st.container(border=True):
        st.caption("Escalation bundle: students masked, tokens and secrets redacted. Paste the summary into the "
                   "ticket, or attach the ZIP.")
        st.code(made.summary, language=None, wrap_lines=True, height=320)
        left, right = st.columns(2)
        left.download_button("Download the ZIP", made.zip_bytes(), file_name=made.filename, mime="application/zip",
                             key=f"{key}_download_{subject}", icon=":material/download:",
                             on_click=bundles.record_download, args=(ctx.db_path, ctx.actor, made))
        to = address(ctx)
        outcome = f"{key}_sent_{subject}"
        if ctx.can(Permission.CASEWORK) and to:
            if right.button(f"Send to {to}", key=f"{key}_send_{subject}", icon=":material/send:"):
                st.session_state[outcome] = _send(ctx, made, to)
        elif ctx.can(Permission.CASEWORK):
            right.caption("Set LMSDATA_ESCALATION_EMAIL to mail bundles to Clever support from here.")
        if st.session_state.get(outcome):
            st.text(st.session_state[outcome])


def _send(ctx: Context, made: bundles.Bundle, to: str) -> str:
    try:
        bundles.send(ctx.db_path, ctx.actor, made, mailer=services.mailer(ctx), to=to, mail_from=ctx.settings.mail_from)
    except (AccessDenied, MailError, ConfigError) as exc:
        return f"Not sent: {exc}"
    return f"Sent to {to} with {made.filename} attached."
