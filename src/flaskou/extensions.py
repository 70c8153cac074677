"""Extensions are created unbound here and bound to the app in create_app()."""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from flask import Flask, Response, after_this_request, current_app
from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from limits import parse as parse_rate_limit
from limits.storage import MemoryStorage
from sqlalchemy import MetaData
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase

from flaskou.net import client_address

# Deterministic constraint names, so migrations can alter them on every engine.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Database(SQLAlchemy):
    def _teardown_session(self, exc: BaseException | None) -> None:
        """End the request's session; a database that went away meanwhile
        (a restart, an admin shutdown) must not turn an answered request into
        a 500 at teardown. The broken connection is discarded by the pool."""
        try:
            self.session.remove()
        except DBAPIError as error:
            logging.getLogger(__name__).warning(
                "database connection lost at the end of a request: %s", error.__class__.__name__
            )
            self.session.registry.clear()


class InProcessStorage(MemoryStorage):
    """Rate-limit counters in the process (no REDIS_URL): limits' memory
    storage, its expired counters swept inline instead of by a timer thread.

    MemoryStorage starts a `threading.Timer` whenever none is pending, so on
    most throttled requests (under gevent a greenlet, else an OS thread) only
    to drop expired counters 10 ms later. That cost more than the rest of the
    limiter on every sign-in (issue #13). Expired counters are already
    ignored when read, so the sweep only bounds memory: here it runs at most
    once a second, in the request that finds it due."""

    STORAGE_SCHEME = ["flaskou-memory"]  # noqa: RUF012 (limits declares it so)
    SWEEP_SECONDS = 1.0

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.timer.cancel()  # the one the base class starts
        self._next_sweep = 0.0

    # Replaces MemoryStorage's private scheduler (called on every count;
    # limits is pinned, and tests/test_extensions.py holds this to it).
    def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.SWEEP_SECONDS
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]


db = Database(model_class=Base)
migrate = Migrate()
limiter = Limiter(key_func=client_address, headers_enabled=True)

F = TypeVar("F", bound=Callable[..., Any])
_RATE_LIMITED = "_flaskou_rate_limited"
_inject_headers: Callable[[Response], Any]  # flask-limiter's, taken in init_limiter
_NO_DATABASE = "_flaskou_no_database"


def throttle(limit: Callable[[], str] | str, **options: Any) -> Callable[[F], F]:
    """Throttle a route (flask-limiter's `limit`), marked so the OpenAPI
    document lists its 429. Routes are throttled with this, never with
    `limiter.limit` directly.

    flask-limiter's rate-limit headers (and Retry-After on a 429) are added
    to the answers of throttled routes only: the hook is registered by the
    route (`after_this_request`) rather than run on every request."""

    def decorator(view: F) -> F:
        limited = limiter.limit(limit, **options)(view)
        if is_rate_limited(view):
            # Throttled twice (per address and per account): the inner one
            # asks for the headers. Once per request, as flask-limiter also
            # counts its conditional deductions (`deduct_when`) there.
            throttled = limited
        else:
            # wraps(limited): its marker tells an outer flask-limiter
            # decorator that this route is already checked.
            @functools.wraps(limited)
            def throttled(*args: Any, **kwargs: Any) -> Any:
                after_this_request(_limit_headers)
                return limited(*args, **kwargs)

        setattr(throttled, _RATE_LIMITED, True)
        return cast(F, throttled)

    return decorator


def _limit_headers(response: Response) -> Response:
    return cast(Response, _inject_headers(response))


def login_limit() -> str:
    """RATE_LIMIT_LOGIN, read per request: the limit of signing in, and of
    everything throttled like it (second factors, password estimates)."""
    return str(current_app.config["RATE_LIMIT_LOGIN"])


def is_rate_limited(view: Callable[..., Any]) -> bool:
    return bool(getattr(view, _RATE_LIMITED, False))


def init_limiter(app: Flask) -> None:
    """Bind the limiter, with none of its hooks on every request.

    flask-limiter adds three hooks to every request: a check of
    application-wide and default limits before it, its headers after it,
    and a reset of its state at teardown. flaskou has no application-wide or
    default limit: each throttled route carries its own (`throttle`), which
    flask-limiter checks when the route is called, and which asks for the
    headers itself. The state lives on the request context, which ends with
    the request, so its reset is not needed either.
    """
    global _inject_headers
    limiter.init_app(app)
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    _inject_headers = app.after_request_funcs[None].pop()  # the two init_app just added
    app.teardown_request_funcs[None].pop()


def spend_allowance(limit: str, scope: str, key: str) -> int | None:
    """Count one request against `limit` for `key` (shared through Redis when
    configured, like every route limit). None when allowed; otherwise how many
    seconds until the next one would be. For limits keyed by something a
    route only knows after reading its body (the address a mail goes to)."""
    item = parse_rate_limit(limit)
    strategy = limiter.limiter
    if strategy.hit(item, "flaskou", scope, key):
        return None
    reset_at = strategy.get_window_stats(item, "flaskou", scope, key).reset_time
    return max(1, math.ceil(reset_at - time.time()))


def allowance_left(limit: str, scope: str, key: str) -> int | None:
    """Like spend_allowance, but only looks: None while `key` is under
    `limit`, else the seconds until it is again."""
    item = parse_rate_limit(limit)
    strategy = limiter.limiter
    if strategy.test(item, "flaskou", scope, key):
        return None
    reset_at = strategy.get_window_stats(item, "flaskou", scope, key).reset_time
    return max(1, math.ceil(reset_at - time.time()))


def no_database(view: F) -> F:
    """Declare that a route answers without the database (so never 503 for it)."""
    setattr(view, _NO_DATABASE, True)
    return view


def uses_database(view: Callable[..., Any]) -> bool:
    return not getattr(view, _NO_DATABASE, False)


# Models subclass `Model`: Flask-SQLAlchemy's db.Model at runtime, and the
# declarative base it extends for type checkers.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
