"""Outgoing mail over SMTP (`Mailer`) and a local SMTP sink for the demo and the tests (`MailSink`).

The SMTP URL carries the password, so it is registered as a secret the moment it is parsed and
every error goes through `redact`: a failed send can be shown and audited as it is.
"""

from __future__ import annotations

import smtplib
import ssl
import textwrap
import threading
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import make_msgid
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlparse

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from lmsdata.redact import redact, register_secret

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def one_line(text: str | None) -> str:
    """Names from Clever go into headers: no line breaks, no stray spaces."""
    return " ".join((text or "").split())


def wrap(text: str, bullet: str = "") -> str:
    """Plain-text mail reads best at 72 columns; keep the writer's own line breaks."""
    indent = " " * len(bullet)
    lines = text.splitlines() or [""]
    first = textwrap.fill(lines[0], 72, initial_indent=bullet, subsequent_indent=indent, break_on_hyphens=False)
    rest = [textwrap.fill(line, 72, initial_indent=indent, subsequent_indent=indent) for line in lines[1:]]
    return "\n".join([first, *rest])


class MailError(RuntimeError):
    """Mail could not be sent or the SMTP URL is wrong; the message says why, without secrets."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


@dataclass(frozen=True)
class Mailer:
    host: str
    port: int
    use_ssl: bool = False  # smtps:// (TLS from the first byte, usually port 465)
    starttls: bool = False  # upgrade a plain connection (port 587, or ?starttls=true)
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 30.0

    @classmethod
    def from_url(cls, smtp_url: str) -> Mailer:
        """`smtp://[user:password@]host[:port][?starttls=true&timeout=30]` or `smtps://…`."""
        try:
            parsed = urlparse(smtp_url.strip())
            port = parsed.port
        except ValueError as exc:
            raise MailError(f"SMTP_URL is not a valid URL ({exc})") from None
        if parsed.password:
            register_secret(unquote(parsed.password))
        if parsed.scheme not in ("smtp", "smtps") or not parsed.hostname:
            raise MailError(
                "SMTP_URL must look like smtp://user:password@mail.example.org:587 or smtps://mail.example.org:465"
            )
        use_ssl = parsed.scheme == "smtps"
        port = port or (465 if use_ssl else 25)
        query = {key: values[-1].strip().lower() for key, values in parse_qs(parsed.query).items()}
        starttls = port == 587 and not use_ssl
        if "starttls" in query:
            if query["starttls"] not in _TRUE | _FALSE:
                raise MailError(f"SMTP_URL: starttls must be true or false, got {query['starttls']!r}")
            starttls = query["starttls"] in _TRUE
        if starttls and use_ssl:
            raise MailError("SMTP_URL: smtps:// is already encrypted; drop starttls=true or use smtp://")
        try:
            timeout = float(query.get("timeout", "30"))
        except ValueError:
            raise MailError(f"SMTP_URL: timeout must be a number of seconds, got {query['timeout']!r}") from None
        return cls(
            host=parsed.hostname,
            port=port,
            use_ssl=use_ssl,
            starttls=starttls,
            username=unquote(parsed.username or ""),
            password=unquote(parsed.password or ""),
            timeout=timeout,
        )

    @property
    def display(self) -> str:
        """Where mail goes, safe to show: no password."""
        user = f"{self.username}@" if self.username else ""
        tls = " (STARTTLS)" if self.starttls else ""
        return f"{'smtps' if self.use_ssl else 'smtp'}://{user}{self.host}:{self.port}{tls}"

    def send(self, msg: EmailMessage) -> str:
        """Hand the message to the server and return its Message-ID; raise MailError if refused."""
        if "Message-ID" not in msg:
            msg["Message-ID"] = make_msgid(domain="lmsdata.local")
        try:
            with self._connect() as smtp:
                refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise MailError(_refusal("recipient", exc.recipients)) from None
        except smtplib.SMTPSenderRefused as exc:
            raise MailError(
                f"The mail server refused the sender address {exc.sender}: {exc.smtp_code} {_text(exc.smtp_error)}"
            ) from None
        except smtplib.SMTPDataError as exc:
            raise MailError(f"The mail server refused the message: {exc.smtp_code} {_text(exc.smtp_error)}") from None
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(
                f"The mail server at {self.display} rejected the user name or password "
                f"({exc.smtp_code} {_text(exc.smtp_error)}); check SMTP_URL"
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise MailError(f"The mail server at {self.display} does not support {exc}; check SMTP_URL") from None
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            raise MailError(f"Could not send mail through {self.display}: {exc or type(exc).__name__}") from None
        if refused:
            raise MailError(_refusal("recipient", refused))
        return str(msg["Message-ID"])

    def _connect(self) -> smtplib.SMTP:
        if self.use_ssl:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.starttls:
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    raise MailError(
                        f"The mail server at {self.display} does not offer STARTTLS; "
                        "use smtps:// or set starttls=false in SMTP_URL if the network is trusted"
                    )
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password)
        except BaseException:
            smtp.close()
            raise
        return smtp


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _refusal(what: str, refused: dict[str, tuple[int, bytes]]) -> str:
    parts = [f"{address} ({code} {_text(text)})" for address, (code, text) in refused.items()]
    return f"The mail server refused the {what} " + ", ".join(parts)


class _PortZeroController(Controller):
    """aiosmtpd's Controller, able to listen on an ephemeral port (port=0)."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class MailSink:
    """A real SMTP server on 127.0.0.1 that keeps what it receives, for the demo and the tests.

    Set `refuse` to an SMTP reply (e.g. "554 5.7.1 Message rejected") to make it refuse messages.
    With `credentials`, it offers AUTH and accepts only that user name and password.
    """

    def __init__(self, *, refuse: str | None = None, credentials: tuple[str, str] | None = None) -> None:
        self.refuse = refuse
        self._lock = threading.Lock()
        self._messages: list[EmailMessage] = []
        smtp_options: dict[str, Any] = {}
        if credentials:
            smtp_options = {"authenticator": _Authenticator(*credentials), "auth_require_tls": False}
        self._controller = _PortZeroController(_SinkHandler(self), hostname="127.0.0.1", port=0, **smtp_options)
        self._controller.start()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self._controller.port}"

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return list(self._messages)

    def _keep(self, msg: EmailMessage) -> None:
        with self._lock:
            self._messages.append(msg)

    def close(self) -> None:
        self._controller.stop()

    def __enter__(self) -> MailSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _SinkHandler:
    def __init__(self, sink: MailSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self._sink.refuse:
            return self._sink.refuse
        self._sink._keep(
            cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(envelope.content.replace(b"\r\n", b"\n")))
        )
        return "250 Message accepted for delivery"


class _Authenticator:
    def __init__(self, username: str, password: str) -> None:
        self._expected = (username.encode(), password.encode())

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == self._expected
        return AuthResult(success=ok, handled=False)
