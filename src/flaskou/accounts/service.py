"""Account rules: who may sign up, how credentials are checked and changed."""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from flaskou.accounts import passwords
from flaskou.accounts.models import User
from flaskou.errors import Conflict, Forbidden, Unauthorized, ValidationFailed
from flaskou.extensions import db
from flaskou.roles.models import ADMIN_ROLE, Role, user_roles
from flaskou.roles.service import ensure_admin_role

USERNAME_PATTERN = re.compile(r"^[a-z\d](?:[a-z\d]|-(?=[a-z\d])){0,38}$")
PASSWORD_MIN = 8
PASSWORD_MAX = 1024
EMAIL_MAX = 320

USERNAME_RULE = (
    "Use 1 to 39 lowercase letters, digits or single inner hyphens "
    "(no leading, trailing or double hyphen)."
)
INVALID_CREDENTIALS = "Invalid username or password."


def username_error(username: str) -> str | None:
    if not USERNAME_PATTERN.fullmatch(username):
        return USERNAME_RULE
    return None


def password_error(password: str) -> str | None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        return f"Use {PASSWORD_MIN} to {PASSWORD_MAX} characters."
    return None


def normalize_email(email: str) -> str:
    """A syntactically valid address, lower-cased; raises ValueError otherwise."""
    if len(email) > EMAIL_MAX:
        raise ValueError("Use at most 320 characters.")
    try:
        result = validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    return result.normalized.lower()


def _check_new_account(username: str, email: str, password: str) -> str:
    errors: dict[str, list[str]] = {}
    if message := username_error(username):
        errors["username"] = [message]
    try:
        email = normalize_email(email)
    except ValueError as exc:
        errors["email"] = [str(exc)]
    if message := password_error(password):
        errors["password"] = [message]
    if errors:
        raise ValidationFailed("Some fields are invalid.", errors=errors)
    return email


def _ensure_available(username: str | None, email: str | None) -> None:
    if username is not None and db.session.scalar(select(User.id).where(User.username == username)):
        raise Conflict("That username is already taken.", errors={"username": ["Already taken."]})
    if email is not None and db.session.scalar(select(User.id).where(User.email == email)):
        raise Conflict(
            "That email address is already registered.", errors={"email": ["Already registered."]}
        )


def create_user(
    username: str, email: str, password: str, *, roles: list[Role] | None = None
) -> User:
    email = _check_new_account(username, email, password)
    _ensure_available(username, email)
    user = User(
        username=username,
        email=email,
        password_hash=passwords.hash_password(password),
        roles=list(roles or []),
    )
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        # Lost a race with a concurrent sign-up of the same name or address.
        db.session.rollback()
        _ensure_available(username, email)
        raise
    return user


def signup(username: str, email: str, password: str, *, enabled: bool) -> User:
    if not enabled:
        raise Forbidden("Sign-up is disabled on this server.")
    return create_user(username, email, password)


def find_by_login(identifier: str) -> User | None:
    """The user named by a username or an email address, whatever its case."""
    value = identifier.strip().lower()
    if not value:
        return None
    column = User.email if "@" in value else User.username
    return db.session.scalar(select(User).where(column == value))


def authenticate(identifier: str, password: str) -> User:
    """The active user with these credentials, else Unauthorized (one answer for all cases)."""
    user = find_by_login(identifier)
    if user is None:
        passwords.burn_password_check(password)
        raise Unauthorized(INVALID_CREDENTIALS)
    if not passwords.verify_password(user.password_hash, password) or not user.is_active:
        raise Unauthorized(INVALID_CREDENTIALS)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
        db.session.commit()
    return user


def require_password(user: User, password: str) -> None:
    if not passwords.verify_password(user.password_hash, password):
        raise Forbidden("The current password is not correct.")


def active_admin_count() -> int:
    return (
        db.session.scalar(
            select(func.count(User.id))
            .join(user_roles, user_roles.c.user_id == User.id)
            .join(Role, Role.id == user_roles.c.role_id)
            .where(Role.name == ADMIN_ROLE, User.is_active.is_(True))
        )
        or 0
    )


def is_last_active_admin(user: User) -> bool:
    return user.is_active and user.has_role(ADMIN_ROLE) and active_admin_count() <= 1


def update_profile(
    user: User, *, current_password: str, email: str | None = None, password: str | None = None
) -> tuple[User, bool]:
    """Change the caller's email and/or password. Returns (user, password_changed)."""
    errors: dict[str, list[str]] = {}
    new_email = None
    if email is not None:
        try:
            new_email = normalize_email(email)
        except ValueError as exc:
            errors["email"] = [str(exc)]
    if password is not None and (message := password_error(password)):
        errors["password"] = [message]
    if errors:
        raise ValidationFailed("Some fields are invalid.", errors=errors)
    require_password(user, current_password)
    if new_email is not None and new_email != user.email:
        _ensure_available(None, new_email)
        user.email = new_email
    password_changed = password is not None
    if password is not None:
        user.password_hash = passwords.hash_password(password)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(
            "That email address is already registered.", errors={"email": ["Already registered."]}
        ) from None
    return user, password_changed


def delete_account(user: User, *, current_password: str) -> None:
    require_password(user, current_password)
    if is_last_active_admin(user):
        raise Conflict("You are the last active admin; make someone else admin first.")
    db.session.delete(user)
    db.session.commit()


def create_admin(username: str, email: str, password: str) -> User:
    """A new user holding the admin role (the role is created if missing)."""
    role = ensure_admin_role()
    return create_user(username, email, password, roles=[role])


def any_active_admin() -> bool:
    return active_admin_count() > 0
