"""The delivery worker: claim due messages, send them, record the outcome.

Claiming is a short transaction of its own: due, unclaimed messages get this
pass's claim id and a lease (`claimed_until`). On PostgreSQL the candidates
are chosen `FOR UPDATE SKIP LOCKED`, so workers on many machines split the
queue without waiting on each other; on every engine the claiming UPDATE
repeats the conditions, so of two workers reaching for one message exactly
one gets it. Sending happens outside any transaction (a slow SMTP server
holds no lock), and each outcome is committed the moment it is known, so a
worker that dies mid-pass re-sends at most the message it was on, once its
lease has run out.

A temporary failure (the server is down, or answers 4xx) schedules another
attempt after an exponential backoff capped at MAX_BACKOFF_SECONDS; after
MAIL_RETRY_SECONDS (24 hours) of trying, or on a permanent refusal (5xx),
the message is marked failed. Either way its sealed body is erased.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Protocol

from flask import current_app, has_app_context
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from flaskou.extensions import db
from flaskou.mail.models import FAILED, PENDING, SENT, STATUSES, OutboxMessage
from flaskou.mail.outbox import SEAL_PURPOSE
from flaskou.mail.transport import DeliveryError, LogConnection, connect, parse_mail_url
from flaskou.models import utcnow
from flaskou.sealing import Unreadable, open_sealed

log = logging.getLogger(__name__)

BATCH = 20
MAX_BACKOFF_SECONDS = 60
# Longer than any one send can take (each SMTP step times out after 30 s).
LEASE = timedelta(minutes=5)


class Sender(Protocol):
    def send(self, message: EmailMessage) -> None: ...


@dataclasses.dataclass
class PassResult:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retrying + self.failed


def backoff(attempts: int) -> timedelta:
    """Wait after the n-th failed attempt: 2, 4, 8 … seconds, at most a
    minute, with a little jitter so workers do not retry in step."""
    seconds = min(MAX_BACKOFF_SECONDS, 2**attempts)
    return timedelta(seconds=seconds * random.uniform(0.8, 1.0))  # noqa: S311 (not crypto)


def _due(now: datetime) -> list[ColumnElement[bool]]:
    return [
        OutboxMessage.status == PENDING,
        OutboxMessage.next_attempt_at <= now,
        or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
    ]


def claim_due(limit: int = BATCH) -> list[OutboxMessage]:
    """Due messages, claimed for this pass (committed), oldest first."""
    now = utcnow()
    candidates = (
        select(OutboxMessage.id)
        .where(*_due(now))
        .order_by(OutboxMessage.next_attempt_at)
        .limit(limit)
    )
    if db.engine.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    ids = list(db.session.scalars(candidates))
    if not ids:
        db.session.rollback()
        return []
    claim = uuid.uuid4()
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), *_due(now))
        .values(claim=claim, claimed_until=now + LEASE)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.claim == claim)
            .order_by(OutboxMessage.next_attempt_at)
        )
    )


def build(message: OutboxMessage, sender: str, body: dict[str, str]) -> EmailMessage:
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Date"] = format_datetime(message.created_at)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    # The same id on every attempt: a server that took a message but whose
    # answer was lost can recognise the repeat.
    email["Message-ID"] = make_msgid(idstring=message.id.hex, domain=domain)
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(body["text"])
    email.add_alternative(body["html"], subtype="html")
    return email


def _finish(message: OutboxMessage, **values: object) -> None:
    """Record an outcome, if this pass still holds the claim."""
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id, OutboxMessage.claim == message.claim)
        .values(claim=None, claimed_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def _failed(message: OutboxMessage, reason: str, result: PassResult) -> None:
    log.error(
        "mail not delivered, giving up",
        extra={"fields": {"message_id": str(message.id), "kind": message.kind, "reason": reason}},
    )
    _finish(
        message, status=FAILED, sealed_body=None, last_error=reason, attempts=message.attempts + 1
    )
    result.failed += 1


def _retry_later(message: OutboxMessage, reason: str, result: PassResult) -> None:
    attempts = message.attempts + 1
    now = utcnow()
    give_up_after = timedelta(seconds=current_app.config["SETTINGS"].mail_retry_seconds)
    if now - message.created_at >= give_up_after:
        _failed(message, f"still failing after {attempts} attempts: {reason}", result)
        return
    log.warning(
        "mail delivery failed, will retry",
        extra={
            "fields": {
                "message_id": str(message.id),
                "kind": message.kind,
                "attempts": attempts,
                "reason": reason,
            }
        },
    )
    _finish(
        message,
        attempts=attempts,
        last_error=reason,
        next_attempt_at=now + backoff(attempts),
    )
    result.retrying += 1


def _open(message: OutboxMessage) -> dict[str, str] | None:
    try:
        return dict(
            json.loads(
                open_sealed(
                    current_app.config["SECRET_KEY"], SEAL_PURPOSE, message.sealed_body or ""
                )
            )
        )
    except Unreadable:
        return None


def send_pending(*, limit: int = BATCH) -> PassResult:
    """One pass: claim up to `limit` due messages and try each once."""
    result = PassResult()
    messages = claim_due(limit)
    if not messages:
        return result
    settings = current_app.config["SETTINGS"]
    if settings.mail_url is None:
        _deliver(messages, LogConnection(), settings.mail_from, result)
        return result
    server = parse_mail_url(settings.mail_url)
    try:
        with connect(server) as connection:
            _deliver(messages, connection, settings.mail_from, result)
    except DeliveryError as exc:
        # Could not open (or keep) a session: every message not yet handled waits.
        for message in messages[result.handled :]:
            if exc.permanent:
                _failed(message, exc.reason, result)
            else:
                _retry_later(message, exc.reason, result)
    return result


def _deliver(
    messages: list[OutboxMessage], connection: Sender, sender: str, result: PassResult
) -> None:
    for message in messages:
        body = _open(message)
        if body is None:
            _failed(
                message, "the body cannot be opened: SECRET_KEY changed since it was queued", result
            )
            continue
        try:
            connection.send(build(message, sender, body))
        except DeliveryError as exc:
            if not exc.permanent:
                # The session may be unusable now; the rest wait for the next pass.
                _retry_later(message, exc.reason, result)
                raise
            _failed(message, exc.reason, result)
            continue
        _finish(
            message,
            status=SENT,
            sent_at=utcnow(),
            sealed_body=None,
            attempts=message.attempts + 1,
            last_error=None,
        )
        result.sent += 1
        log.info(
            "mail sent",
            extra={"fields": {"message_id": str(message.id), "kind": message.kind}},
        )


def run_worker(*, interval: float, stop: threading.Event) -> None:
    """Pass after pass until `stop` is set; a full pass goes again at once."""
    while not stop.is_set():
        try:
            result = send_pending()
        except Exception:  # the database went away, say: log it and keep going
            log.exception("mail delivery pass failed")
            db.session.rollback()
            result = PassResult()
        finally:
            db.session.remove()
        if result.handled < BATCH:
            stop.wait(interval)


def counts() -> dict[str, int]:
    """Messages by status (every status, zero included)."""
    rows = db.session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    )
    found = {status: int(count) for status, count in rows}
    return {status: found.get(status, 0) for status in STATUSES}


def next_due() -> datetime | None:
    return db.session.scalar(
        select(func.min(OutboxMessage.next_attempt_at)).where(OutboxMessage.status == PENDING)
    )


class OutboxCollector:
    """`flaskou_mail_messages{status}` for /metrics: the outbox by status, read
    from the database at each scrape (so every instance reports the same
    shared queue). Nothing is reported while the database does not answer."""

    def describe(self) -> list[GaugeMetricFamily]:
        return [self._family()]

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "flaskou_mail_messages",
            "Messages in the mail outbox by status (pending, sent, failed).",
            labels=["status"],
        )

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if not has_app_context():  # scraped outside a request: nothing to ask
            return
        try:
            by_status = counts()
            db.session.rollback()
        except SQLAlchemyError:
            db.session.rollback()
            log.warning("mail outbox counts unavailable for /metrics")
            return
        family = self._family()
        for status, count in by_status.items():
            family.add_metric([status], count)
        yield family
