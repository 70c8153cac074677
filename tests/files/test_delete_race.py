"""Deleting one file many times at once: one deletion, one event, one removal."""

from __future__ import annotations

import threading

import pytest

from tests.files.conftest import upload
from tests.support.races import (
    at_once,
    bearer,
    count_events,
    gunicorn,
    server_env,
    signup_and_login,
    upload_over_http,
)
from tests.support.storage import stored_names

pytestmark = pytest.mark.slow

PARALLEL = 50


def test_fifty_deletions_of_one_file_over_http(
    app, migrated_database, tmp_path, settings_overrides, storage
):
    env = server_env(migrated_database, tmp_path, settings_overrides)
    with gunicorn(env, tmp_path) as server:
        token = signup_and_login(server, "ada")
        stored = upload_over_http(server, token)
        assert len(stored_names(storage)) == 1

        answers = at_once(
            [
                lambda: server.request(
                    "DELETE", f"/api/v1/files/{stored['id']}", headers=bearer(token)
                )
                for _ in range(PARALLEL)
            ]
        )

    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [204] + [404] * (PARALLEL - 1)
    assert all(
        headers["Content-Type"] == "application/problem+json"
        for status, headers, _ in answers
        if status == 404
    )
    assert count_events("file_deleted", target=stored["id"]) == 1
    assert stored_names(storage) == []


def test_only_the_winning_deletion_removes_the_content(app, client, accounts, storage, monkeypatch):
    """The requests are held just past the ownership check, so all of them
    overlap; the stored object must still be removed exactly once."""
    from flaskou.files import service

    racers = 8
    all_checked = threading.Barrier(racers, timeout=10)
    check = service.get_file

    def get_file_together(viewer, file_id):
        found = check(viewer, file_id)
        all_checked.wait()
        return found

    removals = []
    remove = type(storage).delete

    def counting_delete(self, key):
        removals.append(key)
        return remove(self, key)

    ada = accounts.create("ada")
    file_id = upload(client, ada.headers).get_json()["id"]
    monkeypatch.setattr(service, "get_file", get_file_together)
    monkeypatch.setattr(type(storage), "delete", counting_delete)

    answers = at_once(
        [
            lambda: app.test_client().delete(f"/api/v1/files/{file_id}", headers=ada.headers)
            for _ in range(racers)
        ]
    )

    assert sorted(a.status_code for a in answers) == [204] + [404] * (racers - 1)
    assert len(removals) == 1
    assert count_events("file_deleted", target=file_id) == 1
    assert stored_names(storage) == []
