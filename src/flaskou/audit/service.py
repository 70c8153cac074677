"""Recording and reading the audit trail.

`record()` adds the event to the current transaction, so an event is stored
if and only if the change it describes is committed. Callers never pass a
password or a token; `detail` holds names, ids and flags only.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select

from flaskou.audit.models import AuditEvent
from flaskou.errors import ValidationFailed
from flaskou.extensions import db
from flaskou.models import utcnow
from flaskou.pagination import Page, decode_cursor, page_of

if TYPE_CHECKING:
    from flaskou.accounts.models import User

ACTIONS = (
    "signup",
    "login",
    "login_failed",
    "logout",
    "session_revoked",
    "password_changed",
    "email_changed",
    "account_deleted",
    "user_updated",
    "user_deleted",
    "role_created",
    "role_updated",
    "role_deleted",
    "role_granted",
    "role_revoked",
    "file_uploaded",
    "file_deleted",
)


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who is acting and from where: a user (or None) and a client address."""

    user: User | None
    ip: str

    @classmethod
    def operator(cls) -> Actor:
        """Someone at the server's command line."""
        return cls(user=None, ip="cli")


def record(
    actor: Actor,
    action: str,
    *,
    target: str | None = None,
    user: User | None = None,
    **detail: Any,
) -> AuditEvent:
    assert action in ACTIONS, action
    who = user if user is not None else actor.user
    event = AuditEvent(
        at=utcnow(),
        actor=who.username if who is not None else None,
        actor_id=who.id if who is not None else None,
        action=action,
        target=target,
        ip=actor.ip[:64],
        detail=detail,
    )
    db.session.add(event)
    return event


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
        query = query.where(
            or_(AuditEvent.at < at, and_(AuditEvent.at == at, AuditEvent.id < last_id))
        )
    rows = list(
        db.session.scalars(
            query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit + 1)
        )
    )
    return page_of(rows, limit, lambda event: (event.at, event.id))
