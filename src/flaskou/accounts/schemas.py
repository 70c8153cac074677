"""What goes in and out of the accounts API. No schema here carries a hash."""

from __future__ import annotations

from typing import Any

from apiflask import Schema, fields, validators
from marshmallow import ValidationError

from flaskou.accounts.models import AccountSnapshot
from flaskou.accounts.service import (
    EMAIL_MAX,
    EMAIL_REFUSED_DOMAINS,
    USERNAME_PATTERN,
    USERNAME_RULE,
    email_domain_rule,
    normalize_email,
)
from flaskou.accounts.strength import PASSWORD_MAX, PASSWORD_MIN
from flaskou.api import StrictBoolean
from flaskou.pagination import PageQuery, cursor_field, page_schema

PASSWORD_RULE = f"Use {PASSWORD_MIN} to {PASSWORD_MAX} characters."


def check_email(value: str) -> None:
    try:
        normalize_email(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def email_field(**kwargs: object) -> fields.String:
    return fields.String(
        validate=check_email,
        metadata={
            "format": "email",
            "example": "ada@example.com",
            "maxLength": EMAIL_MAX,
            "pattern": email_domain_rule(),
            "description": (
                "A syntactically valid address with a dotted domain, compared "
                "case-insensitively. Special-use domains that cannot receive mail "
                f"are refused: {', '.join('.' + name for name in EMAIL_REFUSED_DOMAINS)}."
            ),
        },
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


class PasswordStrengthIn(Schema):
    password = fields.String(
        required=True,
        validate=validators.Length(max=PASSWORD_MAX),
        metadata={"format": "password"},
    )
    username = fields.String(
        validate=validators.Length(max=39),
        metadata={"description": "Counts against a password that contains it."},
    )
    email = fields.String(
        validate=validators.Length(max=EMAIL_MAX),
        metadata={"description": "Counts against a password that contains it."},
    )


class PasswordStrengthOut(Schema):
    score = fields.Integer(
        required=True,
        validate=validators.Range(min=0, max=4),
        metadata={"minimum": 0, "maximum": 4, "description": "zxcvbn's score: 0 weakest, 4 best."},
    )
    acceptable = fields.Boolean(
        required=True,
        metadata={"description": "Whether this server would take it as a new password."},
    )
    feedback = fields.List(
        fields.String(), required=True, metadata={"description": "What would make it stronger."}
    )


def user_document(account: AccountSnapshot) -> dict[str, Any]:
    """`UserOut` of an account snapshot, built by hand: the same document
    (tests/accounts/test_schemas.py holds them equal) at a quarter of
    marshmallow's cost, for `GET /users/me`, the request every client makes."""
    return {
        "id": str(account.id),
        "username": account.username,
        "email": account.email,
        "email_verified": account.email_verified,
        "mfa_enabled": account.mfa_enabled,
        "roles": list(account.role_names),
        "is_active": account.is_active,
        "created_at": account.created_at.isoformat(),
        "updated_at": account.updated_at.isoformat(),
    }


class UserOut(Schema):
    id = fields.UUID(required=True)
    username = fields.String(required=True)
    email = fields.String(required=True)
    email_verified = fields.Boolean(
        required=True,
        metadata={"description": "Whether the owner followed a link mailed to `email`."},
    )
    mfa_enabled = fields.Boolean(
        required=True, metadata={"description": "Whether sign-in asks for a second factor."}
    )
    roles = fields.List(fields.String(), attribute="role_names", required=True)
    is_active = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class UserAdminUpdateIn(Schema):
    is_active = StrictBoolean()
    email = email_field()


class UserListQuery(PageQuery):
    cursor = cursor_field(("str",))
    q = fields.String(
        validate=validators.Length(max=320),
        metadata={"description": "Keep users whose username or email starts with this."},
    )


UserPageOut = page_schema(UserOut, "UserPage")


TOKEN_MAX = 200


def token_field() -> fields.String:
    return fields.String(
        required=True,
        validate=validators.Length(min=1, max=TOKEN_MAX),
        metadata={"description": "The token from the link's `#token=` fragment."},
    )


class PasswordResetIn(Schema):
    email = email_field(required=True)


class PasswordResetConfirmIn(Schema):
    token = token_field()
    password = password_field(required=True)


class VerifyEmailIn(Schema):
    token = token_field()


class AcceptedOut(Schema):
    detail = fields.String(required=True, metadata={"description": "What happens next."})


class PublicSettingsOut(Schema):
    signup_enabled = fields.Boolean(required=True)
    email_verification = fields.String(
        required=True,
        validate=validators.OneOf(["off", "optional", "required"]),
        metadata={
            "enum": ["off", "optional", "required"],
            "description": "EMAIL_VERIFICATION: `required` refuses sign-in until it is done.",
        },
    )
    password_min_score = fields.Integer(
        required=True,
        validate=validators.Range(min=0, max=4),
        metadata={
            "minimum": 0,
            "maximum": 4,
            "description": "Least zxcvbn score a new password needs.",
        },
    )
