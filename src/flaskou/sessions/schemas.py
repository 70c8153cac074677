"""What goes in and out of the login and sessions API. A token is only ever
returned once, in the login answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apiflask import Schema, fields, validators

from flaskou.api import StrictBoolean

if TYPE_CHECKING:
    from flaskou.sessions.service import IssuedSession


class LoginIn(Schema):
    username = fields.String(
        required=True,
        validate=validators.Length(min=1, max=320),
        metadata={"description": "The username or the email address."},
    )
    password = fields.String(
        required=True, validate=validators.Length(min=1, max=4096), metadata={"format": "password"}
    )
    cookie = StrictBoolean(
        load_default=False,
        metadata={"description": "Set the token in an HttpOnly cookie instead of the body."},
    )


class SessionOut(Schema):
    id = fields.UUID(required=True)
    description = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    last_used_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True)
    current = fields.Boolean(required=True)


class LoginOut(Schema):
    token = fields.String(metadata={"description": "Absent in cookie mode."})
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    expires_at = fields.DateTime(required=True)
    session = fields.Nested(SessionOut, required=True)


class SessionListOut(Schema):
    items = fields.List(fields.Nested(SessionOut), required=True)


def login_document(session: IssuedSession, token: str | None) -> dict[str, Any]:
    """`LoginOut` of a session just opened, built by hand: the same document
    (tests/sessions/test_schemas.py holds them equal) without marshmallow's
    cost on every sign-in. No token in cookie mode."""
    document: dict[str, Any] = {
        "token_type": "Bearer",
        "expires_at": session.expires_at.isoformat(),
        "session": {
            "id": str(session.id),
            "description": session.description,
            "created_at": session.created_at.isoformat(),
            "last_used_at": session.last_used_at.isoformat(),
            "expires_at": session.expires_at.isoformat(),
            "current": True,
        },
    }
    if token is not None:
        document["token"] = token
    return document
