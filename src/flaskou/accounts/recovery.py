"""Email verification and password reset: tokens sent by mail, and the
notices that tell an account's owner what just happened to it.

Every message is queued in the transaction of the change that causes it
(flaskou.mail.outbox), so it goes out if and only if the change is
committed. Tokens carry 256 random bits and are kept only as SHA-256; a
token is spent by deleting its row, conditionally, so it works once.

Nothing here tells a caller whether an address has an account: a reset for
an unknown address does the same amount of visible work (none) and answers
the same.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, select

from flaskou.accounts import passwords
from flaskou.accounts.models import PASSWORD_RESET, VERIFY_EMAIL, AccountToken, User
from flaskou.accounts.strength import password_errors
from flaskou.audit.service import Actor, record, rows_changed
from flaskou.errors import Conflict, InvalidToken, TooManyRequests, ValidationFailed
from flaskou.extensions import db
from flaskou.mail import outbox
from flaskou.models import utcnow
from flaskou.throttling import spend_allowance

TOKEN_BYTES = 32
VERIFY_EMAIL_TTL = timedelta(hours=48)
INVALID_LINK = (
    "This link is not valid: it may have expired or been used already. Ask for a new one."
)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _settings() -> Any:  # flaskou.settings.Settings (above the domains)
    return current_app.config["SETTINGS"]


def _link(path: str, token: str) -> str:
    # A fragment: the token never reaches a server log or a Referer header.
    return f"{_settings().public_url}{path}#token={token}"


def _issue(user: User, purpose: str, ttl: timedelta, *, email: str | None = None) -> str:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    db.session.add(
        AccountToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=_hash(token),
            email=email,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    return token


def void_tokens(user: User, purpose: str) -> None:
    """Spend every outstanding token of this kind (uncommitted)."""
    db.session.execute(
        delete(AccountToken)
        .where(AccountToken.user_id == user.id, AccountToken.purpose == purpose)
        .execution_options(synchronize_session=False)
    )


def _spend(token: str, purpose: str) -> AccountToken:
    """The token's row, deleted (uncommitted): it cannot be spent again."""
    found = db.session.scalar(
        select(AccountToken).where(
            AccountToken.token_hash == _hash(token), AccountToken.purpose == purpose
        )
    )
    if found is None or found.expires_at <= utcnow():
        raise InvalidToken(INVALID_LINK)
    result = db.session.execute(
        delete(AccountToken)
        .where(AccountToken.id == found.id)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(result) != 1:  # spent by a concurrent request
        db.session.rollback()
        raise InvalidToken(INVALID_LINK)
    return found


def mail_allowance(recipient: str) -> None:
    """RATE_LIMIT_MAIL per address mailed, whether or not it has an account
    (so the answer says nothing about that). Raises TooManyRequests."""
    key = hashlib.sha256(f"{current_app.config['SECRET_KEY']}:{recipient}".encode()).hexdigest()
    wait = spend_allowance(_settings().rate_limit_mail, "mail-recipient", key)
    if wait is not None:
        raise TooManyRequests(
            "Too many messages were asked for this address; try again later.", retry_after=wait
        )


def stage_verification(user: User) -> None:
    """Queue a verification link for the user's current address (uncommitted)."""
    token = _issue(user, VERIFY_EMAIL, VERIFY_EMAIL_TTL, email=user.email)
    outbox.enqueue(
        user.email,
        "verify_email",
        username=user.username,
        email=user.email,
        link=_link("/verify-email", token),
    )


def send_verification(user: User) -> None:
    """The owner asks for a (new) verification link."""
    if user.email_verified:
        raise Conflict("This email address is already verified.")
    mail_allowance(user.email)
    stage_verification(user)
    db.session.commit()


def verify_email(token: str, *, actor: Actor) -> User:
    """Mark the address the link was sent to as verified, if it is still the account's."""
    spent = _spend(token, VERIFY_EMAIL)
    user = db.session.get(User, spent.user_id)
    if user is None or spent.email != user.email:
        # The address changed since: this link proves nothing about the new one.
        db.session.commit()  # the stale token stays spent
        raise InvalidToken(INVALID_LINK)
    if not user.email_verified:
        user.email_verified = True
        record(actor, "email_verified", target=user.username, user=user)
    db.session.commit()
    return user


def request_password_reset(email: str, user: User | None, *, actor: Actor) -> None:
    """Mail a reset link if `user` (the active account with this address) exists.

    The per-recipient allowance is spent for every address, so a 429 comes
    alike for addresses with and without an account.
    """
    mail_allowance(email)
    if user is None or not user.is_active:
        record(actor, "password_reset_requested", outcome="no_active_account")
        db.session.commit()
        return
    void_tokens(user, PASSWORD_RESET)  # a new link voids the earlier ones
    ttl = timedelta(seconds=_settings().password_reset_ttl_seconds)
    token = _issue(user, PASSWORD_RESET, ttl)
    outbox.enqueue(
        user.email,
        "password_reset",
        username=user.username,
        link=_link("/reset-password", token),
        ttl_minutes=max(1, ttl.seconds // 60 + ttl.days * 1440),
        ip=actor.ip,
        device=actor.device,
    )
    record(actor, "password_reset_requested", target=user.username, user=user)
    db.session.commit()


def stage_password_reset(token: str, new_password: str, *, actor: Actor) -> User:
    """Spend the token and set the password (uncommitted); the caller ends the
    account's sessions in the same transaction (flaskou.lifecycle)."""
    spent = _spend(token, PASSWORD_RESET)
    user = db.session.get(User, spent.user_id)
    if user is None or not user.is_active:
        db.session.rollback()
        raise InvalidToken(INVALID_LINK)
    if messages := password_errors(new_password, (user.username, user.email)):
        db.session.rollback()  # a refused password does not spend the link
        raise ValidationFailed("Some fields are invalid.", errors={"password": messages})
    user.password_hash = passwords.hash_password(new_password)
    void_tokens(user, PASSWORD_RESET)
    record(actor, "password_reset", target=user.username, user=user)
    notify(user, "password_reset_done", actor=actor)
    return user


def notify(
    user: User, kind: str, *, actor: Actor, to: str | None = None, **context: object
) -> None:
    """Queue a security notice to the account's address (or `to`), uncommitted."""
    outbox.enqueue(
        to or user.email,
        kind,
        username=user.username,
        ip=actor.ip,
        device=actor.device,
        **context,
    )
