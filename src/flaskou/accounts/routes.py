"""HTTP glue for sign-up and the caller's own account."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import current_app

from flaskou import lifecycle
from flaskou.accounts import service, strength
from flaskou.accounts.schemas import (
    PasswordStrengthIn,
    PasswordStrengthOut,
    UserCreateIn,
    UserDeleteMeIn,
    UserOut,
    UserUpdateMeIn,
)
from flaskou.auth import auth_required, current_actor, current_principal, current_user
from flaskou.extensions import throttle
from flaskou.net import client_address

bp = APIBlueprint("accounts", __name__, url_prefix="/api/v1", tag="Accounts")


@bp.post("/signup")
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
    responses={403: "Sign-up is disabled on this server", 409: "Username or email taken"},
)
def signup(data: dict[str, Any]) -> Any:
    return service.signup(
        data["username"],
        data["email"],
        data["password"],
        enabled=current_app.config["SIGNUP_ENABLED"],
        actor=current_actor(),
    )


def _guess_limit() -> str:
    return str(current_app.config["RATE_LIMIT_LOGIN"])


@bp.post("/password-strength")
# Throttled like login: an estimate is a cheap oracle for guessing nothing,
# but a free CPU-bound endpoint is an invitation all the same.
@throttle(_guess_limit, key_func=client_address, scope="password-strength")
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


@bp.get("/users/me")
@auth_required()
@bp.output(UserOut)
@bp.doc(summary="The caller's account")
def get_me() -> Any:
    return current_user()


@bp.patch("/users/me")
@auth_required()
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
        principal.session,
        current_password=data["current_password"],
        actor=current_actor(),
        email=data.get("email"),
        password=data.get("password"),
    )


@bp.delete("/users/me")
@auth_required()
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
