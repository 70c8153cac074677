"""flaskou's Flask application class: APIFlask, minus per-request work it
does not need.

- No Flask cookie session. flaskou's browser session is a revocable token in
  its own cookie (auth.py); Flask's signed-cookie session would otherwise be
  opened (a serializer built, a cookie looked for) on every request.
- `ensure_sync` remembers its answer per function. Flask asks it for every
  hook, view and teardown function of every request, and each answer costs
  an `inspect` call; functions do not change from sync to async.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apiflask import APIFlask
from flask import Flask
from flask.sessions import SessionInterface
from flask.wrappers import Request, Response

# Functions seen by ensure_sync: views, hooks, error handlers (a fixed set).
# The bound only guards against a caller making new functions per request.
_SYNC_CACHE_LIMIT = 4096


class NoFlaskSession(SessionInterface):
    """Flask's `session` is unused: every request gets the null session,
    which refuses writes, and nothing is read from or written to a cookie."""

    def open_session(self, app: Flask, request: Request) -> None:
        return None

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        return None


class FlaskouApp(APIFlask):
    session_interface = NoFlaskSession()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            return self._sync[func]
        except KeyError:
            synced = super().ensure_sync(func)
            if len(self._sync) < _SYNC_CACHE_LIMIT:
                self._sync[func] = synced
            return synced
