"""Keep tokens and secrets out of every message, log line and cache row."""

from __future__ import annotations

import re
import threading

_lock = threading.Lock()
_secrets: set[str] = set()
_BEARER = re.compile(r"(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")


def register_secret(value: str) -> None:
    """Remember a token or secret so `redact` masks it wherever it appears later."""
    if value and len(value) >= 6:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """Mask registered secrets and any Authorization header value."""
    text = _BEARER.sub(lambda m: f"{m.group(1)} [redacted]", text)
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        text = text.replace(secret, "[redacted]")
    return text
