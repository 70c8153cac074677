"""HTTP glue for sign-up and the caller's own account."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import current_app

from flaskou import lifecycle
from flaskou.accounts import recovery, service, strength
from flaskou.accounts.schemas import (
    AcceptedOut,
    PasswordResetConfirmIn,
    PasswordResetIn,
    PasswordStrengthIn,
    PasswordStrengthOut,
    PublicSettingsOut,
    UserCreateIn,
    UserDeleteMeIn,
    UserOut,
    UserUpdateMeIn,
    VerifyEmailIn,
    user_document,
)
from flaskou.apikeys.scopes import ACCOUNT_READ
from flaskou.auth import (
    SESSION_ONLY,
    auth_required,
    current_account,
    current_actor,
    current_principal,
    current_user,
)
from flaskou.extensions import no_database
from flaskou.net import client_address
from flaskou.throttling import login_limit, throttle

bp = APIBlueprint("accounts", __name__, url_prefix="/api/v1", tag="Accounts")


def _signup_limit() -> str:
    return str(current_app.config["SETTINGS"].rate_limit_signup)


def _mail_limit() -> str:
    return str(current_app.config["SETTINGS"].rate_limit_mail)


@bp.get("/settings")
@no_database
@bp.output(PublicSettingsOut)
@bp.doc(
    summary="What the web app needs to know about this server",
    description="Whether sign-up is open, the email verification mode and the password rule.",
)
def public_settings() -> Any:
    settings = current_app.config["SETTINGS"]
    return {
        "signup_enabled": current_app.config["SIGNUP_ENABLED"],
        "email_verification": settings.email_verification,
        "password_min_score": settings.password_min_score,
    }


@bp.post("/signup")
# Every attempt counts (taken names included), so the route is no cheap
# oracle for which usernames and addresses exist.
@throttle(_signup_limit, key_func=client_address, scope="signup")
@bp.input(UserCreateIn, arg_name="data")
@bp.output(
    UserOut,
    status_code=201,
    links={
        name: {"operationId": name_of, "parameters": {"username": "$response.body#/username"}}
        for name, name_of in (("GetUser", "get_user"), ("GrantRole", "grant_role"))
    },
)
@bp.doc(
    summary="Create an account",
    responses={
        403: "Sign-up is disabled on this server",
        409: "Username or email taken",
        429: "Too many sign-ups from this address (RATE_LIMIT_SIGNUP)",
    },
)
def signup(data: dict[str, Any]) -> Any:
    return service.signup(
        data["username"],
        data["email"],
        data["password"],
        enabled=current_app.config["SIGNUP_ENABLED"],
        actor=current_actor(),
    )


@bp.post("/password-strength")
# Throttled like login: an estimate is a cheap oracle for guessing nothing,
# but a free CPU-bound endpoint is an invitation all the same.
@throttle(login_limit, key_func=client_address, scope="password-strength")
@bp.input(PasswordStrengthIn, arg_name="data")
@bp.output(PasswordStrengthOut)
@bp.doc(
    summary="How easy a password is to guess (for a strength meter)",
    description=(
        "zxcvbn's score with the username and email as context, and whether this "
        "server (PASSWORD_MIN_SCORE) would take it. The password is neither kept nor logged."
    ),
    responses={429: "Too many requests from this address"},
)
def password_strength(data: dict[str, Any]) -> Any:
    context = (data.get("username"), data.get("email"))
    estimate = strength.estimate(data["password"], context)
    return {
        "score": estimate.score,
        "acceptable": not service.password_errors(data["password"], context),
        "feedback": estimate.feedback,
    }


RESET_ACCEPTED = (
    "If an active account uses this address, a link to choose a new password is on its way. "
    "It works once and expires; check the spam folder if it does not arrive."
)


@bp.post("/password-reset")
@throttle(_mail_limit, key_func=client_address, scope="mail-address")
@bp.input(PasswordResetIn, arg_name="data")
@bp.output(AcceptedOut, status_code=202)
@bp.doc(
    summary="Mail a password reset link",
    description=(
        "The same answer whether or not the address belongs to an account. Throttled "
        "per client address and per address mailed (RATE_LIMIT_MAIL)."
    ),
    responses={429: "Too many requests from this address, or for the address mailed"},
)
def request_password_reset(data: dict[str, Any]) -> Any:
    email = service.normalize_email(data["email"])
    recovery.request_password_reset(email, service.find_by_login(email), actor=current_actor())
    return {"detail": RESET_ACCEPTED}


@bp.post("/password-reset/confirm")
@bp.input(PasswordResetConfirmIn, arg_name="data")
@bp.output({}, status_code=204)
@bp.doc(
    summary="Set a new password with a mailed link's token",
    description=(
        "Every session of the account is revoked and the token is spent. A password "
        "refused by the rules (422) leaves the token usable."
    ),
    responses={400: "The token is unknown, expired or spent (`invalid-token`)"},
)
def confirm_password_reset(data: dict[str, Any]) -> tuple[str, int]:
    lifecycle.reset_password(data["token"], data["password"], actor=current_actor())
    return "", 204


@bp.post("/users/me/verify-email")
@auth_required(scope=SESSION_ONLY)
@throttle(_mail_limit, key_func=client_address, scope="mail-address")
@bp.output(AcceptedOut, status_code=202)
@bp.doc(
    summary="Mail a verification link to the caller's address",
    description="Throttled per client address and per address mailed (RATE_LIMIT_MAIL).",
    responses={
        409: "The address is already verified",
        429: "Too many requests from this address, or for the address mailed",
    },
)
def send_verification() -> Any:
    user = current_user()
    recovery.send_verification(user)
    return {"detail": f"A verification link is on its way to {user.email}; it works for 48 hours."}


@bp.post("/verify-email")
@bp.input(VerifyEmailIn, arg_name="data")
@bp.output(UserOut)
@bp.doc(
    summary="Confirm an email address with a mailed link's token",
    description="The token is spent. It is refused if the account's address changed since.",
    responses={
        400: "The token is unknown, expired or spent, or the address changed (`invalid-token`)"
    },
)
def verify_email(data: dict[str, Any]) -> Any:
    return recovery.verify_email(data["token"], actor=current_actor())


@bp.get("/users/me")
@auth_required(scope=ACCOUNT_READ)
@bp.output(UserOut)
@bp.doc(summary="The caller's account")
def get_me() -> Any:
    # Documented by UserOut; rendered without marshmallow (see user_document).
    return current_app.json.response(user_document(current_account()))


@bp.patch("/users/me")
@auth_required(scope=SESSION_ONLY)
@bp.input(UserUpdateMeIn, arg_name="data")
@bp.output(UserOut)
@bp.doc(
    summary="Change the caller's email or password",
    description="A password change revokes every other session of the caller.",
    responses={403: "Wrong `current_password`", 409: "Email taken"},
)
def update_me(data: dict[str, Any]) -> Any:
    principal = current_principal()
    return lifecycle.update_own_profile(
        principal.user,
        principal.session_id,
        current_password=data["current_password"],
        actor=current_actor(),
        email=data.get("email"),
        password=data.get("password"),
    )


@bp.delete("/users/me")
@auth_required(scope=SESSION_ONLY)
@bp.input(UserDeleteMeIn, arg_name="data")
@bp.output({}, status_code=204)
@bp.doc(
    summary="Delete the caller's account",
    description=(
        "404 when a concurrent request (another of the caller's, or an admin's) "
        "deleted the account first: exactly one deletion happens and is audited."
    ),
    responses={
        403: "Wrong `current_password`",
        404: "The account was deleted meanwhile",
        409: "The caller is the last active admin",
    },
)
def delete_me(data: dict[str, Any]) -> tuple[str, int]:
    lifecycle.delete_own_account(
        current_user(), current_password=data["current_password"], actor=current_actor()
    )
    return "", 204
