"""Where file contents live, behind one small interface.

An upload is written to a temporary object, made durable, and only then
published under its final key (a random id, never the client's filename).
The database row is committed after publishing; whatever a crash leaves
behind (temporary objects, published objects with no row) is removed by
`flask --app flaskou files gc`.

Two backends: a local directory (the default) and S3 (multipart upload for
large files; the standard AWS_* environment variables, AWS_ENDPOINT_URL
included, configure boto3).
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import errno
import os
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from flaskou.errors import InsufficientStorage

CHUNK = 256 * 1024


@dataclasses.dataclass(frozen=True)
class Leftover:
    """Something a crashed upload left behind."""

    kind: str  # "incomplete" (never published) or "orphan" (published, no row)
    name: str
    size: int


class Writer(abc.ABC):
    key: str

    @abc.abstractmethod
    def write(self, chunk: bytes | memoryview) -> None:
        """Take the next bytes. `chunk` may be a view of a buffer the caller
        fills again once this returns: a writer that keeps bytes for later
        keeps a copy of them."""

    @abc.abstractmethod
    def publish(self) -> str:
        """Make the content durable and visible under `key`; answer the key."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Forget everything written so far (safe to call more than once)."""


class Storage(abc.ABC):
    name: str

    @abc.abstractmethod
    def begin(self) -> Writer: ...

    @abc.abstractmethod
    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]: ...

    @abc.abstractmethod
    def delete(self, key: str) -> None: ...

    @abc.abstractmethod
    def leftovers(
        self, *, older_than: timedelta, is_referenced: Callable[[str], bool]
    ) -> Iterator[Leftover]: ...

    @abc.abstractmethod
    def remove(self, leftover: Leftover) -> None: ...

    @abc.abstractmethod
    def check(self) -> None:
        """Raise if the storage cannot be reached."""


def new_key() -> str:
    """32 hex digits: the creation time in milliseconds (48 bits), then 80 random bits.

    The time lets `files gc` tell an abandoned upload from one in flight on
    any backend, whatever dates the backend itself reports.
    """
    milliseconds = int(datetime.now(UTC).timestamp() * 1000)
    return f"{milliseconds:012x}{secrets.token_hex(10)}"


def key_time(key: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(key[:12], 16) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None


# --- local directory --------------------------------------------------------


@contextlib.contextmanager
def _disk_full_is_507() -> Iterator[None]:
    """A full disk (or quota) is the operator's problem, told to the client as 507."""
    try:
        yield
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InsufficientStorage(
                "The file store is full; nothing of this upload was kept."
            ) from error
        raise


FLUSH_AFTER = 8 * 1024 * 1024  # see LocalWriter._write_behind


class LocalWriter(Writer):
    """The upload's bytes go straight to the file descriptor: no buffered file
    object (which would only add a layer for reads of a MiB), so a full disk
    shows up at the write that meets it."""

    def __init__(self, storage: LocalStorage) -> None:
        self.storage = storage
        self.key = new_key()
        self.temp_path = storage.incoming / f"{self.key}.part"
        with _disk_full_is_507():
            # The mode open(path, "xb") would give: 0o666 less the umask.
            self.fd = os.open(self.temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        self.done = False
        self.size = 0
        # Where the kernel was last asked to start writing, and the call before.
        self.flushed = 0
        self.flushed_before = 0

    def write(self, chunk: bytes | memoryview) -> None:
        view = memoryview(chunk)
        with _disk_full_is_507():
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
                self.size += written
        if self.size - self.flushed >= FLUSH_AFTER:
            self._write_behind()

    def _write_behind(self) -> None:
        """Have the kernel write out what came in so far, and forget what it has
        written, as the body arrives.

        Left alone, Linux keeps an upload's bytes in memory until its dirty
        limits are reached (gigabytes on a large machine): the fsync before
        the answer then waits for all of them at once (a third of a 1 GiB
        upload's time), and the upload fills the page cache with a file
        nobody is reading, pushing out what others (the database) read. So
        every FLUSH_AFTER bytes, POSIX_FADV_DONTNEED over the last two
        stretches: on Linux it starts writing the newest one's dirty pages
        without waiting, and drops the pages that are written already (the
        stretch before, started one call ago), which the next writes then
        reuse. PostgreSQL's `*_flush_after` and its bulk-write ring buffers do
        the same for its own files.
        """
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(
                self.fd,
                self.flushed_before,
                self.size - self.flushed_before,
                os.POSIX_FADV_DONTNEED,
            )
        self.flushed_before, self.flushed = self.flushed, self.size

    def publish(self) -> str:
        with _disk_full_is_507():
            os.fsync(self.fd)
        os.close(self.fd)
        self.fd = -1
        final = self.storage.path_for(self.key)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.temp_path, final)
        _fsync_dir(final.parent)
        _fsync_dir(self.temp_path.parent)
        self.done = True
        return self.key

    def abort(self) -> None:
        if self.done:
            return
        self.done = True
        try:
            if self.fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(self.fd)
                self.fd = -1
        finally:
            self.temp_path.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStorage(Storage):
    name = "local"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.incoming = self.root / "incoming"
        self.objects = self.root / "objects"
        self.incoming.mkdir(parents=True, exist_ok=True)
        self.objects.mkdir(parents=True, exist_ok=True)

    def path_for(self, key: str) -> Path:
        if len(key) != 32 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError("not a storage key")
        return self.objects / key[:2] / key

    def begin(self) -> Writer:
        return LocalWriter(self)

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        handle = open(self.path_for(key), "rb")  # noqa: SIM115 - closed in the generator
        return _read_file(handle, start, length)

    def delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)

    def leftovers(
        self, *, older_than: timedelta, is_referenced: Callable[[str], bool]
    ) -> Iterator[Leftover]:
        cutoff = (datetime.now(UTC) - older_than).timestamp()
        for path in sorted(self.incoming.glob("*.part")):
            stat = path.stat()
            if stat.st_mtime <= cutoff:
                yield Leftover("incomplete", path.name, stat.st_size)
        for path in sorted(self.objects.glob("*/*")):
            stat = path.stat()
            if stat.st_mtime <= cutoff and not is_referenced(path.name):
                yield Leftover("orphan", path.name, stat.st_size)

    def remove(self, leftover: Leftover) -> None:
        if leftover.kind == "incomplete":
            (self.incoming / leftover.name).unlink(missing_ok=True)
        else:
            self.delete(leftover.name)

    def check(self) -> None:
        if not os.access(self.objects, os.W_OK):
            raise OSError(f"{self.objects} is not writable")


def _read_file(handle: Any, start: int, length: int | None) -> Iterator[bytes]:
    try:
        handle.seek(start)
        remaining = length
        while remaining is None or remaining > 0:
            chunk = handle.read(CHUNK if remaining is None else min(CHUNK, remaining))
            if not chunk:
                break
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


# --- S3 ---------------------------------------------------------------------


class S3Writer(Writer):
    def __init__(self, storage: S3Storage) -> None:
        self.storage = storage
        self.key = new_key()
        # The part being filled: each read is copied in once (a read is a view
        # of a buffer the upload reuses), and the full part is sent as it is.
        self.part = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self.done = False

    @property
    def object_name(self) -> str:
        return self.storage.object_name(self.key)

    def write(self, chunk: bytes | memoryview) -> None:
        part_size = self.storage.part_size
        view = memoryview(chunk)
        while len(self.part) + len(view) >= part_size:
            needed = part_size - len(self.part)
            self.part += view[:needed]
            view = view[needed:]
            self._upload_part(self._take())
        self.part += view

    def _take(self) -> bytearray:
        part, self.part = self.part, bytearray()
        return part

    def _upload_part(self, data: bytes | bytearray) -> None:
        client = self.storage.client
        if self.upload_id is None:
            created = client.create_multipart_upload(
                Bucket=self.storage.bucket, Key=self.object_name
            )
            self.upload_id = created["UploadId"]
        number = len(self.parts) + 1
        answer = client.upload_part(
            Bucket=self.storage.bucket,
            Key=self.object_name,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=data,
        )
        self.parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def publish(self) -> str:
        client = self.storage.client
        if self.upload_id is None:
            # Small enough for one request: S3 stores it durably before answering.
            client.put_object(Bucket=self.storage.bucket, Key=self.object_name, Body=self._take())
        else:
            if self.part:
                self._upload_part(self._take())
            # Parts are durable once uploaded; completing makes the object visible.
            client.complete_multipart_upload(
                Bucket=self.storage.bucket,
                Key=self.object_name,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": self.parts},
            )
        self.done = True
        return self.key

    def abort(self) -> None:
        if self.done:
            return
        self.done = True
        self.part = bytearray()
        if self.upload_id is not None:
            self.storage.client.abort_multipart_upload(
                Bucket=self.storage.bucket, Key=self.object_name, UploadId=self.upload_id
            )


class S3Storage(Storage):
    name = "s3"
    prefix = "flaskou/objects/"

    def __init__(self, bucket: str, *, part_size: int = 8 * 1024 * 1024) -> None:
        import boto3

        self.bucket = bucket
        self.part_size = part_size
        # boto3 reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION,
        # AWS_ENDPOINT_URL and the rest of the standard settings itself.
        self.client = boto3.client("s3")
        if not self.client.meta.endpoint_url.startswith("https:"):
            # Over plain HTTP (an S3-compatible store on the local network,
            # moto) botocore signs every request's payload with its SHA-256,
            # which S3 checks against the bytes it received: the CRC32 that
            # botocore >= 1.36 adds to every part by default checks the same
            # bytes again, for 0.3-0.4 s of CPU per GiB. Over HTTPS it is kept:
            # there the CRC32 is what lets botocore leave the payload unsigned
            # (TLS and the checksum), and without it botocore would sign it
            # with the slower SHA-256 instead.
            from botocore.config import Config

            self.client = boto3.client(
                "s3", config=Config(request_checksum_calculation="when_required")
            )

    def object_name(self, key: str) -> str:
        return self.prefix + key

    def begin(self) -> Writer:
        return S3Writer(self)

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Key": self.object_name(key)}
        if start or length is not None:
            end = "" if length is None else str(start + length - 1)
            arguments["Range"] = f"bytes={start}-{end}"
        body = self.client.get_object(**arguments)["Body"]
        return _read_body(body)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.object_name(key))

    def leftovers(
        self, *, older_than: timedelta, is_referenced: Callable[[str], bool]
    ) -> Iterator[Leftover]:
        cutoff = datetime.now(UTC) - older_than
        paginator = self.client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for upload in page.get("Uploads", []):
                started = key_time(upload["Key"][len(self.prefix) :]) or upload["Initiated"]
                if started <= cutoff:
                    yield Leftover("incomplete", f"{upload['Key']}|{upload['UploadId']}", 0)
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix) :]
                created = key_time(key) or item["LastModified"]
                if created <= cutoff and not is_referenced(key):
                    yield Leftover("orphan", key, int(item["Size"]))

    def remove(self, leftover: Leftover) -> None:
        if leftover.kind == "incomplete":
            name, upload_id = leftover.name.split("|", 1)
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
        else:
            self.delete(leftover.name)

    def check(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)


def _read_body(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()


# --- wiring -----------------------------------------------------------------

EXTENSION_KEY = "flaskou.storage"


def init_app(app: Flask) -> None:
    settings = app.config["SETTINGS"]
    storage: Storage
    if settings.s3_bucket:
        storage = S3Storage(settings.s3_bucket)
    else:
        storage = LocalStorage(settings.upload_dir or os.path.join(app.instance_path, "uploads"))
    app.extensions[EXTENSION_KEY] = storage


def current_storage() -> Storage:
    storage: Storage = current_app.extensions[EXTENSION_KEY]
    return storage
