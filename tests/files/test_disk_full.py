"""A full disk under a real gunicorn: 507, nothing half-stored, and the service goes on.

UPLOAD_DIR is a 5 MiB tmpfs mounted for the test (mounting needs root, which
`make test` and CI have).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.multipart import file_body
from tests.support.server import Server

pytestmark = pytest.mark.slow


@pytest.fixture
def settings_overrides():
    """Not run against each storage backend: a full disk is the local backend's."""
    return {}


@pytest.fixture
def small_disk(tmp_path):
    mountpoint = tmp_path / "uploads"
    mountpoint.mkdir()
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("the full-disk test needs root to mount a tmpfs (CI runs as root)")
        pytest.skip("mounting a tmpfs needs root (run `make test` as root, as CI does)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


@pytest.fixture
def server(app, migrated_database, small_disk, tmp_path):
    server = Server(
        {
            "DATABASE_URL": migrated_database,
            "SECRET_KEY": "a-test-secret-that-is-long-enough",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "UPLOAD_DIR": str(small_disk),
        },
        workers=1,
        log_path=tmp_path / "gunicorn.log",
    ).start()
    yield server
    server.stop()
    assert "Traceback" not in (tmp_path / "gunicorn.log").read_text(errors="replace")


def stored_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def test_an_upload_that_fills_the_disk_answers_507_and_keeps_nothing(server, small_disk):
    status, _, _ = server.request(
        "POST",
        "/api/v1/signup",
        {"username": "ada", "email": "ada@example.com", "password": "a good password"},
    )
    assert status == 201
    _, _, login = server.request(
        "POST", "/api/v1/login", {"username": "ada", "password": "a good password"}
    )
    bearer = {"Authorization": f"Bearer {login['token']}"}

    body, content_type = file_body(os.urandom(8 * 1024 * 1024), "too-big-for-the-disk.bin")
    status, headers, problem = server.request(
        "POST", "/api/v1/files", raw=body, headers={**bearer, "Content-Type": content_type}
    )
    assert status == 507, problem
    assert headers["Content-Type"] == "application/problem+json"
    assert problem["title"] == "Insufficient Storage"
    assert "nothing" in problem["detail"]

    # Nothing listed, nothing left on the disk, the space is free again.
    assert server.request("GET", "/api/v1/files", headers=bearer)[2]["items"] == []
    assert stored_bytes(small_disk) == 0
    assert shutil.disk_usage(small_disk).free > 4 * 1024 * 1024

    body, content_type = file_body(b"still works", "small.txt")
    status, _, stored = server.request(
        "POST", "/api/v1/files", raw=body, headers={**bearer, "Content-Type": content_type}
    )
    assert status == 201, stored
    status, _, content = server.request(
        "GET", f"/api/v1/files/{stored['id']}/content", headers=bearer
    )
    assert (status, content) == (200, b"still works")
    assert server.request("GET", "/readyz")[0] == 200
