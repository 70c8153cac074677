"""Every way of signing in, in one place: a password, a password and a
second factor, or a passkey alone. Each ends the same way: a new session and
a `login` event, committed together.

Like flaskou.lifecycle this sits above the domains: accounts checks the
password, mfa checks the factors, sessions opens the session.
"""

from __future__ import annotations

from flaskou.accounts import service as accounts
from flaskou.accounts.models import User
from flaskou.audit.service import Actor, record_now
from flaskou.errors import MfaRequired
from flaskou.extensions import db
from flaskou.mfa import service as mfa
from flaskou.sessions import service as sessions
from flaskou.sessions.service import IssuedSession


def _open(
    user: User, *, method: str, description: str, ttl_seconds: int, actor: Actor
) -> tuple[IssuedSession, str]:
    issued, token = sessions.open_session(user, description=description, ttl_seconds=ttl_seconds)
    record_now(actor, "login", target=str(issued.id), user=user, method=method)
    db.session.commit()
    return issued, token


def with_password(
    identifier: str, password: str, *, description: str, ttl_seconds: int, actor: Actor
) -> tuple[IssuedSession, str]:
    """A session for the right password, or (an account with a second
    factor) MfaRequired carrying a single-use `mfa_token`."""
    user = accounts.authenticate(identifier, password, actor=actor)
    if user.mfa_enabled:
        token, methods = mfa.begin_sign_in(user)
        db.session.commit()
        raise MfaRequired(
            "The password is right; complete the sign-in with a second factor "
            "(POST /api/v1/login/mfa).",
            members={"mfa_token": token, "methods": methods},
        )
    return _open(
        user, method="password", description=description, ttl_seconds=ttl_seconds, actor=actor
    )


def with_second_factor(
    mfa_token: str,
    *,
    description: str,
    ttl_seconds: int,
    actor: Actor,
    code: str | None = None,
    recovery_code: str | None = None,
    credential: dict[str, object] | None = None,
) -> tuple[IssuedSession, str]:
    user, method = mfa.complete_sign_in(
        mfa_token, actor=actor, code=code, recovery_code=recovery_code, credential=credential
    )
    return _open(
        user,
        method=f"password+{method}",
        description=description,
        ttl_seconds=ttl_seconds,
        actor=actor,
    )


def with_passkey(
    credential: dict[str, object], *, description: str, ttl_seconds: int, actor: Actor
) -> tuple[IssuedSession, str]:
    """A passkey with user verification is a whole sign-in: no password."""
    user = mfa.passkey_sign_in(credential, actor=actor)
    accounts.ensure_may_sign_in(user, actor=actor)
    return _open(
        user, method="passkey", description=description, ttl_seconds=ttl_seconds, actor=actor
    )
