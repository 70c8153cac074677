"""Session rules: issuing, checking and revoking bearer tokens.

A token is 256 random bits shown to the client once. The database keeps only
its SHA-256, behind a unique index, so checking a token is a single indexed
lookup however many sessions exist, and a stolen database reveals no token.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, delete, insert, select, update

from flaskou.accounts.models import AccountSnapshot, User, account_of_rows, select_with_account
from flaskou.audit.service import Actor, record, rows_changed
from flaskou.errors import NotFound
from flaskou.extensions import db
from flaskou.hotpath import Compiled, autocommit_cursor, transaction_cursor
from flaskou.models import key_or_not_found, utcnow
from flaskou.sessions.models import LoginSession

TOKEN_BYTES = 32
# last_used_at is refreshed at most this often, so a busy client does not
# turn every read into a database write.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


@dataclasses.dataclass(frozen=True, slots=True)
class IssuedSession:
    """A session just opened, as its sign-in answer shows it."""

    id: uuid.UUID
    description: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime


def _purge_query() -> Any:
    return delete(LoginSession).where(
        LoginSession.user_id == bindparam("user_id"),
        LoginSession.expires_at <= bindparam("now"),
    )


def _insert_query() -> Any:
    return insert(LoginSession)  # every column, each a bind parameter named after it


# Compiled once per dialect and run on the sign-in's own transaction.
_PURGE = Compiled(_purge_query)
_INSERT = Compiled(_insert_query)


def open_session(user: User, *, description: str, ttl_seconds: int) -> tuple[IssuedSession, str]:
    """A new session for an authenticated user, and its token (shown once).

    Written, not committed: the caller commits it with what records it (a
    login and its audit event are one transaction, so no crash between
    them can leave a session nobody knows was opened).

    Two compiled statements on the transaction's cursor rather than an ORM
    object: a sign-in needs nothing back from the row but what it wrote, and
    the unit of work (then an execution context per statement) cost more
    than the argon2 budget allows (issue #13)."""
    now = utcnow()
    token = new_token()
    issued = IssuedSession(
        id=uuid.uuid4(),
        description=description[:300],
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    with transaction_cursor() as (cursor, dialect):
        # Expired sessions of this user are dead weight; clear them while we are here.
        _PURGE.execute(cursor, dialect, {"user_id": user.id, "now": now})
        _INSERT.execute(
            cursor,
            dialect,
            {
                "id": issued.id,
                "user_id": user.id,
                "token_hash": hash_token(token),
                "description": issued.description,
                "created_at": now,
                "last_used_at": now,
                "expires_at": issued.expires_at,
            },
        )
    return issued, token


@dataclasses.dataclass(frozen=True, slots=True)
class LiveSession:
    """A live session as the credential check read it: its id and its account."""

    id: uuid.UUID
    account: AccountSnapshot


def _principal_query() -> Select[Any]:
    """The whole principal in one statement: the session by its token's hash,
    its account, and the account's roles."""
    sessions = LoginSession.__table__
    return select_with_account(
        sessions, sessions.c.user_id, sessions.c.id, sessions.c.last_used_at
    ).where(
        sessions.c.token_hash == bindparam("digest"),
        sessions.c.expires_at > bindparam("now"),
    )


def _touch_query() -> Any:
    """last_used_at, at most once per resolution: conditional, so concurrent
    requests write it once."""
    return (
        update(LoginSession)
        .where(
            LoginSession.id == bindparam("session_id"),
            LoginSession.last_used_at <= bindparam("stale"),
        )
        .values(last_used_at=bindparam("now"))
    )


# Compiled once per database dialect and run on a pooled connection in
# autocommit mode (flaskou.hotpath): one statement, no transaction around it.
PRINCIPAL = Compiled(_principal_query)
TOUCH = Compiled(_touch_query)


def session_for_token(token: str) -> LiveSession | None:
    """The live session holding this token, with its (active) account, or None.

    One indexed lookup per request, nothing remembered between requests: a
    revoked session, a removed role or a deactivated account counts on the
    very next request, on every instance. The connection is back in the pool
    before the route runs."""
    if not token or len(token) > 512:
        return None
    now = utcnow()
    with autocommit_cursor() as (cursor, dialect):
        rows = PRINCIPAL.rows(cursor, dialect, {"digest": hash_token(token), "now": now})
        if not rows:
            return None
        session_id, last_used_at = rows[0][0], rows[0][1]
        account = account_of_rows(rows, 2)
        if not account.is_active:
            return None
        if now - last_used_at >= LAST_USED_RESOLUTION:
            stale = now - LAST_USED_RESOLUTION
            TOUCH.execute(cursor, dialect, {"session_id": session_id, "stale": stale, "now": now})
    return LiveSession(session_id, account)


def live_sessions(user: User) -> list[LoginSession]:
    return list(
        db.session.scalars(
            select(LoginSession)
            .where(LoginSession.user_id == user.id, LoginSession.expires_at > utcnow())
            .order_by(LoginSession.created_at.desc(), LoginSession.id)
        )
    )


def _end_session(user: User, key: uuid.UUID) -> bool:
    """Delete one of the user's sessions, uncommitted; False if it was not there.

    A conditional DELETE, not a read then a delete: of concurrent revocations
    of one session exactly one removes the row (PostgreSQL makes the others
    wait for its commit and then match nothing; SQLite runs writers one at a
    time), and only that one may record an event.
    """
    result = db.session.execute(
        delete(LoginSession)
        .where(LoginSession.id == key, LoginSession.user_id == user.id)
        .execution_options(synchronize_session=False)
    )
    return rows_changed(result) == 1


def revoke_session(user: User, session_id: uuid.UUID | str, *, actor: Actor) -> None:
    """Revoke one of the user's own sessions; anyone else's, or one already
    revoked (by a concurrent request too), is 'not found'."""
    key = key_or_not_found(session_id, "session")
    if not _end_session(user, key):
        db.session.rollback()
        raise NotFound("No such session.")
    record(actor, "session_revoked", target=str(key))
    db.session.commit()


def logout(user: User, session_id: uuid.UUID, *, actor: Actor) -> bool:
    """End the caller's current session. False if a concurrent request (a
    revocation, "log out everywhere") ended it first: the goal holds, so this
    is no error, but only the request that ended it is audited."""
    ended = _end_session(user, session_id)
    if ended:
        record(actor, "logout", target=str(session_id))
    db.session.commit()
    return ended


def end_all_sessions(user: User) -> int:
    """Delete every session of the user, uncommitted and unaudited: for a
    change recorded by its own event (a deactivation) in the same transaction."""
    result = db.session.execute(
        delete(LoginSession)
        .where(LoginSession.user_id == user.id)
        .execution_options(synchronize_session=False)
    )
    return rows_changed(result)


def stage_revoke_all_sessions(
    user: User,
    *,
    actor: Actor,
    keep: uuid.UUID | None = None,
    reason: str = "log out everywhere",
) -> int:
    """Revoke every session of the user but the one with id `keep`, uncommitted, so it can join
    the change that causes it (a new password); answers how many.

    The event carries the count this request actually deleted; when a
    concurrent request deleted them all first, nothing changed and nothing is
    recorded.
    """
    statement = delete(LoginSession).where(LoginSession.user_id == user.id)
    if keep is not None:
        statement = statement.where(LoginSession.id != keep)
    count = rows_changed(db.session.execute(statement.execution_options(synchronize_session=False)))
    if count:
        record(actor, "session_revoked", target=user.username, all=True, count=count, reason=reason)
    return count


def revoke_all_sessions(user: User, *, actor: Actor) -> int:
    """Log out everywhere: every session of the user, committed."""
    count = stage_revoke_all_sessions(user, actor=actor)
    db.session.commit()
    return count
