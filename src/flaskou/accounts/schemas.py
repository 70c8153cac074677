"""What goes in and out of the accounts API. No schema here carries a hash."""

from __future__ import annotations

from apiflask import Schema, fields, validators
from marshmallow import ValidationError

from flaskou.accounts.service import (
    EMAIL_MAX,
    PASSWORD_MAX,
    PASSWORD_MIN,
    USERNAME_PATTERN,
    USERNAME_RULE,
    normalize_email,
)
from flaskou.pagination import PageQuery, page_schema

PASSWORD_RULE = f"Use {PASSWORD_MIN} to {PASSWORD_MAX} characters."


def check_email(value: str) -> None:
    try:
        normalize_email(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def email_field(**kwargs: object) -> fields.String:
    return fields.String(
        validate=check_email,
        metadata={"format": "email", "example": "ada@example.com", "maxLength": EMAIL_MAX},
        **kwargs,  # type: ignore[arg-type]
    )


def password_field(**kwargs: object) -> fields.String:
    return fields.String(
        validate=validators.Length(min=PASSWORD_MIN, max=PASSWORD_MAX, error=PASSWORD_RULE),
        metadata={"format": "password"},
        **kwargs,  # type: ignore[arg-type]
    )


class UserCreateIn(Schema):
    username = fields.String(
        required=True,
        validate=validators.Regexp(USERNAME_PATTERN, error=USERNAME_RULE),
        metadata={"example": "ada"},
    )
    email = email_field(required=True)
    password = password_field(required=True)


class UserUpdateMeIn(Schema):
    email = email_field()
    password = password_field()
    current_password = fields.String(required=True, metadata={"format": "password"})


class UserDeleteMeIn(Schema):
    current_password = fields.String(required=True, metadata={"format": "password"})


class UserOut(Schema):
    id = fields.UUID(required=True)
    username = fields.String(required=True)
    email = fields.String(required=True)
    roles = fields.List(fields.String(), attribute="role_names", required=True)
    is_active = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class UserAdminUpdateIn(Schema):
    is_active = fields.Boolean()
    email = email_field()


class UserListQuery(PageQuery):
    q = fields.String(
        validate=validators.Length(max=320),
        metadata={"description": "Keep users whose username or email starts with this."},
    )


UserPageOut = page_schema(UserOut, "UserPage")
