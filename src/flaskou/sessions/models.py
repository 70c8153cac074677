from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flaskou.accounts.models import User
from flaskou.extensions import Model
from flaskou.models import UTCDateTime, UUIDPrimaryKey, utcnow


class LoginSession(UUIDPrimaryKey, Model):
    __tablename__ = "sessions"
    __table_args__ = (
        # A user's sessions by expiry: sign-in clears the expired ones, the
        # list shows the live ones, each a range of this index however many
        # sessions the user holds (on user_id alone, every sign-in read all
        # of them). Its first column serves the cascade from users as well.
        Index("ix_sessions_user_id_expires_at", "user_id", "expires_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    # Hex SHA-256 of the bearer token; the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)

    def __repr__(self) -> str:
        return f"<LoginSession {self.id} of {self.user_id}>"
