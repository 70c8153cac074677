from __future__ import annotations

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flaskou.extensions import Model
from flaskou.models import Timestamps, UUIDPrimaryKey
from flaskou.roles.models import Role, user_roles


class User(UUIDPrimaryKey, Timestamps, Model):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(39), unique=True, nullable=False)
    # Stored lower-cased, so the unique index makes emails unique case-insensitively.
    email: Mapped[str] = mapped_column(String(320), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

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
