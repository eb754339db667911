"""Mailer against a real SMTP server on loopback (aiosmtpd through MailSink)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from lmsdata.mail import Mailer, MailError, MailSink
from lmsdata.redact import redact


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink() as server:
        yield server


def message(to: str = "it@springfield.k12.us") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Support <support@example.com>"
    msg["To"] = to
    msg["Subject"] = "Connect your LMS"
    msg.set_content("Hello, here is how.")
    return msg


def test_sends_a_message_the_server_receives(sink: MailSink) -> None:
    message_id = Mailer.from_url(sink.url).send(message())
    [received] = sink.messages
    assert received["Subject"] == "Connect your LMS"
    assert received["To"] == "it@springfield.k12.us"
    assert received["Message-ID"] == message_id
    assert received.get_content().strip() == "Hello, here is how."


def test_two_sinks_listen_on_different_ephemeral_ports() -> None:
    with MailSink() as first, MailSink() as second:
        assert first.url != second.url
        Mailer.from_url(second.url).send(message())
        assert (len(first.messages), len(second.messages)) == (0, 1)


def test_refusing_server_gives_its_reply_and_keeps_nothing(sink: MailSink) -> None:
    sink.refuse = "554 5.7.1 Message rejected as spam"
    with pytest.raises(MailError, match=r"refused the message: 554 5\.7\.1 Message rejected as spam"):
        Mailer.from_url(sink.url).send(message())
    assert sink.messages == []


def test_login_with_user_and_password_from_the_url() -> None:
    with MailSink(credentials=("mailer", "pw-0ne-s3cret")) as sink:
        host = sink.url.removeprefix("smtp://")
        Mailer.from_url(f"smtp://mailer:pw-0ne-s3cret@{host}").send(message())
        assert len(sink.messages) == 1
        with pytest.raises(MailError) as caught:
            Mailer.from_url(f"smtp://mailer:Wr0ng-passw0rd@{host}").send(message())
    text = str(caught.value)
    assert "rejected the user name or password" in text
    assert "Wr0ng-passw0rd" not in text
    assert "Wr0ng-passw0rd" not in redact("SMTP_URL=smtp://mailer:Wr0ng-passw0rd@x")  # registered as a secret


def test_starttls_requested_but_not_offered_is_a_clear_error(sink: MailSink) -> None:
    with pytest.raises(MailError, match="does not offer STARTTLS"):
        Mailer.from_url(sink.url + "?starttls=true").send(message())
    assert sink.messages == []


def test_unreachable_server_names_where_it_tried_without_the_password() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(MailError) as caught:
        Mailer.from_url(f"smtp://user:Unre4chable-pw@127.0.0.1:{port}?timeout=2").send(message())
    assert f"smtp://user@127.0.0.1:{port}" in str(caught.value)
    assert "Unre4chable-pw" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.org", ("mail.example.org", 25, False, False, "")),
        ("smtp://u:p%40ss@mail.example.org:587", ("mail.example.org", 587, False, True, "u")),
        ("smtp://mail.example.org:2525?starttls=true", ("mail.example.org", 2525, False, True, "")),
        ("smtp://mail.example.org:587?starttls=false", ("mail.example.org", 587, False, False, "")),
        ("smtps://relay.example.org", ("relay.example.org", 465, True, False, "")),
    ],
)
def test_from_url(url: str, expected: tuple) -> None:
    mailer = Mailer.from_url(url)
    assert (mailer.host, mailer.port, mailer.use_ssl, mailer.starttls, mailer.username) == expected


def test_password_is_percent_decoded_and_hidden() -> None:
    mailer = Mailer.from_url("smtp://u:p%40ssw0rd-x@mail.example.org:587")
    assert mailer.password == "p@ssw0rd-x"
    assert "p@ssw0rd-x" not in repr(mailer) + mailer.display


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://mail.example.org", "SMTP_URL must look like"),
        ("smtp://", "SMTP_URL must look like"),
        ("smtp://mail.example.org:notaport", "not a valid URL"),
        ("smtp://mail.example.org?starttls=maybe", "starttls must be true or false"),
        ("smtps://mail.example.org?starttls=true", "already encrypted"),
        ("smtp://mail.example.org?timeout=soon", "timeout must be a number"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(MailError, match=message):
        Mailer.from_url(url)
