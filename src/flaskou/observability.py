"""Request ids, one JSON log line per request, and Prometheus metrics.

Every request gets an id (the caller's `X-Request-ID` when it is sane, a new
one otherwise), echoed in the response. One JSON line per request goes to
stdout with the id, method, path, status, duration and user id — never a
header, a body, a query string, a password or a token.

Metrics are exposed at /metrics. Under gunicorn, workers are separate
processes: with PROMETHEUS_MULTIPROC_DIR set (gunicorn.conf.py sets it),
every worker writes its samples there and /metrics adds them all up.
A process adds its requests up in memory and writes them at most once a
second (`flush_metrics`), before it answers a scrape, and when it exits:
another worker's last second may be missing from a scrape, never lost.
"""

from __future__ import annotations

import atexit
import bisect
import contextlib
import itertools
import json
import logging
import math
import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

access_log = logging.getLogger("flaskou.access")

REQUESTS = Counter(
    "flaskou_http_requests_total",
    "HTTP requests answered, by method, route and status.",
    ["method", "route", "status"],
)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
LATENCY = Histogram(
    "flaskou_http_request_duration_seconds",
    "Time to answer HTTP requests, by method and route.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `extra={"fields": {...}}` adds fields."""

    _second = -1
    _stamp = ""

    def _timestamp(self, created: float) -> str:
        # The date and time change once a second; a line costs only its milliseconds.
        second = int(created)
        if second != self._second:
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._stamp}.{int((created - second) * 1000):03d}+00:00"

    def line(
        self, created: float, level: str, logger: str, message: str, fields: dict[str, Any]
    ) -> str:
        """The line of a record made of these parts (`format`'s, without a record)."""
        entry: dict[str, Any] = {
            "ts": self._timestamp(created),
            "level": level,
            "logger": logger,
            "msg": message,
        }
        entry.update(fields)
        return _ENCODER.encode(entry)

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        if record.exc_info:
            fields = {**fields, "exc": self.formatException(record.exc_info)}
        return self.line(
            record.created, record.levelname.lower(), record.name, record.getMessage(), fields
        )


# One encoder for every line (json.dumps with an argument builds a new one per call).
_ENCODER = json.JSONEncoder(default=str)
# A string as that encoder writes it (ASCII only, quoted, escaped).
_encode_text = json.encoder.encode_basestring_ascii


class LineHandler(logging.StreamHandler):
    """Each record is one write(2) of one whole line to the stream's file.

    A single write of a line (up to the pipe's atomic size, 4 KiB on Linux)
    is never interleaved with another process's or greenlet's, so no lock is
    taken, and no buffer needs flushing after it: the line is out when
    `emit` returns. (The stock handler takes a lock and writes, then flushes,
    through Python's buffered stream: a third of a health check's cost under
    a gevent worker, where that lock is written in Python.)
    """

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        try:
            self._fd: int | None = stream.fileno()
        except (AttributeError, OSError, ValueError):  # not a real file (an embedding's stream)
            self._fd = None

    def handle(self, record: logging.LogRecord) -> bool:
        if self._fd is None:
            return bool(super().handle(record))
        if not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        if self._fd is None:
            super().emit(record)
            return
        try:
            self.write_line(self.format(record))
        except Exception:
            self.handleError(record)

    def write_line(self, text: str) -> None:
        """Write one formatted line to the file (the handler must have one)."""
        assert self._fd is not None
        line = (text + "\n").encode("utf-8", "backslashreplace")
        while line:  # a line longer than the pipe takes in one go: the rest follows
            line = line[os.write(self._fd, line) :]


def configure_logging(*, json_lines: bool) -> None:
    """Logs go to stdout, as JSON lines in production, readable text in development."""
    root = logging.getLogger()
    if getattr(root, "_flaskou_configured", False):
        return
    sys.stdout.flush()  # what was printed before goes out before our lines
    handler = LineHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # No log line prints the caller's file, line or function, nor a process
    # name: the logging module then skips looking them up for every record
    # (its documented switches). Process ids and threads stay: gunicorn's own
    # lines print the process id.
    logging._srcfile = None
    logging.logMultiprocessing = False
    root._flaskou_configured = True  # type: ignore[attr-defined]


_CONVERTER = re.compile(r"<[^:<>]+:")
# Per route rule: its label, and the metric series of each method and status.
_labels: dict[str, str] = {}
_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
USER_ID_KEY = "flaskou.user_id"  # set in the WSGI environ by the route guard
# The request Flask made of the environ (its rule, its path), kept there by
# flaskou's request class as it is made, so the log line can read them once
# Flask is done with it (no hook per request).
REQUEST_KEY = "flaskou.request"


def _route(environ: WSGIEnvironment) -> str:
    """The route's rule with parameters by name only (`<file_id>`, not
    `<uuid:file_id>`): a stable label for logs and metrics."""
    rule = getattr(environ.get(REQUEST_KEY), "url_rule", None)
    if rule is None:
        return "unmatched"
    try:
        return _labels[rule.rule]
    except KeyError:
        label = _labels[rule.rule] = _CONVERTER.sub("<", rule.rule)
        return label


class _RequestIds:
    """New request ids: 32 hex digits, a random prefix per process and a
    counter. Unique, which is all an id needs; no system call per request."""

    def __init__(self) -> None:
        self._pid = -1
        self._prefix = ""
        self._counter = itertools.count()

    def new(self) -> str:
        if os.getpid() != self._pid:  # first use, or a forked worker
            self._pid = os.getpid()
            self._prefix = secrets.token_hex(8)
            self._counter = itertools.count()
        return f"{self._prefix}{next(self._counter):016x}"


_ids = _RequestIds()


class _Tally:
    """One series' requests since the last flush: how many, their total
    duration, and how many fell in each latency bucket."""

    __slots__ = ("buckets", "count", "seconds")

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.buckets = [0] * len(_BOUNDS)


_BOUNDS = (*LATENCY_BUCKETS, math.inf)  # a request's bucket: the first bound it does not exceed
FLUSH_SECONDS = 1.0
_tally_lock = threading.Lock()
_tallies: dict[tuple[str, str, int], _Tally] = {}
_flush_scheduled = False
_flush_due = threading.Event()
_flusher_started = False
FLUSHER_NAME = "flaskou-metrics"


def _observe(method: str, route: str, status: int, duration: float) -> None:
    """Count a request in the process, for the next flush.

    Written to prometheus_client one by one, a request cost three values
    (each a lock, a process-id check and a write to the shared file): 8 µs,
    a tenth of a whole health check (issue #13). Added up here it costs one
    lock and three additions; the flush writes each series once."""
    global _flush_scheduled
    bucket = bisect.bisect_left(_BOUNDS, duration)
    key = (method, route, status)
    with _tally_lock:
        tally = _tallies.get(key)
        if tally is None:
            tally = _tallies[key] = _Tally()
        tally.count += 1
        tally.seconds += duration
        tally.buckets[bucket] += 1
        if _flush_scheduled:
            return
        _flush_scheduled = True
    # The next flush is a second away, written by one thread per process
    # (a greenlet under gevent) that sleeps until requests come: an idle
    # worker's last requests still reach /metrics.
    if not _flusher_started:
        _start_flusher()
    _flush_due.set()


def _start_flusher() -> None:
    global _flusher_started
    with _tally_lock:
        if _flusher_started:
            return
        _flusher_started = True
    threading.Thread(target=_flush_when_due, name=FLUSHER_NAME, daemon=True).start()


def _flush_when_due() -> None:
    while True:
        _flush_due.wait()
        _flush_due.clear()
        time.sleep(FLUSH_SECONDS)
        flush_metrics()


def flush_metrics() -> None:
    """Write the requests counted since the last flush to prometheus_client
    (its shared files under gunicorn), where /metrics reads them."""
    global _tallies, _flush_scheduled
    # Bounded: a signal handler (gunicorn's worker_int) may interrupt the
    # very request that holds the lock; its counts then wait for the next flush.
    if not _tally_lock.acquire(timeout=1.0):
        return
    try:
        tallies, _tallies = _tallies, {}
        _flush_scheduled = False
    finally:
        _tally_lock.release()
    for (method, route, status), tally in tallies.items():
        series = _series.get((method, route, status))
        if series is None:  # labels() takes a lock and builds its key: once per series
            series = (REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route))
            _series[(method, route, status)] = series
        requests, latency = series
        requests.inc(tally.count)
        # Histogram has no public call for many observations at once; its
        # sum and bucket values are what observe() adds to (prometheus_client
        # is pinned; tests/test_observability.py holds the two equal).
        latency._sum.inc(tally.seconds)
        for value, count in zip(latency._buckets, tally.buckets, strict=True):
            if count:
                value.inc(count)


def _forget_tallies() -> None:
    """In a forked child: the parent flushes its own counts, and its lock,
    its flusher thread and its scheduled flush are not this process's."""
    global _tally_lock, _tallies, _flush_scheduled, _flush_due, _flusher_started
    _tally_lock = threading.Lock()
    _tallies = {}
    _flush_scheduled = False
    _flush_due = threading.Event()
    _flusher_started = False


os.register_at_fork(after_in_child=_forget_tallies)
atexit.register(flush_metrics)


def instrument(wsgi_app: WSGIApplication) -> WSGIApplication:
    """Wrap a WSGI app: every request gets its id, its metrics and its log
    line, whatever answered it (a route, an error handler, a static file).
    Work on the raw environ and header list, no request hooks: this runs on
    every request, so it must cost next to nothing. The duration ends when
    the app has made its response (a streamed body is sent after it)."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        incoming = environ.get("HTTP_X_REQUEST_ID")
        request_id = incoming if incoming and _SANE_REQUEST_ID.match(incoming) else _ids.new()
        status_line = "500"

        def start(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            nonlocal status_line
            status_line = status
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status, headers, exc_info)

        try:
            return wsgi_app(environ, start)
        finally:
            _finish(environ, request_id, int(status_line[:3]), time.perf_counter() - started)

    return app


def _finish(environ: WSGIEnvironment, request_id: str, status: int, duration: float) -> None:
    route = _route(environ)
    method = environ.get("REQUEST_METHOD", "")
    if route != "/metrics":
        _observe(method, route, status, duration)
    if not access_log.isEnabledFor(logging.INFO):
        return
    parsed = environ.get(REQUEST_KEY)
    path = parsed.path if parsed is not None else environ.get("PATH_INFO")
    duration_ms = round(duration * 1000, 2)
    user_id = environ.get(USER_ID_KEY)
    ip = environ.get("REMOTE_ADDR")
    handler = _sole_line_handler()
    if handler is None:
        fields = {
            "request_id": request_id,
            "method": method,
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
            "user_id": user_id,
            "ip": ip,
        }
        access_log.info("request", extra={"fields": fields})
        return
    formatter: JsonFormatter = handler.formatter  # type: ignore[assignment]
    try:
        handler.write_line(
            access_line(
                formatter,
                time.time(),
                request_id=request_id,
                method=method,
                path=path,
                route=route,
                status=status,
                duration_ms=duration_ms,
                user_id=user_id,
                ip=ip,
            )
        )
    except Exception:
        # As logging would: the handler reports its own failure.
        record = access_log.makeRecord(access_log.name, logging.INFO, "", 0, "request", (), None)
        handler.handleError(record)


def _text(value: str | None) -> str:
    return "null" if value is None else _encode_text(value)


def access_line(
    formatter: JsonFormatter,
    created: float,
    *,
    request_id: str,
    method: str,
    path: str | None,
    route: str,
    status: int,
    duration_ms: float,
    user_id: str | None,
    ip: str | None,
) -> str:
    """The access record's line as `formatter.line` makes it, written out by
    hand: each field has one known type, so it is encoded as that type,
    for a third of the JSON encoder's cost (which also wants the fields in a
    dict). tests/test_observability.py holds the two equal."""
    return (
        f'{{"ts": "{formatter._timestamp(created)}", "level": "info", '
        f'"logger": "flaskou.access", "msg": "request", '
        f'"request_id": {_encode_text(request_id)}, "method": {_encode_text(method)}, '
        f'"path": {_text(path)}, "route": {_encode_text(route)}, "status": {int(status)}, '
        f'"duration_ms": {float.__repr__(duration_ms)}, "user_id": {_text(user_id)}, '
        f'"ip": {_text(ip)}}}'
    )


def _sole_line_handler() -> LineHandler | None:
    """The handler an access line goes to, when logging it would only format it
    as JSON and write it there: no other handler, no filter on the way, as
    `configure_logging` leaves it. The line is then written straight to it,
    the same bytes for a fifth of the cost (the logging module makes a record
    with a dozen attributes, then walks the loggers to the handler); anything
    configured otherwise (a test's capture, a handler added by an embedding)
    gets the record through logging as usual."""
    logger: logging.Logger | None = access_log
    while logger is not None:
        if logger.filters or logger.disabled:
            return None
        if logger.parent is None:
            break
        if logger.handlers or not logger.propagate:
            return None
        logger = logger.parent
    if logger is None or len(logger.handlers) != 1:
        return None
    handler = logger.handlers[0]
    if (
        type(handler) is not LineHandler
        or handler._fd is None
        or handler.filters
        or handler.level > logging.INFO
        or type(handler.formatter) is not JsonFormatter
    ):
        return None
    return handler


# Collectors read at scrape time (the mail outbox's counts, from the
# database), added to what the request metrics say.
_extra = CollectorRegistry(auto_describe=False)


def add_collector(collector: Any) -> None:
    # A second app in one process (tests) adds the same collector again: the
    # first one stays (it reads from whichever app is answering the scrape).
    with contextlib.suppress(ValueError):
        _extra.register(collector)


def metrics() -> Response:
    flush_metrics()  # this process's own requests, up to the scrape
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)
        payload = generate_latest(registry)
    else:
        payload = generate_latest()
    payload += generate_latest(_extra)
    return Response(
        payload,
        mimetype=CONTENT_TYPE_LATEST.split(";")[0],
        headers={"Content-Type": CONTENT_TYPE_LATEST},
    )


def init_app(app: Flask) -> None:
    app.wsgi_app = instrument(app.wsgi_app)  # type: ignore[method-assign, assignment]
    from flaskou.extensions import no_database

    documented = app.doc(  # type: ignore[attr-defined]
        summary="Prometheus metrics: request counts and latencies by route and status",
        tags=["Operations"],
        responses={
            200: {
                "description": "The Prometheus text exposition format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    )(no_database(metrics))
    app.add_url_rule("/metrics", "metrics", documented, methods=["GET"])
