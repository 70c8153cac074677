"""Hostile and broken requests against a real gunicorn: each one a clear 4xx, never a 500.

Regression tests for what a tester found: unbounded JSON bodies that grew a
worker by hundreds of MiB, JSON nested 1,000 levels deep, lone surrogates in
text, broken chunked encoding. None may cost memory, log a traceback or
leave anything written.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from flaskou import create_app
from flaskou.extensions import db
from tests.conftest import make_settings, truncate_all
from tests.support.rawhttp import exchange, read_response
from tests.support.server import Server

pytestmark = pytest.mark.slow

JSON_LIMIT = 1024 * 1024


@pytest.fixture(scope="module")
def server(migrated_database, tmp_path_factory):
    directory = tmp_path_factory.mktemp("hostile")
    server = Server(
        {
            "DATABASE_URL": migrated_database,
            "SECRET_KEY": "a-test-secret-that-is-long-enough",
            "INSTANCE_PATH": str(directory / "instance"),
            "RATE_LIMIT_LOGIN": "1000 per minute",
            "RATE_LIMIT_SIGNUP": "1000000 per hour",
            "RATE_LIMIT_MAIL": "1000000 per hour",
        },
        workers=1,
        log_path=directory / "gunicorn.log",
    ).start()
    yield server
    server.stop()
    # The server wrote to the shared test database; leave it as the other tests expect.
    app = create_app(make_settings(migrated_database, directory / "cleanup"))
    with app.app_context():
        truncate_all()
        db.engine.dispose()
    log = Path(server.log_path).read_text(errors="replace")
    assert "Traceback" not in log, "a client's mistake logged a traceback:\n" + log[-4000:]


@pytest.fixture(scope="module")
def admin(server):
    """An admin made with the operator's command, signed in over HTTP."""
    flask = str(Path(sys.executable).parent / "flask")
    subprocess.run(
        [flask, "--app", "flaskou", "create-admin", "root", "root@example.com", "a good password"],
        env=server.env,
        check=True,
        capture_output=True,
    )
    status, _, body = server.request(
        "POST", "/api/v1/login", {"username": "root", "password": "a good password"}
    )
    assert status == 200, body
    return {"Authorization": f"Bearer {body['token']}"}


def worker_pid(server: Server) -> int:
    assert server.process is not None
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text()
    pids = [int(pid) for pid in children.split()]
    assert len(pids) == 1, pids
    return pids[0]


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def head(path: str, *lines: str, method: str = "POST") -> str:
    return "\r\n".join([f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *lines])


class TestBodySize:
    def test_a_declared_100_mb_json_body_is_refused_before_it_is_sent(self, server):
        started = time.monotonic()
        answer = exchange(
            server.port,
            head(
                "/api/v1/login",
                "Content-Type: application/json",
                f"Content-Length: {100 * 1024 * 1024}",
            ),
        )
        assert time.monotonic() - started < 5
        assert answer.status == 413
        assert answer.headers["content-type"] == "application/problem+json"
        assert "MAX_JSON_BYTES" in answer.json()["detail"]

    def test_a_chunked_json_body_is_cut_off_at_the_limit_without_growing_the_worker(self, server):
        pid = worker_pid(server)
        before = peak_rss_kib(pid)
        piece = b"[" * 65536
        chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        sent = 0

        def body():
            nonlocal sent
            for _ in range(1600):  # 100 MiB, if the server kept reading
                sent += len(piece)
                yield chunk
                time.sleep(0.001)

        answer = exchange(
            server.port,
            head(
                "/api/v1/signup",
                "Content-Type: application/json",
                "Transfer-Encoding: chunked",
            ),
            body(),
        )
        assert answer.status == 413, answer.body
        assert answer.headers["content-type"] == "application/problem+json"
        assert sent < 16 * JSON_LIMIT, f"the server kept reading: {sent} bytes sent"
        assert peak_rss_kib(pid) - before < 32 * 1024

    @pytest.mark.parametrize("size", [JSON_LIMIT, JSON_LIMIT + 1])
    def test_the_limit_is_exact(self, server, size):
        document = {"username": "x", "password": "y" * 8, "pad": ""}
        filler = size - len(json.dumps(document))
        document["pad"] = " " * filler
        raw = json.dumps(document).encode()
        assert len(raw) == size
        status, _, body = server.request(
            "POST", "/api/v1/login", raw=raw, headers={"Content-Type": "application/json"}
        )
        # At the limit the body is read (and refused by the schema: unknown field).
        assert status == (422 if size == JSON_LIMIT else 413), body

    def test_a_client_that_sends_a_too_large_body_whole_still_reads_the_answer(self, server):
        """Most clients send the whole body before they read, many with
        `Connection: close` (urllib does). The server reads (and drops) a
        refused body of a few MiB before it answers and closes: closing with
        unread bytes would reset the connection, and the answer with it."""
        body = b"{" + b" " * (4 * JSON_LIMIT) + b"}"
        request = head(
            "/api/v1/login",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "Connection: close",
        )
        for _ in range(5):  # a reset is a race: give it several chances to show
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
                sock.sendall(request.encode("latin-1") + b"\r\n\r\n")
                for start in range(0, len(body), 64 * 1024):
                    sock.sendall(body[start : start + 64 * 1024])
                    time.sleep(0.001)  # as a client on a real network would
                answer = read_response(sock)
                assert answer.status == 413
                assert answer.headers["content-type"] == "application/problem+json"


class TestMalformedBodies:
    def test_json_nested_1000_levels_deep_answers_400_on_every_json_endpoint(self, server, admin):
        spec = server.request("GET", "/api/v1/openapi.json")[2]
        deep = b'{"a":' + b"[" * 1000 + b"]" * 1000 + b"}"
        assert len(deep) < 2100
        checked = []
        for path, operations in spec["paths"].items():
            for method, operation in operations.items():
                content = operation.get("requestBody", {}).get("content", {})
                if "application/json" not in content:
                    continue
                # Any name or id of the right form: the body's 400 comes first.
                concrete = re.sub(r"\{\w+_id\}", str(uuid.uuid4()), path)
                concrete = concrete.replace("{", "").replace("}", "")
                status, headers, body = server.request(
                    method.upper(),
                    concrete,
                    raw=deep,
                    headers={"Content-Type": "application/json", **admin},
                )
                assert status == 400, (method, path, body)
                assert headers["Content-Type"] == "application/problem+json"
                assert "nests too deeply" in body["detail"]
                checked.append(f"{method} {path}")
        assert {"post /api/v1/login", "post /api/v1/signup", "post /api/v1/roles"} <= set(checked)
        assert len(checked) >= 7, checked

    def test_nesting_past_the_depth_limit_is_refused_even_when_the_parser_copes(self, server):
        deep = b'{"username": ' + b"[" * 100 + b"]" * 100 + b', "password": "x"}'
        status, _, body = server.request(
            "POST", "/api/v1/login", raw=deep, headers={"Content-Type": "application/json"}
        )
        assert status == 400, body
        assert "deeper" in body["detail"]

    @pytest.mark.parametrize(
        ("path", "document"),
        [
            ("/api/v1/login", '{"username": "\\ud800", "password": "a good password"}'),
            (
                "/api/v1/signup",
                '{"username": "ok", "email": "a@example.com", "password": "pass\\udfffword"}',
            ),
            ("/api/v1/roles", '{"name": "editor", "description": "half \\ud83d an emoji"}'),
            ("/api/v1/login", '{"username": "x", "password": "y", "\\ud800": 1}'),
        ],
    )
    def test_a_lone_surrogate_answers_422(self, server, admin, path, document):
        status, headers, body = server.request(
            "POST",
            path,
            raw=document.encode(),
            headers={"Content-Type": "application/json", **admin},
        )
        assert status == 422, body
        assert headers["Content-Type"] == "application/problem+json"
        assert any("surrogate" in m for messages in body["errors"].values() for m in messages)

    def test_a_whole_emoji_is_fine(self, server, admin):
        status, _, body = server.request(
            "POST",
            "/api/v1/roles",
            raw=b'{"name": "emoji", "description": "a whole \\ud83d\\ude00 emoji"}',
            headers={"Content-Type": "application/json", **admin},
        )
        assert status == 201, body
        assert body["description"] == "a whole \U0001f600 emoji"

    @pytest.mark.parametrize(
        "chunks",
        [
            b"zz\r\n{}\r\n0\r\n\r\n",  # not a hexadecimal size
            b"2\r\n{}XX0\r\n\r\n",  # the chunk's CRLF is missing
            b"-5\r\n{}\r\n0\r\n\r\n",  # a negative size
        ],
    )
    def test_broken_chunked_encoding_answers_400(self, server, chunks):
        answer = exchange(
            server.port,
            head("/api/v1/login", "Content-Type: application/json", "Transfer-Encoding: chunked"),
            chunks,
        )
        assert answer.status == 400, answer.body
        assert answer.headers["content-type"] == "application/problem+json"

    def test_the_server_still_answers_afterwards(self, server):
        assert server.request("GET", "/healthz")[0] == 200


def test_a_broken_chunked_upload_answers_400_and_keeps_nothing(server, admin):
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.bin"\r\n\r\n'
        + b"x" * 70000
    )
    chunks = f"{len(body):x}\r\n".encode() + body + b"\r\nnot-a-size\r\n"
    answer = exchange(
        server.port,
        head(
            "/api/v1/files",
            "Content-Type: multipart/form-data; boundary=b",
            "Transfer-Encoding: chunked",
            f"Authorization: {admin['Authorization']}",
        ),
        chunks,
    )
    assert answer.status == 400, answer.body
    assert answer.headers["content-type"] == "application/problem+json"
    assert server.request("GET", "/api/v1/files", headers=admin)[2]["items"] == []
    uploads = Path(server.env["INSTANCE_PATH"]) / "uploads"
    assert [p for p in uploads.rglob("*") if p.is_file()] == []
