"""Rate limits on routes and on what routes send (mail), over the `limits`
library: fixed windows counted in Redis when REDIS_URL is set (shared by
every instance), in the process otherwise.

flaskou used flask-limiter for this. Its decorator resolved each limit
through Flask's proxies some seventy times per request and cost a sign-in
more than everything else it did beside the password check (issue #13);
what flaskou needs of it (a limit per route and key, counted on every call
or only on failures, the 429 and the headers) is the few lines below.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, Response, after_this_request, current_app, request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from flaskou.errors import TooManyRequests

F = TypeVar("F", bound=Callable[..., Any])
_RATE_LIMITED = "_flaskou_rate_limited"
KEY_PREFIX = "flaskou"  # every counter's key starts with it (shared Redis)
_CHECKS = "flaskou.throttle_checks"  # in the WSGI environ: the request's checked limits


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


class Throttles:
    """The counters behind every rate limit. Bound in create_app()."""

    def __init__(self) -> None:
        self._strategy: FixedWindowRateLimiter | None = None

    def init_app(self, app: Flask) -> None:
        """RATE_LIMIT_STORAGE_URI: a Redis URL, or flaskou-memory:// (in the process)."""
        self._strategy = FixedWindowRateLimiter(
            storage_from_string(app.config["RATE_LIMIT_STORAGE_URI"])
        )

    @property
    def strategy(self) -> FixedWindowRateLimiter:
        assert self._strategy is not None, "throttles.init_app() was not called"
        return self._strategy

    @property
    def storage(self) -> Storage:
        return self.strategy.storage


throttles = Throttles()


@functools.lru_cache(maxsize=64)
def _rates(limit: str) -> tuple[RateLimitItem, ...]:
    """The limits a setting names: "10 per minute", or several ("10 per
    minute; 100 per day"), each of which must hold."""
    return tuple(parse_many(limit))


@dataclasses.dataclass(slots=True)
class _Check:
    """A limit checked for this request, for its headers and deductions."""

    item: RateLimitItem
    identifiers: tuple[str, str, str]
    deduct_when: Callable[[Response], bool] | None
    breached: bool


def throttle(
    limit: Callable[[], str] | str,
    *,
    key_func: Callable[[], str],
    scope: str,
    deduct_when: Callable[[Response], bool] | None = None,
    error_message: Callable[[], str] | None = None,
) -> Callable[[F], F]:
    """Throttle a route: `limit` (or what it answers, read per request) per
    `key_func()` in a window counted under `scope`. Every call counts, or,
    with `deduct_when`, only calls whose response it says should (a failed
    sign-in). Over the limit the route answers 429 problem+json with
    Retry-After. Marked so the OpenAPI document lists the 429. Stack two for
    two limits (per address and per account); each is checked when the
    route is called, the outer one first.

    A throttled route's answers carry X-RateLimit-Limit, -Remaining and
    -Reset (the epoch second its window ends) of the limit that refused it,
    else of the one with the shortest window; a 429 also Retry-After."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def throttled(*args: Any, **kwargs: Any) -> Any:
            identifiers = (KEY_PREFIX, scope, key_func())
            strategy = throttles.strategy
            environ = request.environ
            checks = environ.get(_CHECKS)
            if checks is None:
                checks = environ[_CHECKS] = []
                after_this_request(_after_throttled)
            refused = None
            for item in _rates(limit() if callable(limit) else limit):
                if deduct_when is None:
                    allowed = strategy.hit(item, *identifiers)
                else:
                    allowed = strategy.test(item, *identifiers)
                checks.append(_Check(item, identifiers, deduct_when, breached=not allowed))
                if not allowed:
                    refused = item
                    break
            if refused is not None:
                raise TooManyRequests(
                    error_message() if error_message else "Too many requests; try again later.",
                    retry_after=_seconds_until(_reset_at(refused, identifiers)),
                )
            return view(*args, **kwargs)

        setattr(throttled, _RATE_LIMITED, True)
        return cast(F, throttled)

    return decorator


def _reset_at(item: RateLimitItem, identifiers: tuple[str, ...]) -> float:
    return throttles.strategy.get_window_stats(item, *identifiers).reset_time


def _seconds_until(moment: float) -> int:
    return max(1, math.ceil(moment - time.time()))


def _after_throttled(response: Response) -> Response:
    """Count what only counts by its outcome; then the rate-limit headers."""
    checks: list[_Check] = request.environ[_CHECKS]
    if not checks:  # the storage failed before a limit was counted (Redis down: 503)
        return response
    strategy = throttles.strategy
    for check in checks:
        if check.deduct_when is not None and check.deduct_when(response):
            strategy.hit(check.item, *check.identifiers)
    refused = [check for check in checks if check.breached]
    shown = refused[0] if refused else min(checks, key=lambda check: check.item)
    stats = strategy.get_window_stats(shown.item, *shown.identifiers)
    reset = int(stats.reset_time)
    headers = response.headers
    headers["X-RateLimit-Limit"] = str(shown.item.amount)
    headers["X-RateLimit-Remaining"] = str(stats.remaining)
    headers["X-RateLimit-Reset"] = str(reset)
    return response


def login_limit() -> str:
    """RATE_LIMIT_LOGIN, read per request: the limit of signing in, and of
    everything throttled like it (second factors, password estimates)."""
    return str(current_app.config["RATE_LIMIT_LOGIN"])


def is_rate_limited(view: Callable[..., Any]) -> bool:
    return bool(getattr(view, _RATE_LIMITED, False))


def spend_allowance(limit: str, scope: str, key: str) -> int | None:
    """Count one request against `limit` for `key` (shared through Redis when
    configured, like every route limit). None when allowed; otherwise how many
    seconds until the next one would be. For limits keyed by something a
    route only knows after reading its body (the address a mail goes to)."""
    identifiers = (KEY_PREFIX, scope, key)
    for item in _rates(limit):
        if not throttles.strategy.hit(item, *identifiers):
            return _seconds_until(_reset_at(item, identifiers))
    return None


def allowance_left(limit: str, scope: str, key: str) -> int | None:
    """Like spend_allowance, but only looks: None while `key` is under
    `limit`, else the seconds until it is again."""
    identifiers = (KEY_PREFIX, scope, key)
    for item in _rates(limit):
        if not throttles.strategy.test(item, *identifiers):
            return _seconds_until(_reset_at(item, identifiers))
    return None
