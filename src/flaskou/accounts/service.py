"""Account rules: who may sign up, how credentials are checked and changed,
who holds which role, and the last-admin guard.

accounts sits above audit and roles and below sessions and files, so it never
imports those two. What must also happen to a user's sessions and files when
the account changes (deletion, deactivation, a new password) is arranged by
flaskou.lifecycle, which calls the functions here that do not commit
(`begin_deletion`, `stage_admin_update`) and finishes the transaction itself.
"""

from __future__ import annotations

import re
from typing import Any

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import Uuid, bindparam, delete, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError, InvalidRequestError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.instrumentation import manager_of_class
from sqlalchemy.orm.util import identity_key

from flaskou.accounts import passwords, recovery
from flaskou.accounts.models import PASSWORD_RESET, VERIFY_EMAIL, User
from flaskou.accounts.strength import password_errors
from flaskou.audit.service import Actor, record, rows_changed
from flaskou.errors import (
    Conflict,
    EmailUnverified,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
)
from flaskou.extensions import db
from flaskou.hotpath import Compiled, transaction_cursor
from flaskou.mail.outbox import mask as outbox_mask
from flaskou.pagination import Page, decode_cursor, page_of
from flaskou.roles.models import ADMIN_ROLE, Role, user_roles
from flaskou.roles.service import ensure_admin_role, get_role

USERNAME_PATTERN = re.compile(r"^[a-z\d](?:[a-z\d]|-(?=[a-z\d])){0,38}$")
# RFC 5321's limit on a forward path, which the address validator enforces.
EMAIL_MAX = 254

# Names that would collide with fixed paths such as /api/v1/users/me.
RESERVED_USERNAMES = frozenset({"me"})
USERNAME_RULE = (
    "Use 1 to 39 lowercase letters, digits or single inner hyphens "
    "(no leading, trailing or double hyphen)."
)
INVALID_CREDENTIALS = "Invalid username or password."


# Special-use names (RFC 6761 and kin) the address validator refuses: mail to
# them cannot be delivered over the internet. Published in the email schema.
EMAIL_REFUSED_DOMAINS = tuple(SPECIAL_USE_DOMAIN_NAMES)


def email_domain_rule() -> str:
    """A pattern (JSON Schema / ECMA and Python alike, no flags) refusing the
    special-use domains in any letter case, as the validator does."""
    names = "|".join(
        "".join(f"[{c.upper()}{c}]" if c.isalpha() else re.escape(c) for c in name)
        for name in EMAIL_REFUSED_DOMAINS
    )
    return f"^(?![\\s\\S]*[.@](?:{names})$)[\\s\\S]*$"


def username_error(username: str) -> str | None:
    if not USERNAME_PATTERN.fullmatch(username):
        return USERNAME_RULE
    if username in RESERVED_USERNAMES:
        return "This name is reserved."
    return None


def normalize_email(email: str) -> str:
    """A syntactically valid address, lower-cased; raises ValueError otherwise."""
    if len(email) > EMAIL_MAX:
        raise ValueError(f"Use at most {EMAIL_MAX} characters.")
    try:
        # The syntax, a dotted domain, and none of the special-use names that
        # can never receive mail from the internet (see EMAIL_REFUSED_DOMAINS).
        # No DNS lookup: whether mail arrives is for verification to prove.
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
    if messages := password_errors(password, (username, email)):
        errors["password"] = messages
    if errors:
        raise ValidationFailed("Some fields are invalid.", errors=errors)
    return email


def _email_taken() -> Conflict:
    return Conflict(
        "That email address is already registered.", errors={"email": ["Already registered."]}
    )


def _commit_email_change() -> None:
    """Commit; a concurrent change to the same address loses with a 409."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise _email_taken() from None


def _ensure_available(username: str | None, email: str | None) -> None:
    if username is not None and db.session.scalar(select(User.id).where(User.username == username)):
        raise Conflict("That username is already taken.", errors={"username": ["Already taken."]})
    if email is not None and db.session.scalar(select(User.id).where(User.email == email)):
        raise _email_taken()


def create_user(
    username: str,
    email: str,
    password: str,
    *,
    roles: list[Role] | None = None,
    email_verified: bool = False,
) -> User:
    """A new account, flushed but not committed: the caller commits it with
    what goes with it (its audit event, its verification mail)."""
    email = _check_new_account(username, email, password)
    _ensure_available(username, email)
    user = User(
        username=username,
        email=email,
        password_hash=passwords.hash_password(password),
        roles=list(roles or []),
        email_verified=email_verified,
    )
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:
        # Lost a race with a concurrent sign-up of the same name or address.
        db.session.rollback()
        _ensure_available(username, email)
        raise
    return user


def verification_mode() -> str:
    """EMAIL_VERIFICATION: off, optional or required."""
    return str(current_app.config["SETTINGS"].email_verification)


def signup(username: str, email: str, password: str, *, enabled: bool, actor: Actor) -> User:
    if not enabled:
        raise Forbidden("Sign-up is disabled on this server.")
    user = create_user(username, email, password)
    record(actor, "signup", target=user.username, user=user)
    if verification_mode() != "off":
        recovery.stage_verification(user)
    _commit_email_change()
    return user


def _by_column(name: str) -> Any:
    users = User.__table__
    return select(*users.columns).where(users.c[name] == bindparam("value"))


_USER_COLUMNS = tuple(column.key for column in User.__table__.columns)
_USER_CLASS = manager_of_class(User)
_BY_USERNAME = Compiled(lambda: _by_column("username"))
_BY_EMAIL = Compiled(lambda: _by_column("email"))


def find_by_login(identifier: str) -> User | None:
    """The user named by a username or an email address, whatever its case.

    Every sign-in starts here, so the row is read by a compiled statement on
    the request's transaction and made the session's User as if the ORM had
    loaded it (make_transient_to_detached: clean, in the identity map, its
    roles loaded only if something asks). Half the cost of an ORM query."""
    value = identifier.strip().lower()
    if not value:
        return None
    statement = _BY_EMAIL if "@" in value else _BY_USERNAME
    with transaction_cursor() as (cursor, dialect):
        rows = statement.rows(cursor, dialect, {"value": value})
    if not rows:
        return None
    fields = dict(zip(_USER_COLUMNS, rows[0], strict=True))
    loaded = db.session.identity_map.get(identity_key(User, fields["id"]))
    if loaded is not None:
        return loaded if isinstance(loaded, User) else None
    # Made as the ORM makes a loaded row (values into the instance's dict, no
    # attribute events), not through User(**fields): a third of the cost.
    user = _USER_CLASS.new_instance()
    user.__dict__.update(fields)
    make_transient_to_detached(user)
    db.session.add(user)
    return user


def authenticate(identifier: str, password: str, *, actor: Actor) -> User:
    """The active user with these credentials, else Unauthorized (one answer for all cases)."""
    user = find_by_login(identifier)
    if user is None:
        passwords.burn_password_check(password)
        # The typed identifier is not kept: people paste passwords into it.
        record(actor, "login_failed", reason="unknown_account")
        db.session.commit()
        raise Unauthorized(INVALID_CREDENTIALS)
    if not passwords.verify_password(user.password_hash, password) or not user.is_active:
        reason = "inactive_account" if user.is_active is False else "bad_password"
        record(actor, "login_failed", target=user.username, user=user, reason=reason)
        db.session.commit()
        raise Unauthorized(INVALID_CREDENTIALS)
    if not user.email_verified and verification_mode() == "required":
        _refuse_unverified(user, actor)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
        db.session.commit()
    return user


def ensure_may_sign_in(user: User, *, actor: Actor) -> None:
    """For a sign-in without a password (a passkey): the account is active
    and, when EMAIL_VERIFICATION=required, its address verified."""
    if not user.is_active:
        db.session.rollback()
        raise Unauthorized(INVALID_CREDENTIALS)
    if not user.email_verified and verification_mode() == "required":
        _refuse_unverified(user, actor)


def _refuse_unverified(user: User, actor: Actor) -> None:
    """EMAIL_VERIFICATION=required: the right password, but no session until
    the address is verified. A fresh link goes out (within RATE_LIMIT_MAIL
    for the address: past it, the links already sent will do)."""
    record(actor, "login_failed", target=user.username, user=user, reason="email_unverified")
    sent = True
    try:
        recovery.mail_allowance(user.email)
    except TooManyRequests:
        sent = False
    if sent:
        recovery.stage_verification(user)
    db.session.commit()
    raise EmailUnverified(
        f"Verify your email address first: follow the link sent to {user.email}"
        + (" (a new one is on its way)." if sent else ".")
    )


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


def guard_last_admin(user: User, what: str) -> None:
    """Refuse a change that would leave no active admin, safely under concurrency.

    Every change that can remove an admin first takes a write lock on the
    admin role's row (an UPDATE that changes nothing: a row lock on
    PostgreSQL, the database write lock on SQLite). Two admins demoting each
    other at the same moment are thus serialized, and the second one sees
    the first one's change and is refused.
    """
    username = user.username
    db.session.execute(
        text("UPDATE roles SET name = name WHERE name = :name"), {"name": ADMIN_ROLE}
    )
    try:
        db.session.refresh(user)
    except InvalidRequestError:  # deleted by a request that held the lock before us
        db.session.rollback()
        raise NotFound(f"No user named {username!r}.") from None
    if is_last_active_admin(user):
        db.session.rollback()
        raise Conflict(f"{user.username} is the last active admin; {what} would leave none.")


def stage_profile_update(
    user: User,
    *,
    current_password: str,
    actor: Actor,
    email: str | None = None,
    password: str | None = None,
) -> tuple[User, bool]:
    """Change the caller's email and/or password, uncommitted (see
    commit_profile_change). Returns (user, password_changed)."""
    errors: dict[str, list[str]] = {}
    new_email = None
    if email is not None:
        try:
            new_email = normalize_email(email)
        except ValueError as exc:
            errors["email"] = [str(exc)]
    if password is not None and (
        messages := password_errors(password, (user.username, user.email, new_email))
    ):
        errors["password"] = messages
    if errors:
        raise ValidationFailed("Some fields are invalid.", errors=errors)
    require_password(user, current_password)
    if new_email is not None and new_email != user.email:
        _ensure_available(None, new_email)
        _change_email(user, new_email, actor=actor, by="from " + _where(actor))
        record(actor, "email_changed", target=user.username)
    password_changed = password is not None
    if password is not None:
        user.password_hash = passwords.hash_password(password)
        recovery.void_tokens(user, PASSWORD_RESET)  # a new password voids reset links
        record(actor, "password_changed", target=user.username)
        recovery.notify(user, "password_changed", actor=actor)
    return user, password_changed


def _where(actor: Actor) -> str:
    return f"{actor.ip} ({actor.device})"


def _change_email(user: User, new_email: str, *, actor: Actor, by: str) -> None:
    """A new address, uncommitted: unverified until its owner follows the
    link mailed to it; the old address is told where the account went."""
    old_email = user.email
    user.email = new_email
    user.email_verified = False
    recovery.void_tokens(user, VERIFY_EMAIL)
    recovery.notify(
        user, "email_changed", actor=actor, to=old_email, new_email=outbox_mask(new_email), by=by
    )
    if verification_mode() != "off":
        recovery.stage_verification(user)


_LOCK_USER = text("UPDATE users SET is_active = is_active WHERE id = :id").bindparams(
    bindparam("id", type_=Uuid())
)


def begin_deletion(user: User, what: str) -> None:
    """Start deleting a user; nothing is committed yet.

    The last-admin guard runs first, then the user's row is locked, so
    nothing can be added to the account (an upload locks the same row) until
    the deletion commits or rolls back. A user deleted meanwhile is NotFound.
    """
    username, user_id = user.username, user.id  # still readable after a rollback
    guard_last_admin(user, what)
    if rows_changed(db.session.execute(_LOCK_USER, {"id": user_id})) != 1:
        db.session.rollback()
        raise NotFound(f"No user named {username!r}.")


def finish_deletion(user: User, *, actor: Actor, action: str) -> None:
    """Delete the user's row (sessions, files rows and role links cascade),
    record `action` in the same transaction and commit.

    The DELETE is conditional on the row being there, so of concurrent
    deletions exactly one records its event; the others are NotFound.
    """
    username = user.username
    # The event goes in first: when users delete themselves it names them, and
    # the DELETE then clears its link to the account like any other event's.
    record(actor, action, target=username)
    db.session.flush()
    result = db.session.execute(
        delete(User).where(User.id == user.id).execution_options(synchronize_session=False)
    )
    if rows_changed(result) != 1:
        db.session.rollback()
        raise NotFound(f"No user named {username!r}.")
    db.session.commit()


def create_admin(username: str, email: str, password: str) -> User:
    """A new user holding the admin role (the role is created if missing)."""
    role = ensure_admin_role()
    # The operator vouches for the address they typed: verified from the start.
    user = create_user(username, email, password, roles=[role], email_verified=True)
    record(Actor.operator(), "role_granted", target=user.username, role=role.name)
    db.session.commit()
    return user


def any_active_admin() -> bool:
    return active_admin_count() > 0


# --- administration -------------------------------------------------------


def get_user(username: str) -> User:
    user = db.session.scalar(select(User).where(User.username == username.lower()))
    if user is None:
        raise NotFound(f"No user named {username!r}.")
    return user


def list_users(*, limit: int, cursor: str | None, q: str | None = None) -> Page[User]:
    """Users in username order; `q` keeps those whose username or email starts with it."""
    query = select(User)
    if q:
        prefix = q.strip().lower()
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = escaped + "%"
        query = query.where(
            or_(User.username.like(pattern, escape="\\"), User.email.like(pattern, escape="\\"))
        )
    if cursor is not None:
        (after,) = decode_cursor(cursor, ("str",))
        query = query.where(User.username > after)
    rows = list(db.session.scalars(query.order_by(User.username).limit(limit + 1)))
    return page_of(rows, limit, lambda user: (user.username,))


def set_active(user: User, active: bool) -> bool:
    """Activate or deactivate, uncommitted. True if this call changed it.

    Conditional on the current value, so of concurrent identical changes one
    reports the change (and is audited); the others change nothing.
    """
    username, user_id = user.username, user.id
    if active == user.is_active:
        return False
    if not active:
        guard_last_admin(user, "deactivating this user")
        if active == user.is_active:  # the guard reloaded it: changed meanwhile
            return False
    result = db.session.execute(
        update(User)
        .where(User.id == user_id, User.is_active.is_(not active))
        .values(is_active=active)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(result) != 1:
        if db.session.scalar(select(User.id).where(User.id == user_id)) is None:
            db.session.rollback()  # deleted meanwhile
            raise NotFound(f"No user named {username!r}.")
        return False
    db.session.expire(user, ["is_active"])
    return True


def stage_admin_update(
    user: User, *, actor: Actor, is_active: bool | None = None, email: str | None = None
) -> dict[str, Any]:
    """An admin's change to a user, recorded but not committed: answers what changed.

    The caller commits with `commit_profile_change` (after it has also done
    what a deactivation implies, such as ending the user's sessions).
    """
    changed: dict[str, Any] = {}
    # Activation first: its last-admin guard reloads the user from the database.
    if is_active is not None and set_active(user, is_active):
        changed["is_active"] = is_active
    if email is not None:
        try:
            new_email = normalize_email(email)
        except ValueError as exc:
            db.session.rollback()
            raise ValidationFailed(
                "Some fields are invalid.", errors={"email": [str(exc)]}
            ) from None
        if new_email != user.email:
            _ensure_available(None, new_email)
            _change_email(user, new_email, actor=actor, by="by an administrator")
            changed["email"] = new_email
    if changed:
        record(actor, "user_updated", target=user.username, **changed)
    return changed


def commit_profile_change() -> None:
    """Commit a staged change; an email taken concurrently loses with a 409."""
    _commit_email_change()


# --- roles held -------------------------------------------------------------


def grant_role(username: str, role_name: str, *, actor: Actor) -> User:
    """Give a user a role (idempotent). Answers the user."""
    user = get_user(username)
    role = get_role(role_name)
    if not user.has_role(role.name):
        user.roles.append(role)
        record(actor, "role_granted", target=user.username, role=role.name)
        try:
            db.session.commit()
        except IntegrityError:  # granted concurrently: the end state is what was asked
            db.session.rollback()
        db.session.refresh(user)
    return user


def revoke_role(username: str, role_name: str, *, actor: Actor) -> User:
    """Take a role from a user (idempotent); never the last active admin's admin role.

    The link is removed by a conditional DELETE: of concurrent revocations
    only the one that removed it records `role_revoked`.
    """
    user = get_user(username)
    role = get_role(role_name)
    if role.name == ADMIN_ROLE:
        guard_last_admin(user, "taking the admin role away")
    result = db.session.execute(
        delete(user_roles).where(user_roles.c.user_id == user.id, user_roles.c.role_id == role.id)
    )
    if rows_changed(result) == 1:
        record(actor, "role_revoked", target=user.username, role=role.name)
    db.session.commit()
    db.session.refresh(user)
    return user
