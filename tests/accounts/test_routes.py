from __future__ import annotations

import uuid

import pytest

from tests.conftest import DEFAULT_PASSWORD, Accounts
from tests.support.problems import assert_problem

SIGNUP = "/api/v1/signup"
ME = "/api/v1/users/me"


def signup_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "username": "ada",
        "email": "ada@example.com",
        "password": DEFAULT_PASSWORD,
    }
    body.update(overrides)
    return body


def test_signup_answers_the_user_without_secrets(client):
    response = client.post(SIGNUP, json=signup_body())

    assert response.status_code == 201
    user = response.get_json()
    assert set(user) == {
        "id",
        "username",
        "email",
        "email_verified",
        "mfa_enabled",
        "roles",
        "is_active",
        "created_at",
        "updated_at",
    }
    assert str(uuid.UUID(user["id"])) == user["id"]
    assert user["username"] == "ada"
    assert user["roles"] == []
    assert user["is_active"] is True
    assert user["created_at"].endswith("+00:00")
    assert "password" not in response.get_data(as_text=True)


def test_signup_stores_email_case_insensitively(client):
    response = client.post(SIGNUP, json=signup_body(email="Ada.Lovelace@Example.COM"))
    assert response.get_json()["email"] == "ada.lovelace@example.com"

    again = client.post(
        SIGNUP, json=signup_body(username="other", email="ADA.LOVELACE@example.com")
    )
    body = assert_problem(again, 409)
    assert "email" in body["errors"]


def test_signup_rejects_a_taken_username(client):
    client.post(SIGNUP, json=signup_body())
    response = client.post(SIGNUP, json=signup_body(email="other@example.com"))
    body = assert_problem(response, 409)
    assert body["errors"] == {"username": ["Already taken."]}


@pytest.mark.parametrize(
    "username",
    ["", "-ada", "ada-", "a--b", "Ada", "ada_lovelace", "a" * 40, "ada lovelace", "ädä", "a/b"],
)
def test_signup_rejects_bad_usernames(client, username):
    body = assert_problem(client.post(SIGNUP, json=signup_body(username=username)), 422)
    assert list(body["errors"]) == ["username"]


@pytest.mark.parametrize("username", ["a", "ada", "a-b", "a1-b2-c3", "0", "a" * 39])
def test_signup_accepts_good_usernames(client, username):
    assert client.post(SIGNUP, json=signup_body(username=username)).status_code == 201


@pytest.mark.parametrize("email", ["", "ada", "ada@", "@example.com", "ada@@example.com", 42])
def test_signup_rejects_bad_emails(client, email):
    body = assert_problem(client.post(SIGNUP, json=signup_body(email=email)), 422)
    assert list(body["errors"]) == ["email"]


@pytest.mark.parametrize("password", ["short", "x" * 7, "x" * 1025, None])
def test_signup_rejects_bad_passwords(client, password):
    body = assert_problem(client.post(SIGNUP, json=signup_body(password=password)), 422)
    assert list(body["errors"]) == ["password"]


def test_signup_accepts_password_length_bounds(client):
    assert client.post(SIGNUP, json=signup_body(password="x" * 8)).status_code == 201
    long = signup_body(username="bob", email="bob@example.com", password="y" * 1024)
    assert client.post(SIGNUP, json=long).status_code == 201


def test_signup_reports_every_missing_field(client):
    body = assert_problem(client.post(SIGNUP, json={}), 422)
    assert set(body["errors"]) == {"username", "email", "password"}


def test_signup_rejects_unknown_fields(client):
    body = assert_problem(client.post(SIGNUP, json=signup_body(roles=["admin"])), 422)
    assert "roles" in body["errors"]


@pytest.mark.parametrize("settings_overrides", [{"signup_enabled": False}])
def test_signup_can_be_disabled(client):
    assert_problem(client.post(SIGNUP, json=signup_body()), 403)


def test_signup_needs_json(client):
    assert_problem(client.post(SIGNUP, data="username=ada"), 415)
    assert_problem(client.post(SIGNUP, data="{not json", content_type="application/json"), 400)
    assert_problem(client.post(SIGNUP, data="[1, 2]", content_type="application/json"), 400)


def test_me_answers_the_caller(client, accounts: Accounts):
    ada = accounts.create("ada")
    response = client.get(ME, headers=ada.headers)
    assert response.status_code == 200
    assert response.get_json()["username"] == "ada"


def test_me_needs_a_token(client):
    response = client.get(ME)
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer nonsense", "Basic YWRhOnB3", "bearer", "Token abc"]
)
def test_me_refuses_malformed_or_unknown_tokens(client, header):
    assert_problem(client.get(ME, headers={"Authorization": header}), 401)


def test_change_email(client, accounts: Accounts):
    ada = accounts.create("ada")
    response = client.patch(
        ME, json={"email": "NEW@example.com", "current_password": ada.password}, headers=ada.headers
    )
    assert response.status_code == 200
    assert response.get_json()["email"] == "new@example.com"
    assert accounts.login("new@example.com")


def test_change_email_to_a_taken_one(client, accounts: Accounts):
    accounts.create("bob")
    ada = accounts.create("ada")
    response = client.patch(
        ME, json={"email": "Bob@example.com", "current_password": ada.password}, headers=ada.headers
    )
    assert_problem(response, 409)


def test_change_password_revokes_other_sessions(client, accounts: Accounts):
    ada = accounts.create("ada")
    other = accounts.login("ada")
    response = client.patch(
        ME,
        json={"password": "a brand new secret", "current_password": ada.password},
        headers=ada.headers,
    )
    assert response.status_code == 200
    assert client.get(ME, headers=ada.headers).status_code == 200
    assert_problem(client.get(ME, headers={"Authorization": f"Bearer {other}"}), 401)
    assert accounts.login("ada", "a brand new secret")
    bad = client.post("/api/v1/login", json={"username": "ada", "password": ada.password})
    assert_problem(bad, 401)


def test_profile_change_needs_the_current_password(client, accounts: Accounts):
    ada = accounts.create("ada")
    wrong = client.patch(
        ME, json={"email": "x@example.com", "current_password": "not it!!"}, headers=ada.headers
    )
    assert_problem(wrong, 403)
    missing = client.patch(ME, json={"email": "x@example.com"}, headers=ada.headers)
    assert "current_password" in assert_problem(missing, 422)["errors"]
    assert client.get(ME, headers=ada.headers).get_json()["email"] == "ada@example.com"


def test_profile_change_validates_fields(client, accounts: Accounts):
    ada = accounts.create("ada")
    response = client.patch(
        ME,
        json={"email": "nope", "password": "short", "current_password": ada.password},
        headers=ada.headers,
    )
    assert set(assert_problem(response, 422)["errors"]) == {"email", "password"}


def test_profile_change_needs_auth_before_anything_else(client):
    assert_problem(client.patch(ME, data="garbage"), 401)


def test_delete_me(client, accounts: Accounts):
    ada = accounts.create("ada")
    response = client.delete(ME, json={"current_password": ada.password}, headers=ada.headers)
    assert response.status_code == 204
    assert_problem(client.get(ME, headers=ada.headers), 401)
    assert_problem(
        client.post("/api/v1/login", json={"username": "ada", "password": ada.password}), 401
    )
    # the name is free again
    accounts.create("ada")


def test_delete_me_needs_the_password(client, accounts: Accounts):
    ada = accounts.create("ada")
    assert_problem(
        client.delete(ME, json={"current_password": "wrong one"}, headers=ada.headers), 403
    )
    assert client.get(ME, headers=ada.headers).status_code == 200


def test_last_admin_cannot_delete_themself(client, accounts: Accounts):
    root = accounts.create_admin("root")
    response = client.delete(ME, json={"current_password": root.password}, headers=root.headers)
    assert_problem(response, 409)
    other = accounts.create_admin("other")
    assert (
        client.delete(
            ME, json={"current_password": other.password}, headers=other.headers
        ).status_code
        == 204
    )


def test_signup_refuses_reserved_names(client):
    body = assert_problem(client.post(SIGNUP, json=signup_body(username="me")), 422)
    assert body["errors"] == {"username": ["This name is reserved."]}
