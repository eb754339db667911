"""One way to check input from outside (settings, CLI options, imported lines, e-mail headers).

Every check raises `InputError` with one line that names the setting, option or field, says what
is expected and shows what was given (as `repr`, so a CR/LF or an invisible character shows).
Every entry point (CLI, dashboard services, worker) prints `str(error)` and stops cleanly.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

# Longest value echoed back in a message: a 5,000-digit number must not flood the terminal.
_SHOWN = 60
# Longest integer accepted in imported JSON: far above any grade or id, far below Python's own limit.
_MAX_INT_DIGITS = 30


class InputError(ValueError):
    """A value from outside is unusable; the message names where it came from and what is expected."""

    def __init__(self, where: str, expected: str, got: object = None, *, show_got: bool = True) -> None:
        self.where = where
        self.expected = expected
        text = f"{where} must be {expected}"
        if show_got:
            text += f", got {shown(got)}"
        super().__init__(text)

    @classmethod
    def because(cls, where: str, reason: str) -> InputError:
        """An error whose whole message is `where: reason` (or just `reason`), for problems that
        are not one value out of range, such as unreadable JSON."""
        error = cls(where, reason, show_got=False)
        error.args = (f"{where}: {reason}" if where else reason,)
        return error


def shown(value: object) -> str:
    """`repr` of a value, cut to a readable length (control characters stay visible as escapes)."""
    text = repr(value)
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}… ({len(text)} characters)"


def _has_control(text: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def url(where: str, value: str, schemes: tuple[str, ...], example: str) -> str:
    """A URL with one of `schemes`, a host and a valid port; no control characters or spaces."""
    label = "http(s)" if schemes == ("http", "https") else "/".join(schemes)
    expected = f"an {label} URL such as {example}"
    if _has_control(value) or " " in value.strip():
        raise InputError(where, expected + " (no spaces, tabs or line breaks)", value)
    try:
        parts = urlsplit(value.strip())
        port = parts.port  # raises ValueError when out of 0-65535 or not a number
        host = parts.hostname
    except ValueError:
        raise InputError(where, expected, value) from None
    if parts.scheme not in schemes or not host:
        raise InputError(where, expected, value)
    if port == 0:
        raise InputError(where, expected + " (port 1-65535)", value)
    return value.strip().rstrip("/")


def http_url(where: str, value: str, example: str = "https://api.clever.com") -> str:
    return url(where, value, ("http", "https"), example)


def whole_number(where: str, raw: object, *, low: int, high: int, unit: str = "") -> int:
    """An integer between `low` and `high` written with ASCII digits (`²` or `٣` are refused)."""
    expected = f"a whole number{f' of {unit}' if unit else ''} from {low} to {high}"
    if isinstance(raw, bool):
        raise InputError(where, expected, raw)
    if isinstance(raw, int):
        value = raw
    else:
        text = str(raw).strip()
        if not re.fullmatch(r"[+-]?[0-9]{1,19}", text):
            raise InputError(where, expected, raw)
        value = int(text)
    if not low <= value <= high:
        raise InputError(where, expected, raw)
    return value


def number(where: str, raw: object, *, low: float, high: float, unit: str = "") -> float:
    """A finite number between `low` and `high` (`nan`, `inf`, `1e999` are refused)."""
    expected = f"a number{f' of {unit}' if unit else ''} from {low:g} to {high:g}"
    if isinstance(raw, bool):
        raise InputError(where, expected, raw)
    try:
        value = float(raw) if isinstance(raw, (int, float)) else float(str(raw).strip())
    except (ValueError, OverflowError):
        raise InputError(where, expected, raw) from None
    if not math.isfinite(value) or not low <= value <= high:
        raise InputError(where, expected, raw)
    return value


def header_text(where: str, value: str) -> str:
    """Text that goes into an e-mail header: one line, no CR/LF or other control characters."""
    if _has_control(value):
        raise InputError(where, "one line of text with no line breaks or control characters", value)
    return value


def json_value(text: str) -> Any:
    """Parse JSON strictly: refuse NaN/Infinity, numbers too large to be finite, lone surrogates
    and nesting Python cannot hold; raise InputError naming the problem."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_short_int)
    except json.JSONDecodeError as exc:
        raise InputError.because("", f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise InputError.because("", "not readable JSON: nested too deeply") from None
    except ValueError as exc:  # a refused constant, an infinite float or an over-long integer
        reason = str(exc).splitlines()[0]
        raise InputError.because("", f"not usable JSON: {reason}") from None
    for path, item in _walk(value, "$"):
        if isinstance(item, str) and _lone_surrogate(item):
            raise InputError.because(path, "a lone surrogate escape such as \\ud800 is not text")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows; grades must be finite numbers")


def _short_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise ValueError(f"a whole number of {len(text.lstrip('-'))} digits is too long (at most {_MAX_INT_DIGITS})")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is too large to be a finite number")
    return value


def _lone_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every value and key in a parsed JSON document, with a `$.a[0]` style path (iteratively)."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        yield where, item
        if isinstance(item, dict):
            for key, inner in item.items():
                yield f"{where} key", key
                stack.append((f"{where}.{key}", inner))
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", inner) for i, inner in enumerate(item))


def non_finite(value: Any, path: str = "payload") -> str | None:
    """The path of the first NaN or infinite number in a parsed JSON value, if any."""
    for where, item in _walk(value, path):
        if isinstance(item, float) and not math.isfinite(item):
            return where
    return None
