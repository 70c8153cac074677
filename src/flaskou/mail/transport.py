"""Getting a message to an SMTP server, or to the log when there is none.

`MAIL_URL` says where: `smtp://[user:password@]host[:port]` (port 25 by
default; `?starttls=true` upgrades the connection and refuses to go on
without TLS), `smtps://...` for TLS from the first byte (port 465). TLS
certificates are verified against the system's trust store (`SSL_CERT_FILE`
points elsewhere). Each socket operation has a timeout, so a server that
stops answering costs one timeout, not a stuck worker.

A failure is either temporary (the server cannot be reached, drops the
connection, or answers 4xx: try again later) or permanent (5xx: this
message will never be taken, so it is marked failed at once).
"""

from __future__ import annotations

import dataclasses
import logging
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 30


class MailUrlError(ValueError):
    pass


class DeliveryError(Exception):
    """A message was not delivered; `permanent` says whether retrying can help."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclasses.dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: str  # "none", "starttls" or "tls"
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)

    def __str__(self) -> str:  # for logs: never the password
        user = f"{self.username}@" if self.username else ""
        return f"{self.security}:{user}{self.host}:{self.port}"


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_mail_url(url: str) -> SmtpServer:
    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps"}:
        raise MailUrlError("must start with smtp:// or smtps://")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise MailUrlError("has a port that is not a number from 1 to 65535") from None
    if not host:
        raise MailUrlError("must name a host: smtp://host[:port]")
    query = parse_qs(parts.query)
    unknown = set(query) - {"starttls"}
    if unknown:
        raise MailUrlError(f"has unknown options: {', '.join(sorted(unknown))} (only starttls)")
    starttls = query.get("starttls", ["false"])[-1].strip().lower()
    if starttls not in _TRUE | _FALSE:
        raise MailUrlError("starttls must be true or false")
    if parts.scheme == "smtps":
        if starttls in _TRUE:
            raise MailUrlError("smtps:// is TLS already; starttls applies to smtp:// only")
        security = "tls"
    else:
        security = "starttls" if starttls in _TRUE else "none"
    return SmtpServer(
        host=host,
        port=port or (465 if security == "tls" else 25),
        security=security,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


class Connection:
    """One SMTP session, reused for several messages."""

    def __init__(self, client: smtplib.SMTP) -> None:
        self._client = client

    def send(self, message: EmailMessage) -> None:
        try:
            refused = self._client.send_message(message)
        except smtplib.SMTPResponseException as exc:
            raise _answer_error(exc.smtp_code, exc.smtp_error) from None
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _answer_error(code, text) from None
        except smtplib.SMTPSenderRefused as exc:  # pragma: no cover - a response exception
            raise _answer_error(exc.smtp_code, exc.smtp_error) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(_describe(exc), permanent=False) from None
        if refused:  # only some recipients refused; flaskou sends to one
            code, text = next(iter(refused.values()))
            raise _answer_error(code, text)


def _answer_error(code: int, text: bytes | str) -> DeliveryError:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    reason = f"the server answered {code} {text}"[:400]
    return DeliveryError(reason, permanent=500 <= code < 600)


def _describe(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"[:400]


@contextmanager
def connect(server: SmtpServer) -> Iterator[Connection]:
    """An open, greeted (and if asked, TLS-protected and logged-in) session."""
    context = ssl.create_default_context()
    try:
        if server.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                server.host, server.port, timeout=TIMEOUT_SECONDS, context=context
            )
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=TIMEOUT_SECONDS)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"cannot reach {server}: {_describe(exc)}", permanent=False) from None
    try:
        try:
            client.ehlo()
            if server.security == "starttls":
                # starttls() raises when the server does not offer it: never
                # fall back to sending in the clear when TLS was asked for.
                client.starttls(context=context)
                client.ehlo()
            if server.username:
                client.login(server.username, server.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                f"{server} refused the login ({exc.smtp_code})", permanent=False
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise _answer_error(exc.smtp_code, exc.smtp_error) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"{server}: {_describe(exc)}", permanent=False) from None
        yield Connection(client)
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()


class LogConnection:
    """No MAIL_URL: each message goes to the log whole, so a developer can
    read it and follow its link."""

    def send(self, message: EmailMessage) -> None:
        text = message.get_body(("plain",))
        body = text.get_content() if text is not None else ""
        log.warning(
            "mail (MAIL_URL is not set, so it is written here instead of sent)\n"
            "To: %s\nSubject: %s\n\n%s",
            message["To"],
            message["Subject"],
            body,
        )
