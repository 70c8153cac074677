"""One header policy, applied to every response flaskou sends.

- `X-Content-Type-Options: nosniff` and `Referrer-Policy` everywhere.
- `Cache-Control: no-store` on every answer of the API (each is the
  caller's own data, or carries a credential: a login's token, a cookie)
  and on any response that sets a cookie. The OpenAPI document is public and
  only revalidated.
- No page can be framed: pages say `frame-ancestors 'none'` in their
  Content-Security-Policy (the web app and the API docs each have their
  own policy) and every other answer gets a deny-all policy plus
  `X-Frame-Options: DENY` for older browsers.
- `Strict-Transport-Security` when the request came over HTTPS (directly, or
  through a trusted proxy's X-Forwarded-Proto, see PROXY_COUNT).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

API_PREFIX = "/api/v1/"
SPEC_PATH = "/api/v1/openapi.json"
REFERRER_POLICY = "same-origin"
HSTS = "max-age=31536000"
# For answers that are not pages (JSON, files, problems): nothing may run or embed them.
DENY_ALL_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
# The web app runs no inline script or style; everything comes from /static.
WEB_APP_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
# Swagger UI sets style attributes from script, so styles may be inline; scripts may not.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)


def policy(wsgi_app: WSGIApplication) -> WSGIApplication:
    """Wrap a WSGI app so every response it starts carries the policy.

    Applied to the header list as it goes out (plain list work, no header
    object), so it costs next to nothing and covers every answer the app
    gives, error pages and static files included. The environ is read when
    the response starts: a proxy fix-up further in has set the scheme by then.
    """

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def start(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            names = {name.lower() for name, _ in headers}
            path = environ.get("PATH_INFO", "")
            cache = None
            if path == SPEC_PATH:
                cache = "no-cache"
            elif path.startswith(API_PREFIX) or "set-cookie" in names:
                cache = "no-store"
            secure = environ.get("wsgi.url_scheme") == "https"
            replaced = _ALWAYS_SET if cache is None else _ALWAYS_SET_AND_CACHE
            if secure:
                replaced = replaced | {"strict-transport-security"}
            if not names.isdisjoint(replaced):
                headers = [header for header in headers if header[0].lower() not in replaced]
            headers.append(("X-Content-Type-Options", "nosniff"))
            headers.append(("X-Frame-Options", "DENY"))
            if "referrer-policy" not in names:
                headers.append(("Referrer-Policy", REFERRER_POLICY))
            if "content-security-policy" not in names:
                headers.append(("Content-Security-Policy", DENY_ALL_POLICY))
            if cache is not None:
                headers.append(("Cache-Control", cache))
            if secure:
                headers.append(("Strict-Transport-Security", HSTS))
            return start_response(status, headers, exc_info)

        return wsgi_app(environ, start)

    return app


_ALWAYS_SET = frozenset({"x-content-type-options", "x-frame-options"})
_ALWAYS_SET_AND_CACHE = _ALWAYS_SET | {"cache-control"}


def init_app(app: Flask) -> None:
    app.wsgi_app = policy(app.wsgi_app)  # type: ignore[method-assign, assignment]
