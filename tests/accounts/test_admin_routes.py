from __future__ import annotations

import pytest

from tests.conftest import DEFAULT_PASSWORD
from tests.support.problems import assert_problem

USERS = "/api/v1/users"


@pytest.fixture
def admin(accounts):
    return accounts.create_admin("root")


def test_get_a_user(client, admin, accounts):
    accounts.create("ada")
    response = client.get(f"{USERS}/ada", headers=admin.headers)
    assert response.status_code == 200
    assert response.get_json()["username"] == "ada"
    assert_problem(client.get(f"{USERS}/ghost", headers=admin.headers), 404)


def test_list_and_filter_users(client, admin, accounts):
    for name in ["ada", "adam", "bob"]:
        accounts.signup(name)
    accounts.signup("carol", email="ada.carol@example.com")

    names = [u["username"] for u in client.get(USERS, headers=admin.headers).get_json()["items"]]
    assert names == ["ada", "adam", "bob", "carol", "root"]

    found = client.get(f"{USERS}?q=ADA", headers=admin.headers).get_json()
    assert [u["username"] for u in found["items"]] == ["ada", "adam", "carol"]
    assert found["next_cursor"] is None
    literal = client.get(f"{USERS}?q=a_", headers=admin.headers).get_json()["items"]
    assert literal == []


def test_pages_follow_the_cursor(client, admin, accounts):
    for i in range(7):
        accounts.signup(f"user{i}")
    seen = []
    url = f"{USERS}?limit=3"
    while True:
        page = client.get(url, headers=admin.headers).get_json()
        assert len(page["items"]) <= 3
        seen += [u["username"] for u in page["items"]]
        if page["next_cursor"] is None:
            break
        url = f"{USERS}?limit=3&cursor={page['next_cursor']}"
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen)) == 8


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("cursor=", "cursor"),  # a name-ordered cursor is any non-empty name
        ("cursor=%00", "cursor"),
    ],
)
def test_invalid_limit_or_cursor(client, admin, query, field):
    body = assert_problem(client.get(f"{USERS}?{query}", headers=admin.headers), 422)
    assert field in body["errors"]


def test_deactivating_revokes_sessions_and_blocks_login(client, admin, accounts):
    ada = accounts.create("ada")
    response = client.patch(f"{USERS}/ada", json={"is_active": False}, headers=admin.headers)
    assert response.status_code == 200
    assert response.get_json()["is_active"] is False

    assert_problem(client.get("/api/v1/users/me", headers=ada.headers), 401)
    failed = client.post("/api/v1/login", json={"username": "ada", "password": DEFAULT_PASSWORD})
    wrong = client.post("/api/v1/login", json={"username": "root", "password": "not it at all"})
    assert assert_problem(failed, 401) == assert_problem(wrong, 401)

    client.patch(f"{USERS}/ada", json={"is_active": True}, headers=admin.headers)
    assert accounts.login("ada")


def test_admin_changes_an_email(client, admin, accounts):
    accounts.create("ada")
    accounts.create("bob")
    ok = client.patch(f"{USERS}/ada", json={"email": "Ada2@Example.com"}, headers=admin.headers)
    assert ok.get_json()["email"] == "ada2@example.com"
    taken = client.patch(f"{USERS}/ada", json={"email": "bob@example.com"}, headers=admin.headers)
    assert_problem(taken, 409)
    bad = client.patch(f"{USERS}/ada", json={"email": "nope"}, headers=admin.headers)
    assert_problem(bad, 422)
    assert_problem(client.patch(f"{USERS}/ghost", json={}, headers=admin.headers), 404)


def test_delete_a_user_removes_their_sessions(client, admin, accounts):
    from sqlalchemy import func, select

    from flaskou.extensions import db
    from flaskou.sessions.models import LoginSession

    ada = accounts.create("ada")
    accounts.login("ada")
    assert client.delete(f"{USERS}/ada", headers=admin.headers).status_code == 204
    assert_problem(client.get("/api/v1/users/me", headers=ada.headers), 401)
    assert_problem(client.get(f"{USERS}/ada", headers=admin.headers), 404)
    assert db.session.scalar(select(func.count(LoginSession.id))) == 1  # root's own
    assert_problem(client.delete(f"{USERS}/ada", headers=admin.headers), 404)


def test_grant_and_revoke_roles_apply_on_the_next_request(client, admin, accounts):
    ada = accounts.create("ada")
    client.post("/api/v1/roles", json={"name": "editor", "description": "x"}, headers=admin.headers)

    granted = client.post(f"{USERS}/ada/roles/editor", headers=admin.headers)
    assert granted.status_code == 200
    assert granted.get_json()["roles"] == ["editor"]
    again = client.post(f"{USERS}/ada/roles/editor", headers=admin.headers)
    assert again.get_json()["roles"] == ["editor"]
    assert client.get("/api/v1/users/me", headers=ada.headers).get_json()["roles"] == ["editor"]

    assert_problem(client.get("/api/v1/roles", headers=ada.headers), 403)
    client.post(f"{USERS}/ada/roles/admin", headers=admin.headers)
    assert client.get("/api/v1/roles", headers=ada.headers).status_code == 200

    revoked = client.delete(f"{USERS}/ada/roles/admin", headers=admin.headers)
    assert revoked.get_json()["roles"] == ["editor"]
    assert client.delete(f"{USERS}/ada/roles/admin", headers=admin.headers).status_code == 200
    assert_problem(client.get("/api/v1/roles", headers=ada.headers), 403)


def test_grant_or_revoke_unknown_user_or_role(client, admin, accounts):
    accounts.create("ada")
    for method in ("post", "delete"):
        call = getattr(client, method)
        assert_problem(call(f"{USERS}/ghost/roles/admin", headers=admin.headers), 404)
        assert_problem(call(f"{USERS}/ada/roles/ghost", headers=admin.headers), 404)


class TestLastAdmin:
    def test_cannot_take_admin_from_the_last_admin(self, client, admin):
        assert_problem(client.delete(f"{USERS}/root/roles/admin", headers=admin.headers), 409)
        assert client.get("/api/v1/users/me", headers=admin.headers).get_json()["roles"] == [
            "admin"
        ]

    def test_cannot_deactivate_the_last_admin(self, client, admin):
        response = client.patch(f"{USERS}/root", json={"is_active": False}, headers=admin.headers)
        assert_problem(response, 409)
        assert client.get("/api/v1/users/me", headers=admin.headers).status_code == 200

    def test_cannot_delete_the_last_admin(self, client, admin):
        assert_problem(client.delete(f"{USERS}/root", headers=admin.headers), 409)

    def test_inactive_admins_do_not_count(self, client, admin, accounts):
        other = accounts.create_admin("other")
        client.patch(f"{USERS}/other", json={"is_active": False}, headers=admin.headers)
        assert_problem(client.delete(f"{USERS}/root/roles/admin", headers=admin.headers), 409)
        assert other

    def test_with_two_admins_one_may_go(self, client, admin, accounts):
        accounts.create_admin("other")
        assert client.delete(f"{USERS}/other/roles/admin", headers=admin.headers).status_code == 200
        assert_problem(client.delete(f"{USERS}/root/roles/admin", headers=admin.headers), 409)

    def test_a_refused_patch_changes_nothing(self, client, admin):
        response = client.patch(
            f"{USERS}/root",
            json={"is_active": False, "email": "changed@example.com"},
            headers=admin.headers,
        )
        assert_problem(response, 409)
        me = client.get("/api/v1/users/me", headers=admin.headers).get_json()
        assert me["email"] == "root@example.com"


def test_user_pages_have_no_gaps_or_duplicates_while_users_sign_up(app, client, admin, accounts):
    import threading

    from flaskou.accounts import service
    from flaskou.extensions import db

    for i in range(40):
        service.create_user(f"early{i:02d}", f"early{i}@example.com", "a long password")
    db.session.commit()
    before = {
        u["username"]
        for u in client.get(f"{USERS}?limit=100", headers=admin.headers).get_json()["items"]
    }

    stop = threading.Event()

    def keep_signing_up():
        with app.app_context():
            i = 0
            while not stop.is_set():
                # names on both sides of any cursor
                service.create_user(f"a-late{i}", f"a-late{i}@example.com", "a long password")
                db.session.commit()
                service.create_user(f"zz-late{i}", f"zz-late{i}@example.com", "a long password")
                db.session.commit()
                i += 1
            db.session.remove()

    writer = threading.Thread(target=keep_signing_up)
    writer.start()
    try:
        seen, url = [], f"{USERS}?limit=7"
        while url:
            page = client.get(url, headers=admin.headers).get_json()
            seen += [u["username"] for u in page["items"]]
            url = page["next_cursor"] and f"{USERS}?limit=7&cursor={page['next_cursor']}"
    finally:
        stop.set()
        writer.join()
    assert len(seen) == len(set(seen))
    assert before <= set(seen)
    assert seen == sorted(seen)
