"""The authorization matrix: every API route, walked from the app's URL map,
against anonymous callers, plain users, owners and admins.

A route added without a guard, or missing from the table below, fails here.
"""

from __future__ import annotations

import io
import re
import uuid

import pytest

from tests.conftest import DEFAULT_PASSWORD

PUBLIC = {
    ("POST", "/api/v1/signup"),
    ("POST", "/api/v1/login"),
    ("POST", "/api/v1/password-strength"),
    ("GET", "/api/v1/settings"),
    ("POST", "/api/v1/password-reset"),
    ("POST", "/api/v1/password-reset/confirm"),
    ("POST", "/api/v1/verify-email"),
    ("POST", "/api/v1/login/mfa"),
    ("POST", "/api/v1/login/mfa/passkey-options"),
    ("POST", "/api/v1/login/passkey/options"),
    ("POST", "/api/v1/login/passkey"),
}
USER = {
    ("POST", "/api/v1/logout"),
    ("GET", "/api/v1/tokens"),
    ("DELETE", "/api/v1/tokens"),
    ("DELETE", "/api/v1/tokens/<session_id>"),
    ("GET", "/api/v1/users/me"),
    ("PATCH", "/api/v1/users/me"),
    ("DELETE", "/api/v1/users/me"),
    ("POST", "/api/v1/users/me/verify-email"),
    ("GET", "/api/v1/users/me/mfa"),
    ("POST", "/api/v1/users/me/mfa/totp"),
    ("POST", "/api/v1/users/me/mfa/totp/confirm"),
    ("DELETE", "/api/v1/users/me/mfa/totp"),
    ("POST", "/api/v1/users/me/mfa/recovery-codes"),
    ("POST", "/api/v1/users/me/passkeys/options"),
    ("POST", "/api/v1/users/me/passkeys"),
    ("GET", "/api/v1/users/me/passkeys"),
    ("PATCH", "/api/v1/users/me/passkeys/<passkey_id>"),
    ("DELETE", "/api/v1/users/me/passkeys/<passkey_id>"),
    ("POST", "/api/v1/files"),
    ("GET", "/api/v1/files"),
    ("GET", "/api/v1/files/usage"),
    ("POST", "/api/v1/users/me/api-keys"),
    ("GET", "/api/v1/users/me/api-keys"),
    ("DELETE", "/api/v1/users/me/api-keys/<key_id>"),
}
# Routes on one file: its owner and admins may use them; anyone else gets 404.
OWNED = {
    ("GET", "/api/v1/files/<file_id>"),
    ("GET", "/api/v1/files/<file_id>/content"),
    ("DELETE", "/api/v1/files/<file_id>"),
}
ADMIN = {
    ("GET", "/api/v1/users"),
    ("GET", "/api/v1/users/<username>"),
    ("PATCH", "/api/v1/users/<username>"),
    ("DELETE", "/api/v1/users/<username>"),
    ("POST", "/api/v1/users/<username>/roles/<role>"),
    ("DELETE", "/api/v1/users/<username>/roles/<role>"),
    ("GET", "/api/v1/roles"),
    ("POST", "/api/v1/roles"),
    ("GET", "/api/v1/roles/<name>"),
    ("PATCH", "/api/v1/roles/<name>"),
    ("DELETE", "/api/v1/roles/<name>"),
    ("GET", "/api/v1/audit"),
    ("DELETE", "/api/v1/users/<username>/mfa"),
}
# Documentation, not data.
OPEN_DOCUMENTS = {
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/docs"),
    ("GET", "/api/docs/assets/<filename>"),
}


def api_routes(app):
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            # `<uuid:file_id>` -> `<file_id>`: the matrix names parameters, not their form.
            routes.add((method, re.sub(r"<[^:<>]+:", "<", rule.rule)))
    return routes


def test_every_api_route_is_in_the_matrix(app):
    assert api_routes(app) == PUBLIC | USER | OWNED | ADMIN | OPEN_DOCUMENTS


# Second-factor routes whose success needs state a matrix call does not set
# up (a pending secret, a live challenge, a passkey): for them, getting past
# the guard is what this matrix checks; their own tests cover the rest.
NEEDS_STATE = {
    ("POST", "/api/v1/users/me/mfa/totp/confirm"),
    ("DELETE", "/api/v1/users/me/mfa/totp"),
    ("POST", "/api/v1/users/me/mfa/recovery-codes"),
    ("POST", "/api/v1/users/me/passkeys"),
    ("PATCH", "/api/v1/users/me/passkeys/<passkey_id>"),
    ("DELETE", "/api/v1/users/me/passkeys/<passkey_id>"),
    ("DELETE", "/api/v1/users/me/api-keys/<key_id>"),
}


def assert_allowed(response, method, rule):
    if (method, rule) in NEEDS_STATE:
        assert response.status_code in {404, 409, 422}, response.get_json()
    else:
        assert response.status_code < 300, response.get_json()


def _body_for(method, rule):
    if rule in {
        "/api/v1/users/me/mfa/totp",
        "/api/v1/users/me/mfa/recovery-codes",
        "/api/v1/users/me/passkeys/options",
    }:
        return {"current_password": DEFAULT_PASSWORD}
    if rule == "/api/v1/users/me/mfa/totp/confirm":
        return {"code": "123456"}
    if rule == "/api/v1/users/me/passkeys" and method == "POST":
        return {"name": "laptop", "credential": {"id": "x"}}
    if rule.startswith("/api/v1/users/me/passkeys/") and method == "PATCH":
        return {"name": "laptop"}
    if rule == "/api/v1/users/me" and method == "PATCH":
        return {"email": "changed@example.com", "current_password": DEFAULT_PASSWORD}
    if rule == "/api/v1/users/me" and method == "DELETE":
        return {"current_password": DEFAULT_PASSWORD}
    if rule == "/api/v1/users/me/api-keys" and method == "POST":
        return {"name": "matrix", "scopes": ["files:read"]}
    if rule == "/api/v1/roles" and method == "POST":
        return {"name": "r" + uuid.uuid4().hex[:8], "description": "made by the matrix"}
    if rule == "/api/v1/roles/<name>" and method == "PATCH":
        return {"description": "changed"}
    if rule == "/api/v1/users/<username>" and method == "PATCH":
        return {"is_active": True}
    if (
        method in {"POST", "PATCH", "PUT", "DELETE"}
        and "<" not in rule
        and rule in {"/api/v1/signup", "/api/v1/login"}
    ):
        return {}
    return None


def upload(client, headers, content=b"hello matrix"):
    response = client.post(
        "/api/v1/files",
        data={"file": (io.BytesIO(content), "matrix.txt")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _call(client, accounts, method, rule, headers, *, own_session=None, file_id=None):
    victim = accounts.signup()
    client.post(
        "/api/v1/roles", json={"name": "victim-role", "description": "x"}, headers=headers
    )  # may be refused; only the admin call needs it
    path = (
        rule.replace("<username>", victim["username"])
        .replace("<role>", "victim-role")
        .replace("<name>", "victim-role")
        .replace("<session_id>", str(own_session or uuid.uuid4()))
        .replace("<file_id>", str(file_id or uuid.uuid4()))
        .replace("<passkey_id>", str(uuid.uuid4()))
        .replace("<key_id>", str(uuid.uuid4()))
    )
    if rule == "/api/v1/files" and method == "POST":
        return client.post(
            path,
            data={"file": (io.BytesIO(b"x"), "x.txt")},
            headers=headers,
            content_type="multipart/form-data",
        )
    body = _body_for(method, rule)
    return client.open(path, method=method, json=body, headers=headers)


@pytest.mark.parametrize(("method", "rule"), sorted(USER | OWNED | ADMIN))
def test_anonymous_callers_get_401(client, accounts, method, rule):
    response = _call(client, accounts, method, rule, {})
    assert response.status_code == 401, response.get_json()
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "rule"), sorted(ADMIN))
def test_plain_users_get_403_on_admin_routes(client, accounts, method, rule):
    ada = accounts.create()
    response = _call(client, accounts, method, rule, ada.headers)
    assert response.status_code == 403, response.get_json()


@pytest.mark.parametrize(("method", "rule"), sorted(USER))
def test_owners_may_use_their_own_routes(client, accounts, method, rule):
    ada = accounts.create()
    own = client.get("/api/v1/tokens", headers=ada.headers).get_json()["items"][0]["id"]
    response = _call(client, accounts, method, rule, ada.headers, own_session=own)
    assert_allowed(response, method, rule)


@pytest.mark.parametrize(("method", "rule"), sorted(ADMIN | USER))
def test_admins_may_use_every_route(client, accounts, method, rule):
    accounts.create_admin("spare")  # so the last-admin rule never gets in the way
    root = accounts.create_admin()
    own = client.get("/api/v1/tokens", headers=root.headers).get_json()["items"][0]["id"]
    response = _call(client, accounts, method, rule, root.headers, own_session=own)
    if (method, rule) == ("POST", "/api/v1/users/me/verify-email"):
        # An admin made by create-admin starts verified: past the guard, "already done".
        assert response.status_code == 409, response.get_json()
        return
    assert_allowed(response, method, rule)


def test_another_users_session_is_not_found(client, accounts):
    ada = accounts.create()
    bob = accounts.create()
    bobs = client.get("/api/v1/tokens", headers=bob.headers).get_json()["items"][0]["id"]
    assert client.delete(f"/api/v1/tokens/{bobs}", headers=ada.headers).status_code == 404


@pytest.mark.parametrize(("method", "rule"), sorted(OWNED))
def test_owned_routes(client, accounts, method, rule):
    accounts.create_admin("spare")
    owner = accounts.create()
    stranger = accounts.create()
    admin = accounts.create_admin()
    for caller, expected in [(stranger, 404), (owner, 200), (admin, 200)]:
        file_id = upload(client, owner.headers)
        response = _call(client, accounts, method, rule, caller.headers, file_id=file_id)
        if expected == 404:
            assert response.status_code == 404, response.get_json()
        else:
            assert response.status_code < 300, response.status_code


# ---- API keys ---------------------------------------------------------------
# The scope that reaches each guarded route, as the contract's scope table has
# it; None: no API key reaches it (an interactive sign-in is needed). A route
# whose guard declares another scope, or a guarded route missing here, fails.
SCOPE_OF = {
    **{route: None for route in USER},
    ("GET", "/api/v1/users/me"): "account:read",
    ("POST", "/api/v1/files"): "files:write",
    ("GET", "/api/v1/files"): "files:read",
    ("GET", "/api/v1/files/usage"): "files:read",
    ("GET", "/api/v1/files/<file_id>"): "files:read",
    ("GET", "/api/v1/files/<file_id>/content"): "files:read",
    ("DELETE", "/api/v1/files/<file_id>"): "files:write",
    **{route: "admin:read" if route[0] == "GET" else "admin:write" for route in ADMIN},
}
SCOPES = ["account:read", "files:read", "files:write", "admin:read", "admin:write"]
GUARDED = sorted(USER | OWNED | ADMIN)


def test_every_guarded_route_declares_the_contracts_scope(app):
    from flaskou.auth import SESSION_ONLY, guard_of

    declared = {}
    for rule in app.url_map.iter_rules():
        guard = guard_of(app.view_functions[rule.endpoint])
        if guard is None:
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            route = (method, re.sub(r"<[^:<>]+:", "<", rule.rule))
            declared[route] = None if guard.scope == SESSION_ONLY else guard.scope
    assert declared == SCOPE_OF


def test_the_document_lists_each_operations_scope(client):
    document = client.get("/api/v1/openapi.json").get_json()
    for (method, rule), scope in SCOPE_OF.items():
        path = re.sub(r"<([^<>]+)>", r"{\1}", rule)
        security = document["paths"][path][method.lower()]["security"]
        expected = [{"BearerAuth": []}, {"CookieAuth": []}]
        if scope is not None:
            expected.append({"ApiKeyAuth": [scope]})
        assert security == expected, (method, rule)


def make_key(client, account, scopes, name="matrix key"):
    response = client.post(
        "/api/v1/users/me/api-keys",
        json={"name": name, "scopes": scopes},
        headers=account.headers,
    )
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def assert_insufficient_scope(response):
    assert response.status_code == 403, response.get_json()
    assert response.get_json()["type"].endswith("/insufficient-scope")


@pytest.mark.parametrize(("method", "rule"), GUARDED)
def test_each_key_reaches_exactly_the_routes_of_its_scopes(client, accounts, method, rule):
    accounts.create_admin("spare")  # so the last-admin rule never gets in the way
    owner = accounts.create_admin()
    needed = SCOPE_OF[(method, rule)]
    for held in [[scope] for scope in SCOPES] + [SCOPES]:
        key = make_key(client, owner, held)
        file_id = upload(client, owner.headers) if "<file_id>" in rule else None
        response = _call(client, accounts, method, rule, key, file_id=file_id)
        if needed in held:
            assert response.status_code not in {401, 403}, (held, response.get_json())
        else:
            assert_insufficient_scope(response)


@pytest.mark.parametrize(("method", "rule"), sorted(ADMIN))
def test_a_key_is_never_more_than_its_owner_at_the_time_of_use(client, accounts, method, rule):
    root = accounts.create_admin()
    ada = accounts.create_admin()
    key = make_key(client, ada, SCOPES)
    response = client.delete(f"/api/v1/users/{ada.username}/roles/admin", headers=root.headers)
    assert response.status_code == 200, response.get_json()
    response = _call(client, accounts, method, rule, key)
    assert response.status_code == 403, response.get_json()
    assert response.get_json()["type"].endswith("/forbidden")
    # What the owner still holds, the key still reaches.
    assert client.get("/api/v1/users/me", headers=key).status_code == 200
