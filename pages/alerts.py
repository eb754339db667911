"""Alerts: what the worker's rules found, open and resolved, with acknowledge and snooze for operators."""

from __future__ import annotations

from lmsdata.ui.alerts import alerts_page
from lmsdata.ui.frame import show

show(alerts_page)
