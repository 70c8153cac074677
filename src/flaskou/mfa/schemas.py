"""What goes in and out of the second-factor API."""

from __future__ import annotations

from typing import Any, ClassVar

from apiflask import Schema, fields, validators

from flaskou.api import StrictBoolean

PASSKEY_NAME_RULE = "Use 1 to 100 characters, not only spaces."
# Not blank, no NUL (the same rule a role description follows).
PASSKEY_NAME_PATTERN = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"


def _password() -> fields.String:
    return fields.String(
        required=True, validate=validators.Length(min=1, max=4096), metadata={"format": "password"}
    )


def _credential(what: str) -> fields.Dict:
    return fields.Dict(
        required=True,
        metadata={
            "description": (
                f"The {what} as `PublicKeyCredential.toJSON()` gives it "
                "(`{id, rawId, type, response: {...}}`, binary fields base64url)."
            )
        },
    )


def _passkey_name() -> fields.String:
    return fields.String(
        required=True,
        validate=[
            validators.Length(min=1, max=100, error=PASSKEY_NAME_RULE),
            validators.Regexp(PASSKEY_NAME_PATTERN, error=PASSKEY_NAME_RULE),
        ],
        metadata={"example": "My laptop"},
    )


class PasswordIn(Schema):
    current_password = _password()


class TotpStartOut(Schema):
    secret = fields.String(
        required=True, metadata={"description": "Base32, for typing into an app by hand."}
    )
    otpauth_uri = fields.String(required=True, metadata={"description": "What the QR code holds."})
    qr_svg = fields.String(required=True, metadata={"description": "The QR code, an SVG document."})


class CodeIn(Schema):
    code = fields.String(
        required=True,
        validate=validators.Length(min=1, max=20),
        metadata={"description": "The 6-digit code the app shows now.", "example": "123456"},
    )


class RecoveryCodesOut(Schema):
    recovery_codes = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "Single-use codes, shown only this once."},
    )


class PasskeyOut(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    last_used_at = fields.DateTime(required=True, allow_none=True)


class PasskeyCreatedOut(PasskeyOut):
    recovery_codes = fields.List(
        fields.String(),
        metadata={"description": "Present when this is the account's first second factor."},
    )


class PasskeyListOut(Schema):
    items = fields.List(fields.Nested(PasskeyOut), required=True)


class MfaStatusOut(Schema):
    totp = fields.Boolean(required=True)
    passkeys = fields.List(fields.Nested(PasskeyOut), required=True)
    recovery_codes_left = fields.Integer(required=True, metadata={"minimum": 0})


class PasskeyIn(Schema):
    name = _passkey_name()
    credential = _credential("new credential")


class PasskeyRenameIn(Schema):
    name = _passkey_name()


class WebAuthnOptionsOut(Schema):
    """`PublicKeyCredentialCreationOptionsJSON` or `...RequestOptionsJSON`:
    the bare `publicKey` object, binary fields base64url."""

    challenge = fields.String(required=True, metadata={"description": "base64url"})
    timeout = fields.Integer(metadata={"description": "Milliseconds."})
    rp = fields.Dict(metadata={"description": "Creation: the relying party (`id`, `name`)."})
    user = fields.Dict(metadata={"description": "Creation: `id` (base64url), `name`."})
    pubKeyCredParams = fields.List(fields.Dict())
    authenticatorSelection = fields.Dict()
    excludeCredentials = fields.List(fields.Dict())
    attestation = fields.String()
    rpId = fields.String()
    allowCredentials = fields.List(fields.Dict())
    userVerification = fields.String()
    hints = fields.List(fields.String())


class MfaLoginIn(Schema):
    # Exactly one second factor (two would match two branches).
    openapi_rules: ClassVar[dict[str, Any]] = {
        "oneOf": [
            {"required": ["code"]},
            {"required": ["recovery_code"]},
            {"required": ["credential"]},
        ]
    }

    mfa_token = fields.String(required=True, validate=validators.Length(min=1, max=200))
    code = fields.String(validate=validators.Length(min=1, max=20))
    recovery_code = fields.String(validate=validators.Length(min=1, max=40))
    credential = fields.Dict(
        metadata={"description": "A passkey assertion (`PublicKeyCredential.toJSON()`)."}
    )
    cookie = StrictBoolean(
        load_default=False,
        metadata={"description": "Set the token in an HttpOnly cookie instead of the body."},
    )


class MfaTokenIn(Schema):
    mfa_token = fields.String(required=True, validate=validators.Length(min=1, max=200))


class PasskeyLoginIn(Schema):
    credential = _credential("assertion")
    cookie = StrictBoolean(
        load_default=False,
        metadata={"description": "Set the token in an HttpOnly cookie instead of the body."},
    )
