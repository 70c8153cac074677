"""Deleting, deactivating or demoting the same account many times at once:
exactly one request makes the change and exactly one event records it."""

from __future__ import annotations

import pytest

from tests.support.multipart import file_body
from tests.support.races import (
    PASSWORD,
    at_once,
    bearer,
    count_events,
    gunicorn,
    login,
    server_env,
    signup_and_login,
    upload_over_http,
)
from tests.support.storage import stored_names

pytestmark = pytest.mark.slow

PARALLEL = 50


@pytest.fixture
def settings_overrides(tmp_path):
    return {"upload_dir": str(tmp_path / "uploads")}


@pytest.fixture
def server(app, migrated_database, tmp_path, settings_overrides):
    with gunicorn(server_env(migrated_database, tmp_path, settings_overrides), tmp_path) as server:
        yield server


@pytest.fixture
def storage(app):
    from flaskou.files.storage import current_storage

    return current_storage()


def users_named(name):
    from flaskou.accounts.models import User
    from flaskou.extensions import db

    db.session.remove()
    return db.session.query(User).filter_by(username=name).count()


def test_fifty_admins_deleting_one_user(server, storage):
    root = signup_and_login(server, "root", admin=True)
    bob = signup_and_login(server, "bob")
    upload_over_http(server, bob, b"bob's first")
    upload_over_http(server, bob, b"bob's second")
    assert len(stored_names(storage)) == 2

    answers = at_once(
        [
            lambda: server.request("DELETE", "/api/v1/users/bob", headers=bearer(root))
            for _ in range(PARALLEL)
        ]
    )

    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [204] + [404] * (PARALLEL - 1)
    assert all(
        body["detail"] == "No user named 'bob'." for status, _, body in answers if status == 404
    )
    assert count_events("user_deleted", target="bob") == 1
    assert users_named("bob") == 0
    assert stored_names(storage) == []  # contents go with the account
    assert server.request("GET", "/api/v1/users/me", headers=bearer(bob))[0] == 401


def test_fifty_deletions_of_ones_own_account(server, storage):
    token = signup_and_login(server, "ada")
    upload_over_http(server, token)

    answers = at_once(
        [
            lambda: server.request(
                "DELETE",
                "/api/v1/users/me",
                {"current_password": PASSWORD},
                headers=bearer(token),
            )
            for _ in range(PARALLEL)
        ]
    )

    # One deletes it. The others were authenticated before it committed (404:
    # no such user any more) or after (401: the session went with the account).
    statuses = [status for status, _, _ in answers]
    assert statuses.count(204) == 1, sorted(statuses)
    assert set(statuses) <= {204, 404, 401}, sorted(statuses)
    assert all(
        headers["Content-Type"] == "application/problem+json"
        for status, headers, _ in answers
        if status != 204
    )
    assert count_events("account_deleted", target="ada") == 1
    assert users_named("ada") == 0
    assert stored_names(storage) == []


def test_fifty_deactivations_of_one_user(server):
    root = signup_and_login(server, "root", admin=True)
    bob = signup_and_login(server, "bob")
    other_bob = login(server, "bob")

    answers = at_once(
        [
            lambda: server.request(
                "PATCH", "/api/v1/users/bob", {"is_active": False}, headers=bearer(root)
            )
            for _ in range(PARALLEL)
        ]
    )

    # Deactivating is idempotent: every caller gets the user, inactive.
    assert {status for status, _, _ in answers} == {200}
    assert all(body["is_active"] is False for _, _, body in answers)
    assert count_events("user_updated", target="bob") == 1
    for token in (bob, other_bob):
        assert server.request("GET", "/api/v1/users/me", headers=bearer(token))[0] == 401


def test_uploads_racing_the_deletion_of_their_account_leave_nothing_behind(server, storage):
    root = signup_and_login(server, "root", admin=True)
    bob = signup_and_login(server, "bob")

    def upload():
        body, content_type = file_body(b"racing " * 1000, "race.txt")
        return server.request(
            "POST", "/api/v1/files", raw=body, headers={**bearer(bob), "Content-Type": content_type}
        )

    uploads = [upload] * 20
    deletion = [lambda: server.request("DELETE", "/api/v1/users/bob", headers=bearer(root))]
    *uploaded, deleted = at_once(uploads + deletion)

    assert deleted[0] == 204, deleted
    # An upload committed before the deletion is deleted with the account; one
    # that comes after finds the account gone (401 or 404) and keeps nothing.
    assert {status for status, _, _ in uploaded} <= {201, 401, 404}, uploaded
    assert stored_names(storage) == []
    assert count_events("user_deleted", target="bob") == 1
