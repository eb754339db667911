"""My queue: my open cases, then unassigned districts that need us, most urgent and oldest first."""

from __future__ import annotations

from lmsdata.ui.cases import queue_page
from lmsdata.ui.frame import show

show(queue_page)
