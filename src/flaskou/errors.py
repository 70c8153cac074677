"""The one error model: RFC 9457 problem details for every failure.

Services raise the domain errors below; werkzeug raises its HTTP errors;
APIFlask raises HTTPError for validation. All of them are rendered here and
nowhere else, as `application/problem+json`, never as HTML or a traceback.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Mapping
from typing import Any

from apiflask import APIFlask, HTTPError
from flask import Response, has_request_context, json, request
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from flaskou.extensions import db

log = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://flaskou.dev/problems/"


class DomainError(Exception):
    """A business rule said no. Subclasses fix the HTTP status and title."""

    status = 400
    title = "Bad Request"
    slug = "bad-request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
        members: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = dict(errors) if errors else None
        self.headers = dict(headers) if headers else {}
        # Extension members of this problem type (RFC 9457 section 3.2).
        self.members = dict(members) if members else {}


class ValidationFailed(DomainError):
    status = 422
    title = "Validation failed"
    slug = "validation-failed"


class Unauthorized(DomainError):
    status = 401
    title = "Unauthorized"
    slug = "unauthorized"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"}, **kwargs)


class MfaRequired(Unauthorized):
    """The password was right; a second factor completes the sign-in."""

    title = "Second factor required"
    slug = "mfa-required"


class MfaFailed(Unauthorized):
    title = "Second factor not accepted"
    slug = "mfa-failed"


class MfaTokenInvalid(Unauthorized):
    title = "Sign-in attempt expired"
    slug = "mfa-token-invalid"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"
    slug = "forbidden"


class InsufficientScope(Forbidden):
    """An API key was used outside its scopes (or where no key may go)."""

    title = "Insufficient scope"
    slug = "insufficient-scope"


class NotFound(DomainError):
    status = 404
    title = "Not Found"
    slug = "not-found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class InvalidToken(DomainError):
    """A link's token is unknown, expired, spent or no longer matches the account."""

    status = 400
    title = "Invalid or expired link"
    slug = "invalid-token"


class EmailUnverified(DomainError):
    status = 403
    title = "Email address not verified"
    slug = "email-unverified"


class TooManyRequests(DomainError):
    status = 429
    title = "Too Many Requests"
    slug = "too-many-requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class PayloadTooLarge(DomainError):
    status = 413
    title = "Payload Too Large"
    slug = "payload-too-large"


class InsufficientStorage(DomainError):
    status = 507
    title = "Insufficient Storage"
    slug = "insufficient-storage"


class ServiceUnavailable(DomainError):
    status = 503
    title = "Service Unavailable"
    slug = "service-unavailable"


def _slug(title: str) -> str:
    return "-".join(title.lower().replace("'", "").split())


def problem(
    status: int,
    detail: str | None = None,
    *,
    title: str | None = None,
    slug: str | None = None,
    errors: Mapping[str, list[str]] | None = None,
    headers: Any = None,
    members: Mapping[str, Any] | None = None,
) -> Response:
    title = title or HTTP_STATUS_CODES.get(status, "Error")
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (slug or _slug(title)),
        "title": title,
        "status": status,
        "detail": detail or title,
    }
    if errors:
        body["errors"] = errors
    for name, value in (members or {}).items():
        body.setdefault(name, value)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_CONTENT_TYPE)
    for name, value in dict(headers or {}).items():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _flatten_validation(detail: Any) -> dict[str, list[str]]:
    """APIFlask nests messages by location ({"json": {"field": [...]}}); flatten them."""
    errors: dict[str, list[str]] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                name = f"{prefix}.{key}" if prefix else str(key)
                walk(name, inner)
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            errors.setdefault(prefix or "_body", []).extend(value)
        elif isinstance(value, list | tuple):
            for index, inner in enumerate(value):
                walk(f"{prefix}.{index}", inner)
        else:
            errors.setdefault(prefix or "_body", []).append(str(value))

    if isinstance(detail, Mapping):
        for location_messages in detail.values():
            walk("", location_messages)
    return errors


def _is_redis_outage(error: Exception) -> bool:
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover - redis is a dependency of limits[redis]
        return False
    return isinstance(error, RedisConnectionError | RedisTimeoutError)


def _is_broken_body(error: Exception) -> bool:
    """The WSGI server could not read the request body: bad chunked framing, or
    the client stopped sending. The client's fault, never a 500."""
    try:
        from gunicorn.http.errors import NoMoreData, ParseException
    except ImportError:  # pragma: no cover - served by another WSGI server
        return False
    return isinstance(error, ParseException | NoMoreData)


def _is_disk_full(error: Exception) -> bool:
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


# A refused body that is still on its way is read (and dropped), up to this
# much and this long, before the answer goes out. Closing a socket that holds
# unread bytes makes the kernel reset the connection, and a client still
# sending its body (most send all of it before they read) would lose the
# answer with it. nginx's lingering close does the same for the same reason.
DRAIN_REFUSED_BYTES = 8 * 1024 * 1024
DRAIN_REFUSED_SECONDS = 5


def _drain_refused_body() -> None:
    if not has_request_context():
        return
    declared = request.content_length
    if declared is not None and declared > DRAIN_REFUSED_BYTES:
        return  # too much to wait for: the connection is closed instead
    stream = request.environ.get("wsgi.input")
    if stream is None:
        return
    deadline = time.monotonic() + DRAIN_REFUSED_SECONDS
    drained = 0
    try:
        while drained < DRAIN_REFUSED_BYTES and time.monotonic() < deadline:
            chunk = stream.read(64 * 1024)
            if not chunk:
                return
            drained += len(chunk)
    except Exception:  # the client went away or broke its framing: nothing to save
        return


def _render_http_error(error: HTTPError) -> Response:
    if error.status_code == 422:
        errors = _flatten_validation(error.detail)
        fields = ", ".join(sorted(errors)) or "the request"
        return problem(
            422,
            f"Invalid value for {fields}.",
            title="Validation failed",
            slug="validation-failed",
            errors=errors,
            headers=error.headers,
        )
    detail = error.detail if isinstance(error.detail, str) and error.detail else error.message
    return problem(error.status_code, detail, headers=error.headers)


def register_error_handlers(app: APIFlask) -> None:
    @app.error_processor
    def handle_api_error(error: HTTPError) -> Response:
        return _render_http_error(error)

    @app.errorhandler(DomainError)
    def handle_domain_error(error: DomainError) -> Response:
        if error.status >= 500:
            db.session.rollback()
        if error.status == 413:
            _drain_refused_body()
        return problem(
            error.status,
            error.detail,
            title=error.title,
            slug=error.slug,
            errors=error.errors,
            headers=error.headers,
            members=error.members,
        )

    @app.errorhandler(HTTPException)
    def handle_werkzeug_error(error: HTTPException) -> Response:
        original = getattr(error, "original_exception", None)
        if error.code == 500 and isinstance(original, Exception):
            # Raised outside a view, where Flask wraps it (an after_request hook:
            # the rate limiter writing its headers when Redis has just gone away).
            return handle_unexpected(original)
        headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        status = error.code or 500
        detail = error.description if status != 404 else "No such resource."
        if status == 405:
            detail = "This method is not allowed on this path."
        if status == 413:
            _drain_refused_body()
            # Raised by the body bound (see api.ApiRequest) before the body was read.
            limit = app.config["SETTINGS"].max_json_bytes
            detail = f"The request body is larger than MAX_JSON_BYTES ({limit} bytes)."
            # One kind of problem for one status, whoever raises it (PayloadTooLarge, nginx).
            return problem(
                413,
                detail,
                title=PayloadTooLarge.title,
                slug=PayloadTooLarge.slug,
                headers=headers,
            )
        return problem(status, detail, headers=headers)

    @app.errorhandler(OperationalError)
    def handle_database_down(error: OperationalError) -> Response:
        db.session.rollback()
        log.error("database unavailable: %s", error.__class__.__name__)
        return problem(
            503,
            "The database is not answering; try again shortly.",
            headers={"Retry-After": "5"},
        )

    @app.errorhandler(DataError)
    def handle_unstorable_value(error: DataError) -> Response:
        # A value the database cannot store (the schema let it through): the
        # client's input, so a 422, and nothing was written.
        db.session.rollback()
        log.warning("database refused a value: %s", error.orig.__class__.__name__)
        return problem(
            422,
            "A value in this request cannot be stored.",
            title="Validation failed",
            slug="validation-failed",
        )

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return handle_database_down(error)  # type: ignore[arg-type]
        if _is_broken_body(error):
            db.session.rollback()
            log.info("unreadable request body: %s", error.__class__.__name__)
            return problem(
                400,
                "The request body could not be read (broken chunked encoding or cut short).",
                slug="malformed-body",
            )
        if _is_disk_full(error):
            db.session.rollback()
            log.error("storage full: %s", error)
            return handle_domain_error(
                InsufficientStorage("There is no space left to store this; nothing was kept.")
            )
        if _is_redis_outage(error):
            log.error("redis unavailable: %s", error.__class__.__name__)
            return problem(
                503,
                "A backing service (Redis) is not answering; try again shortly.",
                headers={"Retry-After": "5"},
            )
        db.session.rollback()
        log.exception("unhandled error")
        return problem(500, "Something went wrong on our side; it has been logged.")
