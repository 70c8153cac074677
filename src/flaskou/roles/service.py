"""Role rules."""

from __future__ import annotations

from sqlalchemy import select

from flaskou.extensions import db
from flaskou.roles.models import ADMIN_ROLE, Role

ADMIN_DESCRIPTION = "Administers users, roles and the audit trail."


def find_role(name: str) -> Role | None:
    return db.session.scalar(select(Role).where(Role.name == name))


def ensure_admin_role() -> Role:
    """The built-in admin role, created on first use."""
    role = find_role(ADMIN_ROLE)
    if role is None:
        role = Role(name=ADMIN_ROLE, description=ADMIN_DESCRIPTION)
        db.session.add(role)
        db.session.flush()
    return role
