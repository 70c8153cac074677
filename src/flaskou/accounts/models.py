from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Boolean, ForeignKey, Select, String, Uuid, false, select
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql import ColumnElement, FromClause

from flaskou.extensions import Model
from flaskou.models import Timestamps, UTCDateTime, UUIDPrimaryKey, utcnow
from flaskou.roles.models import Role, user_roles


class User(UUIDPrimaryKey, Timestamps, Model):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(39), unique=True, nullable=False)
    # Stored lower-cased, so the unique index makes emails unique case-insensitively.
    email: Mapped[str] = mapped_column(String(320), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # Set when the owner follows a verification link sent to `email`; any
    # change of address clears it.
    email_verified: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    # Whether sign-in asks for a second factor: kept by flaskou.mfa, true
    # while the account has a confirmed authenticator app or a passkey.
    mfa_enabled: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )

    roles: Mapped[list[Role]] = relationship(
        secondary=user_roles, lazy="selectin", order_by=Role.name
    )

    @property
    def role_names(self) -> list[str]:
        return [role.name for role in self.roles]

    def has_role(self, name: str) -> bool:
        return any(role.name == name for role in self.roles)

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class Caller(Protocol):
    """Who is asking, as far as ownership and role checks care: a `User`,
    or the `AccountSnapshot` the credential check read (no query needed)."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def username(self) -> str: ...

    def has_role(self, name: str) -> bool: ...


@dataclasses.dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """An account as one query read it: what a request needs to know about
    its caller (who, which roles, the fields of `UserOut`), without an ORM
    entity. Routes that change the account load the `User` itself."""

    id: uuid.UUID
    username: str
    email: str
    is_active: bool
    email_verified: bool
    mfa_enabled: bool
    created_at: datetime
    updated_at: datetime
    role_names: tuple[str, ...]

    def has_role(self, name: str) -> bool:
        return name in self.role_names


def select_with_account(
    credential: FromClause, user_id: ColumnElement[Any], *leading: ColumnElement[Any]
) -> Select[Any]:
    """A credential's check as one statement: its own columns (`leading`),
    then its account's (`AccountSnapshot` order), then a role name; one row
    per role, or one with a NULL role for an account without any. Sessions
    and API keys are both checked this way; the caller adds the WHERE."""
    users, roles = User.__table__, Role.__table__
    return select(
        *leading,
        users.c.id,
        users.c.username,
        users.c.email,
        users.c.is_active,
        users.c.email_verified,
        users.c.mfa_enabled,
        users.c.created_at,
        users.c.updated_at,
        roles.c.name,
    ).select_from(
        credential.join(users, users.c.id == user_id)
        .outerjoin(user_roles, user_roles.c.user_id == users.c.id)
        .outerjoin(roles, roles.c.id == user_roles.c.role_id)
    )


def account_of_rows(rows: Sequence[Sequence[Any]], start: int) -> AccountSnapshot:
    """The account in the rows of a `select_with_account` statement whose
    account columns begin at `start`."""
    first = rows[0]
    return AccountSnapshot(
        id=first[start],
        username=first[start + 1],
        email=first[start + 2],
        is_active=first[start + 3],
        email_verified=first[start + 4],
        mfa_enabled=first[start + 5],
        created_at=first[start + 6],
        updated_at=first[start + 7],
        role_names=tuple(sorted(row[start + 8] for row in rows if row[start + 8] is not None)),
    )


PASSWORD_RESET = "password_reset"  # noqa: S105 (a token purpose)
VERIFY_EMAIL = "verify_email"


class AccountToken(UUIDPrimaryKey, Model):
    """A single-use token sent by mail (a reset or verification link).

    Only its SHA-256 is kept. Spending it deletes the row, so a token works
    at most once however many requests race with it.
    """

    __tablename__ = "account_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    purpose: Mapped[str] = mapped_column(String(20), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    # The address a verification link was sent to: it confirms that one only.
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
