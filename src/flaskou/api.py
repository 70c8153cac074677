"""Rules shared by every JSON endpoint under /api/."""

from __future__ import annotations

from flask import Flask, current_app, request

from flaskou.errors import DomainError

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported Media Type"
    slug = "unsupported-media-type"


class MalformedBody(DomainError):
    status = 400
    title = "Bad Request"
    slug = "malformed-body"


def require_json_body() -> None:
    """415 for a JSON endpoint given another content type; 400 for bad JSON."""
    if request.method not in BODY_METHODS:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    spec = getattr(view, "_spec", None) or {}
    if "body" not in spec or spec.get("content_type") != "application/json":
        return
    if not request.is_json:
        raise UnsupportedMediaType(
            "This endpoint takes a JSON body (Content-Type: application/json)."
        )
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise MalformedBody("The request body must be a JSON object.")


def init_app(app: Flask) -> None:
    app.before_request(require_json_body)
