"""flaskou's gunicorn worker: gunicorn's own error answers in flaskou's error model.

gunicorn refuses some requests itself, before flaskou ever sees them: a
request line or head over its limits, a header it cannot parse safely, an
unknown method or transfer coding, a bad `Expect`. Its stock answer is an
HTML page. This worker is gunicorn's gevent worker (gunicorn.conf.py) with
that one answer replaced by RFC 9457 problem+json, worded like every other
flaskou error (flaskou.errors.problem): same `type` URIs, titles and shape.

What stays gunicorn's: which requests are refused, with which status (its
`handle_error` decides, so a gunicorn upgrade that maps an error differently
carries through), and what it logs (a warning line and the access log).

This module imports gunicorn and gevent at the top: only gunicorn loads it
(as `worker_class`), and importing `flaskou` never imports it.
"""

from __future__ import annotations

import io
import re
import socket
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.http import wsgi as gunicorn_wsgi
from gunicorn.http.body import Body, LengthReader
from gunicorn.workers.ggevent import GeventWorker

# What a client can do about each refusal. Written out here, never copied
# from the request: gunicorn's own messages quote the offending header or
# line, and an error answer must not echo the client's bytes (or a secret in
# them) back.
_REASONS: list[tuple[type[BaseException], str]] = [
    (
        http_errors.LimitRequestLine,
        "The request line (method, path with query string, and version) is longer "
        "than {limit_request_line} bytes.",
    ),
    (
        http_errors.LimitRequestHeaders,
        "The request headers are too large: at most {limit_request_fields} headers, "
        "each at most {limit_request_field_size} bytes.",
    ),
    (
        http_errors.ObsoleteFolding,
        "A header is folded over several lines (obsolete line folding); "
        "send each header on one line.",
    ),
    (
        http_errors.InvalidHeaderName,
        "A header name is not valid: it may contain only letters, digits and "
        "!#$%&'*+-.^`|~ (no spaces, no underscores).",
    ),
    (
        http_errors.InvalidHeader,
        "A header is not valid HTTP: a line without a colon, a control character "
        "(NUL, CR, LF) in a value, a header that may appear once repeated, or "
        "Content-Length and Transfer-Encoding that do not agree.",
    ),
    (
        http_errors.InvalidRequestMethod,
        "The request method is not a valid HTTP method.",
    ),
    (
        http_errors.InvalidHTTPVersion,
        "The HTTP version is not supported; send HTTP/1.0 or HTTP/1.1.",
    ),
    (
        http_errors.InvalidRequestLine,
        "The request line is not valid HTTP: send METHOD /path HTTP/1.1.",
    ),
    (
        http_errors.UnsupportedTransferCoding,
        "The only transfer coding accepted is chunked.",
    ),
    (
        http_errors.ExpectationFailed,
        "The only expectation this server meets is Expect: 100-continue.",
    ),
    (
        http_errors.InvalidSchemeHeaders,
        "The request's scheme headers (such as X-Forwarded-Proto) contradict each other.",
    ),
    (
        http_errors.InvalidChunkSize,
        "The request body could not be read (broken chunked encoding or cut short).",
    ),
    (
        http_errors.ChunkMissingTerminator,
        "The request body could not be read (broken chunked encoding or cut short).",
    ),
    (
        http_errors.InvalidChunkExtension,
        "The request body could not be read (broken chunked encoding or cut short).",
    ),
]
# Same slug as flaskou's own answer to a body gunicorn could not read (errors.py).
_BODY_ERRORS = (
    http_errors.InvalidChunkSize,
    http_errors.ChunkMissingTerminator,
    http_errors.InvalidChunkExtension,
)
_SERVER_ERROR = "Something went wrong on our side; it has been logged."


def problem_bytes(status: int, reason: str, exc: BaseException, cfg: Any) -> bytes:
    """The whole HTTP/1.1 answer to a request gunicorn refused: head and problem+json body."""
    # Imported here, not at the top: the master process loads this module to
    # find the worker class, and flaskou.errors brings the app's extensions
    # with it; the worker has them loaded already (it has loaded the app).
    from flaskou import errors

    # A refusal of the client's request says what was wrong with it. A 500 is
    # gunicorn's answer to a failure of its own or of flaskou's (an invalid
    # response header flaskou tried to send is one) and says no more.
    reason_text = next((text for kind, text in _REASONS if isinstance(exc, kind)), None)
    if status == 500 or reason_text is None:
        detail = _SERVER_ERROR if status >= 500 else "The request is not valid HTTP."
    else:
        detail = reason_text.format(
            limit_request_line=cfg.limit_request_line,
            limit_request_fields=cfg.limit_request_fields,
            limit_request_field_size=cfg.limit_request_field_size,
        )
    slug = "malformed-body" if isinstance(exc, _BODY_ERRORS) else None
    response = errors.problem(status, detail, slug=slug)
    body = response.get_data()
    head = [
        f"HTTP/1.1 {status} {reason}",
        f"Content-Type: {errors.PROBLEM_CONTENT_TYPE}",
        f"Content-Length: {len(body)}",
        # The request was not understood, so neither is where the next one
        # would start: gunicorn closes the connection, and says so.
        "Connection: close",
        # flaskou's header policy (headers.py) for an API answer.
        "Cache-Control: no-store",
        "X-Content-Type-Options: nosniff",
        "X-Frame-Options: DENY",
        "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class _Capture:
    """The client socket as gunicorn's handle_error sees it: everything passes
    through, except the error page it writes, which is kept here instead."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.written = b""

    def sendall(self, data: bytes) -> None:
        self.written += bytes(data)

    def send(self, data: bytes) -> int:
        self.sendall(data)
        return len(data)

    def gettimeout(self) -> float | None:
        return 0.0  # already "non-blocking": write_nonblock leaves the real socket alone

    def setblocking(self, flag: bool) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def status(self) -> tuple[int, str] | None:
        """(status, reason) of the status line gunicorn wrote, if it wrote one."""
        line = self.written.partition(b"\r\n")[0].decode("latin-1")
        parts = line.split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            return None
        return int(parts[1]), parts[2] if len(parts) > 2 else ""


_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,64}")


def _unquoted(value: Any) -> str:
    return f"<not logged, {len(value)} long>"


def _redact(exc: BaseException) -> None:
    """Make what gunicorn logs of a refused request (`str(exc)`) safe to keep.

    gunicorn quotes the offending bytes: a header value (an `Expect`, a line
    with no colon: a credential can be in either), a whole request line
    with its query string, a chunk of body. flaskou logs no header value and
    no query string (gunicorn.conf.py's access_log_format), so neither does
    this: header names stay, values become their length.
    """
    if isinstance(exc, http_errors.ExpectationFailed):
        exc.expect = _unquoted(exc.expect)
    elif isinstance(exc, http_errors.InvalidHeader | http_errors.InvalidHeaderName):
        if not _HEADER_NAME.fullmatch(str(exc.hdr)):
            exc.hdr = _unquoted(str(exc.hdr))
    elif isinstance(exc, http_errors.InvalidRequestLine):
        line = str(exc.req)
        if "?" in line:
            exc.req = line.partition("?")[0] + "?" + _unquoted(line.partition("?")[2])
    elif isinstance(exc, http_errors.InvalidChunkSize):
        exc.data = _unquoted(exc.data)
    elif isinstance(exc, http_errors.ChunkMissingTerminator):
        exc.term = _unquoted(exc.term)


class DirectBody:
    """gunicorn's reader of a request body, plus `readinto` straight from the socket.

    gunicorn reads a body with `recv` into new bytes objects and passes them
    through two buffers of its own; Werkzeug's stream then copies them into
    the buffer its caller reads into. For a large upload those copies (and the
    allocations) were a third of the worker's CPU beside hashing. Once the
    bytes gunicorn read ahead with the request's head are used up, `readinto`
    here is one `recv_into` the caller's buffer, counted off the body's
    remaining length as gunicorn's own reader would, so gunicorn finds the
    connection where it expects it after the request.
    """

    def __init__(self, body: Body, sock: socket.socket) -> None:
        self._body = body
        self._reader: LengthReader = body.reader
        self._sock = sock

    def readinto(self, buffer: Any) -> int:
        body, reader = self._body, self._reader
        ahead = body.buf.tell() + reader.unreader.buf.seek(0, io.SEEK_END)
        if ahead:
            # What gunicorn holds already goes first, through its own reader,
            # and no more: a read never waits for bytes beyond what it holds.
            data = body.read(min(len(buffer), ahead))
            buffer[: len(data)] = data
            return len(data)
        wanted = min(len(buffer), reader.length)
        if not wanted:
            return 0
        try:
            with memoryview(buffer) as view, view[:wanted] as window:
                got = self._sock.recv_into(window)
        except BaseException:
            body.failed = True  # where the next request starts is unknown now
            raise
        reader.length -= got
        return got

    def read(self, size: int | None = None) -> bytes:
        return bytes(self._body.read(size))

    def readline(self, size: int | None = None) -> bytes:
        return bytes(self._body.readline(size))

    def readlines(self, size: int | None = None) -> list[bytes]:
        return list(self._body.readlines(size))

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)


# A body shorter than this is read the usual way: it mostly came in with the head.
DIRECT_BODY_MIN = 64 * 1024


def direct_body_reads(wsgi: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """Give each large body of known length a `readinto` from the socket (DirectBody)."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        body = environ.get("wsgi.input")
        if (
            isinstance(body, Body)
            and type(body.reader) is LengthReader
            and body.reader.length >= DIRECT_BODY_MIN
            and "gunicorn.socket" in environ
        ):
            environ["wsgi.input"] = DirectBody(body, environ["gunicorn.socket"])
        return wsgi(environ, start_response)

    return app


# A body up to this size goes out in one write with the head; a larger one
# is not copied for it (the head then goes alone, as gunicorn sends it).
ONE_WRITE_MAX = 64 * 1024


class OneWriteResponse(gunicorn_wsgi.Response):
    """gunicorn's response writer, except that the head goes out with the
    first body bytes in one `sendall`, not in a write of its own.

    gunicorn writes every answer's head, then its body: two writes, so two
    segments on the connection and two wake-ups of the client for a JSON
    answer of a few hundred bytes. Held until the body comes, the head costs
    no write of its own. `headers_sent` still means "on the wire": an error
    before anything was written can still be answered with a 500.
    """

    _head: bytes | None = None
    _hold = True

    def send_headers(self) -> None:
        if self.headers_sent or self._head is not None:
            return
        if not self._hold:
            super().send_headers()
            return
        lines = self.default_headers()
        lines.extend(f"{name}: {value}\r\n" for name, value in self.headers)
        self._head = ("".join(lines) + "\r\n").encode("latin-1")

    def _send_head(self, body: bytes = b"") -> None:
        head, self._head = self._head, None
        if head is not None:
            self.sock.sendall(head + body if body else head)
            self.headers_sent = True

    def _emit_body(self, data: bytes) -> None:
        if self._head is not None and not self.chunked and len(data) <= ONE_WRITE_MAX:
            self._send_head(data)
            return
        self._send_head()
        super()._emit_body(data)

    def sendfile(self, respiter: Any) -> bool:
        # The file goes by sendfile(2) straight after the head: nothing to join.
        self._hold = False
        try:
            return bool(super().sendfile(respiter))
        finally:
            self._hold = True

    def close(self) -> None:
        # A body that never came (HEAD, 204, 304, an empty iterable): the head alone.
        self.send_headers()
        self._send_head()
        super().close()


class ProblemGeventWorker(GeventWorker):
    """gunicorn's gevent worker, whose own error answers are problem+json,
    whose large request bodies are read without copies (DirectBody), and whose
    answers go out in one write each (OneWriteResponse)."""

    wsgi: Callable[..., Iterable[bytes]]

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.wsgi = direct_body_reads(self.wsgi)
        # gunicorn's handle_request builds each response through
        # gunicorn.http.wsgi.create, which takes the class from its module; this
        # is the worker process, and every response it builds should be this one.
        gunicorn_wsgi.Response = OneWriteResponse

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        _redact(exc)
        capture = _Capture(client)
        # gunicorn decides the status, logs and writes its page (to the capture).
        super().handle_error(req, capture, addr, exc)
        written = capture.status()
        if written is None:
            return
        status, reason = written
        try:
            util.write_nonblock(client, problem_bytes(status, reason, exc, self.cfg))
        except Exception:
            # The client is gone; as gunicorn's own handler, say so only in debug.
            self.log.debug("Failed to send error message.")
