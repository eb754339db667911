"""The frame every page runs inside: who is looking, page config, navigation, settings, the cache, banners, errors.

`dashboard.py` calls `run_app()`. Each file in `pages/` calls `show(render)` first: under
`dashboard.py` it uses the frame already drawn in this run; on a fresh server whose first request
is a deep link (Streamlit then runs the `pages/` file by itself, engineering-notes §1.1) it draws
the same frame, navigation included, so both paths look and behave the same. The access gate is part
of the frame: on every URL, someone who may not look gets the sign-in (or refusal) page and nothing else.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import streamlit as st

from lmsdata.access import Permission, Principal
from lmsdata.config import ConfigError, Settings, load_settings
from lmsdata.db import CacheError, connect, data_version
from lmsdata.exposure import Admission, Exposure
from lmsdata.redact import redact
from lmsdata.ui import jobs, signin
from lmsdata.ui.actions import show_outcome, sync_now
from lmsdata.ui.context import Context
from lmsdata.ui.services import demo_environment
from lmsdata.ui.widgets import sidebar_status
from lmsdata.ui.worker_status import worker_sidebar

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]  # where dashboard.py and pages/ live

# (file, title, url path, icon): the url path equals the file's stem, so Streamlit's own pages/
# routing on a fresh server and st.navigation agree on every deep link.
PAGES: tuple[tuple[str, str, str, str], ...] = (
    ("pages/overview.py", "Overview", "overview", ":material/dashboard:"),
    ("pages/district.py", "District", "district", ":material/domain:"),
    ("pages/queue.py", "My queue", "queue", ":material/assignment_ind:"),
    ("pages/unmatched.py", "Unmatched", "unmatched", ":material/person_off:"),
    ("pages/pushes.py", "Failed pushes", "pushes", ":material/sync_problem:"),
    ("pages/gradebook.py", "Gradebook", "gradebook", ":material/grading:"),
    ("pages/sync.py", "Sync log", "sync", ":material/history:"),
    ("pages/invitations.py", "Invitations", "invitations", ":material/mail:"),
    ("pages/audit.py", "Audit log", "audit", ":material/fact_check:"),
    ("pages/readiness.py", "Term readiness", "readiness", ":material/event_available:"),
    ("pages/alerts.py", "Alerts", "alerts", ":material/notifications:"),
)


_current: contextvars.ContextVar[Context | None] = contextvars.ContextVar("lmsdata_frame", default=None)


def run_app() -> None:
    """The entry point's whole job: draw the frame, then run the page the URL asks for."""
    page, context = _enter()
    token = _current.set(context)
    try:
        page.run()
    finally:
        _current.reset(token)


def show(render: Callable[[Context], None]) -> None:
    """A page's only top-level call: the frame (drawn here if the page runs by itself), then the body."""
    context = _current.get()
    if context is not None:
        with friendly_errors():
            render(context)
        return
    page, context = _enter()
    with _as_page(page), friendly_errors():
        render(context)


def _as_page(page: Any) -> contextlib.AbstractContextManager[None]:
    """Draw the body under the page's own script hash, as `page.run()` does under `run_app`.

    Streamlit derives widget ids from it; `st.navigation` (called above) resets it to the entry
    script's, so without this the next run, routed through `run_app`, would not recognise the
    widgets drawn now and the first click after a deep link would be lost.
    """
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.run_with_active_hash(page._script_hash) if ctx is not None else contextlib.nullcontext()


def page_path(url_path: str) -> str:
    """The `pages/…` file for a url path, for `st.switch_page` and `st.page_link`."""
    return next(file for file, _, url, _ in PAGES if url == url_path)


def _enter() -> tuple[Any, Context]:
    """Settings and who is looking first; the navigation is shown only to someone admitted."""
    admission: Admission | None = None
    with friendly_errors():  # a configuration error is shown, and the run stops below
        secrets = _secrets()
        settings = load_settings(secrets=secrets)
        exposure, admission = signin.admission(settings, secrets)
    principal = admission.principal if admission is not None else None
    page = _open(visible=principal is not None)
    if admission is None:
        st.stop()
    if principal is None:
        signin.keep_out(admission, secrets)
    return page, _frame_contents(settings, exposure, principal)


def _open(*, visible: bool) -> Any:
    st.set_page_config(page_title="LMS Connect Health", page_icon=":material/monitor_heart:", layout="wide")
    default_file, default_title, default_url, _ = PAGES[0]
    return st.navigation(
        [
            st.Page(ROOT / file, title=title, url_path=url if url != default_url else "home", icon=icon,
                    default=url == default_url)
            for file, title, url, icon in PAGES
        ]
        # The default page is served at "/"; this alias keeps `/overview` (what Streamlit's pages/
        # routing serves on a fresh server) working later too, instead of "page not found".
        + [st.Page(ROOT / default_file, title=default_title, url_path=default_url, visibility="hidden")],
        position="sidebar" if visible else "hidden",
    )


def _frame_contents(settings: Settings, exposure: Exposure, principal: Principal) -> Context:
    with friendly_errors(stop=True):
        demo = None
        if settings.demo:
            demo = demo_environment(str(settings.db_path))
            # the demo's own Clever and mail, with the configured casework settings kept
            settings = replace(demo.settings, ticket_url=settings.ticket_url,
                               escalation_email=settings.escalation_email)
        elif not Path(settings.db_path).exists():
            _offer_first_sync(settings, principal)
        with connect(settings.db_path) as db:
            version = data_version(db)
        context = Context(
            settings=settings,
            db_path=str(settings.db_path),
            data_version=version,
            actor=principal,
            demo=demo,
            now=datetime.now(UTC),
        )
        sidebar_status(context)
        worker_sidebar(context.db_path, context.now)
        jobs.sidebar_summary(context)
        signin.who(exposure, principal)
        return context
    raise AssertionError("unreachable: friendly_errors(stop=True) stops the run")  # pragma: no cover


def _offer_first_sync(settings: Settings, principal: Principal) -> None:
    """No cache yet with real credentials: say so, and offer the first full pull right here."""
    st.warning(
        f"There is no cache at `{settings.db_path}` yet. The pages read only the cache: pull every district "
        "from Clever now, or run `lmsdata sync --full` and reload this page."
    )
    if not principal.can(Permission.SYNC):
        st.info("Ask an operator to run the first sync: your role may view the data, not pull it.")
    elif st.button("Pull every district from Clever now", key="first_sync", type="primary"):
        context = Context(settings, str(settings.db_path), 0, principal, None, datetime.now(UTC))
        outcome = sync_now(context, None)
        if outcome.ok:
            st.rerun()
        show_outcome(outcome)
    st.stop()


def _secrets() -> dict[str, Any]:
    try:
        return st.secrets.to_dict() if st.secrets.load_if_toml_exists() else {}
    except Exception as exc:  # a malformed secrets.toml must read as a configuration problem
        raise ConfigError(f".streamlit/secrets.toml cannot be read: {exc}") from exc


@contextlib.contextmanager
def friendly_errors(*, stop: bool = False) -> Iterator[None]:
    """Show configuration, cache and unexpected errors as plain sentences, never as a stack trace."""
    try:
        yield
    except ConfigError as exc:
        st.error(f"The configuration needs a fix: {redact(str(exc))}", icon=":material/settings:")
    except CacheError as exc:
        st.error(redact(str(exc)), icon=":material/database:")
    except sqlite3.DatabaseError as exc:
        st.error(
            f"The cache cannot be read ({redact(str(exc))}). Move the file aside and run `lmsdata sync --full` "
            "to rebuild it.",
            icon=":material/database:",
        )
    except Exception as exc:
        log.exception("page failed")
        st.error(
            f"Something went wrong while drawing this page: {redact(str(exc)) or type(exc).__name__}. "
            "The details are in the server log; reloading the page usually helps.",
            icon=":material/error:",
        )
    else:
        return
    if stop:
        st.stop()
