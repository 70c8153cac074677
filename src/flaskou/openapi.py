"""The OpenAPI document, exact by construction.

APIFlask writes each operation from what its route declares (inputs, output,
summary, the statuses particular to it). This module completes the document
in one place, so a route cannot forget an answer and the document cannot
drift from the server:

- every error answer an operation can give follows from its declarations:
  a guard (`@auth_required`) answers 401, and 403 for an API key outside
  its scope, a role or a cookie request without X-Requested-With; its
  scope is the operation's `ApiKeyAuth` security requirement; a JSON body 400, 413, 415 and 422; a
  query schema 422; a path parameter 404; a rate limit (`@throttle`) 429;
  the database 503 (routes that never touch it say `@no_database`);
  and any request 400, 414, 417, 431 or 501 when the HTTP server refuses
  its framing (gunicorn's own answers, rendered as problems too);
- every error is `application/problem+json` with the `Problem` schema;
- every string a request may carry says that NUL is refused (no database
  stores it), and `nullable` is written the OpenAPI 3.1 way;
- operation ids are the view functions' names, for generated clients.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from flask import Flask
from marshmallow import class_registry as marshmallow_class_registry
from marshmallow.exceptions import RegistryError
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import Rule

from flaskou.api import streams_body_of
from flaskou.auth import SESSION_ONLY, UNSAFE_METHODS, guard_of
from flaskou.errors import PROBLEM_CONTENT_TYPE
from flaskou.extensions import uses_database
from flaskou.throttling import is_rate_limited

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; every error flaskou answers has this shape.",
    "properties": {
        "type": {"type": "string", "format": "uri", "description": "The kind of problem."},
        "title": {"type": "string", "description": "Short summary of the kind of problem."},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "What went wrong with this request."},
        "errors": {
            "type": "object",
            "description": "Validation failures (422): messages by field name.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "mfa_token": {
            "type": "string",
            "description": (
                "`mfa-required` (401 from a sign-in): single use, 5 minutes; "
                "send it to POST /api/v1/login/mfa with a second factor."
            ),
        },
        "required_scope": {
            "type": "string",
            "description": "`insufficient-scope`: the scope the API key lacks.",
        },
        "methods": {
            "type": "array",
            "items": {"type": "string", "enum": ["totp", "passkey", "recovery_code"]},
            "description": "`mfa-required`: the second factors this account can use.",
        },
    },
    "required": ["type", "title", "status", "detail"],
}
# Refused in every string a request carries: valid JSON, but no database stores it.
NO_NUL = "^[^\\u0000]*$"
# Formats whose every valid value is free of NUL already.
_FORMATS_WITHOUT_NUL = frozenset({"email", "uuid", "date-time", "date", "uri", "binary", "byte"})
_METHODS = ("get", "put", "post", "patch", "delete")


@dataclasses.dataclass(frozen=True)
class Declared:
    """What a route declares, as far as its error answers go."""

    method: str
    authenticated: bool
    roles: tuple[str, ...]
    scope: str | None  # the API key scope that reaches it, or SESSION_ONLY
    json_body: bool
    query: bool
    path_parameters: dict[str, dict[str, Any]]  # name: schema
    rate_limited: bool
    uses_database: bool
    streams_body: bool

    @classmethod
    def of(cls, app: Flask, view: Callable[..., Any], rule: Rule, method: str) -> Declared:
        spec = getattr(view, "_spec", None) or {}
        converters = app.url_map.converters
        guard = guard_of(view)
        return cls(
            method=method,
            authenticated=guard is not None,
            roles=guard.roles if guard else (),
            scope=guard.scope if guard else None,
            json_body="body" in spec and spec.get("content_type") == "application/json",
            query=any(location == "query" for _, location in spec.get("args") or []),
            path_parameters={
                name: dict(getattr(converters[kind or "default"], "openapi", {"type": "string"}))
                for kind, name in _RULE_PARAMETER.findall(rule.rule)
            },
            rate_limited=is_rate_limited(view),
            uses_database=uses_database(view),
            streams_body=streams_body_of(view),
        )


def answers(responses: Mapping[int, str | dict[str, Any]]) -> Any:
    """A route's own answers for `@bp.doc(responses=...)`: a description, or
    a whole OpenAPI response (content, headers) where the route has one."""
    return {
        status: value if isinstance(value, dict) else {"description": value}
        for status, value in responses.items()
    }


def error_answers(declared: Declared) -> dict[int, list[str]]:
    """Every error status an operation can answer, with why, from its declarations."""
    # The HTTP server refuses these for any request, before routing.
    statuses: dict[int, list[str]] = {
        400: ["The HTTP request is malformed (refused before routing)"],
        414: ["The request line is longer than the server accepts"],
        417: ["An Expect header other than 100-continue"],
        431: ["The request headers are larger than the server accepts"],
        501: ["A Transfer-Encoding the server does not implement"],
    }

    def add(status: int, why: str) -> None:
        statuses.setdefault(status, []).append(why)

    unsafe = declared.method in UNSAFE_METHODS
    if declared.authenticated:
        add(401, "No valid bearer token or session cookie")
        if declared.scope == SESSION_ONLY:
            add(403, "An API key (`insufficient-scope`): this needs a session")
        else:
            add(403, f"An API key without the `{declared.scope}` scope (`insufficient-scope`)")
        if declared.roles:
            add(
                403,
                f"The caller (a key's owner) does not hold the {', '.join(declared.roles)} role",
            )
        if unsafe:
            add(403, "A cookie-authenticated request without X-Requested-With: XMLHttpRequest")
    if declared.json_body:
        add(400, "The body is not valid JSON, not a JSON object, or nests too deeply")
        add(415, "The body is not application/json")
        add(422, "A field is missing or invalid (see `errors`)")
    if (declared.json_body or (declared.authenticated and unsafe)) and not declared.streams_body:
        add(413, "The body is larger than MAX_JSON_BYTES")
    if declared.query:
        add(422, "A query parameter is invalid (see `errors`)")
    if declared.path_parameters:
        add(404, "Nothing is found at this path")
    if declared.rate_limited:
        add(429, "Too many requests; Retry-After says when to try again")
    if declared.uses_database:
        add(503, "The database (or another backing service) does not answer; try again")
    return statuses


_RULE_PARAMETER = re.compile(r"<(?:([^<:>]+):)?([^<>]+)>")


def _openapi_path(rule: Rule) -> str:
    return _RULE_PARAMETER.sub(r"{\2}", rule.rule)


def _operations(app: Flask, spec: dict[str, Any]) -> Iterator[tuple[dict[str, Any], Declared, str]]:
    paths = spec.get("paths", {})
    for rule in app.url_map.iter_rules():
        operations = paths.get(_openapi_path(rule))
        if not operations:
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods or ()):
            operation = operations.get(method.lower())
            if operation is not None:
                yield operation, Declared.of(app, view, rule, method), view.__name__


def _problem_response(description: str, status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_REF}},
    }
    if status == 401:
        response["headers"] = {
            "WWW-Authenticate": {
                "description": "`Bearer`",
                "required": True,
                "schema": {"type": "string"},
            }
        }
    if status == 429:
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before trying again.",
                "required": True,
                "schema": {"type": "integer", "minimum": 0},
            }
        }
    return response


def _either(reasons: list[str]) -> str:
    """The reasons an operation answers one status, as one sentence: "A; or b; or c"."""
    first, *others = reasons
    return "; or ".join([first, *(reason[0].lower() + reason[1:] for reason in others)])


def _is_placeholder(content: dict[str, Any] | None) -> bool:
    """No content, or APIFlask's stand-in error schemas (rather than a route's own)."""
    if not content:
        return True
    refs = {media.get("schema", {}).get("$ref") for media in content.values()}
    return refs <= {"#/components/schemas/HTTPError", "#/components/schemas/ValidationError"}


def _own_description(response: dict[str, Any], status: int) -> str | None:
    """What the route itself said about this status (not a placeholder)."""
    text = response.get("description")
    placeholders = {HTTP_STATUS_CODES.get(status), "Authentication error", "Validation error"}
    return text if text and text not in placeholders else None


def complete_operation(operation: dict[str, Any], declared: Declared, name: str) -> None:
    operation["operationId"] = name
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for code, reasons in error_answers(declared).items():
        existing = responses.get(str(code), {})
        own = _own_description(existing, code)
        description = _either([own, *reasons] if own else reasons)
        responses[str(code)] = {**existing, **_problem_response(description, code)}
    for key, response in responses.items():
        if key.isdigit() and int(key) >= 400 and _is_placeholder(response.get("content")):
            # A status only the route knows of (409, 416, 507, ...): a problem too.
            own = _own_description(response, int(key)) or HTTP_STATUS_CODES.get(int(key), "Error")
            response.update(_problem_response(own, int(key)))
    operation["responses"] = dict(sorted(responses.items()))
    if "requestBody" in operation:
        operation["requestBody"]["required"] = True
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "path" and parameter["name"] in declared.path_parameters:
            parameter["schema"] = declared.path_parameters[parameter["name"]]
        schema = parameter.get("schema", {})
        if parameter.get("in") == "query" and schema.get("default", "") is None:
            # An optional query parameter is absent, never null.
            del schema["default"]
            schema.pop("nullable", None)


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _nullable_as_31(schema: dict[str, Any]) -> None:
    """OpenAPI 3.1 says `type: [T, "null"]`; `nullable` is a 3.0 keyword."""
    if schema.pop("nullable", False) and isinstance(schema.get("type"), str):
        schema["type"] = [schema["type"], "null"]


def _refuse_nul(schema: dict[str, Any]) -> None:
    """Say in the schema what the server enforces: no NUL in a request's strings."""
    types = schema.get("type")
    is_string = types == "string" or (isinstance(types, list) and "string" in types)
    if (
        is_string
        and "pattern" not in schema
        and "enum" not in schema
        and schema.get("format") not in _FORMATS_WITHOUT_NUL
    ):
        schema["pattern"] = NO_NUL


def _schema_rules(schemas: dict[str, Any]) -> None:
    """Rules a marshmallow schema states about itself as a whole (its class's
    `openapi_rules`, e.g. a oneOf), which field metadata cannot say."""
    for name, body in schemas.items():
        try:
            cls = marshmallow_class_registry.get_class(name)
        except RegistryError:
            continue
        rules = getattr(cls, "openapi_rules", None)
        if isinstance(rules, dict):
            body.update(copy.deepcopy(rules))


def _request_schemas(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The schemas requests are validated against (bodies and parameters)."""
    components = spec.get("components", {}).get("schemas", {})
    seen: set[str] = set()
    pending: list[Any] = []
    for operations in spec.get("paths", {}).values():
        for method in _METHODS:
            operation = operations.get(method)
            if not operation:
                continue
            pending.extend(parameter.get("schema") for parameter in operation.get("parameters", []))
            pending.append(operation.get("requestBody"))
    while pending:
        item = pending.pop()
        for node in _walk(item):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in seen and name in components:
                    seen.add(name)
                    pending.append(components[name])
            elif "type" in node:
                yield node


def merge_duplicate_schemas(spec: dict[str, Any]) -> dict[str, Any]:
    """A schema used both at the top level and nested is registered twice by
    APIFlask (as `UserOut` and `UserOut1`); keep one and point every $ref at it."""
    schemas = spec.get("components", {}).get("schemas", {})
    renames = {
        name: name.rstrip("0123456789")
        for name, body in schemas.items()
        if name[-1:].isdigit() and schemas.get(name.rstrip("0123456789")) == body
    }
    if not renames:
        return spec
    for name in renames:
        del schemas[name]
    text = json.dumps(spec)
    for old, new in renames.items():
        text = text.replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
    return dict(json.loads(text))


def complete_document(app: Flask, spec: dict[str, Any]) -> dict[str, Any]:
    spec = merge_duplicate_schemas(spec)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPError", "ValidationError"):
        schemas.pop(unused, None)
    schemas["Problem"] = copy.deepcopy(PROBLEM_SCHEMA)
    names: set[str] = set()
    for operation, declared, name in _operations(app, spec):
        if name in names:
            raise RuntimeError(f"two operations are both named {name!r}")
        names.add(name)
        complete_operation(operation, declared, name)
    for node in list(_walk(spec)):
        _nullable_as_31(node)
    _schema_rules(schemas)
    for schema in _request_schemas(spec):
        _refuse_nul(schema)
    return spec


def init_app(app: Flask) -> None:
    app.config.update(
        AUTO_404_RESPONSE=False,
        AUTO_VALIDATION_ERROR_RESPONSE=False,
        AUTO_AUTH_ERROR_RESPONSE=False,
    )
    app.spec_processor(lambda spec: complete_document(app, spec))  # type: ignore[attr-defined]
