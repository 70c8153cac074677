"""HTTP glue for logging in and out and for the caller's sessions."""

from __future__ import annotations

import uuid
from typing import Any

from apiflask import APIBlueprint
from flask import Response, current_app, request

from flaskou import signin
from flaskou.auth import COOKIE_NAME, SESSION_ONLY, auth_required, current_actor, current_principal
from flaskou.net import client_address, user_agent
from flaskou.sessions import service
from flaskou.sessions.models import LoginSession
from flaskou.sessions.schemas import LoginIn, LoginOut, SessionListOut, login_document
from flaskou.sessions.service import IssuedSession
from flaskou.throttling import login_limit, throttle

bp = APIBlueprint("sessions", __name__, url_prefix="/api/v1", tag="Sessions")


def _login_account_key() -> str:
    body = request.get_json(silent=True)
    name = body.get("username") if isinstance(body, dict) else None
    return "account:" + (name.strip().lower() if isinstance(name, str) else "")


def _too_many_attempts() -> str:
    return "Too many login attempts; wait a moment (see Retry-After) and try again."


def _failed(response: Response) -> bool:
    """A wrong password (not a right one that asks for a second factor)."""
    if response.status_code != 401:
        return False
    body = response.get_json(silent=True)
    return not (isinstance(body, dict) and str(body.get("type", "")).endswith("/mfa-required"))


def session_view(
    session: LoginSession | IssuedSession, current: uuid.UUID | None
) -> dict[str, Any]:
    return {
        "id": session.id,
        "description": session.description,
        "created_at": session.created_at,
        "last_used_at": session.last_used_at,
        "expires_at": session.expires_at,
        "current": session.id == current,
    }


@bp.post("/login")
# Every attempt counts against the client address; only failures count
# against the account, so its owner is not locked out by their own logins.
@throttle(
    login_limit,
    key_func=client_address,
    scope="login-address",
    error_message=_too_many_attempts,
)
@throttle(
    login_limit,
    key_func=_login_account_key,
    scope="login-account",
    deduct_when=_failed,
    error_message=_too_many_attempts,
)
@bp.input(LoginIn, arg_name="data")
@bp.doc(
    summary="Log in",
    description=(
        "Answers a bearer token, or with `cookie: true` sets it in an HttpOnly cookie "
        "instead. Throttled per client address and per account (429 with Retry-After)."
    ),
    responses={
        401: (
            "Unknown user, wrong password or deactivated account (one answer for all); or, "
            "for an account with a second factor, `mfa-required` with `mfa_token` and "
            "`methods`: complete the sign-in with POST /api/v1/login/mfa"
        ),
        403: "EMAIL_VERIFICATION=required and the address is not verified (`email-unverified`)",
        429: "Too many attempts from this address or for this account",
    },
)
@bp.output(
    LoginOut,
    links={
        "RevokeSession": {
            "operationId": "revoke_session",
            "parameters": {"session_id": "$response.body#/session/id"},
        }
    },
)
def login(data: dict[str, Any]) -> Any:
    session, token = signin.with_password(
        data["username"],
        data["password"],
        description=session_description(),
        ttl_seconds=token_ttl(),
        actor=current_actor(),
    )
    return answer_login(session, token, cookie=data["cookie"])


def token_ttl() -> int:
    return int(current_app.config["TOKEN_TTL_SECONDS"])


def session_description() -> str:
    return f"{user_agent()} from {client_address()}"


def answer_login(session: IssuedSession, token: str, *, cookie: bool) -> Any:
    """What every way of signing in answers: the token in the body, or in
    an HttpOnly cookie (cookie mode)."""
    response = current_app.json.response(login_document(session, None if cookie else token))
    if not cookie:
        return response
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=token_ttl(),
        expires=session.expires_at,
        path="/",
        secure=request.is_secure,
        httponly=True,
        samesite="Strict",
    )
    return response


@bp.post("/logout")
@auth_required(scope=SESSION_ONLY)
@bp.output({}, status_code=204)
@bp.doc(
    summary="Log out (revoke the current session)",
    description=(
        "Answers 204 and clears the cookie even when a concurrent request revoked "
        "this session first; only the request that revoked it is audited."
    ),
)
def logout() -> Response:
    principal = current_principal()
    # A session revoked meanwhile still answers 204: it is gone either way.
    service.logout(principal.user, principal.session_id, actor=current_actor())
    response = Response(status=204)
    response.delete_cookie(
        COOKIE_NAME, path="/", secure=request.is_secure, httponly=True, samesite="Strict"
    )
    return response


@bp.get("/tokens")
@auth_required(scope=SESSION_ONLY)
@bp.output(SessionListOut)
@bp.doc(summary="The caller's live sessions")
def list_sessions() -> dict[str, Any]:
    principal = current_principal()
    return {
        "items": [
            session_view(session, principal.session_id)
            for session in service.live_sessions(principal.user)
        ]
    }


@bp.delete("/tokens")
@auth_required(scope=SESSION_ONLY)
@bp.output({}, status_code=204)
@bp.doc(
    summary="Log out everywhere (revoke every session of the caller)",
    description=(
        "The audit event counts the sessions this request revoked; a request that "
        "finds none left (a concurrent one was first) records nothing."
    ),
)
def revoke_all_sessions() -> tuple[str, int]:
    service.revoke_all_sessions(current_principal().user, actor=current_actor())
    return "", 204


@bp.delete("/tokens/<uuid:session_id>")
@auth_required(scope=SESSION_ONLY)
@bp.output({}, status_code=204)
@bp.doc(
    summary="Revoke one of the caller's sessions",
    description=(
        "404 when the id is not one of the caller's live sessions, including one "
        "a concurrent request has just revoked: exactly one request revokes it."
    ),
    responses={404: "Not one of the caller's live sessions"},
)
def revoke_session(session_id: str) -> tuple[str, int]:
    service.revoke_session(current_principal().user, session_id, actor=current_actor())
    return "", 204
