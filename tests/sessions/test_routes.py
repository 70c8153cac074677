from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from flaskou.extensions import db
from flaskou.models import utcnow
from flaskou.sessions import service
from flaskou.sessions.models import LoginSession
from tests.conftest import DEFAULT_PASSWORD, Accounts
from tests.support.problems import assert_problem

LOGIN = "/api/v1/login"
LOGOUT = "/api/v1/logout"
TOKENS = "/api/v1/tokens"
ME = "/api/v1/users/me"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_login_answers_a_bearer_token_and_its_session(client, accounts: Accounts):
    accounts.signup("ada")
    response = client.post(
        LOGIN,
        json={"username": "ada", "password": DEFAULT_PASSWORD},
        headers={"User-Agent": "pytest-agent/1.0"},
    )

    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert len(body["token"]) >= 40  # 256 random bits, URL-safe base64
    assert body["expires_at"] == body["session"]["expires_at"]
    session = body["session"]
    assert set(session) == {
        "id",
        "description",
        "created_at",
        "last_used_at",
        "expires_at",
        "current",
    }
    assert session["current"] is True
    assert "pytest-agent/1.0" in session["description"]
    assert "127.0.0.1" in session["description"]
    assert client.get(ME, headers=bearer(body["token"])).status_code == 200


def test_login_accepts_the_email_in_any_case(client, accounts: Accounts):
    accounts.signup("ada", email="Ada@Example.com")
    assert accounts.login("ADA@example.COM")
    assert accounts.login("Ada")


def test_session_expires_after_the_configured_lifetime(client, accounts: Accounts, app):
    ada = accounts.create("ada")
    session = db.session.scalar(select(LoginSession))
    assert session.expires_at - session.created_at == timedelta(
        seconds=app.config["TOKEN_TTL_SECONDS"]
    )
    db.session.execute(update(LoginSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert_problem(client.get(ME, headers=ada.headers), 401)
    assert client.get(TOKENS, headers=bearer(accounts.login("ada"))).get_json()["items"] != []


@pytest.mark.parametrize("settings_overrides", [{"token_ttl_seconds": 90}])
def test_token_ttl_is_configurable(client, accounts: Accounts):
    accounts.signup("ada")
    body = client.post(LOGIN, json={"username": "ada", "password": DEFAULT_PASSWORD}).get_json()
    session = body["session"]
    from datetime import datetime

    lifetime = datetime.fromisoformat(session["expires_at"]) - datetime.fromisoformat(
        session["created_at"]
    )
    assert lifetime == timedelta(seconds=90)


def test_failed_logins_are_indistinguishable(client, accounts: Accounts, app):
    accounts.signup("ada")
    accounts.signup("bob")
    from flaskou.accounts import service as account_service

    account_service.find_by_login("bob").is_active = False
    db.session.commit()

    answers = [
        client.post(LOGIN, json={"username": name, "password": password})
        for name, password in [
            ("nobody", "whatever password"),
            ("ada", "wrong password"),
            ("bob", DEFAULT_PASSWORD),  # deactivated
        ]
    ]
    bodies = [assert_problem(answer, 401) for answer in answers]
    assert bodies[0] == bodies[1] == bodies[2]
    assert {a.headers["WWW-Authenticate"] for a in answers} == {"Bearer"}


def test_unknown_users_cost_a_password_hash(monkeypatch, client):
    from flaskou.accounts import passwords

    calls = []
    original = passwords.verify_password
    monkeypatch.setattr(
        passwords, "verify_password", lambda h, p: calls.append(h) or original(h, p)
    )
    client.post(LOGIN, json={"username": "ghost", "password": "some password"})
    assert len(calls) == 1
    assert calls[0].startswith("$argon2id$v=19$m=19456,t=2,p=1$")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"username", "password"}),
        ({"username": "ada"}, {"password"}),
        ({"password": "x"}, {"username"}),
        ({"username": "", "password": ""}, {"username", "password"}),
        ({"username": "ada", "password": "x", "cookie": "sometimes"}, {"cookie"}),
    ],
)
def test_login_validates_fields(client, body, fields):
    assert set(assert_problem(client.post(LOGIN, json=body), 422)["errors"]) == fields


def test_login_needs_json(client):
    assert_problem(client.post(LOGIN, data="username=ada&password=x"), 415)
    assert_problem(client.post(LOGIN, data="{", content_type="application/json"), 400)


def test_tokens_lists_live_sessions_and_marks_the_current_one(client, accounts: Accounts):
    ada = accounts.create("ada")
    other = accounts.login("ada")
    accounts.create("bob")

    items = client.get(TOKENS, headers=ada.headers).get_json()["items"]

    assert len(items) == 2
    assert [item["current"] for item in items].count(True) == 1
    current = next(item for item in items if item["current"])
    own = client.get(TOKENS, headers=bearer(other)).get_json()["items"]
    assert next(item for item in own if item["current"])["id"] != current["id"]
    assert all("token" not in item for item in items)


def test_revoke_one_session(client, accounts: Accounts):
    ada = accounts.create("ada")
    other = accounts.login("ada")
    other_id = next(
        item["id"]
        for item in client.get(TOKENS, headers=bearer(other)).get_json()["items"]
        if item["current"]
    )

    assert client.delete(f"{TOKENS}/{other_id}", headers=ada.headers).status_code == 204

    assert_problem(client.get(ME, headers=bearer(other)), 401)
    assert client.get(ME, headers=ada.headers).status_code == 200
    assert_problem(client.delete(f"{TOKENS}/{other_id}", headers=ada.headers), 404)


def test_cannot_revoke_someone_elses_session(client, accounts: Accounts):
    ada = accounts.create("ada")
    bob = accounts.create("bob")
    bob_session = client.get(TOKENS, headers=bob.headers).get_json()["items"][0]["id"]

    assert_problem(client.delete(f"{TOKENS}/{bob_session}", headers=ada.headers), 404)
    assert_problem(client.delete(f"{TOKENS}/{uuid.uuid4()}", headers=ada.headers), 404)
    assert_problem(client.delete(f"{TOKENS}/not-a-uuid", headers=ada.headers), 404)
    assert client.get(ME, headers=bob.headers).status_code == 200


def test_log_out_everywhere(client, accounts: Accounts):
    ada = accounts.create("ada")
    tokens = [ada.token, accounts.login("ada"), accounts.login("ada")]
    bob = accounts.create("bob")

    assert client.delete(TOKENS, headers=ada.headers).status_code == 204

    for token in tokens:
        assert_problem(client.get(ME, headers=bearer(token)), 401)
    assert client.get(ME, headers=bob.headers).status_code == 200


def test_logout_revokes_only_the_current_session(client, accounts: Accounts):
    ada = accounts.create("ada")
    other = accounts.login("ada")

    assert client.post(LOGOUT, headers=ada.headers).status_code == 204

    assert_problem(client.get(ME, headers=ada.headers), 401)
    assert_problem(client.post(LOGOUT, headers=ada.headers), 401)
    assert client.get(ME, headers=bearer(other)).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", LOGOUT), ("get", TOKENS), ("delete", TOKENS), ("delete", f"{TOKENS}/{uuid.uuid4()}")],
)
def test_session_routes_need_a_token(client, method, path):
    response = getattr(client, method)(path)
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_only_the_token_hash_is_stored(client, accounts: Accounts):
    ada = accounts.create("ada")
    stored = db.session.scalars(select(LoginSession.token_hash)).all()
    assert stored == [service.hash_token(ada.token)]
    assert ada.token not in stored


def test_last_used_is_refreshed_without_a_write_per_request(client, accounts: Accounts):
    ada = accounts.create("ada")
    long_ago = utcnow() - timedelta(hours=1)
    db.session.execute(update(LoginSession).values(last_used_at=long_ago))
    db.session.commit()

    client.get(ME, headers=ada.headers)
    db.session.expire_all()
    refreshed = db.session.scalar(select(LoginSession.last_used_at))
    assert refreshed > long_ago + timedelta(minutes=59)

    client.get(ME, headers=ada.headers)
    db.session.expire_all()
    assert db.session.scalar(select(LoginSession.last_used_at)) == refreshed


class TestCookieMode:
    def login(self, client, **extra):
        return client.post(
            LOGIN, json={"username": "ada", "password": DEFAULT_PASSWORD, "cookie": True}, **extra
        )

    def test_sets_an_httponly_strict_cookie_instead_of_the_body(self, client, accounts):
        accounts.signup("ada")
        response = self.login(client)

        assert response.status_code == 200
        body = response.get_json()
        assert "token" not in body
        assert body["session"]["current"] is True
        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith("flaskou_session=")
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert "Path=/" in cookie
        assert "Secure" not in cookie

    def test_cookie_is_secure_over_https(self, client, accounts):
        accounts.signup("ada")
        response = self.login(client, base_url="https://localhost")
        assert "Secure" in response.headers["Set-Cookie"]

    def test_cookie_authenticates_safe_requests(self, client, accounts):
        accounts.signup("ada")
        self.login(client)
        response = client.get(ME)
        assert response.status_code == 200
        assert response.get_json()["username"] == "ada"

    def test_unsafe_cookie_requests_need_x_requested_with(self, client, accounts):
        accounts.signup("ada")
        self.login(client)

        assert_problem(client.delete(TOKENS), 403)
        assert_problem(client.post(LOGOUT), 403)
        assert client.get(ME).status_code == 200  # nothing was revoked

        response = client.post(LOGOUT, headers={"X-Requested-With": "XMLHttpRequest"})
        assert response.status_code == 204
        assert "flaskou_session=;" in response.headers["Set-Cookie"]
        assert "Expires=Thu, 01 Jan 1970" in response.headers["Set-Cookie"]
        assert_problem(client.get(ME), 401)

    def test_bearer_header_wins_over_the_cookie(self, client, accounts):
        accounts.signup("ada")
        self.login(client)
        bob = accounts.create("bob")
        assert client.get(ME, headers=bob.headers).get_json()["username"] == "bob"
        # a bearer request is not subject to the X-Requested-With rule
        assert client.post(LOGOUT, headers=bob.headers).status_code == 204


class TestThrottling:
    @pytest.mark.parametrize("settings_overrides", [{"rate_limit_login": "3 per minute"}])
    def test_per_address(self, client, accounts):
        accounts.signup("ada")
        for name in ["a", "b", "c"]:
            assert_problem(client.post(LOGIN, json={"username": name, "password": "x"}), 401)
        response = client.post(LOGIN, json={"username": "ada", "password": DEFAULT_PASSWORD})
        assert_problem(response, 429)
        assert int(response.headers["Retry-After"]) > 0
        other = client.post(
            LOGIN,
            json={"username": "ada", "password": DEFAULT_PASSWORD},
            environ_base={"REMOTE_ADDR": "10.0.0.2"},
        )
        assert other.status_code == 200

    @pytest.mark.parametrize("settings_overrides", [{"rate_limit_login": "3 per minute"}])
    def test_per_account_counts_failures_across_addresses(self, client, accounts):
        accounts.signup("ada")
        for i in range(3):
            response = client.post(
                LOGIN,
                json={"username": "ada", "password": "wrong guess"},
                environ_base={"REMOTE_ADDR": f"10.0.1.{i}"},
            )
            assert_problem(response, 401)
        blocked = client.post(
            LOGIN,
            json={"username": "ADA", "password": DEFAULT_PASSWORD},
            environ_base={"REMOTE_ADDR": "10.0.1.99"},
        )
        assert_problem(blocked, 429)
        assert "Retry-After" in blocked.headers
        # another account from a fresh address is unaffected
        accounts.signup("bob")
        fine = client.post(
            LOGIN,
            json={"username": "bob", "password": DEFAULT_PASSWORD},
            environ_base={"REMOTE_ADDR": "10.0.2.1"},
        )
        assert fine.status_code == 200

    @pytest.mark.parametrize("settings_overrides", [{"rate_limit_login": "3 per minute"}])
    def test_successful_logins_do_not_lock_the_account(self, client, accounts):
        accounts.signup("ada")
        for i in range(5):
            response = client.post(
                LOGIN,
                json={"username": "ada", "password": DEFAULT_PASSWORD},
                environ_base={"REMOTE_ADDR": f"10.0.3.{i}"},
            )
            assert response.status_code == 200


def test_checking_a_token_is_one_indexed_lookup(client, accounts):
    from tests.support.statements import statements_sent

    ada = accounts.create("ada")
    for _ in range(20):
        accounts.login("ada")
    client.get(ME, headers=ada.headers)  # warm: last_used_at is fresh now

    with statements_sent() as statements:
        assert client.get(ME, headers=ada.headers).status_code == 200

    assert len(statements) == 1, statements  # the session with its user and roles
    if db.engine.dialect.name == "sqlite":  # PostgreSQL's trace shows no SQL text
        assert "token_hash" in statements[0]
        assert "JOIN users" in statements[0]
