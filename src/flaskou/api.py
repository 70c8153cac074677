"""Rules shared by every JSON endpoint under /api/."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, request

from flaskou.errors import DomainError, ValidationFailed

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported Media Type"
    slug = "unsupported-media-type"


class MalformedBody(DomainError):
    status = 400
    title = "Bad Request"
    slug = "malformed-body"


def _nul_fields(value: Any, path: str = "") -> list[str]:
    """Where a NUL character hides in a JSON value (no database stores one in text)."""
    if isinstance(value, str):
        return [path or "_body"] if "\x00" in value else []
    if isinstance(value, dict):
        found = []
        for key, inner in value.items():
            found += _nul_fields(inner, f"{path}.{key}" if path else str(key))
        if any("\x00" in str(key) for key in value):
            found.append(path or "_body")
        return found
    if isinstance(value, list):
        return [
            f for index, inner in enumerate(value) for f in _nul_fields(inner, f"{path}.{index}")
        ]
    return []


def _refuse_nul(fields: list[str]) -> None:
    if fields:
        raise ValidationFailed(
            "Text may not contain NUL characters.",
            errors={field: ["Contains a NUL character."] for field in fields},
        )


def refuse_nul_in_url() -> None:
    """A NUL in the query string or path answers 422 (or 404 for a path), never a 500."""
    if any(
        "\x00" in value for value in (request.view_args or {}).values() if isinstance(value, str)
    ):
        from werkzeug.exceptions import NotFound

        raise NotFound()
    _refuse_nul([key for key, value in request.args.items(multi=True) if "\x00" in key + value])


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
    _refuse_nul(_nul_fields(body))


def init_app(app: Flask) -> None:
    app.before_request(refuse_nul_in_url)
    app.before_request(require_json_body)
