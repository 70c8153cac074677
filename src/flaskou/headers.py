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

from flask import Flask, Response, request

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


def apply_policy(response: Response) -> Response:
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    headers.setdefault("Referrer-Policy", REFERRER_POLICY)
    headers.setdefault("Content-Security-Policy", DENY_ALL_POLICY)
    headers["X-Frame-Options"] = "DENY"
    if request.path == SPEC_PATH:
        headers["Cache-Control"] = "no-cache"
    elif request.path.startswith(API_PREFIX) or "Set-Cookie" in headers:
        headers["Cache-Control"] = "no-store"
    if request.is_secure:
        headers["Strict-Transport-Security"] = HSTS
    return response


def init_app(app: Flask) -> None:
    app.after_request(apply_policy)
