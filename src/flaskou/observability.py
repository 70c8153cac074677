"""Request ids, one JSON log line per request, and Prometheus metrics.

Every request gets an id (the caller's `X-Request-ID` when it is sane, a new
one otherwise), echoed in the response. One JSON line per request goes to
stdout with the id, method, path, status, duration and user id — never a
header, a body, a query string, a password or a token.

Metrics are exposed at /metrics. Under gunicorn, workers are separate
processes: with PROMETHEUS_MULTIPROC_DIR set (gunicorn.conf.py sets it),
every worker writes its samples there and /metrics adds them all up.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

access_log = logging.getLogger("flaskou.access")

REQUESTS = Counter(
    "flaskou_http_requests_total",
    "HTTP requests answered, by method, route and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "flaskou_http_request_duration_seconds",
    "Time to answer HTTP requests, by method and route.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `extra={"fields": {...}}` adds fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(*, json_lines: bool) -> None:
    """Logs go to stdout, as JSON lines in production, readable text in development."""
    root = logging.getLogger()
    if getattr(root, "_flaskou_configured", False):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root._flaskou_configured = True  # type: ignore[attr-defined]


_CONVERTER = re.compile(r"<[^:<>]+:")


def _route() -> str:
    """The route's rule with parameters by name only (`<file_id>`, not
    `<uuid:file_id>`): a stable label for logs and metrics."""
    rule = request.url_rule
    return _CONVERTER.sub("<", rule.rule) if rule is not None else "unmatched"


def _start() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _finish(response: Response) -> Response:
    started = g.get("request_started")
    if started is None:  # a request that failed before our hook ran
        return response
    duration = time.perf_counter() - started
    response.headers[REQUEST_ID_HEADER] = g.request_id
    route = _route()
    if route != "/metrics":
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        LATENCY.labels(request.method, route).observe(duration)
    access_log.info(
        "request",
        extra={
            "fields": {
                "request_id": g.request_id,
                "method": request.method,
                "path": request.path,
                "route": route,
                "status": response.status_code,
                "duration_ms": round(duration * 1000, 2),
                "user_id": g.get("user_id"),
                "ip": request.remote_addr,
            }
        },
    )
    return response


# Collectors read at scrape time (the mail outbox's counts, from the
# database), added to what the request metrics say.
_extra = CollectorRegistry(auto_describe=False)


def add_collector(collector: Any) -> None:
    # A second app in one process (tests) adds the same collector again: the
    # first one stays (it reads from whichever app is answering the scrape).
    with contextlib.suppress(ValueError):
        _extra.register(collector)


def metrics() -> Response:
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
    app.before_request(_start)
    app.after_request(_finish)
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
