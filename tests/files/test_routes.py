"""File behaviour, run against the local directory and S3 (moto's server) alike."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest

from tests.files.conftest import upload
from tests.support.problems import assert_problem
from tests.support.storage import stored_names

FILES = "/api/v1/files"


def test_upload_list_get_download_delete(client, accounts, storage):
    ada = accounts.create("ada")
    content = os.urandom(300_000)

    response = upload(client, ada.headers, content, "report.pdf")

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == {"id", "filename", "content_type", "size", "sha256", "owner", "created_at"}
    assert body["filename"] == "report.pdf"
    assert body["content_type"] == "application/pdf"
    assert body["size"] == len(content)
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["owner"] == "ada"
    assert response.headers["Location"] == f"{FILES}/{body['id']}"

    listed = client.get(FILES, headers=ada.headers).get_json()
    assert [f["id"] for f in listed["items"]] == [body["id"]]
    assert client.get(f"{FILES}/{body['id']}", headers=ada.headers).get_json() == body

    download = client.get(f"{FILES}/{body['id']}/content", headers=ada.headers)
    assert download.status_code == 200
    assert download.data == content
    assert download.headers["ETag"] == f'"{body["sha256"]}"'
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"] == 'attachment; filename="report.pdf"'
    assert download.headers["Content-Length"] == str(len(content))

    assert client.delete(f"{FILES}/{body['id']}", headers=ada.headers).status_code == 204
    assert_problem(client.get(f"{FILES}/{body['id']}", headers=ada.headers), 404)
    assert stored_names(storage) == []


def test_the_object_name_never_comes_from_the_filename(client, accounts, storage):
    ada = accounts.create("ada")
    upload(client, ada.headers, b"x", "../../etc/passwd")
    names = stored_names(storage)
    assert len(names) == 1
    assert "passwd" not in names[0]
    assert ".." not in names[0]
    item = client.get(FILES, headers=ada.headers).get_json()["items"][0]
    assert item["filename"] == "passwd"


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("/home/ada/notes.txt", "notes.txt"),
        ("bad\x00name\x1f.txt", "badname.txt"),
        ("  spaced  .txt ", "spaced  .txt"),
        ("a" * 300 + ".txt", "a" * 251 + ".txt"),
        ("..", "unnamed"),
    ],
)
def test_filenames_are_cleaned_for_display(client, accounts, sent, kept):
    ada = accounts.create("ada")
    response = upload(client, ada.headers, b"x", sent)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["filename"] == kept


def test_non_ascii_names_use_filename_star(client, accounts):
    ada = accounts.create("ada")
    file_id = upload(client, ada.headers, b"x", "résumé 2026.txt").get_json()["id"]
    header = client.get(f"{FILES}/{file_id}/content", headers=ada.headers).headers[
        "Content-Disposition"
    ]
    assert header == (
        "attachment; filename=\"r_sum_ 2026.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%202026.txt"
    )


def test_declared_content_type_wins_over_the_guess(client, accounts):
    ada = accounts.create("ada")
    declared = upload(client, ada.headers, b"{}", "data.bin", content_type="application/json")
    assert declared.get_json()["content_type"] == "application/json"
    guessed = upload(client, ada.headers, b"x", "photo.png")
    assert guessed.get_json()["content_type"] == "image/png"
    unknown = upload(client, ada.headers, b"x", "noext")
    assert unknown.get_json()["content_type"] == "application/octet-stream"


@pytest.mark.parametrize(
    "send",
    [
        lambda c, h: c.post(
            FILES, data={"other": "x"}, headers=h, content_type="multipart/form-data"
        ),
        lambda c, h: upload(c, h, b"content", ""),
        lambda c, h: c.post(FILES, json={"file": "x"}, headers=h),
        lambda c, h: c.post(
            FILES, data=b"--x\r\nbroken", headers=h, content_type="multipart/form-data; boundary=x"
        ),
    ],
)
def test_bad_uploads_answer_422_and_leave_nothing(client, accounts, storage, send):
    ada = accounts.create("ada")
    body = assert_problem(send(client, ada.headers), 422)
    assert set(body["errors"]) & {"file", "other"}  # the missing part, or the stray one
    assert stored_names(storage) == []
    assert client.get(FILES, headers=ada.headers).get_json()["items"] == []


@pytest.mark.limits(max_upload_bytes=100_000)
def test_over_max_upload_bytes(client, accounts, storage):
    ada = accounts.create("ada")
    body = assert_problem(upload(client, ada.headers, os.urandom(150_000)), 413)
    assert "MAX_UPLOAD_BYTES" in body["detail"]
    assert stored_names(storage) == []
    assert upload(client, ada.headers, os.urandom(90_000)).status_code == 201


@pytest.mark.limits(user_quota_bytes=250_000)
def test_over_the_quota(client, accounts, storage):
    ada = accounts.create("ada")
    assert upload(client, ada.headers, os.urandom(200_000)).status_code == 201
    body = assert_problem(upload(client, ada.headers, os.urandom(60_000)), 413)
    assert "quota" in body["detail"]
    assert len(stored_names(storage)) == 1
    assert upload(client, ada.headers, os.urandom(50_000)).status_code == 201  # exactly full
    bob = accounts.create("bob")
    assert upload(client, bob.headers, os.urandom(200_000)).status_code == 201


@pytest.mark.limits(user_quota_bytes=300_000)
def test_parallel_uploads_cannot_both_slip_under_the_quota(app, client, accounts, storage):
    ada = accounts.create("ada")
    barrier = threading.Barrier(3)
    statuses = []

    def send():
        own = app.test_client()
        barrier.wait()
        statuses.append(upload(own, ada.headers, os.urandom(200_000)).status_code)

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 413, 413]
    assert len(stored_names(storage)) == 1


def test_other_users_files_are_not_found(client, accounts):
    ada = accounts.create("ada")
    bob = accounts.create("bob")
    file_id = upload(client, ada.headers).get_json()["id"]
    for method, path in [
        ("GET", f"{FILES}/{file_id}"),
        ("GET", f"{FILES}/{file_id}/content"),
        ("DELETE", f"{FILES}/{file_id}"),
    ]:
        assert_problem(client.open(path, method=method, headers=bob.headers), 404)
    assert_problem(client.get(f"{FILES}/not-a-uuid", headers=ada.headers), 404)
    assert client.get(FILES, headers=bob.headers).get_json()["items"] == []
    assert client.get(f"{FILES}/{file_id}", headers=ada.headers).status_code == 200


def test_admins_see_and_list_anyones_files(client, accounts):
    ada = accounts.create("ada")
    root = accounts.create_admin("root")
    file_id = upload(client, ada.headers).get_json()["id"]
    assert client.get(f"{FILES}/{file_id}", headers=root.headers).status_code == 200
    listed = client.get(f"{FILES}?owner=ada", headers=root.headers).get_json()["items"]
    assert [f["id"] for f in listed] == [file_id]
    assert client.get(FILES, headers=root.headers).get_json()["items"] == []
    assert_problem(client.get(f"{FILES}?owner=root", headers=ada.headers), 403)
    assert_problem(client.get(f"{FILES}?owner=ghost", headers=root.headers), 404)


def test_list_is_newest_first_and_paged(client, accounts):
    ada = accounts.create("ada")
    ids = [upload(client, ada.headers, b"%d" % i, f"{i}.txt").get_json()["id"] for i in range(5)]
    seen, url = [], f"{FILES}?limit=2"
    while url:
        page = client.get(url, headers=ada.headers).get_json()
        seen += [f["id"] for f in page["items"]]
        url = page["next_cursor"] and f"{FILES}?limit=2&cursor={page['next_cursor']}"
    assert seen == list(reversed(ids))
    assert_problem(client.get(f"{FILES}?limit=500", headers=ada.headers), 422)


class TestConditionalAndRangeRequests:
    @pytest.fixture
    def stored(self, client, accounts):
        ada = accounts.create("ada")
        body = upload(client, ada.headers, b"0123456789", "digits.txt").get_json()
        return ada, body

    def get(self, client, stored, **headers):
        ada, body = stored
        return client.get(f"{FILES}/{body['id']}/content", headers={**ada.headers, **headers})

    def test_if_none_match(self, client, stored):
        etag = f'"{stored[1]["sha256"]}"'
        response = self.get(client, stored, **{"If-None-Match": etag})
        assert response.status_code == 304
        assert response.data == b""
        assert self.get(client, stored, **{"If-None-Match": '"other"'}).status_code == 200

    @pytest.mark.parametrize(
        ("header", "content", "content_range"),
        [
            ("bytes=2-5", b"2345", "bytes 2-5/10"),
            ("bytes=7-", b"789", "bytes 7-9/10"),
            ("bytes=-3", b"789", "bytes 7-9/10"),
            ("bytes=8-100", b"89", "bytes 8-9/10"),
        ],
    )
    def test_range(self, client, stored, header, content, content_range):
        response = self.get(client, stored, Range=header)
        assert response.status_code == 206
        assert response.data == content
        assert response.headers["Content-Range"] == content_range
        assert response.headers["Content-Length"] == str(len(content))

    def test_unsatisfiable_range(self, client, stored):
        response = self.get(client, stored, Range="bytes=20-30")
        assert_problem(response, 416)
        assert response.headers["Content-Range"] == "bytes */10"

    def test_if_range_with_a_stale_etag_sends_everything(self, client, stored):
        response = self.get(client, stored, Range="bytes=2-5", **{"If-Range": '"stale"'})
        assert response.status_code == 200
        assert response.data == b"0123456789"

    def test_if_range_needs_a_strong_match(self, client, stored):
        etag = self.get(client, stored).headers["ETag"]
        strong = self.get(client, stored, Range="bytes=2-5", **{"If-Range": etag})
        assert (strong.status_code, strong.data) == (206, b"2345")
        # RFC 9110 13.1.5: a weak validator never matches If-Range.
        weak = self.get(client, stored, Range="bytes=2-5", **{"If-Range": "W/" + etag})
        assert (weak.status_code, weak.data) == (200, b"0123456789")

    @pytest.mark.parametrize("if_range", ["Tue, 24 Nov 2026 10:00:00 GMT", "garbage", '"'])
    def test_if_range_with_a_date_or_garbage_sends_everything(self, client, stored, if_range):
        response = self.get(client, stored, Range="bytes=2-5", **{"If-Range": if_range})
        assert (response.status_code, response.data) == (200, b"0123456789")


def test_large_uploads_stream_through_multipart_parts(client, accounts, storage):
    ada = accounts.create("ada")
    content = os.urandom(17 * 1024 * 1024 + 5)  # spans several S3 parts
    response = upload(client, ada.headers, content, "big.bin")
    assert response.status_code == 201
    file_id = response.get_json()["id"]
    download = client.get(f"{FILES}/{file_id}/content", headers=ada.headers)
    assert hashlib.sha256(download.data).hexdigest() == hashlib.sha256(content).hexdigest()
    tail = client.get(f"{FILES}/{file_id}/content", headers={**ada.headers, "Range": "bytes=-7"})
    assert tail.data == content[-7:]


def test_deleting_an_account_deletes_its_contents(client, accounts, storage):
    ada = accounts.create("ada")
    upload(client, ada.headers)
    upload(client, ada.headers)
    response = client.delete(
        "/api/v1/users/me", json={"current_password": ada.password}, headers=ada.headers
    )
    assert response.status_code == 204
    assert stored_names(storage) == []


def test_an_admin_deleting_a_user_deletes_their_contents(client, accounts, storage):
    ada = accounts.create("ada")
    bob = accounts.create("bob")
    root = accounts.create_admin("root")
    upload(client, ada.headers)
    upload(client, bob.headers)
    assert client.delete("/api/v1/users/ada", headers=root.headers).status_code == 204
    assert len(stored_names(storage)) == 1


def test_uploads_and_deletions_are_audited(client, accounts):
    ada = accounts.create("ada")
    root = accounts.create_admin("root")
    file_id = upload(client, ada.headers).get_json()["id"]
    client.delete(f"{FILES}/{file_id}", headers=ada.headers)
    events = client.get("/api/v1/audit?limit=100", headers=root.headers).get_json()["items"]
    actions = [(e["action"], e["actor"], e["target"]) for e in events if "file" in e["action"]]
    assert actions == [("file_deleted", "ada", file_id), ("file_uploaded", "ada", file_id)]


def test_readyz_checks_the_storage(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["storage"] == "ok"


def test_readyz_answers_503_when_the_bucket_is_missing(app_factory, s3_server):
    app = app_factory(s3_bucket="no-such-bucket")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["storage"] == "unavailable"


@pytest.mark.limits(user_quota_bytes=500_000, max_upload_bytes=300_000)
def test_usage_tells_the_caller_their_storage(client, accounts):
    ada = accounts.create("ada")
    upload(client, ada.headers, b"x" * 1234)
    usage = client.get(f"{FILES}/usage", headers=ada.headers).get_json()
    assert usage == {"used_bytes": 1234, "quota_bytes": 500_000, "max_upload_bytes": 300_000}
