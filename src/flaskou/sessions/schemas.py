"""What goes in and out of the login and sessions API. A token is only ever
returned once, in the login answer."""

from __future__ import annotations

from apiflask import Schema, fields, validators

from flaskou.api import StrictBoolean


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
