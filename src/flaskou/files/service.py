"""File rules: ownership, quotas, publishing and deletion."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import Uuid, and_, bindparam, func, or_, select, text
from sqlalchemy.exc import SQLAlchemyError

from flaskou.accounts.models import User
from flaskou.audit.service import Actor, record
from flaskou.errors import Forbidden, NotFound
from flaskou.extensions import db
from flaskou.files.models import StoredFile
from flaskou.files.names import clean_filename, content_type_for
from flaskou.files.storage import Leftover, Storage
from flaskou.files.upload import QuotaExceeded, ReceivedFile
from flaskou.pagination import Page, decode_cursor, page_of
from flaskou.roles.models import ADMIN_ROLE

log = logging.getLogger(__name__)

_LOCK_OWNER = text("UPDATE users SET is_active = is_active WHERE id = :id").bindparams(
    bindparam("id", type_=Uuid())
)


def bytes_used(owner: User) -> int:
    total = db.session.scalar(
        select(func.coalesce(func.sum(StoredFile.size), 0)).where(StoredFile.owner_id == owner.id)
    )
    return int(total or 0)


def save_upload(
    owner: User, received: ReceivedFile, *, storage: Storage, quota: int, actor: Actor
) -> StoredFile:
    """Publish a fully received upload and record it, or leave nothing behind.

    The owner's row is locked first, so concurrent uploads by one user are
    checked against the quota one after the other.
    """
    published = False
    try:
        db.session.execute(_LOCK_OWNER, {"id": owner.id})
        if bytes_used(owner) + received.size > quota:
            raise QuotaExceeded(
                "This upload would take you over your storage quota (USER_QUOTA_BYTES)."
            )
        filename = clean_filename(received.filename)
        key = received.writer.publish()
        published = True
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
        record(actor, "file_uploaded", target=str(stored.id), size=received.size)
        db.session.commit()
        return stored
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


def get_file(viewer: User, file_id: str | uuid.UUID) -> StoredFile:
    """A file its owner or an admin may see; anyone else is told it does not exist."""
    try:
        key = file_id if isinstance(file_id, uuid.UUID) else uuid.UUID(str(file_id))
    except ValueError:
        raise NotFound("No such file.") from None
    stored = db.session.get(StoredFile, key)
    if stored is None or (stored.owner_id != viewer.id and not viewer.has_role(ADMIN_ROLE)):
        raise NotFound("No such file.")
    return stored


def list_files(
    viewer: User, *, limit: int, cursor: str | None, owner: str | None = None
) -> Page[StoredFile]:
    owner_id = viewer.id
    if owner is not None and owner != viewer.username:
        if not viewer.has_role(ADMIN_ROLE):
            raise Forbidden("Only admins may list other users' files.")
        from flaskou.accounts.service import get_user

        owner_id = get_user(owner).id
    query = select(StoredFile).where(StoredFile.owner_id == owner_id)
    if cursor is not None:
        at, last_id = decode_cursor(cursor, ("datetime", "uuid"))
        query = query.where(
            or_(
                StoredFile.created_at < at,
                and_(StoredFile.created_at == at, StoredFile.id < last_id),
            )
        )
    rows = list(
        db.session.scalars(
            query.order_by(StoredFile.created_at.desc(), StoredFile.id.desc()).limit(limit + 1)
        )
    )
    return page_of(rows, limit, lambda stored: (stored.created_at, stored.id))


def delete_file(viewer: User, file_id: str, *, storage: Storage, actor: Actor) -> None:
    stored = get_file(viewer, file_id)
    key = stored.storage_key
    record(actor, "file_deleted", target=str(stored.id), owner=stored.owner)
    db.session.delete(stored)
    db.session.commit()
    _forget_content(storage, [key])


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
