"""The FastAPI full-stack template's way (tiangolo/full-stack-fastapi-template,
backend/app/api/deps.py): an OAuth2 bearer JWT decoded with PyJWT, then the
user read by id through a SQLModel session, in a plain `def` endpoint (run in
FastAPI's thread pool), serving flaskou's GET /api/v1/users/me.

Runs in its own virtualenv (requirements.txt), never in flaskou's. Settings
from the environment: PEER_DATABASE (a SQLite file), PEER_SECRET.

`python app.py seed ME_JSON` creates the schema and the one user, with the
fields of flaskou's user document (ME_JSON, a file), and prints an access
token made by `create_access_token`, the function the template's login
endpoint answers with.
"""

import json
import os
import sys
import uuid
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import Annotated

import jwt
from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import OAuth2PasswordBearer
from jwt.exceptions import InvalidTokenError
from pydantic import BaseModel, ValidationError
from sqlmodel import Field, Relationship, Session, SQLModel, create_engine

SECRET_KEY = os.environ["PEER_SECRET"]
ALGORITHM = "HS256"
engine = create_engine(
    "sqlite:///" + os.environ["PEER_DATABASE"], connect_args={"check_same_thread": False}
)


# flaskou's document lists the user's roles; the template has none, so the
# peer gets the plain many-to-many flaskou has.
class UserRole(SQLModel, table=True):
    user_id: uuid.UUID = Field(foreign_key="user.id", primary_key=True)
    role_id: int = Field(foreign_key="role.id", primary_key=True)


class Role(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=64)


class User(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(unique=True, index=True, max_length=255)
    username: str = Field(unique=True, max_length=39)
    hashed_password: str = ""
    is_active: bool = True
    is_superuser: bool = False
    email_verified: bool = False
    mfa_enabled: bool = False
    created_at: datetime
    updated_at: datetime
    roles: list[Role] = Relationship(link_model=UserRole)


class TokenPayload(BaseModel):
    sub: str | None = None


def create_access_token(subject: str, expires_delta: timedelta) -> str:
    expire = datetime.now(UTC) + expires_delta
    return jwt.encode({"exp": expire, "sub": str(subject)}, SECRET_KEY, algorithm=ALGORITHM)


reusable_oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/login/access-token")


def get_db() -> Generator[Session, None, None]:
    with Session(engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]
TokenDep = Annotated[str, Depends(reusable_oauth2)]


def get_current_user(session: SessionDep, token: TokenDep) -> User:
    try:
        payload = jwt.decode(token, SECRET_KEY, algorithms=[ALGORITHM])
        token_data = TokenPayload(**payload)
    except (InvalidTokenError, ValidationError):
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN, detail="Could not validate credentials"
        ) from None
    user = session.get(User, uuid.UUID(token_data.sub))
    if not user:
        raise HTTPException(status_code=404, detail="User not found")
    if not user.is_active:
        raise HTTPException(status_code=400, detail="Inactive user")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]

app = FastAPI()


def _instant(value: datetime) -> str:
    # SQLModel stores UTC and gives it back with its zone; plain SQLite would not.
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


@app.get("/api/v1/users/me")
def read_user_me(current_user: CurrentUser) -> dict:
    return {
        "id": str(current_user.id),
        "username": current_user.username,
        "email": current_user.email,
        "email_verified": current_user.email_verified,
        "mfa_enabled": current_user.mfa_enabled,
        "roles": [role.name for role in current_user.roles],
        "is_active": current_user.is_active,
        "created_at": _instant(current_user.created_at),
        "updated_at": _instant(current_user.updated_at),
    }


def seed(document: dict) -> str:
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        user = User(
            id=uuid.UUID(document["id"]),
            email=document["email"],
            username=document["username"],
            is_active=document["is_active"],
            email_verified=document["email_verified"],
            mfa_enabled=document["mfa_enabled"],
            created_at=datetime.fromisoformat(document["created_at"]),
            updated_at=datetime.fromisoformat(document["updated_at"]),
            roles=[Role(name=name) for name in document["roles"]],
        )
        session.add(user)
        session.commit()
        return create_access_token(str(user.id), timedelta(hours=6))


if __name__ == "__main__" and sys.argv[1:2] == ["seed"]:
    with open(sys.argv[2]) as handle:
        print(seed(json.load(handle)))
