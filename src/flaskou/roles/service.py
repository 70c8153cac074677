"""Role rules: the catalogue of roles.

Who holds a role is an account matter (granting and revoking live in
accounts.service, next to the last-admin guard): roles sits below accounts
and knows nothing of users.
"""

from __future__ import annotations

import re

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from flaskou.audit.service import Actor, record, rows_changed
from flaskou.errors import Conflict, NotFound, ValidationFailed
from flaskou.extensions import db
from flaskou.roles.models import ADMIN_ROLE, Role

ADMIN_DESCRIPTION = "Administers users, roles and the audit trail."
ROLE_NAME_PATTERN = re.compile(r"^[a-z\d](?:[a-z\d]|-(?=[a-z\d])){0,38}$")
ROLE_NAME_RULE = (
    "Use 1 to 39 lowercase letters, digits or single inner hyphens "
    "(no leading, trailing or double hyphen)."
)
DESCRIPTION_MAX = 500


def find_role(name: str) -> Role | None:
    return db.session.scalar(select(Role).where(Role.name == name))


def get_role(name: str) -> Role:
    role = find_role(name)
    if role is None:
        raise NotFound(f"No role named {name!r}.")
    return role


def ensure_admin_role() -> Role:
    """The built-in admin role, created on first use."""
    role = find_role(ADMIN_ROLE)
    if role is None:
        role = Role(name=ADMIN_ROLE, description=ADMIN_DESCRIPTION)
        db.session.add(role)
        db.session.flush()
    return role


def list_roles() -> list[Role]:
    return list(db.session.scalars(select(Role).order_by(Role.name)))


def _check_description(description: str) -> str:
    cleaned = description.strip()
    if not cleaned:
        raise ValidationFailed(
            "The description is empty.", errors={"description": ["Must not be empty."]}
        )
    if len(cleaned) > DESCRIPTION_MAX:
        raise ValidationFailed(
            "The description is too long.",
            errors={"description": [f"Use at most {DESCRIPTION_MAX} characters."]},
        )
    return cleaned


def create_role(name: str, description: str, *, actor: Actor) -> Role:
    errors: dict[str, list[str]] = {}
    if not ROLE_NAME_PATTERN.fullmatch(name):
        errors["name"] = [ROLE_NAME_RULE]
    try:
        description = _check_description(description)
    except ValidationFailed as error:
        errors.update(error.errors or {})
    if errors:
        raise ValidationFailed("Some fields are invalid.", errors=errors)
    if find_role(name) is not None:
        raise Conflict(f"A role named {name!r} exists.", errors={"name": ["Already exists."]})
    role = Role(name=name, description=description)
    db.session.add(role)
    record(actor, "role_created", target=name)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(
            f"A role named {name!r} exists.", errors={"name": ["Already exists."]}
        ) from None
    return role


def update_role(name: str, description: str, *, actor: Actor) -> Role:
    role = get_role(name)
    role.description = _check_description(description)
    record(actor, "role_updated", target=name)
    db.session.commit()
    return role


def delete_role(name: str, *, actor: Actor) -> None:
    role = get_role(name)
    if role.name == ADMIN_ROLE:
        raise Conflict("The built-in admin role cannot be deleted.")
    # Conditional on the row still being there: of concurrent deletions only
    # the one whose DELETE removed it records the event; the others find nothing.
    result = db.session.execute(
        delete(Role).where(Role.id == role.id).execution_options(synchronize_session=False)
    )
    if rows_changed(result) != 1:
        db.session.rollback()
        raise NotFound(f"No role named {name!r}.")
    record(actor, "role_deleted", target=name)
    db.session.commit()
