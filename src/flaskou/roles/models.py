from __future__ import annotations

from sqlalchemy import Column, ForeignKey, String, Table, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from flaskou.extensions import Model
from flaskou.models import Timestamps, UUIDPrimaryKey

ADMIN_ROLE = "admin"

user_roles = Table(
    "user_roles",
    Model.metadata,
    Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", Uuid(), ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
)


class Role(UUIDPrimaryKey, Timestamps, Model):
    __tablename__ = "roles"

    name: Mapped[str] = mapped_column(String(39), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(String(500), nullable=False, default="")

    def __repr__(self) -> str:
        return f"<Role {self.name}>"
