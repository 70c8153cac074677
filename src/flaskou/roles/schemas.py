from __future__ import annotations

from apiflask import Schema, fields, validators

from flaskou.roles.service import DESCRIPTION_MAX, ROLE_NAME_PATTERN, ROLE_NAME_RULE


def _description(**kwargs: object) -> fields.String:
    return fields.String(
        validate=[
            validators.Length(max=DESCRIPTION_MAX),
            # Something besides spaces, and no NUL (no database stores it).
            validators.Regexp(
                r"^[^\u0000]*[^\s\u0000][^\u0000]*$",
                error="Must not be empty or contain NUL characters.",
            ),
        ],
        **kwargs,  # type: ignore[arg-type]
    )


class RoleCreateIn(Schema):
    name = fields.String(
        required=True,
        validate=validators.Regexp(ROLE_NAME_PATTERN, error=ROLE_NAME_RULE),
        metadata={"example": "editor"},
    )
    description = _description(required=True, metadata={"example": "Edits articles."})


class RoleUpdateIn(Schema):
    description = _description(required=True)


class RoleOut(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class RoleListOut(Schema):
    items = fields.List(fields.Nested(RoleOut), required=True)
