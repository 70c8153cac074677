# ruff: noqa: B008 - `= Depends(...)` defaults are the documented FastAPI idiom
"""fastapi-users, its documented SQLAlchemy setup with the database strategy
(an AccessToken table) and a Bearer transport, serving flaskou's
GET /api/v1/users/me.

Runs in its own virtualenv (requirements.txt), never in flaskou's. Settings
from the environment: PEER_DATABASE (a SQLite file), PEER_SECRET.

`python app.py seed ME_JSON` creates the schema and the one user, with the
fields of flaskou's user document (ME_JSON, a file); the benchmark then logs
in over HTTP (POST /auth/db/login, a form) for the token, and sends it as
`Authorization: Bearer`.
"""

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncGenerator
from datetime import UTC, datetime

from fastapi import Depends, FastAPI
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin
from fastapi_users.authentication import AuthenticationBackend, BearerTransport
from fastapi_users.authentication.strategy.db import AccessTokenDatabase, DatabaseStrategy
from fastapi_users.password import PasswordHelper
from fastapi_users_db_sqlalchemy import SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase
from fastapi_users_db_sqlalchemy.access_token import (
    SQLAlchemyAccessTokenDatabase,
    SQLAlchemyBaseAccessTokenTableUUID,
)
from sqlalchemy import Column, DateTime, ForeignKey, String, Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

PASSWORD = "benchmark password"  # noqa: S105 - the benchmark account's password
SECRET = os.environ["PEER_SECRET"]
DATABASE_URL = "sqlite+aiosqlite:///" + os.environ["PEER_DATABASE"]


class Base(DeclarativeBase):
    pass


# flaskou's document lists the user's roles; fastapi-users has none, so the
# peer gets the plain many-to-many flaskou has, loaded with the user.
user_roles = Table(
    "user_roles",
    Base.metadata,
    Column("user_id", ForeignKey("user.id", ondelete="cascade"), primary_key=True),
    Column("role_id", ForeignKey("role.id", ondelete="cascade"), primary_key=True),
)


class Role(Base):
    __tablename__ = "role"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)


class User(SQLAlchemyBaseUserTableUUID, Base):
    # The fields of flaskou's user document that fastapi-users lacks.
    username: Mapped[str] = mapped_column(String(39), unique=True)
    mfa_enabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    # Async sessions cannot load lazily: the roles come with the user.
    roles: Mapped[list[Role]] = relationship(secondary=user_roles, lazy="selectin")


class AccessToken(SQLAlchemyBaseAccessTokenTableUUID, Base):
    pass


engine = create_async_engine(DATABASE_URL)
async_session_maker = async_sessionmaker(engine, expire_on_commit=False)


async def get_async_session() -> AsyncGenerator[AsyncSession, None]:
    async with async_session_maker() as session:
        yield session


async def get_user_db(session: AsyncSession = Depends(get_async_session)):
    yield SQLAlchemyUserDatabase(session, User)


async def get_access_token_db(session: AsyncSession = Depends(get_async_session)):
    yield SQLAlchemyAccessTokenDatabase(session, AccessToken)


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    reset_password_token_secret = SECRET
    verification_token_secret = SECRET


async def get_user_manager(user_db: SQLAlchemyUserDatabase = Depends(get_user_db)):
    yield UserManager(user_db)


def get_database_strategy(
    access_token_db: AccessTokenDatabase[AccessToken] = Depends(get_access_token_db),
) -> DatabaseStrategy:
    return DatabaseStrategy(access_token_db, lifetime_seconds=3600 * 6)


bearer_transport = BearerTransport(tokenUrl="auth/db/login")
auth_backend = AuthenticationBackend(
    name="db", transport=bearer_transport, get_strategy=get_database_strategy
)
fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [auth_backend])
current_active_user = fastapi_users.current_user(active=True)

app = FastAPI()
app.include_router(fastapi_users.get_auth_router(auth_backend), prefix="/auth/db")


def _instant(value: datetime) -> str:
    # SQLite keeps naive datetimes; they were stored in UTC.
    return value.replace(tzinfo=UTC).isoformat()


@app.get("/api/v1/users/me")
async def me(user: User = Depends(current_active_user)) -> dict:
    return {
        "id": str(user.id),
        "username": user.username,
        "email": user.email,
        "email_verified": user.is_verified,
        "mfa_enabled": user.mfa_enabled,
        "roles": [role.name for role in user.roles],
        "is_active": user.is_active,
        "created_at": _instant(user.created_at),
        "updated_at": _instant(user.updated_at),
    }


async def seed(document: dict) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    async with async_session_maker() as session:
        session.add(
            User(
                id=uuid.UUID(document["id"]),
                email=document["email"],
                username=document["username"],
                hashed_password=PasswordHelper().hash(PASSWORD),
                is_active=document["is_active"],
                is_verified=document["email_verified"],
                mfa_enabled=document["mfa_enabled"],
                created_at=datetime.fromisoformat(document["created_at"]).replace(tzinfo=None),
                updated_at=datetime.fromisoformat(document["updated_at"]).replace(tzinfo=None),
                roles=[Role(name=name) for name in document["roles"]],
            )
        )
        await session.commit()
    await engine.dispose()


if __name__ == "__main__" and sys.argv[1:2] == ["seed"]:
    with open(sys.argv[2]) as handle:
        asyncio.run(seed(json.load(handle)))
