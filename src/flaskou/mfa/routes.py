"""HTTP glue for second factors: the caller's own, the MFA step of sign-in,
passkey sign-in, and the admin reset."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import Response, jsonify

from flaskou import signin
from flaskou.accounts import service as accounts
from flaskou.api import opaque_members
from flaskou.apikeys.scopes import ADMIN_WRITE
from flaskou.auth import SESSION_ONLY, auth_required, current_actor, current_user
from flaskou.errors import ValidationFailed
from flaskou.mfa import service
from flaskou.mfa.schemas import (
    CodeIn,
    MfaLoginIn,
    MfaStatusOut,
    MfaTokenIn,
    PasskeyCreatedOut,
    PasskeyIn,
    PasskeyListOut,
    PasskeyLoginIn,
    PasskeyOut,
    PasskeyRenameIn,
    PasswordIn,
    RecoveryCodesOut,
    TotpStartOut,
    WebAuthnOptionsOut,
)
from flaskou.net import client_address
from flaskou.roles.models import ADMIN_ROLE
from flaskou.sessions.routes import answer_login, session_description, token_ttl
from flaskou.sessions.schemas import LoginOut
from flaskou.throttling import login_limit, throttle

bp = APIBlueprint("mfa", __name__, url_prefix="/api/v1", tag="Second factors")

WRONG_PASSWORD = {403: "Wrong `current_password`"}


def _options(options: dict[str, Any]) -> Response:
    """WebAuthn options go out as the library wrote them (the schema only
    documents their shape)."""
    return jsonify(options)


@bp.get("/users/me/mfa")
@auth_required(scope=SESSION_ONLY)
@bp.output(MfaStatusOut)
@bp.doc(summary="The caller's second factors")
def get_mfa() -> Any:
    return service.status(current_user())


@bp.post("/users/me/mfa/totp")
@auth_required(scope=SESSION_ONLY)
@bp.input(PasswordIn, arg_name="data")
@bp.output(TotpStartOut)
@bp.doc(
    summary="Start setting up an authenticator app",
    description=(
        "A new secret (also as an otpauth URI and a QR code), pending until confirmed with "
        "a code; a new call replaces a pending secret."
    ),
    responses={**WRONG_PASSWORD, 409: "An authenticator app is already set up"},
)
def start_totp(data: dict[str, Any]) -> Any:
    return service.start_totp(current_user(), current_password=data["current_password"])


@bp.post("/users/me/mfa/totp/confirm")
@auth_required(scope=SESSION_ONLY)
@bp.input(CodeIn, arg_name="data")
@bp.output(RecoveryCodesOut)
@bp.doc(
    summary="Confirm the authenticator app with a code",
    description="Answers 10 recovery codes, shown only this once (earlier ones are void).",
    responses={422: "Wrong code, or nothing pending"},
)
def confirm_totp(data: dict[str, Any]) -> Any:
    codes = service.confirm_totp(current_user(), code=data["code"], actor=current_actor())
    return {"recovery_codes": codes}


@bp.delete("/users/me/mfa/totp")
@auth_required(scope=SESSION_ONLY)
@bp.input(PasswordIn, arg_name="data")
@bp.output({}, status_code=204)
@bp.doc(
    summary="Remove the authenticator app",
    responses={**WRONG_PASSWORD, 404: "No authenticator app is set up"},
)
def delete_totp(data: dict[str, Any]) -> tuple[str, int]:
    service.disable_totp(
        current_user(), current_password=data["current_password"], actor=current_actor()
    )
    return "", 204


@bp.post("/users/me/mfa/recovery-codes")
@auth_required(scope=SESSION_ONLY)
@bp.input(PasswordIn, arg_name="data")
@bp.output(RecoveryCodesOut)
@bp.doc(
    summary="A fresh set of recovery codes (the old ones are void)",
    responses={**WRONG_PASSWORD, 409: "The account has no second factor"},
)
def regenerate_recovery_codes(data: dict[str, Any]) -> Any:
    codes = service.regenerate_recovery_codes(
        current_user(), current_password=data["current_password"], actor=current_actor()
    )
    return {"recovery_codes": codes}


@bp.post("/users/me/passkeys/options")
@auth_required(scope=SESSION_ONLY)
@bp.input(PasswordIn, arg_name="data")
@bp.output(WebAuthnOptionsOut)
@bp.doc(
    summary="WebAuthn creation options for a new passkey",
    description=(
        "`PublicKeyCredentialCreationOptionsJSON`: a discoverable credential with user "
        "verification; the challenge is single use and lives 5 minutes."
    ),
    responses=WRONG_PASSWORD,
)
def passkey_options(data: dict[str, Any]) -> Any:
    return _options(
        service.registration_options(current_user(), current_password=data["current_password"])
    )


@bp.post("/users/me/passkeys")
@auth_required(scope=SESSION_ONLY)
@opaque_members("credential")
@bp.input(PasskeyIn, arg_name="data")
@bp.output(PasskeyCreatedOut, status_code=201)
@bp.doc(
    summary="Add a passkey",
    responses={
        409: "This passkey is already registered",
        422: "The attestation does not verify (challenge, origin, RP id, user verification)",
    },
)
def add_passkey(data: dict[str, Any]) -> Any:
    passkey, codes = service.add_passkey(
        current_user(), name=data["name"], credential=data["credential"], actor=current_actor()
    )
    body: dict[str, Any] = {
        name: getattr(passkey, name) for name in ("id", "name", "created_at", "last_used_at")
    }
    if codes is not None:
        body["recovery_codes"] = codes
    return body


@bp.get("/users/me/passkeys")
@auth_required(scope=SESSION_ONLY)
@bp.output(PasskeyListOut)
@bp.doc(summary="The caller's passkeys")
def list_passkeys() -> Any:
    return {"items": service.passkeys_of(current_user())}


@bp.patch("/users/me/passkeys/<uuid:passkey_id>")
@auth_required(scope=SESSION_ONLY)
@bp.input(PasskeyRenameIn, arg_name="data")
@bp.output(PasskeyOut)
@bp.doc(summary="Rename a passkey", responses={404: "No such passkey of the caller's"})
def rename_passkey(passkey_id: str, data: dict[str, Any]) -> Any:
    return service.rename_passkey(current_user(), passkey_id, data["name"])


@bp.delete("/users/me/passkeys/<uuid:passkey_id>")
@auth_required(scope=SESSION_ONLY)
@bp.output({}, status_code=204)
@bp.doc(summary="Remove a passkey", responses={404: "No such passkey of the caller's"})
def remove_passkey(passkey_id: str) -> tuple[str, int]:
    service.remove_passkey(current_user(), passkey_id, actor=current_actor())
    return "", 204


@bp.post("/login/mfa")
@opaque_members("credential")
@throttle(login_limit, key_func=client_address, scope="login-mfa-address")
@bp.input(MfaLoginIn, arg_name="data")
@bp.output(LoginOut)
@bp.doc(
    summary="Complete a sign-in with a second factor",
    description=(
        "One of `code` (TOTP), `recovery_code` or `credential` (a passkey assertion for "
        "the options of /login/mfa/passkey-options). Failures are audited and count "
        "against the account's throttle; after 5 the `mfa_token` is void."
    ),
    responses={
        401: "Wrong second factor (`mfa-failed`), or an unknown, expired or void `mfa_token` "
        "(`mfa-token-invalid`)",
        429: "Too many attempts from this address or for this account",
    },
)
def login_mfa(data: dict[str, Any]) -> Any:
    given = [name for name in ("code", "recovery_code", "credential") if name in data]
    if len(given) != 1:
        raise ValidationFailed(
            "Give exactly one second factor.",
            errors={
                name: ["Give exactly one of code, recovery_code, credential."]
                for name in ("code", "recovery_code", "credential")
            },
        )
    session, token = signin.with_second_factor(
        data["mfa_token"],
        description=session_description(),
        ttl_seconds=token_ttl(),
        actor=current_actor(),
        code=data.get("code"),
        recovery_code=data.get("recovery_code"),
        credential=data.get("credential"),
    )
    return answer_login(session, token, cookie=data["cookie"])


@bp.post("/login/mfa/passkey-options")
@throttle(login_limit, key_func=client_address, scope="login-mfa-address")
@bp.input(MfaTokenIn, arg_name="data")
@bp.output(WebAuthnOptionsOut)
@bp.doc(
    summary="WebAuthn request options for the second factor of a sign-in",
    responses={
        401: "Unknown or expired `mfa_token`, or the account has no passkey",
        429: "Too many requests from this address",
    },
)
def login_mfa_passkey_options(data: dict[str, Any]) -> Any:
    return _options(service.sign_in_passkey_options(data["mfa_token"]))


@bp.post("/login/passkey/options")
@throttle(login_limit, key_func=client_address, scope="login-passkey-address")
@bp.output(WebAuthnOptionsOut)
@bp.doc(
    summary="WebAuthn request options for signing in with a passkey alone",
    description="A discoverable credential: no username needed.",
    responses={429: "Too many requests from this address"},
)
def login_passkey_options() -> Any:
    return _options(service.passkey_sign_in_options())


@bp.post("/login/passkey")
@opaque_members("credential")
@throttle(login_limit, key_func=client_address, scope="login-passkey-address")
@bp.input(PasskeyLoginIn, arg_name="data")
@bp.output(LoginOut)
@bp.doc(
    summary="Sign in with a passkey alone",
    description="A passkey with user verification is a whole sign-in: no password.",
    responses={
        401: "Unknown or invalid assertion",
        403: "EMAIL_VERIFICATION=required and the address is not verified (`email-unverified`)",
        429: "Too many attempts from this address",
    },
)
def login_passkey(data: dict[str, Any]) -> Any:
    session, token = signin.with_passkey(
        data["credential"],
        description=session_description(),
        ttl_seconds=token_ttl(),
        actor=current_actor(),
    )
    return answer_login(session, token, cookie=data["cookie"])


@bp.delete("/users/<username:username>/mfa")
@auth_required(ADMIN_ROLE, scope=ADMIN_WRITE)
@bp.output({}, status_code=204)
@bp.doc(
    summary="Remove every second factor of a user (for one locked out)",
    tags=["Administration"],
    responses={404: "No such user"},
)
def reset_user_mfa(username: str) -> tuple[str, int]:
    service.reset(accounts.get_user(username), actor=current_actor())
    return "", 204
