"""API keys over HTTP against gunicorn, every row and rule of the contract:
made and listed with a session, used as bearer tokens by a plain client,
revoked by their owner, an operator, a deactivation or a password reset, and
the owner's notice read back from a real SMTP server."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from flaskou.apikeys.models import ApiKey
from flaskou.extensions import db
from tests.support.mailstack import PASSWORD, start_stack
from tests.support.smtp import parts, token_in

pytestmark = [pytest.mark.slow]

FLASK = str(Path(sys.executable).parent / "flask")
RESET_LINK = "/reset-password#token="


@pytest.fixture
def stack(app, migrated_database, tmp_path, smtp_server):
    stack = start_stack(migrated_database, tmp_path, smtp_server)
    yield stack
    stack.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create_key(stack, session: str, scopes: list[str], **fields) -> dict:
    body = {"name": fields.pop("name", "backup script"), "scopes": scopes, **fields}
    status, _, answer = stack.request(
        "POST", "/api/v1/users/me/api-keys", body, headers=bearer(session)
    )
    assert status == 201, answer
    return dict(answer)


def flask(stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FLASK, "--app", "flaskou", *args],
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def make_admin(stack, name: str = "root") -> str:
    result = flask(stack, "create-admin", name, f"{name}@example.com", PASSWORD)
    assert result.returncode == 0, result.stderr
    return stack.login(name)


def test_a_key_is_made_once_listed_without_its_token_and_used_by_a_script(app, stack, smtp_server):
    stack.signup("ada")
    session = stack.login("ada")
    smtp_server.wait_for(1)  # the verification link
    key = create_key(stack, session, ["files:read", "account:read", "files:read"])

    token = key.pop("token")
    assert token.startswith("fko_") and len(token) == 46
    assert key["prefix"] == token[:12]
    assert key["name"] == "backup script"
    assert key["scopes"] == ["account:read", "files:read"]
    assert key["expires_at"] is None and key["last_used_at"] is None
    assert set(key) == {
        "id",
        "name",
        "scopes",
        "prefix",
        "created_at",
        "expires_at",
        "last_used_at",
    }

    status, _, listed = stack.request("GET", "/api/v1/users/me/api-keys", headers=bearer(session))
    assert status == 200 and listed == {"items": [key]}

    status, _, me = stack.request("GET", "/api/v1/users/me", headers=bearer(token))
    assert status == 200 and me["username"] == "ada"
    assert stack.request("GET", "/api/v1/files", headers=bearer(token))[0] == 200
    listed = stack.request("GET", "/api/v1/users/me/api-keys", headers=bearer(session))[2]
    assert listed["items"][0]["last_used_at"] is not None

    # Only the hash is at rest.
    with app.app_context():
        row = db.session.scalars(select(ApiKey)).one()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in repr([getattr(row, c.key) for c in ApiKey.__table__.columns])

    (notice,) = [m for m in smtp_server.wait_for(2) if "API key" in m["Subject"]]
    assert notice["To"] == "ada@example.com"
    text, html = parts(notice)
    assert "backup script" in text and key["prefix"] in text and "files:read" in text
    assert token not in text and token not in html and "never expires" in text


def test_what_a_key_does_is_audited_with_the_key(stack):
    root = make_admin(stack)
    stack.signup("ada")
    key = create_key(stack, stack.login("ada"), ["files:write"])
    status, _, body = stack.request(
        "POST",
        "/api/v1/files",
        raw=b"--x\r\nContent-Disposition: form-data; name=file; filename=a.txt\r\n\r\n"
        b"hi\r\n--x--\r\n",
        headers={**bearer(key["token"]), "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert status == 201, body
    events = stack.request("GET", "/api/v1/audit?action=file_uploaded", headers=bearer(root))[2]
    (event,) = events["items"]
    assert event["actor"] == "ada" and event["detail"]["api_key"] == key["id"]
    created = stack.request("GET", "/api/v1/audit?action=api_key_created", headers=bearer(root))
    assert "api_key" not in created[2]["items"][0]["detail"]  # made with a session


def test_a_key_is_refused_outside_its_scopes_and_on_every_credential_route(stack):
    stack.signup("ada")
    session = stack.login("ada")
    token = create_key(stack, session, ["files:read"])["token"]

    status, headers, body = stack.request(
        "POST",
        "/api/v1/files",
        raw=b"--x\r\nContent-Disposition: form-data; name=file; filename=a.txt\r\n\r\n"
        b"hi\r\n--x--\r\n",
        headers={**bearer(token), "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert status == 403 and body["type"].endswith("/insufficient-scope")
    assert body["required_scope"] == "files:write"
    assert headers["Content-Type"] == "application/problem+json"
    assert 'error="insufficient_scope"' in headers["WWW-Authenticate"]
    assert stack.request("GET", "/api/v1/users/me", headers=bearer(token))[0] == 403

    for method, path, body in [
        ("POST", "/api/v1/users/me/api-keys", {"name": "more", "scopes": ["files:read"]}),
        ("GET", "/api/v1/users/me/api-keys", None),
        ("DELETE", "/api/v1/users/me/api-keys/00000000-0000-4000-8000-000000000000", None),
        ("GET", "/api/v1/tokens", None),
        ("POST", "/api/v1/logout", None),
        ("PATCH", "/api/v1/users/me", {"email": "x@example.com", "current_password": PASSWORD}),
        ("DELETE", "/api/v1/users/me", {"current_password": PASSWORD}),
        ("GET", "/api/v1/users/me/mfa", None),
    ]:
        status, _, answer = stack.request(method, path, body, headers=bearer(token))
        assert status == 403, (method, path, answer)
        assert answer["type"].endswith("/insufficient-scope")
    # None of it happened: the account, its session and its one key are as they were.
    status, _, listed = stack.request("GET", "/api/v1/users/me/api-keys", headers=bearer(session))
    assert status == 200 and len(listed["items"]) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": ["files:delete"]}, "scopes.0"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x"}, "scopes"),
        ({"name": "   ", "scopes": ["files:read"]}, "name"),
        ({"name": "", "scopes": ["files:read"]}, "name"),
        ({"name": "x" * 101, "scopes": ["files:read"]}, "name"),
        (
            {"name": "x", "scopes": ["files:read"], "expires_at": "2020-01-01T00:00:00Z"},
            "expires_at",
        ),
        (
            {"name": "x", "scopes": ["files:read"], "expires_at": "2099-01-01T00:00:00"},
            "expires_at",
        ),
        ({"name": "x", "scopes": ["files:read"], "expires_at": "next week"}, "expires_at"),
        ({"name": "x", "scopes": ["admin:read"]}, "scopes"),
        ({"name": "x", "scopes": ["files:read", "admin:write"]}, "scopes"),
    ],
)
def test_invalid_keys_are_refused_with_the_field_and_nothing_is_made(stack, body, field):
    stack.signup("ada")
    session = stack.login("ada")
    status, headers, answer = stack.request(
        "POST", "/api/v1/users/me/api-keys", body, headers=bearer(session)
    )
    assert status == 422, answer
    assert headers["Content-Type"] == "application/problem+json"
    assert field in answer["errors"], answer
    listed = stack.request("GET", "/api/v1/users/me/api-keys", headers=bearer(session))[2]
    assert listed == {"items": []}


def test_admin_scopes_are_for_admins_and_act_only_while_they_are(stack):
    root = make_admin(stack)
    stack.signup("ada")
    assert stack.request("POST", "/api/v1/users/ada/roles/admin", headers=bearer(root))[0] == 200
    ada = stack.login("ada")
    token = create_key(stack, ada, ["admin:read"], expires_at="2099-01-01T12:00:00+02:00")["token"]
    status, _, body = stack.request("GET", "/api/v1/users", headers=bearer(token))
    assert status == 200 and {u["username"] for u in body["items"]} >= {"root", "ada"}
    # admin:read does not reach admin changes.
    status, _, body = stack.request(
        "PATCH", "/api/v1/users/root", {"is_active": False}, headers=bearer(token)
    )
    assert status == 403 and body["type"].endswith("/insufficient-scope")

    assert stack.request("DELETE", "/api/v1/users/ada/roles/admin", headers=bearer(root))[0] == 200
    status, _, body = stack.request("GET", "/api/v1/users", headers=bearer(token))
    assert status == 403 and body["type"].endswith("/forbidden")


def test_revoking_is_for_good_and_only_for_the_owner(stack):
    stack.signup("ada")
    stack.signup("bob")
    ada, bob = stack.login("ada"), stack.login("bob")
    key = create_key(stack, ada, ["account:read"])
    assert stack.request("GET", "/api/v1/users/me", headers=bearer(key["token"]))[0] == 200

    path = f"/api/v1/users/me/api-keys/{key['id']}"
    status, _, body = stack.request("DELETE", path, headers=bearer(bob))
    assert status == 404 and body["type"].endswith("/not-found")
    assert stack.request("DELETE", path, headers=bearer(ada))[0] == 204
    status, headers, _ = stack.request("GET", "/api/v1/users/me", headers=bearer(key["token"]))
    assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
    assert stack.request("DELETE", path, headers=bearer(ada))[0] == 404
    assert stack.request("DELETE", "/api/v1/users/me/api-keys/nope", headers=bearer(ada))[0] == 404
    assert stack.request("GET", "/api/v1/users/me/api-keys")[0] == 401

    root = make_admin(stack)
    events = stack.request("GET", "/api/v1/audit?actor=ada", headers=bearer(root))[2]["items"]
    actions = [event["action"] for event in events]
    assert actions.count("api_key_created") == 1 and actions.count("api_key_revoked") == 1


def test_malformed_expired_and_cookie_borne_keys_are_401(app, stack):
    stack.signup("ada")
    session = stack.login("ada")
    key = create_key(stack, session, ["account:read"], expires_at="2099-01-01T00:00:00Z")
    token = key["token"]
    assert key["expires_at"].startswith("2099-01-01T00:00:00")
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")  # the checksum no longer matches
    for credential in [flipped, token[:-1], "fko_", token + "x"]:
        assert stack.request("GET", "/api/v1/users/me", headers=bearer(credential))[0] == 401
    status, _, _ = stack.request(
        "GET", "/api/v1/users/me", headers={"Cookie": f"flaskou_session={token}"}
    )
    assert status == 401

    with app.app_context():
        db.session.execute(
            update(ApiKey).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        db.session.commit()
    assert stack.request("GET", "/api/v1/users/me", headers=bearer(token))[0] == 401
    # An expired key stays listed (as expired) until its owner revokes it.
    listed = stack.request("GET", "/api/v1/users/me/api-keys", headers=bearer(session))[2]
    assert [item["id"] for item in listed["items"]] == [key["id"]]


def test_deactivation_revokes_keys_for_good(stack):
    root = make_admin(stack)
    stack.signup("ada")
    token = create_key(stack, stack.login("ada"), ["account:read"])["token"]
    assert (
        stack.request("PATCH", "/api/v1/users/ada", {"is_active": False}, headers=bearer(root))[0]
        == 200
    )
    assert stack.request("GET", "/api/v1/users/me", headers=bearer(token))[0] == 401
    assert (
        stack.request("PATCH", "/api/v1/users/ada", {"is_active": True}, headers=bearer(root))[0]
        == 200
    )
    assert stack.request("GET", "/api/v1/users/me", headers=bearer(token))[0] == 401
    assert stack.request("GET", "/api/v1/users/me/api-keys", headers=bearer(stack.login("ada")))[
        2
    ] == {"items": []}


def test_a_password_reset_revokes_every_key_but_a_password_change_does_not(stack, smtp_server):
    stack.signup("ada")
    session = stack.login("ada")
    kept = create_key(stack, session, ["account:read"], name="kept")["token"]
    status, _, body = stack.request(
        "PATCH",
        "/api/v1/users/me",
        {"password": "a brand new passphrase", "current_password": PASSWORD},
        headers=bearer(session),
    )
    assert status == 200, body
    assert stack.request("GET", "/api/v1/users/me", headers=bearer(kept))[0] == 200

    assert stack.request("POST", "/api/v1/password-reset", {"email": "ada@example.com"})[0] == 202
    reset = next(
        m for m in smtp_server.wait_for(4) if m["Subject"] == "Reset your flaskou password"
    )
    status, _, _ = stack.request(
        "POST",
        "/api/v1/password-reset/confirm",
        {"token": token_in(reset, RESET_LINK), "password": "yet another passphrase"},
    )
    assert status == 204
    assert stack.request("GET", "/api/v1/users/me", headers=bearer(kept))[0] == 401


def test_deleting_the_account_takes_its_keys(app, stack):
    stack.signup("ada")
    session = stack.login("ada")
    token = create_key(stack, session, ["account:read"])["token"]
    status, _, _ = stack.request(
        "DELETE", "/api/v1/users/me", {"current_password": PASSWORD}, headers=bearer(session)
    )
    assert status == 204
    assert stack.request("GET", "/api/v1/users/me", headers=bearer(token))[0] == 401
    with app.app_context():
        assert db.session.scalars(select(ApiKey)).all() == []


def test_operators_list_and_revoke_keys_from_the_command_line(stack):
    root = make_admin(stack)
    stack.signup("ada")
    session = stack.login("ada")
    first = create_key(stack, session, ["files:read"], name="sync")
    second = create_key(stack, session, ["account:read"], name="ci job")

    result = flask(stack, "users", "api-keys", "ada")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split("\t")[2] for line in lines] == ["ci job", "sync"]
    assert lines[1].split("\t")[:4] == [first["id"], first["prefix"], "sync", "files:read"]
    assert "2 API key(s)" in result.stderr
    assert first["token"] not in result.stdout

    result = flask(stack, "users", "revoke-api-key", "ada", first["id"])
    assert result.returncode == 0, result.stderr
    assert stack.request("GET", "/api/v1/files", headers=bearer(first["token"]))[0] == 401
    assert stack.request("GET", "/api/v1/users/me", headers=bearer(second["token"]))[0] == 200
    result = flask(stack, "users", "revoke-api-key", "ada", first["id"])
    assert result.returncode != 0 and "No such API key" in result.stderr
    result = flask(stack, "users", "revoke-api-key", "ada")
    assert result.returncode != 0 and "KEY_ID or --all" in result.stderr

    result = flask(stack, "users", "revoke-api-key", "ada", "--all")
    assert result.returncode == 0, result.stderr
    assert stack.request("GET", "/api/v1/users/me", headers=bearer(second["token"]))[0] == 401
    events = stack.request("GET", "/api/v1/audit?action=api_key_revoked", headers=bearer(root))[2]
    assert len(events["items"]) == 2
    assert all(event["actor"] is None for event in events["items"])
