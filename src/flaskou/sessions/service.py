"""Session rules: issuing, checking and revoking bearer tokens.

A token is 256 random bits shown to the client once. The database keeps only
its SHA-256, behind a unique index, so checking a token is a single indexed
lookup however many sessions exist, and a stolen database reveals no token.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import joinedload

from flaskou.accounts.models import User
from flaskou.audit.service import Actor, record, rows_changed
from flaskou.errors import NotFound
from flaskou.extensions import db
from flaskou.models import utcnow
from flaskou.sessions.models import LoginSession

TOKEN_BYTES = 32
# last_used_at is refreshed at most this often, so a busy client does not
# turn every read into a database write.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def open_session(user: User, *, description: str, ttl_seconds: int) -> tuple[LoginSession, str]:
    """A new session for an authenticated user, and its token (shown once).

    Flushed, not committed: the caller commits it with what records it (a
    login and its audit event are one transaction, so no crash between
    them can leave a session nobody knows was opened)."""
    now = utcnow()
    # Expired sessions of this user are dead weight; clear them while we are here.
    db.session.execute(
        delete(LoginSession).where(LoginSession.user_id == user.id, LoginSession.expires_at <= now)
    )
    token = new_token()
    session = LoginSession(
        user=user,
        token_hash=hash_token(token),
        description=description[:300],
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    db.session.add(session)
    db.session.flush()
    return session, token


def session_for_token(token: str) -> LoginSession | None:
    """The live session holding this token, with its user, or None."""
    if not token or len(token) > 512:
        return None
    now = utcnow()
    # One query for the whole principal: the session, its user and the
    # user's roles (joined), so a guarded request asks the database once.
    session = (
        db.session.execute(
            select(LoginSession)
            .options(joinedload(LoginSession.user).joinedload(User.roles))
            .where(LoginSession.token_hash == hash_token(token), LoginSession.expires_at > now)
        )
        .unique()
        .scalar_one_or_none()
    )
    if session is None or not session.user.is_active:
        return None
    if now - session.last_used_at >= LAST_USED_RESOLUTION:
        # Conditional, so concurrent requests write at most once per resolution.
        db.session.execute(
            update(LoginSession)
            .where(
                LoginSession.id == session.id,
                LoginSession.last_used_at <= now - LAST_USED_RESOLUTION,
            )
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        session.last_used_at = now
    return session


def live_sessions(user: User) -> list[LoginSession]:
    return list(
        db.session.scalars(
            select(LoginSession)
            .where(LoginSession.user_id == user.id, LoginSession.expires_at > utcnow())
            .order_by(LoginSession.created_at.desc(), LoginSession.id)
        )
    )


def _session_key(session_id: uuid.UUID | str) -> uuid.UUID:
    try:
        return session_id if isinstance(session_id, uuid.UUID) else uuid.UUID(session_id)
    except ValueError:
        raise NotFound("No such session.") from None


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
    key = _session_key(session_id)
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
    keep: LoginSession | None = None,
    reason: str = "log out everywhere",
) -> int:
    """Revoke every session of the user but `keep`, uncommitted, so it can join
    the change that causes it (a new password); answers how many.

    The event carries the count this request actually deleted; when a
    concurrent request deleted them all first, nothing changed and nothing is
    recorded.
    """
    statement = delete(LoginSession).where(LoginSession.user_id == user.id)
    if keep is not None:
        statement = statement.where(LoginSession.id != keep.id)
    count = rows_changed(db.session.execute(statement.execution_options(synchronize_session=False)))
    if count:
        record(actor, "session_revoked", target=user.username, all=True, count=count, reason=reason)
    return count


def revoke_all_sessions(user: User, *, actor: Actor) -> int:
    """Log out everywhere: every session of the user, committed."""
    count = stage_revoke_all_sessions(user, actor=actor)
    db.session.commit()
    return count
