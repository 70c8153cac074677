"""The SMTP server the mail tests deliver to behaves like a real one: smtplib,
as flaskou's worker uses it, talks to it in every transport flaskou supports,
and the faults it can play are the ones a real server shows."""

from __future__ import annotations

import gc
import smtplib
import socket
import ssl
import threading
import time
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy

import pytest

from tests.support import smtp as smtp_support
from tests.support.smtp import SmtpServer, link_in, parts, token_in

pytestmark = pytest.mark.engine_independent

# The fixture under test, used here as the mail tests use it.
smtp_server = smtp_support.smtp_server

SENDER = "flaskou@example.test"


def message(to: str = "ada@example.test", subject: str = "Hello") -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = SENDER
    mail["To"] = to
    mail["Subject"] = subject
    mail.set_content("Plain words.\n")
    return mail


def reset_message(token: str) -> EmailMessage:
    """What a password-reset mail looks like: text and HTML, one link each."""
    mail = EmailMessage()
    mail["From"] = SENDER
    mail["To"] = "ada@example.test"
    mail["Subject"] = "Reset your password"
    link = f"https://flaskou.example/reset-password#token={token}"
    mail.set_content(
        f"Someone asked to reset your password.\n\nOpen {link}.\n\n"
        "Or sign in at https://flaskou.example/login\n"
    )
    mail.add_alternative(f'<p>Open <a href="{link}">this link</a>.</p>', subtype="html")
    return mail


def client_for(server: SmtpServer) -> smtplib.SMTP:
    """An smtplib client as the worker connects: verifying the certificate with ca_file."""
    context = None
    if server.ca_file is not None:
        context = ssl.create_default_context(cafile=str(server.ca_file))
    if server.tls == "implicit":
        return smtplib.SMTP_SSL(server.host, server.port, context=context, timeout=10)
    client = smtplib.SMTP(server.host, server.port, timeout=10)
    if server.tls == "starttls":
        client.starttls(context=context)
    return client


@pytest.fixture
def started():
    servers: list[SmtpServer] = []

    def start(**options) -> SmtpServer:
        server = SmtpServer(**options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_the_fixture_is_a_plain_server_that_keeps_what_it_is_sent(smtp_server):
    assert smtp_server.url == f"smtp://127.0.0.1:{smtp_server.port}"
    assert smtp_server.ca_file is None
    with client_for(smtp_server) as client:
        assert not client.has_extn("starttls")
        client.send_message(message(to="ada@example.test", subject="First"))
        client.send_message(message(to="bob@example.test", subject="Second"))

    first, second = smtp_server.wait_for(2)
    assert (first["Subject"], second["Subject"]) == ("First", "Second")
    assert first.get_content() == "Plain words.\n"
    assert smtp_server.envelopes == [
        (SENDER, ["ada@example.test"]),
        (SENDER, ["bob@example.test"]),
    ]
    assert [m["Subject"] for m in smtp_server.messages_to("BOB@example.test")] == ["Second"]
    assert smtp_server.messages_to("eve@example.test") == []
    assert smtp_server.attempts == 2


def test_envelope_recipients_count_not_headers(smtp_server):
    with client_for(smtp_server) as client:
        client.send_message(message(to="ada@example.test"), to_addrs=["hidden@example.test"])
    smtp_server.wait_for(1)
    assert len(smtp_server.messages_to("hidden@example.test")) == 1
    assert smtp_server.messages_to("ada@example.test") == []


def test_starttls_is_required_and_the_certificate_verifies_against_ca_file(started):
    server = started(tls="starttls")
    assert server.url == f"smtp://127.0.0.1:{server.port}?starttls=true"
    assert server.ca_file is not None and server.ca_file.read_text().startswith("-----BEGIN")

    # Without STARTTLS the server refuses the mail (RFC 3207: 530).
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail(SENDER, ["ada@example.test"], message().as_bytes())
        assert refused.value.smtp_code == 530

    # A client that trusts the system store only does not trust this server.
    with (
        smtplib.SMTP(server.host, server.port, timeout=10) as client,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        client.starttls(context=ssl.create_default_context())

    # The certificate is valid for both names the worker may be given.
    for host in ("127.0.0.1", "localhost"):
        with smtplib.SMTP(host, server.port, timeout=10) as client:
            client.starttls(context=ssl.create_default_context(cafile=str(server.ca_file)))
            client.send_message(message(subject=f"via {host}"))

    assert [m["Subject"] for m in server.wait_for(2)] == ["via 127.0.0.1", "via localhost"]


def test_implicit_tls_speaks_tls_from_the_first_byte(started):
    server = started(tls="implicit")
    assert server.url == f"smtps://127.0.0.1:{server.port}"

    # A plain client gets no greeting it understands.
    with socket.create_connection((server.host, server.port), timeout=10) as raw:
        raw.sendall(b"EHLO plain\r\n")
        assert not raw.recv(1024).startswith(b"220")

    with client_for(server) as client:
        client.send_message(message(subject="Over TLS"))
    assert server.wait_for(1)[0]["Subject"] == "Over TLS"


@pytest.mark.parametrize("tls", [None, "starttls", "implicit"])
def test_auth_plain_and_login_are_required_before_mail(started, tls):
    server = started(tls=tls, username="mailer@example.test", password="s3cret pass")
    credentials = "mailer%40example.test:s3cret%20pass@"
    assert credentials in server.url

    with client_for(server) as client:
        client.ehlo()
        assert set(client.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail(SENDER, ["ada@example.test"], message().as_bytes())
        assert refused.value.smtp_code == 530
    with client_for(server) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as wrong:
            client.login("mailer@example.test", "wrong")
        assert wrong.value.smtp_code == 535

    for mechanism in ("PLAIN", "LOGIN"):
        with client_for(server) as client:
            client.ehlo()
            client.user, client.password = "mailer@example.test", "s3cret pass"
            client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
            client.send_message(message(subject=mechanism))

    assert [m["Subject"] for m in server.wait_for(2)] == ["PLAIN", "LOGIN"]
    assert server.attempts == 2


def test_a_failure_reply_refuses_data_and_keeps_nothing_until_cleared(smtp_server):
    smtp_server.fail_with("451 4.3.0 Try again later")
    with client_for(smtp_server) as client, pytest.raises(smtplib.SMTPDataError) as refused:
        client.send_message(message(subject="Refused"))
    assert refused.value.smtp_code == 451
    assert b"Try again later" in refused.value.smtp_error

    smtp_server.fail_with("550 5.1.1 No such user")
    with client_for(smtp_server) as client, pytest.raises(smtplib.SMTPDataError) as refused:
        client.send_message(message(subject="Refused again"))
    assert refused.value.smtp_code == 550
    assert smtp_server.messages == [] and smtp_server.envelopes == []

    smtp_server.fail_with(None)
    with client_for(smtp_server) as client:
        client.send_message(message(subject="Accepted"))
    assert [m["Subject"] for m in smtp_server.wait_for(1)] == ["Accepted"]
    assert smtp_server.attempts == 3


def test_a_failure_reply_must_be_an_smtp_error(smtp_server):
    for reply in ("250 OK", "Try again later", "45 short"):
        with pytest.raises(ValueError):
            smtp_server.fail_with(reply)


def test_a_slow_server_answers_data_late(smtp_server):
    with client_for(smtp_server) as client:
        started_at = time.monotonic()
        client.send_message(message(subject="Baseline"))
        baseline = time.monotonic() - started_at

        smtp_server.delay(1.5)
        started_at = time.monotonic()
        client.send_message(message(subject="Slow"))
        slow = time.monotonic() - started_at
    assert slow >= 1.5 > baseline
    assert len(smtp_server.messages) == 2

    # A client that gives up first sees a timeout, as the worker would.
    smtp_server.delay(3)
    client = smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=0.5)
    try:
        with pytest.raises(smtplib.SMTPServerDisconnected, match="timed out"):
            client.send_message(message(subject="Too slow"))
    finally:
        client.close()


def test_stopped_refuses_connections_and_restart_keeps_port_and_messages(smtp_server):
    with client_for(smtp_server) as client:
        client.send_message(message(subject="Before"))
    port = smtp_server.port

    smtp_server.stop()
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP(smtp_server.host, port, timeout=5)

    smtp_server.restart()
    assert smtp_server.port == port
    with client_for(smtp_server) as client:
        client.send_message(message(subject="After"))
    assert [m["Subject"] for m in smtp_server.wait_for(2)] == ["Before", "After"]


@pytest.mark.parametrize("tls", [None, "starttls", "implicit"])
def test_stop_drops_connected_clients_even_in_the_middle_of_data(started, tls):
    server = started(tls=tls)
    idle = client_for(server)
    idle.ehlo()
    server.delay(30)
    sending = client_for(server)
    outcome: list[BaseException] = []

    def send() -> None:
        try:
            sending.send_message(message(subject="Never answered"))
        except smtplib.SMTPException as error:
            outcome.append(error)

    sender = threading.Thread(target=send)
    sender.start()
    deadline = time.monotonic() + 10
    while server.attempts < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.attempts == 1, "the DATA never reached the server"

    server.stop()
    sender.join(10)
    assert not sender.is_alive(), "a client kept waiting on a stopped server"
    assert [type(error) for error in outcome] == [smtplib.SMTPServerDisconnected]
    with pytest.raises(smtplib.SMTPServerDisconnected):
        idle.noop()
    idle.close()
    sending.close()
    assert server.messages == []

    server.restart()
    server.delay(0)
    with client_for(server) as again:
        again.send_message(message(subject="Back"))
    assert [m["Subject"] for m in server.wait_for(1)] == ["Back"]
    # The server's side of both connections is closed, not left to the garbage
    # collector: a leaked socket would fail this test with a ResourceWarning here.
    gc.collect()


def test_a_tls_server_restarts_with_the_same_certificate(started):
    server = started(tls="implicit")
    ca_file = server.ca_file
    server.restart()
    assert server.ca_file == ca_file
    with client_for(server) as client:
        client.send_message(message(subject="After restart"))
    assert server.wait_for(1)[0]["Subject"] == "After restart"


def test_wait_for_blocks_until_messages_arrive_and_says_what_came(smtp_server):
    def send_later() -> None:
        time.sleep(0.3)
        with client_for(smtp_server) as client:
            client.send_message(message(subject="Late"))

    sender = threading.Thread(target=send_later)
    sender.start()
    assert [m["Subject"] for m in smtp_server.wait_for(1, timeout=15)] == ["Late"]
    sender.join()

    with pytest.raises(AssertionError) as missing:
        smtp_server.wait_for(2, timeout=0.2)
    assert "got 1" in str(missing.value) and "'Late'" in str(missing.value)


def test_links_tokens_and_parts_of_a_real_multipart_message(smtp_server):
    with client_for(smtp_server) as client:
        client.send_message(reset_message("abc-DEF_123"))
    (received,) = smtp_server.wait_for(1)

    text, html = parts(received)
    assert "Someone asked to reset your password." in text
    assert '<a href="https://flaskou.example/reset-password#token=abc-DEF_123">' in html
    # The sentence's full stop is not part of the link.
    assert (
        link_in(received, "/reset-password#token=")
        == "https://flaskou.example/reset-password#token=abc-DEF_123"
    )
    assert token_in(received, "/reset-password") == "abc-DEF_123"

    with pytest.raises(AssertionError, match="expected one link"):
        link_in(received, "/verify-email")
    with pytest.raises(AssertionError, match="expected one link"):
        link_in(received, "https://flaskou.example/")  # two links match
    with pytest.raises(AssertionError, match="no #token="):
        token_in(received, "/login")


def test_parts_refuses_a_message_that_is_not_text_and_html(smtp_server):
    plain_only = message()
    html_only = EmailMessage()
    html_only.set_content("<p>only</p>", subtype="html")
    html_only.make_alternative()
    for mail in (plain_only, html_only):
        with pytest.raises(AssertionError):
            parts(BytesParser(policy=default_policy).parsebytes(mail.as_bytes()))


def test_constructor_refuses_unknown_modes_and_half_credentials():
    with pytest.raises(ValueError):
        SmtpServer(tls="ssl")
    with pytest.raises(ValueError):
        SmtpServer(username="only-a-name")
