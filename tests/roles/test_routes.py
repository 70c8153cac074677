from __future__ import annotations

import pytest

from tests.support.problems import assert_problem

ROLES = "/api/v1/roles"


@pytest.fixture
def admin(accounts):
    return accounts.create_admin("root")


def test_create_list_get_update_delete_a_role(client, admin):
    created = client.post(
        ROLES, json={"name": "editor", "description": "Edits articles."}, headers=admin.headers
    )
    assert created.status_code == 201
    role = created.get_json()
    assert set(role) == {"id", "name", "description", "created_at", "updated_at"}
    assert role["name"] == "editor"

    names = [r["name"] for r in client.get(ROLES, headers=admin.headers).get_json()["items"]]
    assert names == ["admin", "editor"]
    assert client.get(f"{ROLES}/editor", headers=admin.headers).get_json()["id"] == role["id"]

    patched = client.patch(
        f"{ROLES}/editor", json={"description": "Edits everything."}, headers=admin.headers
    )
    assert patched.status_code == 200
    assert patched.get_json()["description"] == "Edits everything."

    assert client.delete(f"{ROLES}/editor", headers=admin.headers).status_code == 204
    assert_problem(client.get(f"{ROLES}/editor", headers=admin.headers), 404)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": "", "description": "x"}, {"name"}),
        ({"name": "Editor", "description": "x"}, {"name"}),
        ({"name": "a--b", "description": "x"}, {"name"}),
        ({"name": "editor", "description": ""}, {"description"}),
        ({"name": "editor", "description": "   "}, {"description"}),
        ({"name": "editor"}, {"description"}),
        ({}, {"name", "description"}),
    ],
)
def test_create_role_validation(client, admin, body, fields):
    response = client.post(ROLES, json=body, headers=admin.headers)
    assert set(assert_problem(response, 422)["errors"]) == fields


def test_create_an_existing_role(client, admin):
    client.post(ROLES, json={"name": "editor", "description": "x"}, headers=admin.headers)
    again = client.post(ROLES, json={"name": "editor", "description": "y"}, headers=admin.headers)
    assert_problem(again, 409)
    assert_problem(
        client.post(ROLES, json={"name": "admin", "description": "y"}, headers=admin.headers), 409
    )


def test_update_role_validation_and_missing(client, admin):
    assert_problem(
        client.patch(f"{ROLES}/ghost", json={"description": "x"}, headers=admin.headers), 404
    )
    assert_problem(
        client.patch(f"{ROLES}/admin", json={"description": ""}, headers=admin.headers), 422
    )


def test_the_admin_role_cannot_be_deleted(client, admin):
    assert_problem(client.delete(f"{ROLES}/admin", headers=admin.headers), 409)
    assert_problem(client.delete(f"{ROLES}/ghost", headers=admin.headers), 404)


def test_deleting_a_role_takes_it_from_its_holders(client, admin, accounts):
    ada = accounts.create("ada")
    client.post(ROLES, json={"name": "editor", "description": "x"}, headers=admin.headers)
    client.post("/api/v1/users/ada/roles/editor", headers=admin.headers)
    assert client.get("/api/v1/users/me", headers=ada.headers).get_json()["roles"] == ["editor"]

    client.delete(f"{ROLES}/editor", headers=admin.headers)

    assert client.get("/api/v1/users/me", headers=ada.headers).get_json()["roles"] == []


def test_plain_users_cannot_manage_roles(client, accounts, admin):
    ada = accounts.create("ada")
    assert_problem(client.get(ROLES, headers=ada.headers), 403)
    assert_problem(
        client.post(ROLES, json={"name": "x", "description": "y"}, headers=ada.headers), 403
    )
    assert_problem(client.get(ROLES), 401)
