"""Deleting a role, or taking it from a user, many times at once: one change,
one event."""

from __future__ import annotations

import pytest

from tests.support.races import (
    at_once,
    bearer,
    count_events,
    gunicorn,
    server_env,
    signup_and_login,
)

pytestmark = pytest.mark.slow

PARALLEL = 50


@pytest.fixture
def server(app, migrated_database, tmp_path):
    with gunicorn(server_env(migrated_database, tmp_path), tmp_path) as server:
        yield server


@pytest.fixture
def root(server):
    token = signup_and_login(server, "root", admin=True)
    status, _, body = server.request(
        "POST", "/api/v1/roles", {"name": "editor", "description": "Edits."}, bearer(token)
    )
    assert status == 201, body
    return token


def test_fifty_deletions_of_one_role(server, root):
    answers = at_once(
        [
            lambda: server.request("DELETE", "/api/v1/roles/editor", headers=bearer(root))
            for _ in range(PARALLEL)
        ]
    )

    assert sorted(status for status, _, _ in answers) == [204] + [404] * (PARALLEL - 1)
    assert count_events("role_deleted", target="editor") == 1
    assert server.request("GET", "/api/v1/roles/editor", headers=bearer(root))[0] == 404


def test_fifty_revocations_of_one_role_from_one_user(server, root):
    signup_and_login(server, "bob")
    status, _, body = server.request("POST", "/api/v1/users/bob/roles/editor", headers=bearer(root))
    assert (status, body["roles"]) == (200, ["editor"])

    answers = at_once(
        [
            lambda: server.request("DELETE", "/api/v1/users/bob/roles/editor", headers=bearer(root))
            for _ in range(PARALLEL)
        ]
    )

    # Revoking is idempotent: every caller sees bob without the role...
    assert {status for status, _, _ in answers} == {200}
    assert all(body["roles"] == [] for _, _, body in answers)
    # ...but only the request that took it away is in the audit trail.
    assert count_events("role_revoked", target="bob") == 1
