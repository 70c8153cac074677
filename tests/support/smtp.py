"""A real SMTP server on loopback for the mail tests (aiosmtpd in a thread).

flaskou's mail worker talks SMTP with smtplib; the tests give it this server
and read back the messages it really delivered. Three transports, as the
worker's MAIL_URL knows them: plain, STARTTLS (required before MAIL FROM) and
implicit TLS (smtps://). TLS uses a throwaway CA generated with `cryptography`;
`ca_file` is what the worker must trust (SSL_CERT_FILE), so certificate
verification stays on in the tests as in production.

The server can be made to refuse DATA (`fail_with`), answer slowly (`delay`),
go away (`stop`) and come back on the same port (`restart`): the faults the
outbox's retries exist for.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import re
import shutil
import ssl
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.postgres import free_port

TLS_MODES = (None, "starttls", "implicit")
_REPLY = re.compile(r"^[45]\d\d[ -]")
# A URL ends at whitespace or at what a text body puts around one.
_URL = re.compile(r"https?://[^\s<>\"')\]]+")


def _not_login_data_notice(record: logging.LogRecord) -> bool:
    # aiosmtpd 1.4 itself sets the deprecated Session.login_data on every successful
    # AUTH and logs a warning about it: noise in every failing mail test's output.
    return "Session.login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_not_login_data_notice)


class SmtpServer:
    """One SMTP endpoint on 127.0.0.1; every accepted message is kept, parsed."""

    def __init__(
        self,
        *,
        tls: str | None = None,
        username: str | None = None,
        password: str | None = None,
        port: int | None = None,
    ) -> None:
        if tls not in TLS_MODES:
            raise ValueError(f"tls must be one of {TLS_MODES}, not {tls!r}")
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        self.tls = tls
        self.username = username
        self.password = password
        self.host = "127.0.0.1"
        self.port = port if port is not None else free_port()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.attempts = 0
        self._failure: str | None = None
        self._delay = 0.0
        # Messages arrive on aiosmtpd's thread; tests read them on theirs.
        self._arrived = threading.Condition()
        self._controller: Controller | None = None
        self.ca_file: Path | None = None
        self._server_context: ssl.SSLContext | None = None
        if tls is not None:
            directory = Path(tempfile.mkdtemp(prefix="flaskou-smtp-"))
            weakref.finalize(self, shutil.rmtree, directory, True)
            self.ca_file, cert_file, key_file = _make_certificates(directory)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert_file, key_file)
            self._server_context = context

    @property
    def url(self) -> str:
        """The MAIL_URL that makes flaskou's worker deliver here."""
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        credentials = ""
        if self.username is not None and self.password is not None:
            credentials = f"{quote(self.username, safe='')}:{quote(self.password, safe='')}@"
        query = "?starttls=true" if self.tls == "starttls" else ""
        return f"{scheme}://{credentials}{self.host}:{self.port}{query}"

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> SmtpServer:
        if self._controller is not None:
            raise RuntimeError("SMTP server already running")
        # A stopped Controller has closed its event loop: each start builds a new one.
        controller = _Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            server_hostname="localhost",  # not socket.getfqdn(): no DNS lookups in tests
            ready_timeout=30,  # a busy 2-core machine runs several suites at once
            ssl_context=self._server_context if self.tls == "implicit" else None,
            tls_context=self._server_context if self.tls == "starttls" else None,
            require_starttls=self.tls == "starttls",
            authenticator=self._authenticate,
            # aiosmtpd only counts STARTTLS as TLS (not implicit TLS), and warns when
            # AUTH is required without TLS: the handler's MAIL hook demands AUTH instead.
            auth_require_tls=False,
        )
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        """Close the listener and every open connection: new connections are refused."""
        controller, self._controller = self._controller, None
        if controller is None:
            return
        controller.close_connections()
        controller.stop()

    def restart(self) -> None:
        """Stop and start again on the same port; the messages received stay."""
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- faults ------------------------------------------------------------

    def fail_with(self, reply: str | None) -> None:
        """Answer every DATA with this reply (the message is not kept) until None."""
        if reply is not None and not _REPLY.match(reply):
            raise ValueError(f"a failure reply is a 4xx or 5xx SMTP reply, not {reply!r}")
        with self._arrived:
            self._failure = reply

    def delay(self, seconds: float) -> None:
        """Wait this long after the data before answering DATA: a slow server."""
        if seconds < 0:
            raise ValueError("delay must not be negative")
        with self._arrived:
            self._delay = float(seconds)

    # -- reading what arrived ---------------------------------------------

    def wait_for(self, count: int, timeout: float = 30) -> list[EmailMessage]:
        """Block until at least `count` messages arrived; all of them, in arrival order."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"expected at least {count} message(s) within {timeout} s, "
                        f"got {len(self.messages)}: {self._summary()}"
                    )
                self._arrived.wait(remaining)
            return list(self.messages)

    def messages_to(self, address: str) -> list[EmailMessage]:
        """The messages whose envelope recipients include `address` (Bcc included)."""
        wanted = address.casefold()
        with self._arrived:
            return [
                message
                for message, (_, recipients) in zip(self.messages, self.envelopes, strict=True)
                if wanted in (recipient.casefold() for recipient in recipients)
            ]

    def _summary(self) -> str:
        if not self.messages:
            return "none"
        return "; ".join(
            f"{sender} -> {', '.join(recipients)}: {message['Subject']!r}"
            for message, (sender, recipients) in zip(self.messages, self.envelopes, strict=True)
        )

    # -- called on aiosmtpd's thread --------------------------------------

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        accepted = (
            self.username is not None
            and self.password is not None
            and isinstance(data, LoginPassword)
            and data.login == self.username.encode()
            and data.password == self.password.encode()
        )
        # handled=False: aiosmtpd answers a refusal itself (535), rather than nothing.
        return AuthResult(success=accepted, handled=False)

    def _settings(self) -> tuple[str | None, float]:
        with self._arrived:
            self.attempts += 1
            return self._failure, self._delay

    def _keep(self, envelope: Envelope) -> None:
        # SMTP carries CRLF line ends; read back, bodies end their lines with "\n" as any
        # text made in Python does, so tests compare them with what they expect plainly.
        content = (envelope.original_content or b"").replace(b"\r\n", b"\n")
        message = BytesParser(policy=default_policy).parsebytes(content)
        assert isinstance(message, EmailMessage)
        with self._arrived:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from or "", list(envelope.rcpt_tos)))
            self._arrived.notify_all()


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_MAIL(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.server.username is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        failure, delay = self.server._settings()
        if delay:
            await asyncio.sleep(delay)
        if failure is not None:
            return failure
        self.server._keep(envelope)
        return "250 2.0.0 OK: queued"


class _Controller(Controller):
    """aiosmtpd's Controller, remembering its sessions so stop() can close them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    def factory(self) -> SMTP:
        smtp = super().factory()
        self.sessions.add(smtp)
        return smtp

    def close_connections(self) -> None:
        # Stopping the loop alone leaves client sockets open until garbage collection
        # (a ResourceWarning, and a client that hangs instead of seeing the server go).
        # abort(), not close(): a TLS close waits for the client's close_notify, which
        # the stopping loop would never read, and the socket would leak all the same.
        done = threading.Event()

        def close() -> None:
            for smtp in list(self.sessions):
                if smtp.transport is not None:
                    smtp.transport.abort()
            done.set()

        self.loop.call_soon_threadsafe(close)
        done.wait(10)


def _make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 and localhost, signed by it.

    A separate CA (rather than one self-signed leaf) is what strict verifiers such as
    Python 3.13's default VERIFY_X509_STRICT accept.
    """
    now = datetime.datetime.now(datetime.UTC)
    valid_from, valid_to = now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "flaskou test mail CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    ca_file = directory / "ca.pem"
    cert_file = directory / "server.pem"
    key_file = directory / "server.key"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    return ca_file, cert_file, key_file


# -- reading messages -------------------------------------------------------


def parts(message: EmailMessage) -> tuple[str, str]:
    """(text/plain body, text/html body) of a multipart/alternative message."""
    assert message.get_content_type() == "multipart/alternative", (
        f"expected multipart/alternative, got {message.get_content_type()}"
    )
    bodies: dict[str, list[str]] = {}
    for part in message.iter_parts():
        assert isinstance(part, EmailMessage)
        bodies.setdefault(part.get_content_type(), []).append(part.get_content())
    for kind in ("text/plain", "text/html"):
        assert len(bodies.get(kind, [])) == 1, (
            f"expected one {kind} part, got {len(bodies.get(kind, []))} (parts: {sorted(bodies)})"
        )
    return bodies["text/plain"][0], bodies["text/html"][0]


def _plain_text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None, f"no text/plain part in {message.get_content_type()} message"
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def link_in(message: EmailMessage, path: str) -> str:
    """The one URL in the text/plain part that contains `path`."""
    text = _plain_text(message)
    links = [url.rstrip(".,;:!?") for url in _URL.findall(text) if path in url]
    assert len(links) == 1, f"expected one link containing {path!r}, found {links}:\n{text}"
    return links[0]


def token_in(message: EmailMessage, path: str) -> str:
    """The token after "#token=" in the one link containing `path`."""
    link = link_in(message, path)
    assert "#token=" in link, f"no #token= in {link}"
    token = link.split("#token=", 1)[1].split("&", 1)[0]
    assert token, f"empty token in {link}"
    return token


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A started plain SMTP server (no TLS, no AUTH), stopped after the test."""
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()
