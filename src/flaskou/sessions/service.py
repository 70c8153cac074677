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

from flaskou.accounts import service as accounts
from flaskou.accounts.models import User
from flaskou.audit.service import Actor, record
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
    """A new session for an authenticated user, and its token (shown once)."""
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
    db.session.commit()
    return session, token


def login(
    identifier: str, password: str, *, description: str, ttl_seconds: int, actor: Actor
) -> tuple[LoginSession, str]:
    user = accounts.authenticate(identifier, password, actor=actor)
    session, token = open_session(user, description=description, ttl_seconds=ttl_seconds)
    record(actor, "login", target=str(session.id), user=user)
    db.session.commit()
    return session, token


def session_for_token(token: str) -> LoginSession | None:
    """The live session holding this token, with its user, or None."""
    if not token or len(token) > 512:
        return None
    now = utcnow()
    session = db.session.scalar(
        select(LoginSession).where(
            LoginSession.token_hash == hash_token(token), LoginSession.expires_at > now
        )
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


def revoke_session(
    user: User, session_id: uuid.UUID | str, *, actor: Actor, action: str = "session_revoked"
) -> LoginSession:
    """Revoke one of the user's own sessions; anyone else's is 'not found'."""
    try:
        key = session_id if isinstance(session_id, uuid.UUID) else uuid.UUID(session_id)
    except ValueError:
        raise NotFound("No such session.") from None
    session = db.session.scalar(
        select(LoginSession).where(LoginSession.id == key, LoginSession.user_id == user.id)
    )
    if session is None:
        raise NotFound("No such session.")
    db.session.delete(session)
    record(actor, action, target=str(session.id))
    db.session.commit()
    return session


def revoke_all_sessions(
    user: User,
    *,
    actor: Actor,
    keep: LoginSession | None = None,
    reason: str = "log out everywhere",
) -> int:
    statement = delete(LoginSession).where(LoginSession.user_id == user.id)
    if keep is not None:
        statement = statement.where(LoginSession.id != keep.id)
    result = db.session.execute(statement.execution_options(synchronize_session=False))
    count = int(getattr(result, "rowcount", 0) or 0)
    record(actor, "session_revoked", target=user.username, all=True, count=count, reason=reason)
    db.session.commit()
    return count
