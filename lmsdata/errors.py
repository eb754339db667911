"""Typed Clever API errors whose messages a support person can read and act on.

Every message passes through `lmsdata.redact`, so a token can never leak through an exception.
"""

from __future__ import annotations

from lmsdata.redact import redact


class CleverError(Exception):
    """A Clever call failed. `.message` is Clever's own text (verbatim, redacted) if it sent one."""

    hint = "Clever refused the request."

    def __init__(
        self,
        message: str = "",
        *,
        status: int | None = None,
        method: str = "",
        path: str = "",
        district_id: str | None = None,
    ) -> None:
        self.status = status
        self.message = redact(message or "")
        self.method = method
        self.path = redact(path)
        self.district_id = district_id
        super().__init__(self.describe())

    @property
    def outcome_unknown(self) -> bool:
        """True only when the request may have reached Clever and taken effect."""
        return False

    def describe(self) -> str:
        where = f"{self.method} {self.path}".strip()
        if self.status is None:
            got = f"got no answer ({self.message})" if self.message else "got no answer"
        else:
            said = f': Clever said "{self.message}"' if self.message else ""
            got = f"got HTTP {self.status}{said}"
        district = f" (district {self.district_id})" if self.district_id else ""
        return redact(f"{self.hint} {where} {got}{district}.".replace("  ", " "))


class TokenRevoked(CleverError):
    hint = (
        "The district's Clever token was refused (revoked, or the district disconnected the app); "
        "ask the district to reconnect or check the app's credentials."
    )


class NotFound(CleverError):
    hint = "Clever does not know this object (deleted, not shared with the app, or a wrong id)."


class RateLimited(CleverError):
    hint = "Clever's rate limit was still exceeded after waiting for the reset; retry in a minute."


class ServerError(CleverError):
    hint = "Clever had an internal error and retries did not help; try again later."


class BadRequest(CleverError):
    hint = "Clever rejected the request as invalid."


class BadResponse(CleverError):
    hint = "Clever's answer could not be read (not the expected JSON); try again later."


class RequestTimeout(CleverError):
    """No answer in time, or the connection dropped: a write may or may not have happened."""

    hint = "Clever did not answer in time or the connection dropped."

    def __init__(self, message: str = "", *, write: bool = False, **kwargs: object) -> None:
        self._write = write
        super().__init__(message, **kwargs)  # type: ignore[arg-type]

    @property
    def outcome_unknown(self) -> bool:
        return self._write

    def describe(self) -> str:
        text = super().describe()
        if self._write:
            text += " The write may or may not have reached Clever: check before sending it again."
        return text


def error_for_status(status: int) -> type[CleverError]:
    """Which error class a non-2xx status maps to."""
    if status in (401, 403):
        return TokenRevoked
    if status == 404:
        return NotFound
    if status == 429:
        return RateLimited
    if status >= 500:
        return ServerError
    return BadRequest
