"""What every page and UI helper is handed: the shared types, in a module that imports no other UI module.

`frame.py` builds a `Context`; widgets, loaders, actions and pages only read one. Keeping the type
here (not in `frame.py`) is what lets the frame import them at the top without an import circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lmsdata.access import Permission, Principal
from lmsdata.config import Settings


@dataclass(frozen=True)
class Context:
    """What a page needs: where the cache is, which version of it, who acts, and how to reach Clever."""

    settings: Settings  # in demo mode: pointing at the embedded sandbox
    db_path: str
    data_version: int
    actor: Principal  # passed to every library action, which checks the role itself
    demo: Any  # lmsdata.demo.DemoEnvironment in demo mode, else None
    now: datetime

    @property
    def is_demo(self) -> bool:
        return self.demo is not None

    def can(self, permission: Permission) -> bool:
        """Whether to offer an action at all (the library refuses it anyway when the role is not enough)."""
        return self.actor.can(permission)
