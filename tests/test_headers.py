"""One header policy on every response (see flaskou/headers.py)."""

from __future__ import annotations

import pytest

from tests.conftest import DEFAULT_PASSWORD


def assert_not_cacheable(response):
    assert response.headers["Cache-Control"] == "no-store", response.request.path


def test_answers_carrying_a_token_or_a_user_are_not_stored(client, accounts):
    login = client.post(
        "/api/v1/login",
        json={"username": accounts.signup("ada")["username"], "password": DEFAULT_PASSWORD},
    )
    assert login.status_code == 200, login.get_json()
    assert_not_cacheable(login)
    bearer = {"Authorization": f"Bearer {login.get_json()['token']}"}
    for path in ["/api/v1/users/me", "/api/v1/tokens", "/api/v1/files", "/api/v1/files/usage"]:
        response = client.get(path, headers=bearer)
        assert response.status_code == 200
        assert_not_cacheable(response)
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_cookie_login_is_not_stored(client, accounts):
    ada = accounts.signup()
    login = client.post(
        "/api/v1/login",
        json={"username": ada["username"], "password": DEFAULT_PASSWORD, "cookie": True},
    )
    assert "Set-Cookie" in login.headers
    assert_not_cacheable(login)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/users/me", 401),
        ("GET", "/api/v1/nowhere", 404),
        ("PUT", "/api/v1/users/me", 405),
        ("POST", "/api/v1/login", 415),
    ],
)
def test_problems_are_not_sniffed_framed_or_stored(client, method, path, status):
    response = client.open(path, method=method)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert_not_cacheable(response)


def test_the_openapi_document_is_public_but_revalidated(client):
    response = client.get("/api/v1/openapi.json")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize("path", ["/", "/files", "/api/docs"])
def test_pages_cannot_be_framed_and_run_no_inline_script(client, path):
    response = client.get(path)
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self';" in policy
    assert "unsafe-eval" not in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "<script>" not in response.get_data(as_text=True)
    response.close()


def test_hsts_only_over_https(client):
    assert "Strict-Transport-Security" not in client.get("/healthz").headers
    secure = client.get("/healthz", base_url="https://flaskou.example")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")
