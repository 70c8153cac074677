from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flaskou.accounts.models import User
from flaskou.extensions import Model
from flaskou.models import UTCDateTime, UUIDPrimaryKey, utcnow


class StoredFile(UUIDPrimaryKey, Model):
    __tablename__ = "files"
    __table_args__ = (Index("ix_files_owner_id_created_at_id", "owner_id", "created_at", "id"),)

    owner_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    # The client's name, cleaned for display; never used to name the object.
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(255), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)

    owner_user: Mapped[User] = relationship(lazy="joined", innerjoin=True)

    @property
    def owner(self) -> str:
        return self.owner_user.username
