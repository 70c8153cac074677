"""Who is calling: bearer tokens and browser cookies, and the route guard.

Routes declare what they need with ``@auth_required()`` or
``@auth_required("admin")``. The declaration is a mark on the view; one
``before_request`` hook enforces it for every route, before the body is
parsed, so an anonymous caller always gets 401 and a caller without the role
403, whatever else is wrong with the request. Roles are read from the
database on every request, so a grant or revoke applies on the very next
request on every instance.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request

from flaskou.accounts.models import AccountSnapshot, User
from flaskou.audit.service import Actor
from flaskou.errors import Forbidden, Unauthorized
from flaskou.extensions import db
from flaskou.net import client_address, user_agent
from flaskou.observability import USER_ID_KEY
from flaskou.sessions import service as sessions

COOKIE_NAME = "flaskou_session"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SECURITY_SCHEMES = {
    "BearerAuth": {"type": "http", "scheme": "bearer"},
    "CookieAuth": {"type": "apiKey", "in": "cookie", "name": COOKIE_NAME},
}
_GUARD_ATTRIBUTE = "_flaskou_auth"

F = TypeVar("F", bound=Callable[..., Any])


@dataclasses.dataclass(slots=True)
class Principal:
    """The caller: their account as the credential check read it, the
    session their token belongs to, and how the token came."""

    account: AccountSnapshot
    session_id: uuid.UUID
    via_cookie: bool
    _user: User | None = dataclasses.field(default=None, repr=False)

    @property
    def user(self) -> User:
        """The account as an ORM entity, loaded on first use: only routes
        that change the account (or walk its relations) pay for it."""
        if self._user is None:
            user = db.session.get(User, self.account.id)
            if user is None:  # deleted since the check, by a concurrent request
                raise Unauthorized("A valid bearer token (or session cookie) is required.")
            self._user = user
        return self._user


@dataclasses.dataclass(frozen=True)
class Guard:
    roles: tuple[str, ...]


def auth_required(*roles: str) -> Callable[[F], F]:
    """Declare that a route needs a logged-in user holding every role given."""

    def decorator(view: F) -> F:
        setattr(view, _GUARD_ATTRIBUTE, Guard(tuple(roles)))
        spec = view.__dict__.setdefault("_spec", {})
        spec["security"] = [{"BearerAuth": []}, {"CookieAuth": []}]
        return view

    return decorator


def guard_of(view: Callable[..., Any] | None) -> Guard | None:
    return getattr(view, _GUARD_ATTRIBUTE, None)


def _bearer_token() -> str | None:
    """The token from the Authorization header; '' when the header is malformed."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return token.strip()


def authenticate_request() -> Principal | None:
    token = _bearer_token()
    via_cookie = False
    if token is None:
        token = request.cookies.get(COOKIE_NAME)
        via_cookie = True
    if not token:
        return None
    session = sessions.session_for_token(token)
    if session is None:
        return None
    return Principal(account=session.account, session_id=session.id, via_cookie=via_cookie)


def enforce_guard() -> None:
    g.principal = None
    view = current_app.view_functions.get(request.endpoint or "")
    guard = guard_of(view)
    if guard is None or request.method == "OPTIONS":
        # OPTIONS only says which methods a path allows (Allow), to anyone:
        # it runs no view and reveals nothing a 405 would not.
        return
    if request.method in UNSAFE_METHODS and request.max_content_length is not None:
        # The body first (bounded by MAX_JSON_BYTES; a view that streams its
        # own body has no bound here and reads it itself): the route's work
        # holds a database connection from its first query to the end of the
        # request, and it must not hold one while a client trickles its body
        # in (a gevent worker serves any number of such clients; the pool has 15).
        request.get_data()
    principal = authenticate_request()
    if principal is None:
        raise Unauthorized("A valid bearer token (or session cookie) is required.")
    if (
        principal.via_cookie
        and request.method in UNSAFE_METHODS
        and request.headers.get("X-Requested-With") != "XMLHttpRequest"
    ):
        raise Forbidden(
            "Cookie-authenticated requests that change data must send "
            "X-Requested-With: XMLHttpRequest."
        )
    missing = [role for role in guard.roles if not principal.account.has_role(role)]
    if missing:
        raise Forbidden(f"This needs the {', '.join(missing)} role.")
    g.principal = principal
    # For the access log, which is written after the request (even one that
    # deleted the account): the id as a string, read from the WSGI environ.
    request.environ[USER_ID_KEY] = str(principal.account.id)


def current_principal() -> Principal:
    principal: Principal | None = g.get("principal")
    if principal is None:  # a route without @auth_required asked for a user
        raise Unauthorized("A valid bearer token (or session cookie) is required.")
    return principal


def current_user() -> User:
    """The caller's account as an ORM entity (loaded on first use)."""
    return current_principal().user


def current_account() -> AccountSnapshot:
    """The caller's account as the credential check read it (no query)."""
    return current_principal().account


def current_actor() -> Actor:
    """The caller (when authenticated) and their address, for the audit trail."""
    principal: Principal | None = g.get("principal")
    return Actor(
        user=principal.account if principal else None, ip=client_address(), device=user_agent()
    )


def init_app(app: Flask) -> None:
    app.before_request(enforce_guard)
