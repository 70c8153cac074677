"""Who is calling: session tokens, browser cookies and API keys, and the route guard.

Routes declare what they need with ``@auth_required(scope=...)`` or
``@auth_required("admin", scope=...)``: the roles the caller must hold, and
the API key scope that reaches the route, or ``SESSION_ONLY`` for routes
that need an interactive sign-in (credentials, second factors, the
account itself). The scope is a required argument, so a route cannot be
guarded without saying what a key may do there.

The declaration is a mark on the view; one ``before_request`` hook enforces
it for every route, before the body is parsed, so an anonymous caller always
gets 401, and a caller without the role or a key without the scope 403,
whatever else is wrong with the request. Roles are read from the database on
every request (with the session or the key, in one statement), so a grant or
revoke applies on the very next request on every instance, to keys too.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Request, current_app, g, request

from flaskou.accounts.models import AccountSnapshot, User
from flaskou.apikeys import service as apikeys
from flaskou.apikeys.scopes import ROLE_OF_SCOPE, SCOPES
from flaskou.audit.service import Actor
from flaskou.errors import Forbidden, InsufficientScope, Unauthorized
from flaskou.extensions import db
from flaskou.net import client_address, user_agent
from flaskou.observability import USER_ID_KEY
from flaskou.sessions import service as sessions

COOKIE_NAME = "flaskou_session"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SECURITY_SCHEMES = {
    "BearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "A session token, from POST /api/v1/login.",
    },
    "CookieAuth": {"type": "apiKey", "in": "cookie", "name": COOKIE_NAME},
    "ApiKeyAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "fko_...",
        "description": (
            "A personal API key (`fko_...`, from POST /api/v1/users/me/api-keys), "
            "sent as a bearer token. An operation lists the scope a key needs; "
            "operations without this scheme need a session."
        ),
    },
}
# The scope of routes no API key reaches: they need an interactive sign-in.
SESSION_ONLY = "session"
_GUARD_ATTRIBUTE = "_flaskou_auth"

F = TypeVar("F", bound=Callable[..., Any])


@dataclasses.dataclass(slots=True)
class Principal:
    """The caller: their account as the credential check read it, and the
    credential it came with (a session, by bearer token or cookie, or an
    API key with its scopes)."""

    account: AccountSnapshot
    credential_id: uuid.UUID
    via_cookie: bool = False
    key_scopes: frozenset[str] | None = None  # None: a session, not a key
    _user: User | None = dataclasses.field(default=None, repr=False)

    @property
    def is_api_key(self) -> bool:
        return self.key_scopes is not None

    @property
    def session_id(self) -> uuid.UUID:
        """The caller's session; only session-only routes ask."""
        if self.key_scopes is not None:  # a route that forgot SESSION_ONLY
            raise InsufficientScope("API keys cannot do this; sign in.")
        return self.credential_id

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
    scope: str  # an API key scope, or SESSION_ONLY


def auth_required(*roles: str, scope: str) -> Callable[[F], F]:
    """Declare that a route needs a signed-in caller holding every role
    given, and which API key scope reaches it (or `SESSION_ONLY`)."""
    if scope != SESSION_ONLY and scope not in SCOPES:
        raise ValueError(f"unknown API key scope {scope!r}")
    needed = ROLE_OF_SCOPE.get(scope)
    if needed is not None and needed not in roles:
        raise ValueError(f"a route of scope {scope!r} must need the {needed} role")

    def decorator(view: F) -> F:
        setattr(view, _GUARD_ATTRIBUTE, Guard(tuple(roles), scope))
        spec = view.__dict__.setdefault("_spec", {})
        security: list[dict[str, list[str]]] = [{"BearerAuth": []}, {"CookieAuth": []}]
        if scope != SESSION_ONLY:
            security.append({"ApiKeyAuth": [scope]})
        spec["security"] = security
        return view

    return decorator


def guard_of(view: Callable[..., Any] | None) -> Guard | None:
    return getattr(view, _GUARD_ATTRIBUTE, None)


def _bearer_token(headers: Any) -> str | None:
    """The token from the Authorization header; '' when the header is malformed."""
    header = headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return token.strip()


def authenticate_request(req: Request) -> Principal | None:
    token = _bearer_token(req.headers)
    via_cookie = False
    if token is None:
        token = req.cookies.get(COOKIE_NAME)
        via_cookie = True
    if not token:
        return None
    if apikeys.is_key_token(token):
        if via_cookie:  # keys are for scripts: never taken from a cookie
            return None
        key = apikeys.key_for_token(token)
        if key is None:
            return None
        return Principal(account=key.account, credential_id=key.id, key_scopes=key.scopes)
    session = sessions.session_for_token(token)
    if session is None:
        return None
    return Principal(account=session.account, credential_id=session.id, via_cookie=via_cookie)


def _check_scope(principal: Principal, guard: Guard) -> None:
    scopes = principal.key_scopes
    if scopes is None:  # a session may do all its account may
        return
    if guard.scope == SESSION_ONLY:
        raise InsufficientScope(
            "API keys cannot manage sessions, API keys, second factors or the account; "
            "sign in to do this.",
            headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'},
        )
    if guard.scope not in scopes:
        raise InsufficientScope(
            f"This API key does not have the {guard.scope} scope.",
            headers={
                "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{guard.scope}"'
            },
            members={"required_scope": guard.scope},
        )


def enforce_guard() -> None:
    # The request object once: every access through Flask's `request` proxy
    # is a context lookup, and this runs before every request.
    req: Request = request._get_current_object()  # type: ignore[attr-defined]
    # Reset first: an application context pushed around several requests (a
    # test's, an embedding's) keeps g from one request to the next.
    context = g._get_current_object()
    context.principal = None
    view = current_app.view_functions.get(req.endpoint or "")
    guard = guard_of(view)
    method = req.method
    if guard is None or method == "OPTIONS":
        # OPTIONS only says which methods a path allows (Allow), to anyone:
        # it runs no view and reveals nothing a 405 would not.
        return
    unsafe = method in UNSAFE_METHODS
    if unsafe and req.max_content_length is not None:
        # The body first (bounded by MAX_JSON_BYTES; a view that streams its
        # own body has no bound here and reads it itself): the route's work
        # holds a database connection from its first query to the end of the
        # request, and it must not hold one while a client trickles its body
        # in (a gevent worker serves any number of such clients; the pool has 15).
        req.get_data()
    principal = authenticate_request(req)
    if principal is None:
        raise Unauthorized("A valid bearer token (or session cookie) is required.")
    if principal.via_cookie and unsafe and req.headers.get("X-Requested-With") != "XMLHttpRequest":
        raise Forbidden(
            "Cookie-authenticated requests that change data must send "
            "X-Requested-With: XMLHttpRequest."
        )
    _check_scope(principal, guard)
    # Checked at the time of use, for keys too: an admin scope acts only
    # while the key's owner still holds the admin role.
    missing = [role for role in guard.roles if not principal.account.has_role(role)]
    if missing:
        raise Forbidden(f"This needs the {', '.join(missing)} role.")
    context.principal = principal
    # For the access log, which is written after the request (even one that
    # deleted the account): the id as a string, read from the WSGI environ.
    req.environ[USER_ID_KEY] = str(principal.account.id)


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
    """The caller (when authenticated), their address and the API key they
    use (if they do), for the audit trail."""
    principal: Principal | None = g.get("principal")
    return Actor(
        user=principal.account if principal else None,
        ip=client_address(),
        device=user_agent(),
        api_key=str(principal.credential_id) if principal and principal.is_api_key else None,
    )


def init_app(app: Flask) -> None:
    app.before_request(enforce_guard)
