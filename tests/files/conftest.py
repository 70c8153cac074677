from __future__ import annotations

import io
import uuid

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart


@pytest.fixture(params=["local", "s3"])
def storage_backend(request):
    return request.param


@pytest.fixture
def settings_overrides(request, storage_backend, tmp_path):
    overrides = {}
    if storage_backend == "s3":
        server = request.getfixturevalue("s3_server")
        bucket = "flaskou-" + uuid.uuid4().hex[:12]
        server.create_bucket(bucket)
        overrides["s3_bucket"] = bucket
    else:
        overrides["upload_dir"] = str(tmp_path / "uploads")
    marker = request.node.get_closest_marker("limits")
    if marker:
        overrides.update(marker.kwargs)
    return overrides


@pytest.fixture
def storage(app):
    from flaskou.files.storage import current_storage

    return current_storage()


def upload(client, headers, content=b"hello, flaskou", filename="hello.txt", content_type=None):
    # Encoded here, in memory: the test client would spool big bodies to a
    # temporary file it never closes.
    part = FileStorage(io.BytesIO(content), filename=filename, content_type=content_type)
    boundary, body = encode_multipart({"file": part})
    return client.post(
        "/api/v1/files",
        data=body,
        headers=headers,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
