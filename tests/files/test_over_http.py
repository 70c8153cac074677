"""Uploads through a real gunicorn: limits seen by ordinary clients, and crashes."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support.server import ROOT, Server
from tests.support.storage import stored_names

pytestmark = pytest.mark.slow

LIMIT = 2 * 1024 * 1024


@pytest.fixture
def env(app, migrated_database, tmp_path, settings_overrides):
    """The server runs with the same database and storage as the test's app."""
    env = {
        "DATABASE_URL": migrated_database,
        "SECRET_KEY": "a-test-secret-that-is-long-enough",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "MAX_UPLOAD_BYTES": str(LIMIT),
        "RATE_LIMIT_LOGIN": "100 per minute",
        "RATE_LIMIT_SIGNUP": "1000000 per hour",
        "RATE_LIMIT_MAIL": "1000000 per hour",
    }
    if "s3_bucket" in settings_overrides:
        env["S3_BUCKET"] = settings_overrides["s3_bucket"]
    else:
        env["UPLOAD_DIR"] = settings_overrides["upload_dir"]
    return env


@pytest.fixture
def server(env, tmp_path):
    server = Server(env, workers=2, log_path=tmp_path / "gunicorn.log").start()
    yield server
    server.stop()


def login(server, name="ada"):
    server.request(
        "POST",
        "/api/v1/signup",
        {"username": name, "email": f"{name}@example.com", "password": "a password!"},
    )
    status, _, body = server.request(
        "POST", "/api/v1/login", {"username": name, "password": "a password!"}
    )
    assert status == 200
    return body["token"]


def test_413_reaches_python_requests_while_it_is_still_sending(server, storage):
    token = login(server)
    body = os.urandom(20 * 1024 * 1024)
    response = requests.post(
        f"{server.base}/api/v1/files",
        files={"file": ("big.bin", body)},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "MAX_UPLOAD_BYTES" in response.json()["detail"]
    assert stored_names(storage) == []


def test_413_reaches_curl_while_it_is_still_sending(server, env, tmp_path):
    token = login(server)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * 1024 * 1024))
    result = subprocess.run(
        [
            "curl",
            "-sS",
            "-o",
            str(tmp_path / "answer.json"),
            "-w",
            "%{http_code}",
            "-H",
            f"Authorization: Bearer {token}",
            "-F",
            f"file=@{big}",
            f"{server.base}/api/v1/files",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "413"
    assert "MAX_UPLOAD_BYTES" in (tmp_path / "answer.json").read_text()


def test_uploads_within_the_limit_work_with_curl(server, tmp_path):
    token = login(server)
    small = tmp_path / "small.txt"
    small.write_bytes(b"hello from curl\n")
    result = subprocess.run(
        [
            "curl",
            "-sS",
            "-w",
            "\n%{http_code}",
            "-H",
            f"Authorization: Bearer {token}",
            "-F",
            f"file=@{small}",
            f"{server.base}/api/v1/files",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.rsplit("\n", 1)[1] == "201"


def test_a_large_upload_answers_its_sha256_and_comes_back_byte_for_byte(env, tmp_path):
    """Under the gevent worker the SHA-256 is taken in gevent's native threads,
    a read at a time, while the next read arrives: the answer must still be
    the digest of exactly the bytes stored, in order."""
    env = {**env, "MAX_UPLOAD_BYTES": str(64 * 1024 * 1024)}
    server = Server(env, workers=1, log_path=tmp_path / "gunicorn.log").start()
    try:
        token = login(server)
        content = os.urandom(40 * 1024 * 1024 + 12345)
        source = tmp_path / "large.bin"
        source.write_bytes(content)
        answer = tmp_path / "answer.json"
        result = subprocess.run(
            [
                "curl",
                "-sS",
                "-o",
                str(answer),
                "-w",
                "%{http_code}",
                "-H",
                f"Authorization: Bearer {token}",
                "-F",
                f"file=@{source}",
                f"{server.base}/api/v1/files",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert result.stdout == "201", answer.read_text()
        stored = json.loads(answer.read_text())
        assert (stored["size"], stored["sha256"]) == (
            len(content),
            hashlib.sha256(content).hexdigest(),
        )
        status, _, body = server.request(
            "GET",
            f"/api/v1/files/{stored['id']}/content",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert status == 200
        assert body == content
    finally:
        server.stop()


def test_a_crash_mid_upload_leaves_no_file_and_gc_leaves_no_bytes(env, storage, tmp_path):
    env = {**env, "MAX_UPLOAD_BYTES": str(200 * 1024 * 1024)}
    server = Server(env, workers=1, log_path=tmp_path / "gunicorn.log").start()
    token = login(server)

    boundary = "flaskou-crash-test"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    total = len(head) + 100 * 1024 * 1024
    connection = socket.create_connection(("127.0.0.1", server.port))
    connection.sendall(
        (
            f"POST /api/v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {total}\r\n\r\n"
        ).encode()
        + head
    )
    chunk = os.urandom(1024 * 1024)
    for _ in range(30):
        connection.sendall(chunk)
    deadline = time.monotonic() + 20
    while not stored_names(storage):
        assert time.monotonic() < deadline, "the upload never reached the storage"
        time.sleep(0.05)
    time.sleep(0.5)

    server.kill()
    connection.close()
    assert stored_names(storage), "the crash should have left a partial upload behind"

    restarted = Server(env, workers=1, log_path=tmp_path / "gunicorn2.log").start()
    try:
        status, _, listing = restarted.request(
            "GET", "/api/v1/files", headers={"Authorization": f"Bearer {token}"}
        )
        assert status == 200
        assert listing["items"] == []
    finally:
        restarted.stop()

    gc = subprocess.run(
        [
            str(Path(sys.executable).parent / "flask"),
            "--app",
            "flaskou",
            "files",
            "gc",
            "--older-than",
            "0",
        ],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Removed 1 leftover" in gc.stdout
    assert stored_names(storage) == []
