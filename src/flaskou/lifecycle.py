"""Account lifecycle: the changes to an account that several domains must follow.

Deleting an account also deletes its sessions, API keys and stored file
contents; deactivating one ends its sessions and revokes its API keys; a
password reset ends every session and revokes every key; a password change
by the signed-in owner ends their other sessions (their keys stay: the
owner, who knew the password, made them).
The domain packages form a hierarchy, each importing only those below it:

    audit  <-  roles  <-  accounts  <-  sessions, files, mfa, apikeys

so accounts cannot call sessions or files itself. This module sits above all
of them and is what routes and the CLI call for such changes.

Why one orchestrating module rather than signals (blinker): each of these
changes needs a precise order inside one transaction (lock the account, read
its storage keys, delete, commit, and only then remove contents from disk or
S3), and a wrong answer from any step must stop the rest. Written out here,
that order reads top to bottom in one place; with signals it would be spread
over receivers whose order and failure handling depend on who connected first,
and a receiver that was never imported would silently do nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from flaskou.accounts import recovery
from flaskou.accounts import service as accounts
from flaskou.accounts.models import User
from flaskou.apikeys import service as apikeys
from flaskou.audit.service import Actor
from flaskou.extensions import db
from flaskou.files import service as files
from flaskou.files.storage import current_storage
from flaskou.sessions import service as sessions


def update_own_profile(
    user: User,
    session_id: uuid.UUID,
    *,
    current_password: str,
    actor: Actor,
    email: str | None = None,
    password: str | None = None,
) -> User:
    """Change the caller's email and/or password; a new password ends every
    other session of theirs (the one making the change stays), in the same
    transaction: no moment where the new password exists beside old sessions."""
    user, password_changed = accounts.stage_profile_update(
        user, current_password=current_password, actor=actor, email=email, password=password
    )
    if password_changed:
        sessions.stage_revoke_all_sessions(
            user, actor=actor, keep=session_id, reason="password changed"
        )
    accounts.commit_profile_change()
    return user


def reset_password(token: str, password: str, *, actor: Actor) -> None:
    """Set a new password from a mailed link: every session and API key of
    the account ends in the same transaction (whoever held the old password,
    or anything made with it, is out)."""
    user = recovery.stage_password_reset(token, password, actor=actor)
    sessions.stage_revoke_all_sessions(user, actor=actor, reason="password reset")
    apikeys.stage_revoke_all_keys(user, actor=actor, reason="password reset")
    db.session.commit()


def update_user(
    username: str, *, actor: Actor, is_active: bool | None = None, email: str | None = None
) -> User:
    """An admin's change to a user; a deactivation ends all their sessions
    and revokes their API keys (for good: a reactivation does not bring them
    back) in the same transaction (its `user_updated` event says why)."""
    user = accounts.get_user(username)
    changed: dict[str, Any] = accounts.stage_admin_update(
        user, actor=actor, is_active=is_active, email=email
    )
    if changed.get("is_active") is False:
        sessions.end_all_sessions(user)
        apikeys.stage_revoke_all_keys(user, actor=actor, reason="account deactivated")
    accounts.commit_profile_change()
    return user


def delete_own_account(user: User, *, current_password: str, actor: Actor) -> None:
    """The caller deletes their account (their password confirms it)."""
    accounts.require_password(user, current_password)
    _delete(user, actor=actor, action="account_deleted", what="deleting this account")


def delete_user(username: str, *, actor: Actor) -> None:
    """An admin deletes a user with their sessions and files."""
    user = accounts.get_user(username)
    _delete(user, actor=actor, action="user_deleted", what="deleting this user")


def _delete(user: User, *, actor: Actor, action: str, what: str) -> None:
    # Locked first, so no upload can add a file between reading the keys and
    # the DELETE; of concurrent deletions exactly one gets past finish_deletion.
    accounts.begin_deletion(user, what)
    keys = files.storage_keys_of(user)
    accounts.finish_deletion(user, actor=actor, action=action)
    # Rows are gone (cascade) and committed; contents follow. One that cannot
    # be removed now has no row any more, so `files gc` finds it later.
    files.forget_contents(current_storage(), keys)
