"""Reading a multipart upload straight from the socket into storage.

Werkzeug's own form parser would first spool the file to a temporary file;
this reader feeds the `file` part's bytes to a storage writer as they
arrive, hashing and counting them, so a worker holds one chunk at a time
and the limits are enforced while the body is still coming in.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import hashlib
import sys
from collections.abc import Callable
from typing import IO, Any

from werkzeug.exceptions import ClientDisconnected
from werkzeug.sansio import multipart as werkzeug_multipart
from werkzeug.sansio.multipart import Data, Epilogue, Event, Field, File, NeedData, State

from flaskou.errors import DomainError, PayloadTooLarge, ValidationFailed
from flaskou.files.storage import Storage, Writer

# The most read at a time (one recv_into under flaskou's worker): large enough
# that a read costs little beside its bytes, and two of these are what an
# upload holds in memory (less for a smaller body).
READ_SIZE = 4 * 1024 * 1024
# A read goes on to storage once it holds this much (or the body ended).
MIN_READ = 1024 * 1024
MAX_PARTS = 32


class MultipartDecoder(werkzeug_multipart.MultipartDecoder):
    """Werkzeug's decoder, with a copy-free path for file content, and minus one
    way it corrupts data (pallets/werkzeug#3285).

    Werkzeug holds back the end of its buffer only as far as an opening
    delimiter (`CRLF--boundary`) reaches; the closing one (`CRLF--boundary--`)
    is two bytes longer, so a read that ends inside it lets the delimiter's CR
    through as file content: the upload is stored with one stray byte. Here
    the window covers the longer delimiter: from the earliest line break that
    could start one, the bytes wait for the next read.

    Werkzeug appends every read to its buffer, then copies the part's bytes
    out of it (three copies of each byte of a 1 GiB upload, a tenth of the
    worker's CPU). Inside a part's content, a read in which `--boundary`
    appears nowhere (with the few bytes held back from the previous read in
    front of it) holds no delimiter: it is handed on as a view of the read
    itself, all but its last few bytes, which are held back as werkzeug
    would. Only a read that does contain `--boundary` (the last one, or
    content that happens to) goes through werkzeug's buffer and regex.
    """

    def __init__(self, boundary: bytes, *, max_parts: int | None = None) -> None:
        super().__init__(boundary, max_parts=max_parts)
        self._needle = b"--" + boundary
        self._window = len(b"\r\n--" + boundary + b"--")
        self._ready: collections.deque[Data] = collections.deque()

    def receive_data(self, data: bytes | None) -> None:
        if data is None:
            super().receive_data(None)
        else:
            self._receive(memoryview(data), data, len(data))

    def receive_into(self, buffer: bytearray, length: int) -> None:
        """`receive_data(buffer[:length])` without copying it: what is handed on
        are views of `buffer`, which the caller fills again only once it has
        used up the events."""
        self._receive(memoryview(buffer)[:length], buffer, length)

    def _receive(self, view: memoryview, data: bytes | bytearray, length: int) -> None:
        """`view` is `data[:length]`, searched in place."""
        if (
            self.state is not State.DATA
            or self._ready
            or length < self._window
            or data.find(self._needle, 0, length) != -1
            or (bytes(self.buffer) + view[: len(self._needle)]).find(self._needle) != -1
        ):
            # Werkzeug only appends the data to its buffer: a view does as well.
            super().receive_data(view)  # type: ignore[arg-type]
            return
        # What werkzeug would answer from buffer + data, without joining them:
        # no delimiter, so everything up to the last possible start of one.
        held = self._last_partial_boundary_index(view)
        if self.buffer:
            self._ready.append(Data(data=bytes(self.buffer), more_data=True))
        if held:
            self._ready.append(Data(data=view[:held], more_data=True))  # type: ignore[arg-type]
        self.buffer[:] = view[held:]

    def next_event(self) -> Event:
        if self._ready:
            return self._ready.popleft()
        return super().next_event()

    def _last_partial_boundary_index(self, data: bytes | bytearray | memoryview) -> int:
        window_start = max(0, len(data) - self._window)
        for index in range(window_start, len(data)):
            if data[index] in b"\r\n":
                return index
        return len(data)


class UploadTooLarge(PayloadTooLarge):
    """The request is over MAX_UPLOAD_BYTES."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"The request is larger than MAX_UPLOAD_BYTES ({limit} bytes).")


class QuotaExceeded(PayloadTooLarge):
    """The upload would take the owner over USER_QUOTA_BYTES."""


class ClientGone(DomainError):
    status = 400
    title = "Bad Request"
    slug = "incomplete-upload"


class _Beside:
    """Runs a function in a native thread and lets the caller wait for it.

    Under gunicorn's gevent worker the standard library is monkey-patched
    (threads are greenlets), so gevent's own pool of native threads is used:
    waiting on it yields to the other greenlets. Anywhere else (the test
    client, `flask run`) a plain thread pool.
    """

    _pool: concurrent.futures.ThreadPoolExecutor | None = None

    def __init__(self, function: Callable[[Any], object], argument: Any) -> None:
        monkey = sys.modules.get("gevent.monkey")
        if monkey is not None and monkey.is_module_patched("threading"):
            import gevent

            self._wait: Callable[[], object] = (
                gevent.get_hub().threadpool.spawn(function, argument).get
            )
        else:
            if _Beside._pool is None:
                _Beside._pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=4, thread_name_prefix="flaskou-upload-digest"
                )
            self._wait = _Beside._pool.submit(function, argument).result

    def wait(self) -> None:
        self._wait()


class Digest:
    """SHA-256 of an upload, taken in a native thread while the worker receives
    and writes the next read.

    Hashing is most of an upload's CPU (0.6 s of the worker's ~1.4 s for
    1 GiB) and hashlib releases the GIL while it works on a large buffer, so
    on a machine with a core to spare the upload takes the time of the
    receiving, not of both. One read at a time is hashed, in order: memory
    stays two reads (the one being hashed, the one being received).
    """

    INLINE = 64 * 1024  # smaller pieces are not worth a thread's round trip

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._running: _Beside | None = None
        self._reading: object = None  # the buffer the running hash reads

    def update(self, data: bytes | memoryview) -> None:
        self._finish()
        if len(data) < self.INLINE:
            self._digest.update(data)
        else:
            self._running = _Beside(self._digest.update, data)
            self._reading = data.obj if isinstance(data, memoryview) else data

    def release(self, buffer: bytearray) -> None:
        """Return once no hash under way reads `buffer`, so it can be filled again."""
        if self._reading is buffer:
            self._finish()

    def hexdigest(self) -> str:
        self._finish()
        return self._digest.hexdigest()

    def _finish(self) -> None:
        if self._running is not None:
            running, self._running = self._running, None
            self._reading = None
            running.wait()


@dataclasses.dataclass
class ReceivedFile:
    writer: Writer
    filename: str
    content_type: str | None
    size: int
    sha256: str


def no_file_part() -> ValidationFailed:
    return ValidationFailed(
        "Send the file as a multipart/form-data part named 'file'.",
        errors={"file": ["Missing file part."]},
    )


def receive_file(
    stream: IO[bytes],
    *,
    boundary: bytes,
    storage: Storage,
    max_request_bytes: int,
    allowance: int,
    content_length: int | None = None,
) -> ReceivedFile:
    """Stream the `file` part into a storage writer; nothing is left on failure.

    `allowance` is what the owner's quota still allows; going over either
    limit stops the upload at once with a 413 whose detail says which. A
    known `content_length` below READ_SIZE sizes the two read buffers.
    """
    decoder = MultipartDecoder(boundary, max_parts=MAX_PARTS)
    writer: Writer | None = None
    filename: str | None = None
    content_type: str | None = None
    digest = Digest()
    size = 0
    received = 0
    in_file = False
    finished_file = False
    # Two buffers, filled in turn: the one just read is hashed in a thread
    # while the other is filled, and nothing is allocated per read.
    read_size = min(READ_SIZE, content_length) if content_length else READ_SIZE
    buffers = (bytearray(read_size), bytearray(read_size))
    turn = 0
    try:
        while True:
            buffer = buffers[turn]
            turn ^= 1
            digest.release(buffer)
            length = _fill(stream, buffer, min(MIN_READ, read_size))
            received += length
            if received > max_request_bytes:
                raise UploadTooLarge(max_request_bytes)
            if length:
                decoder.receive_into(buffer, length)
            else:
                decoder.receive_data(None)
            event = decoder.next_event()
            while not isinstance(event, NeedData | Epilogue):
                if isinstance(event, File) and event.name == "file" and writer is None:
                    filename = event.filename
                    if not filename or not filename.strip():
                        raise ValidationFailed(
                            "The file part has no filename.",
                            errors={"file": ["The filename is empty."]},
                        )
                    content_type = event.headers.get("Content-Type")
                    writer = storage.begin()
                    in_file = True
                elif isinstance(event, File | Field):
                    # One part, `file`, as the document says: anything else is
                    # refused rather than silently dropped.
                    name = event.name or "_body"
                    message = "Send one file per request." if name == "file" else "Unknown field."
                    raise ValidationFailed(
                        "The body may only have one part, named 'file'.",
                        errors={name: [message]},
                    )
                elif isinstance(event, Data) and in_file and writer is not None:
                    size += len(event.data)
                    if size > allowance:
                        raise QuotaExceeded(
                            "This upload would take you over your storage quota (USER_QUOTA_BYTES)."
                        )
                    digest.update(event.data)
                    writer.write(event.data)
                    if not event.more_data:
                        in_file = False
                        finished_file = True
                event = decoder.next_event()
            if isinstance(event, Epilogue) or not length:
                break
        if writer is None or filename is None:
            raise no_file_part()
        if not finished_file:
            raise ClientGone("The upload ended before the whole file arrived.")
        return ReceivedFile(writer, filename, content_type, size, digest.hexdigest())
    except ValueError as exc:  # malformed multipart
        if writer is not None:
            writer.abort()
        raise ValidationFailed(
            "The multipart body is malformed.", errors={"file": [str(exc)]}
        ) from None
    except BaseException:
        if writer is not None:
            writer.abort()
        raise


def _fill(stream: IO[bytes], buffer: bytearray, enough: int) -> int:
    """Read the body into `buffer` until it holds at least `enough` bytes (as
    much as has arrived, up to its size) or the body ends; answer how much.
    A slow client's bytes go on to storage a MIN_READ at a time.

    A large body under flaskou's gunicorn worker is read with one `recv_into`
    this buffer per read (flaskou.serving.DirectBody), with no copy on the way;
    a stream without `readinto` (gunicorn's own, for a small body) with `read`.
    """
    readinto = getattr(stream, "readinto", None)
    filled = 0
    with memoryview(buffer) as view:
        try:
            while filled < enough:
                with view[filled:] as rest:
                    if readinto is not None:
                        got = readinto(rest)
                    else:  # read() waits for all it is asked: no more than is enough
                        data = stream.read(min(len(rest), enough - filled))
                        got = len(data)
                        rest[:got] = data
                if not got:
                    break
                filled += got
        except ClientDisconnected:
            raise ClientGone("The upload ended before the whole body arrived.") from None
    return filled


def drain(stream: IO[bytes], limit: int | None = None) -> None:
    """Read and drop what the client is still sending, so it can read our answer.

    A client like curl or python-requests sends its whole body before it
    reads the response; closing on it mid-send turns a clear 413 into a
    connection reset.
    """
    read = 0
    try:
        while True:
            chunk = stream.read(READ_SIZE)
            if not chunk:
                return
            read += len(chunk)
            if limit is not None and read > limit:
                return
    except (ClientDisconnected, OSError):
        return


def boundary_of(mimetype_params: dict[str, Any]) -> bytes | None:
    boundary = mimetype_params.get("boundary")
    if not boundary:
        return None
    try:
        return str(boundary).encode("ascii")
    except UnicodeEncodeError:
        return None
