"""Nothing half-done stays behind: failures clean up, `files gc` sweeps crashes."""

from __future__ import annotations

import os

import pytest
from sqlalchemy.exc import OperationalError

from flaskou.extensions import db
from tests.files.conftest import upload
from tests.support.problems import assert_problem
from tests.support.storage import stored_names


def leave_leftovers(storage, count):
    """What crashes leave: unpublished uploads and published objects with no row."""
    for index in range(count):
        if storage.name == "s3" and not index % 2:
            storage.part_size = 8  # so the unpublished upload has started on S3
        writer = storage.begin()
        writer.write(b"partial %d" % index)
        if index % 2:
            writer.publish()
        elif storage.name == "local":
            os.close(writer.fd)  # the process died; its file stays
        storage.part_size = 8 * 1024 * 1024 if storage.name == "s3" else None


def test_gc_removes_leftovers_but_keeps_referenced_files(client, accounts, runner, storage):
    ada = accounts.create("ada")
    kept = upload(client, ada.headers, b"keep me").get_json()["id"]
    leave_leftovers(storage, 4)
    assert len(stored_names(storage)) == 5

    dry = runner.invoke(args=["files", "gc", "--older-than", "0", "--dry-run"])
    assert "Would remove 4 leftover(s)" in dry.output
    assert len(stored_names(storage)) == 5

    result = runner.invoke(args=["files", "gc", "--older-than", "0"])
    assert result.exit_code == 0, result.output
    assert "Removed 4 leftover(s)" in result.output
    assert len(stored_names(storage)) == 1
    content = client.get(f"/api/v1/files/{kept}/content", headers=ada.headers)
    assert content.data == b"keep me"

    again = runner.invoke(args=["files", "gc", "--older-than", "0"])
    assert "Nothing to remove" in again.output


def test_gc_leaves_uploads_in_flight_alone_by_default(runner, storage):
    leave_leftovers(storage, 2)
    result = runner.invoke(args=["files", "gc"])
    assert "Nothing to remove" in result.output
    assert len(stored_names(storage)) == 2


def test_gc_shows_progress_when_there_is_much_to_do(runner, storage):
    leave_leftovers(storage, 24)
    result = runner.invoke(args=["files", "gc", "--older-than", "0"])
    assert "Removing 24 leftover(s)" in result.output
    assert stored_names(storage) == []


def test_a_database_failure_at_commit_leaves_no_bytes(client, accounts, storage, monkeypatch):
    ada = accounts.create("ada")
    original = db.session.commit

    def failing_commit():
        raise OperationalError("COMMIT", {}, Exception("the database went away"))

    monkeypatch.setattr(db.session, "commit", failing_commit)
    response = upload(client, ada.headers, b"doomed")
    monkeypatch.setattr(db.session, "commit", original)

    assert_problem(response, 503)
    assert stored_names(storage) == []
    assert client.get("/api/v1/files", headers=ada.headers).get_json()["items"] == []


@pytest.mark.limits(max_upload_bytes=1000)
def test_a_client_that_stops_sending_leaves_nothing(app, accounts, storage):
    """The body ends before its declared length: the client went away."""
    ada = accounts.create("ada")
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.bin"\r\n\r\n' + b"x" * 200
    )
    response = app.test_client().post(
        "/api/v1/files",
        data=body,
        headers={**ada.headers, "Content-Length": "900"},
        content_type="multipart/form-data; boundary=b",
    )
    assert response.status_code in (400, 422)
    assert stored_names(storage) == []
