"""What goes in and out of the API keys API. A token is returned once, in
the answer that creates the key."""

from __future__ import annotations

from apiflask import Schema, fields, validators

from flaskou.apikeys.scopes import SCOPES

NAME_RULE = "Use 1 to 100 characters, not only spaces."
# Not blank, no NUL (as a passkey's name).
NAME_PATTERN = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
SCOPE_LIST = "; ".join(f"`{scope}`: {what}" for scope, what in SCOPES.items())


class ApiKeyIn(Schema):
    name = fields.String(
        required=True,
        validate=[
            validators.Length(min=1, max=100, error=NAME_RULE),
            validators.Regexp(NAME_PATTERN, error=NAME_RULE),
        ],
        metadata={"description": "What the key is for, e.g. `backup script`."},
    )
    scopes = fields.List(
        fields.String(validate=validators.OneOf(list(SCOPES))),
        required=True,
        validate=validators.Length(min=1, max=len(SCOPES), error="Choose 1 to 5 scopes."),
        metadata={"description": f"What the key may do (at least one). {SCOPE_LIST}"},
    )
    expires_at = fields.AwareDateTime(
        load_default=None,
        allow_none=True,
        metadata={
            "description": (
                "When the key stops working: a future moment with a UTC offset; "
                "absent or null for a key that does not expire."
            )
        },
    )


class ApiKeyOut(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    scopes = fields.List(fields.String(), required=True)
    prefix = fields.String(
        required=True,
        metadata={"description": "The token's first 12 characters, to recognise the key."},
    )
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(
        required=True, allow_none=True, metadata={"description": "null: never expires."}
    )
    last_used_at = fields.DateTime(
        required=True, allow_none=True, metadata={"description": "null: never used."}
    )


class ApiKeyCreatedOut(ApiKeyOut):
    token = fields.String(
        required=True,
        metadata={
            "description": (
                "The key itself (`fko_...`), shown only in this answer: send it as "
                "`Authorization: Bearer <token>`."
            )
        },
    )


class ApiKeyListOut(Schema):
    items = fields.List(fields.Nested(ApiKeyOut), required=True)
