"""The whole accounts journey against a real gunicorn, as a client sees it."""

from __future__ import annotations

import http.client
import json

import pytest

from tests.support.server import Server

pytestmark = pytest.mark.slow


@pytest.fixture
def server(app, migrated_database, tmp_path):
    server = Server(
        {
            "DATABASE_URL": migrated_database,
            "SECRET_KEY": "a-test-secret-that-is-long-enough",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "RATE_LIMIT_LOGIN": "100 per minute",
            "RATE_LIMIT_SIGNUP": "1000000 per hour",
            "RATE_LIMIT_MAIL": "1000000 per hour",
        },
        workers=2,
        log_path=tmp_path / "gunicorn.log",
    ).start()
    yield server
    server.stop()


def test_signup_login_sessions_logout_over_http(server):
    status, _, user = server.request(
        "POST",
        "/api/v1/signup",
        {"username": "ada", "email": "ada@example.com", "password": "a good password"},
    )
    assert status == 201, user

    tokens = []
    for agent in ["laptop/1.0", "phone/2.0"]:
        status, _, body = server.request(
            "POST",
            "/api/v1/login",
            {"username": "ada", "password": "a good password"},
            {"User-Agent": agent},
        )
        assert status == 200, body
        tokens.append(body["token"])
    laptop = {"Authorization": f"Bearer {tokens[0]}"}
    phone = {"Authorization": f"Bearer {tokens[1]}"}

    status, _, me = server.request("GET", "/api/v1/users/me", headers=laptop)
    assert (status, me["id"]) == (200, user["id"])

    status, _, sessions = server.request("GET", "/api/v1/tokens", headers=laptop)
    assert status == 200
    assert len(sessions["items"]) == 2
    phone_session = next(s for s in sessions["items"] if "phone/2.0" in s["description"])
    assert phone_session["current"] is False

    status, _, _ = server.request("DELETE", f"/api/v1/tokens/{phone_session['id']}", headers=laptop)
    assert status == 204
    # refused on the very next request, whichever worker answers
    for _ in range(4):
        status, headers, _problem = server.request("GET", "/api/v1/users/me", headers=phone)
        assert status == 401
        assert headers["Content-Type"] == "application/problem+json"

    status, _, _ = server.request("POST", "/api/v1/logout", headers=laptop)
    assert status == 204
    status, _, _ = server.request("GET", "/api/v1/users/me", headers=laptop)
    assert status == 401


def test_errors_are_problem_json_over_http(server):
    status, headers, body = server.request("GET", "/api/v1/nothing-here")
    assert status == 404
    assert headers["Content-Type"] == "application/problem+json"
    assert body["status"] == 404
    status, headers, body = server.request(
        "POST", "/api/v1/signup", None, {"Content-Type": "text/plain"}
    )
    assert status == 415


def test_admin_journey_over_http(server, runner):
    result = runner.invoke(args=["create-admin", "root", "root@example.com", "root password"])
    assert result.exit_code == 0, result.output
    _, _, body = server.request(
        "POST", "/api/v1/login", {"username": "root", "password": "root password"}
    )
    admin = {"Authorization": f"Bearer {body['token']}"}
    for i in range(60):
        status, _, _ = server.request(
            "POST",
            "/api/v1/signup",
            {"username": f"walker{i:03d}", "email": f"w{i}@example.com", "password": "walker pw!"},
        )
        assert status == 201
    _, _, body = server.request(
        "POST", "/api/v1/login", {"username": "walker007", "password": "walker pw!"}
    )
    user = {"Authorization": f"Bearer {body['token']}"}

    status, _, _ = server.request(
        "POST", "/api/v1/roles", {"name": "editor", "description": "Edits."}, admin
    )
    assert status == 201
    assert server.request("GET", "/api/v1/users/me", headers=user)[2]["roles"] == []
    assert server.request("POST", "/api/v1/users/walker007/roles/editor", headers=admin)[0] == 200
    # the very next request, whichever of the two workers answers it
    for _ in range(4):
        assert server.request("GET", "/api/v1/users/me", headers=user)[2]["roles"] == ["editor"]

    seen, cursor = [], None
    while True:
        path = "/api/v1/users?limit=25" + (f"&cursor={cursor}" if cursor else "")
        status, _, page = server.request("GET", path, headers=admin)
        assert status == 200
        seen += [u["username"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 61

    status, _, trail = server.request("GET", "/api/v1/audit?action=role_granted", headers=admin)
    assert status == 200
    granted = trail["items"][0]
    assert (granted["actor"], granted["target"], granted["detail"]) == (
        "root",
        "walker007",
        {"role": "editor"},
    )


def test_answers_keep_their_framing_on_one_keep_alive_connection(server):
    """The worker writes each small answer's head and body together
    (flaskou.serving.OneWriteResponse): a head-only answer, a JSON answer
    and an error, one after another on one connection, each whole."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for method, path, status in [
            ("GET", "/healthz", 200),
            ("HEAD", "/healthz", 200),
            ("GET", "/api/v1/users/me", 401),
            ("HEAD", "/api/v1/users/me", 401),
            ("GET", "/healthz", 200),
        ]:
            connection.request(method, path)
            response = connection.getresponse()
            body = response.read()
            assert response.status == status, (method, path)
            if method == "HEAD":
                assert body == b""
            else:
                assert len(body) == int(response.headers["Content-Length"]) > 0
                assert json.loads(body)
            assert not response.will_close
    finally:
        connection.close()
