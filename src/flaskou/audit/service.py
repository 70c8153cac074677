"""Recording and reading the audit trail.

`record()` adds the event to the current transaction, so an event is stored
if and only if the change it describes is committed. Callers never pass a
password or a token; `detail` holds names, ids and flags only.

audit is the bottom of the domain packages (see tests/test_architecture.py):
every other domain records events, so it imports none of them. Who acted is
therefore anything with an id and a username (`Person`), not accounts' User.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any, Protocol

from sqlalchemy import Result, insert, select

from flaskou.audit.models import AuditEvent
from flaskou.errors import ValidationFailed
from flaskou.extensions import db
from flaskou.hotpath import Compiled, transaction_cursor
from flaskou.models import utcnow
from flaskou.pagination import Page, before, decode_cursor, page_of

ACTIONS = (
    "signup",
    "login",
    "login_failed",
    "logout",
    "session_revoked",
    "password_changed",
    "email_changed",
    "email_verified",
    "password_reset_requested",
    "password_reset",
    "account_deleted",
    "user_updated",
    "user_deleted",
    "role_created",
    "role_updated",
    "role_deleted",
    "role_granted",
    "role_revoked",
    "mfa_enabled",
    "mfa_disabled",
    "recovery_codes_generated",
    "recovery_code_used",
    "passkey_added",
    "passkey_removed",
    "mfa_reset",
    "mfa_failed",
    "file_uploaded",
    "file_deleted",
    "api_key_created",
    "api_key_revoked",
)


class Person(Protocol):
    """Someone who can act: an account, as far as the audit trail cares."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def username(self) -> str: ...


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who is acting and from where: a user (or None), a client address and
    the client's own description of itself (its user agent), for notices;
    and the API key they act with, if they do (every event names it, so an
    owner can trace what a leaked key did)."""

    user: Person | None
    ip: str
    device: str = "unknown client"
    api_key: str | None = None

    @classmethod
    def operator(cls) -> Actor:
        """Someone at the server's command line."""
        return cls(user=None, ip="cli", device="the server's command line")


def _fields(
    actor: Actor, action: str, target: str | None, user: Person | None, detail: dict[str, Any]
) -> dict[str, Any]:
    assert action in ACTIONS, action
    who = user if user is not None else actor.user
    if actor.api_key is not None:
        detail = {**detail, "api_key": actor.api_key}
    return {
        "at": utcnow(),
        "actor": who.username if who is not None else None,
        "actor_id": who.id if who is not None else None,
        "action": action,
        "target": target,
        "ip": actor.ip[:64],
        "detail": detail,
    }


def record(
    actor: Actor,
    action: str,
    *,
    target: str | None = None,
    user: Person | None = None,
    **detail: Any,
) -> AuditEvent:
    event = AuditEvent(**_fields(actor, action, target, user, detail))
    db.session.add(event)
    return event


# Every column, each a bind parameter named after it; compiled once per dialect.
_INSERT_EVENT = Compiled(lambda: insert(AuditEvent))


def record_now(
    actor: Actor,
    action: str,
    *,
    target: str | None = None,
    user: Person | None = None,
    **detail: Any,
) -> None:
    """record(), written at once by one compiled INSERT on the transaction's
    cursor instead of at the next flush: the same row, in the same
    transaction. For a hot path (every sign-in) where the ORM's unit of work
    for one event costs more than the statement; only where the event's
    user is already stored, since nothing is flushed before it."""
    row = {"id": uuid.uuid4(), **_fields(actor, action, target, user, detail)}
    with transaction_cursor() as (cursor, dialect):
        _INSERT_EVENT.execute(cursor, dialect, row)


def rows_changed(result: Result[Any]) -> int:
    """How many rows a DELETE or UPDATE changed, i.e. whether there is anything to record.

    Every domain makes a change conditional (`DELETE ... WHERE` the row is
    still there) and records its event only when the count says it won, in
    the same transaction: of concurrent requests exactly one is audited.
    """
    return int(getattr(result, "rowcount", 0) or 0)


def list_events(
    *, limit: int, cursor: str | None, actor: str | None = None, action: str | None = None
) -> Page[AuditEvent]:
    if action is not None and action not in ACTIONS:
        raise ValidationFailed(
            "Unknown action.", errors={"action": [f"Use one of: {', '.join(ACTIONS)}."]}
        )
    query = select(AuditEvent)
    if actor is not None:
        query = query.where(AuditEvent.actor == actor.strip().lower())
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if cursor is not None:
        at, last_id = decode_cursor(cursor, ("datetime", "uuid"))
        query = query.where(before((AuditEvent.at, AuditEvent.id), (at, last_id)))
    rows = list(
        db.session.scalars(
            query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit + 1)
        )
    )
    return page_of(rows, limit, lambda event: (event.at, event.id))
