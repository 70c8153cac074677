"""API key rules: issuing, checking and revoking personal API keys.

A key is a bearer token like a session's, told apart by its `fko_` prefix
(so secret scanners can find a leaked one): 36 random base62 characters
(214 bits) and a 6-character checksum of them, which lets a mistyped or
truncated key be refused without a database query. Only its SHA-256 is
stored, behind a unique index, so checking a key is one indexed lookup,
like a session's, and a copy of the database reveals none.

A key is never more than its owner: the check reads the owner's account and
roles with the key (one statement), so a deactivated owner's keys stop at
once, and an admin scope counts only while the owner holds the admin role.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
import string
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, or_, select, update

from flaskou.accounts import recovery
from flaskou.accounts.models import AccountSnapshot, User, account_of_rows, select_with_account
from flaskou.apikeys.models import ApiKey
from flaskou.apikeys.scopes import ROLE_OF_SCOPE, SCOPES
from flaskou.audit.service import Actor, record, rows_changed
from flaskou.errors import Conflict, NotFound, ValidationFailed
from flaskou.extensions import db
from flaskou.hotpath import Compiled, autocommit_cursor
from flaskou.models import key_or_not_found, utcnow

TOKEN_PREFIX = "fko_"  # noqa: S105 (the mark of a key, not a secret)
_ALPHABET = string.ascii_letters + string.digits
_RANDOM_CHARS = 36
_CHECK_CHARS = 6
# What the owner sees of a key in a list: the prefix and 8 characters.
SHOWN_CHARS = len(TOKEN_PREFIX) + 8
# last_used_at is refreshed at most this often (as a session's is), so a
# busy script does not turn every read into a database write.
LAST_USED_RESOLUTION = timedelta(seconds=60)
# Enough for any honest use; a bound on what one account can store.
MAX_KEYS_PER_ACCOUNT = 100


def _checksum(body: str) -> str:
    value = zlib.crc32(body.encode("ascii"))
    digits = []
    for _ in range(_CHECK_CHARS):
        value, digit = divmod(value, len(_ALPHABET))
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits))


def new_token() -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_CHARS))
    return TOKEN_PREFIX + body + _checksum(body)


def is_key_token(token: str) -> bool:
    """Whether a bearer token is meant as an API key (whatever its shape)."""
    return token.startswith(TOKEN_PREFIX)


_SHAPE = re.compile(f"{TOKEN_PREFIX}[A-Za-z0-9]{{{_RANDOM_CHARS + _CHECK_CHARS}}}")


def well_formed(token: str) -> bool:
    """The shape and checksum of a key, checked without the database."""
    if _SHAPE.fullmatch(token) is None:
        return False
    body = token[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + _RANDOM_CHARS]
    check = token[len(TOKEN_PREFIX) + _RANDOM_CHARS :]
    return secrets.compare_digest(check, _checksum(body))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


@dataclasses.dataclass(frozen=True, slots=True)
class LiveKey:
    """A usable key as the credential check read it: its id, its scopes, its owner."""

    id: uuid.UUID
    scopes: frozenset[str]
    account: AccountSnapshot


def _key_query() -> Select[Any]:
    """The key by its token's hash, unexpired, with its owner and the owner's
    roles: the same shape as a session's check."""
    keys = ApiKey.__table__
    return select_with_account(
        keys, keys.c.user_id, keys.c.id, keys.c.last_used_at, keys.c.scopes
    ).where(
        keys.c.token_hash == bindparam("digest"),
        or_(keys.c.expires_at.is_(None), keys.c.expires_at > bindparam("now")),
    )


def _touch_query() -> Any:
    """last_used_at, at most once per resolution (conditional, so concurrent
    requests write it once)."""
    return (
        update(ApiKey)
        .where(
            ApiKey.id == bindparam("key_id"),
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= bindparam("stale")),
        )
        .values(last_used_at=bindparam("now"))
    )


KEY = Compiled(_key_query)
TOUCH = Compiled(_touch_query)


def key_for_token(token: str) -> LiveKey | None:
    """The usable key with this token, with its (active) owner, or None.

    Like a session's check: one indexed lookup on a pooled connection in
    autocommit mode, nothing remembered between requests."""
    if not well_formed(token):
        return None
    now = utcnow()
    with autocommit_cursor() as (cursor, dialect):
        rows = KEY.rows(cursor, dialect, {"digest": hash_token(token), "now": now})
        if not rows:
            return None
        key_id, last_used_at, scopes = rows[0][0], rows[0][1], rows[0][2]
        account = account_of_rows(rows, 3)
        if not account.is_active:
            return None
        if last_used_at is None or now - last_used_at >= LAST_USED_RESOLUTION:
            stale = now - LAST_USED_RESOLUTION
            TOUCH.execute(cursor, dialect, {"key_id": key_id, "stale": stale, "now": now})
    return LiveKey(key_id, frozenset(scopes.split()), account)


def _checked_scopes(user: User, scopes: list[str]) -> list[str]:
    unknown = sorted({scope for scope in scopes if scope not in SCOPES})
    if unknown:
        raise ValidationFailed(
            "Unknown scope.", errors={"scopes": [f"Unknown scope: {', '.join(unknown)}."]}
        )
    if not scopes:
        raise ValidationFailed(
            "A key needs at least one scope.", errors={"scopes": ["Choose at least one scope."]}
        )
    lacking = sorted(
        scope
        for scope in set(scopes)
        if scope in ROLE_OF_SCOPE and not user.has_role(ROLE_OF_SCOPE[scope])
    )
    if lacking:
        raise ValidationFailed(
            "That scope needs a role this account does not hold.",
            errors={
                "scopes": [f"{scope} needs the {ROLE_OF_SCOPE[scope]} role." for scope in lacking]
            },
        )
    return sorted(set(scopes))


def create_key(
    user: User,
    *,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
    actor: Actor,
) -> tuple[ApiKey, str]:
    """A new key for the caller, and its token (shown once); committed with
    its audit event and the owner's notice."""
    name = name.strip()
    if not name:
        raise ValidationFailed("The name is empty.", errors={"name": ["Give the key a name."]})
    granted = _checked_scopes(user, scopes)
    now = utcnow()
    if expires_at is not None:
        expires_at = expires_at.astimezone(UTC)
    if expires_at is not None and expires_at <= now:
        raise ValidationFailed(
            "The expiry is in the past.",
            errors={"expires_at": ["Choose a moment in the future (or none)."]},
        )
    held = db.session.scalar(
        select(func.count()).select_from(ApiKey).where(ApiKey.user_id == user.id)
    )
    if (held or 0) >= MAX_KEYS_PER_ACCOUNT:
        raise Conflict(
            f"This account has {MAX_KEYS_PER_ACCOUNT} API keys, the most it can hold; "
            "revoke one first."
        )
    token = new_token()
    key = ApiKey(
        user_id=user.id,
        name=name,
        scopes=" ".join(granted),
        token_hash=hash_token(token),
        prefix=token[:SHOWN_CHARS],
        created_at=now,
        expires_at=expires_at,
    )
    db.session.add(key)
    db.session.flush()
    record(actor, "api_key_created", target=str(key.id), name=name, scopes=granted)
    recovery.notify(
        user,
        "api_key_created",
        actor=actor,
        name=name,
        scopes=granted,
        prefix=key.prefix,
        expires=expires_at.strftime("%d %B %Y at %H:%M UTC") if expires_at else None,
    )
    db.session.commit()
    return key, token


def list_keys(user_id: uuid.UUID) -> list[ApiKey]:
    """Every key of the account, newest first (expired ones too, until revoked)."""
    return list(
        db.session.scalars(
            select(ApiKey)
            .where(ApiKey.user_id == user_id)
            .order_by(ApiKey.created_at.desc(), ApiKey.id)
        )
    )


def revoke_key(
    user: AccountSnapshot | User,
    key_id: uuid.UUID | str,
    *,
    actor: Actor,
    reason: str = "revoked by its owner",
) -> None:
    """Revoke one of the account's keys; anyone else's, or one already
    revoked (by a concurrent request too), is 'not found'. A conditional
    DELETE: of concurrent revocations exactly one records an event."""
    key = key_or_not_found(key_id, "API key")
    result = db.session.execute(
        delete(ApiKey)
        .where(ApiKey.id == key, ApiKey.user_id == user.id)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(result) != 1:
        db.session.rollback()
        raise NotFound("No such API key.")
    record(actor, "api_key_revoked", target=str(key), owner=user.username, reason=reason)
    db.session.commit()


def stage_revoke_all_keys(user: User, *, actor: Actor, reason: str) -> int:
    """Revoke every key of the account, uncommitted, so it joins the change
    that causes it (a password reset, a deactivation); answers how many.
    Audited when there were any."""
    result = db.session.execute(
        delete(ApiKey).where(ApiKey.user_id == user.id).execution_options(synchronize_session=False)
    )
    count = rows_changed(result)
    if count:
        record(
            actor,
            "api_key_revoked",
            target=user.username,
            all=True,
            count=count,
            reason=reason,
        )
    return count


def revoke_all_keys(user: User, *, actor: Actor, reason: str = "operator") -> int:
    """Revoke every key of the account, committed (an operator's incident response)."""
    count = stage_revoke_all_keys(user, actor=actor, reason=reason)
    db.session.commit()
    return count
