"""Rules shared by every JSON endpoint under /api/.

Every request body has a bound before anything reads it: `MAX_JSON_BYTES`
for JSON (and anything else), while the streamed upload route bounds itself
as it reads. A body that is too large, not JSON, nested absurdly deep or
carrying text no database can store is refused here with a 4xx, before a
schema, the rate limiter or a service sees it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, TypeVar

from apiflask import fields
from flask import Flask, current_app, request
from flask.json.provider import DefaultJSONProvider
from flask.wrappers import Request
from werkzeug.exceptions import BadRequest
from werkzeug.routing import BaseConverter

from flaskou.errors import DomainError, PayloadTooLarge, ValidationFailed
from flaskou.observability import REQUEST_KEY

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# No flaskou body nests deeper than a few levels (a WebAuthn credential is
# the deepest); far past that is an attack on the parser, not a request.
MAX_JSON_DEPTH = 32
# NUL and unpaired UTF-16 surrogates: valid in a JSON string, but no database
# stores them as text (and UTF-8 cannot encode a lone surrogate).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(text: str) -> str | None:
    """Why this text cannot be stored, or None when it can."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "Contains a NUL character."
    return "Contains an unpaired surrogate (not valid Unicode text)."


_STREAMS_BODY = "_flaskou_streams_body"

F = TypeVar("F", bound=Callable[..., Any])


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported Media Type"
    slug = "unsupported-media-type"


class MalformedBody(DomainError):
    status = 400
    title = "Bad Request"
    slug = "malformed-body"


class BodyTooLarge(PayloadTooLarge):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body is larger than MAX_JSON_BYTES ({limit} bytes).")


def streams_body(view: F) -> F:
    """Mark a view that reads its body from the socket itself, under its own limit."""
    setattr(view, _STREAMS_BODY, True)
    return view


_OPAQUE_MEMBERS = "_flaskou_opaque_members"


def opaque_members(*names: str) -> Callable[[F], F]:
    """Declare body members that are handed whole to a verifier and never
    stored as text (a WebAuthn credential): the NUL and surrogate rule does
    not apply inside them, so their schema can be the free-form object the
    standard defines. Whatever is wrong in them, the verifier refuses."""

    def decorator(view: F) -> F:
        setattr(view, _OPAQUE_MEMBERS, frozenset(names))
        return view

    return decorator


def streams_body_of(view: Callable[..., Any] | None) -> bool:
    return bool(getattr(view, _STREAMS_BODY, False))


def json_body_limit() -> int:
    return int(current_app.config["SETTINGS"].max_json_bytes)


class ApiRequest(Request):
    """A request whose body is bounded by MAX_JSON_BYTES unless its view streams it.

    Werkzeug enforces the bound on whoever reads the body first (the rate
    limiter's key function, a schema, a hook): a larger Content-Length is
    refused before reading, and a chunked body is cut off at the bound.
    """

    def __init__(self, environ: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(environ, *args, **kwargs)
        # For the request's log line and metrics (observability.REQUEST_KEY),
        # read after Flask is done with the request.
        environ[REQUEST_KEY] = self

    @property
    def max_content_length(self) -> int | None:
        if self._max_content_length is not None:
            return self._max_content_length
        if not current_app:
            return None
        view = current_app.view_functions.get(self.endpoint or "")
        if streams_body_of(view):
            return None
        return json_body_limit()

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value

    def get_data(  # type: ignore[override]
        self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False
    ) -> bytes | str:
        data = super().get_data(cache=cache, as_text=False, parse_form_data=parse_form_data)
        assert isinstance(data, bytes)
        limit = self.max_content_length
        if (
            limit is not None
            and self.content_length is None
            and len(data) >= limit
            and self.environ.get("wsgi.input_terminated")
            # Werkzeug stops reading a streamed (chunked) body quietly at the bound;
            # one more byte from the server's stream says whether it went on.
            and self.environ["wsgi.input"].read(1)
        ):
            raise BodyTooLarge(limit)
        return data.decode(errors="replace") if as_text else data


class ApiJSONProvider(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            # Flask turns a ValueError into "not valid JSON" (400), never a 500.
            raise ValueError("JSON nested too deeply") from None


def _check_values(body: Any, opaque: frozenset[str] = frozenset()) -> None:
    """Refuse NUL characters, lone surrogates and absurd nesting, anywhere in the body.

    Walks the value with an explicit stack, so the walk itself cannot recurse
    too deep whatever the body looks like.
    """
    bad: dict[str, list[str]] = {}
    stack: list[tuple[Any, str, int]] = [(body, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise MalformedBody(f"The request body nests deeper than {MAX_JSON_DEPTH} levels.")
        if depth == 1 and path in opaque:
            # Only the depth bound applies inside an opaque member.
            _check_depth(value, depth)
            continue
        if isinstance(value, str):
            if reason := _unstorable(value):
                bad.setdefault(path or "_body", []).append(reason)
        elif isinstance(value, dict):
            for key, inner in value.items():
                key = str(key)
                if reason := _unstorable(key):
                    bad.setdefault(path or "_body", []).append("A member name: " + reason)
                    key = _UNSTORABLE.sub("\ufffd", key)  # the field name must print
                stack.append((inner, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(value, list):
            stack.extend((inner, f"{path}.{i}", depth + 1) for i, inner in enumerate(value))
    if bad:
        raise ValidationFailed(
            "Text may not contain NUL characters or unpaired surrogates.", errors=bad
        )


def refuse_nul_in_url() -> None:
    """A NUL in the query string or path answers 422 (or 404 for a path), never
    a 500. Called when the raw URL may hold one (check_request)."""
    if any(
        "\x00" in value for value in (request.view_args or {}).values() if isinstance(value, str)
    ):
        from werkzeug.exceptions import NotFound

        raise NotFound()
    fields = [key for key, value in request.args.items(multi=True) if "\x00" in key + value]
    if fields:
        raise ValidationFailed(
            "Text may not contain NUL characters.",
            errors={field: ["Contains a NUL character."] for field in fields},
        )


def require_json_body() -> None:
    """413 over MAX_JSON_BYTES; 415 for another content type; 400 for bad JSON."""
    view = current_app.view_functions.get(request.endpoint or "")
    spec = getattr(view, "_spec", None) or {}
    if "body" not in spec or spec.get("content_type") != "application/json":
        return
    limit = json_body_limit()
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(limit)
    if not request.is_json:
        raise UnsupportedMediaType(
            "This endpoint takes a JSON body (Content-Type: application/json)."
        )
    try:
        body = request.get_json()
    except BadRequest as error:
        cause = error.__cause__ or error.__context__
        reason = "it nests too deeply" if "too deeply" in str(cause) else "it is not valid JSON"
        raise MalformedBody(f"The request body could not be parsed: {reason}.") from None
    if not isinstance(body, dict):
        raise MalformedBody("The request body must be a JSON object.")
    _check_values(body, getattr(view, _OPAQUE_MEMBERS, frozenset()))


def _check_depth(value: Any, depth: int) -> None:
    stack = [(value, depth)]
    while stack:
        item, level = stack.pop()
        if level > MAX_JSON_DEPTH:
            raise MalformedBody(f"The request body nests deeper than {MAX_JSON_DEPTH} levels.")
        if isinstance(item, dict):
            stack.extend((inner, level + 1) for inner in item.values())
        elif isinstance(item, list):
            stack.extend((inner, level + 1) for inner in item)


class StrictBoolean(fields.Boolean):
    """`true` or `false`, as the schema says; not 0, 1, "yes" or "on"."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class PathConverter(BaseConverter):
    """A path segment with an exact form, published in the OpenAPI document.

    A segment of another form matches no route, so it answers 404, as an
    unknown name or id would.
    """

    openapi: ClassVar[dict[str, Any]] = {"type": "string"}


class UUIDConverter(PathConverter):
    regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    openapi: ClassVar[dict[str, Any]] = {"type": "string", "format": "uuid"}

    def to_python(self, value: str) -> str:
        return value.lower()


def name_converter(pattern: re.Pattern[str], reserved: Iterable[str] = ()) -> type[PathConverter]:
    """A converter for names of this (anchored) pattern: usernames, role
    names. A reserved name (`me`) is no such name: its paths are others'."""
    body = pattern.pattern.removeprefix("^").removesuffix("$")
    names = sorted(reserved)
    # Not a reserved name followed by the end of the segment.
    guard = "".join(f"(?!{re.escape(name)}(?:/|$))" for name in names)
    schema: dict[str, Any] = {"type": "string", "pattern": "^" + guard + body + "$"}

    class NameConverter(PathConverter):
        regex = guard + body
        openapi: ClassVar[dict[str, Any]] = schema

    return NameConverter


def init_app(app: Flask) -> None:
    app.url_map.converters["uuid"] = UUIDConverter
    app.request_class = ApiRequest
    app.json = ApiJSONProvider(app)
    app.before_request(check_request)


def check_request() -> None:
    """Before every request, one hook for what the API asks of any request:
    no NUL in its URL, and a body its route can take. Most requests are
    decided from the environ alone: no NUL anywhere in the URL, no body."""
    environ = request.environ
    query = environ.get("QUERY_STRING", "")
    if "%00" in query or "\x00" in query or "\x00" in environ.get("PATH_INFO", ""):
        refuse_nul_in_url()
    if environ.get("REQUEST_METHOD", "").upper() in BODY_METHODS:
        require_json_body()
