"""File rules: ownership, quotas, publishing and deletion.

files is at the top of the domain packages: it may use accounts (owners),
roles and audit, and nothing imports it but routes, the CLI and
flaskou.lifecycle (which asks it for an account's storage keys before a
deletion and removes the contents after the commit).
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Uuid, bindparam, delete, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from flaskou.accounts.models import Caller, User
from flaskou.accounts.service import get_user
from flaskou.audit.service import Actor, record, rows_changed
from flaskou.errors import Forbidden, NotFound
from flaskou.extensions import db
from flaskou.files.models import StoredFile
from flaskou.files.names import clean_filename, content_type_for
from flaskou.files.storage import Leftover, Storage
from flaskou.files.upload import QuotaExceeded, ReceivedFile
from flaskou.models import key_or_not_found
from flaskou.pagination import Page, before, decode_cursor, page_of
from flaskou.roles.models import ADMIN_ROLE

log = logging.getLogger(__name__)

_LOCK_OWNER = text("UPDATE users SET is_active = is_active WHERE id = :id").bindparams(
    bindparam("id", type_=Uuid())
)


def bytes_used(owner: Caller) -> int:
    total = db.session.scalar(
        select(func.coalesce(func.sum(StoredFile.size), 0)).where(StoredFile.owner_id == owner.id)
    )
    return int(total or 0)


@dataclasses.dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file just stored, as its upload's answer shows it: read before the
    commit, so the answer needs no query after it (the row may already be
    gone again, with its account, by a deletion racing the upload)."""

    id: uuid.UUID
    filename: str
    content_type: str
    size: int
    sha256: str
    owner: str
    created_at: datetime


def save_upload(
    owner: Caller, received: ReceivedFile, *, storage: Storage, quota: int, actor: Actor
) -> UploadedFile:
    """Publish a fully received upload and record it, or leave nothing behind.

    The owner's row is locked, so concurrent uploads by one user are checked
    against the quota one after the other. The content is published before
    that lock: publishing may be a network call (S3), and a transaction that
    holds SQLite's write lock while its greenlet waits on a socket stops every
    other writer of the process on the busy timeout (gevent workers). An
    object published for an upload that then fails is removed again.
    """
    published = False
    try:
        key = received.writer.publish()
        published = True
        if rows_changed(db.session.execute(_LOCK_OWNER, {"id": owner.id})) != 1:
            # The account was deleted while the upload was being received.
            raise NotFound("No such user.")
        if bytes_used(owner) + received.size > quota:
            raise QuotaExceeded(
                "This upload would take you over your storage quota (USER_QUOTA_BYTES)."
            )
        filename = clean_filename(received.filename)
        stored = StoredFile(
            owner_id=owner.id,
            filename=filename,
            content_type=content_type_for(received.content_type, filename),
            size=received.size,
            sha256=received.sha256,
            storage_key=key,
        )
        db.session.add(stored)
        db.session.flush()
        uploaded = UploadedFile(
            id=stored.id,
            filename=stored.filename,
            content_type=stored.content_type,
            size=stored.size,
            sha256=stored.sha256,
            owner=owner.username,
            created_at=stored.created_at,
        )
        record(actor, "file_uploaded", target=str(stored.id), size=received.size)
        db.session.commit()
        return uploaded
    except BaseException:
        db.session.rollback()
        if published:
            _forget_content(storage, [received.writer.key])
        else:
            received.writer.abort()
        raise


def _forget_content(storage: Storage, keys: Iterable[str]) -> None:
    for key in keys:
        try:
            storage.delete(key)
        except Exception:  # gc will find it: it has no row any more
            log.warning("could not delete stored object %s; `files gc` will", key)


def get_file(viewer: Caller, file_id: str | uuid.UUID) -> StoredFile:
    """A file its owner or an admin may see; anyone else is told it does not exist."""
    key = key_or_not_found(file_id, "file")
    stored = db.session.get(StoredFile, key)
    if stored is None or (stored.owner_id != viewer.id and not viewer.has_role(ADMIN_ROLE)):
        raise NotFound("No such file.")
    return stored


def list_files(
    viewer: Caller, *, limit: int, cursor: str | None, owner: str | None = None
) -> Page[StoredFile]:
    owner_id = viewer.id
    if owner is not None and owner != viewer.username:
        if not viewer.has_role(ADMIN_ROLE):
            raise Forbidden("Only admins may list other users' files.")
        owner_id = get_user(owner).id
    query = select(StoredFile).where(StoredFile.owner_id == owner_id)
    if cursor is not None:
        at, last_id = decode_cursor(cursor, ("datetime", "uuid"))
        query = query.where(before((StoredFile.created_at, StoredFile.id), (at, last_id)))
    rows = list(
        db.session.scalars(
            query.order_by(StoredFile.created_at.desc(), StoredFile.id.desc()).limit(limit + 1)
        )
    )
    return page_of(rows, limit, lambda stored: (stored.created_at, stored.id))


def delete_file(viewer: Caller, file_id: str, *, storage: Storage, actor: Actor) -> None:
    """Delete a file's row, then (after the commit) its stored content.

    The DELETE is conditional on the row still being there: of concurrent
    deletions exactly one removes it, records `file_deleted` and removes the
    content; the others are told the file does not exist.
    """
    stored = get_file(viewer, file_id)
    file_key, storage_key, owner = stored.id, stored.storage_key, stored.owner
    result = db.session.execute(
        delete(StoredFile)
        .where(StoredFile.id == file_key)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(result) != 1:
        db.session.rollback()
        raise NotFound("No such file.")
    record(actor, "file_deleted", target=str(file_key), owner=owner)
    db.session.commit()
    _forget_content(storage, [storage_key])


def storage_keys_of(user: User) -> list[str]:
    return list(
        db.session.scalars(select(StoredFile.storage_key).where(StoredFile.owner_id == user.id))
    )


def forget_contents(storage: Storage, keys: Iterable[str]) -> None:
    """Delete contents whose rows are already gone (after an account deletion)."""
    _forget_content(storage, keys)


def find_leftovers(storage: Storage, *, older_than: timedelta) -> list[Leftover]:
    def is_referenced(key: str) -> bool:
        try:
            return (
                db.session.scalar(select(StoredFile.id).where(StoredFile.storage_key == key))
                is not None
            )
        except SQLAlchemyError:
            db.session.rollback()
            return True  # when in doubt, keep it

    return list(storage.leftovers(older_than=older_than, is_referenced=is_referenced))
