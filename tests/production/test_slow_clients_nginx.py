"""Behind the compose stack's nginx (docker/nginx.conf): slow and idle clients
never stop others from being served, bodies are bounded per route the way
flaskou bounds them, one address cannot hold every connection, and nginx's
own errors are problem+json like flaskou's."""

from __future__ import annotations

import json
import os
import select
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from http.client import HTTPConnection
from typing import Any

import pytest

from tests.production.conftest import SECRET, migrate, start_instances
from tests.support.multipart import BOUNDARY, file_body
from tests.support.nginx import Nginx
from tests.support.rawhttp import exchange
from tests.support.redis import RedisServer
from tests.support.server import http

pytestmark = [pytest.mark.slow, pytest.mark.engine_independent]

PASSWORD = "behind nginx password"
PROMPTLY = 2.0  # seconds an ordinary request may take while the slow clients go on
TRICKLE_EVERY = 2.0
MIB = 1024 * 1024
# docker/nginx.conf's limits, which mirror flaskou's defaults.
JSON_LIMIT = MIB  # MAX_JSON_BYTES
UPLOAD_LIMIT = 101 * MIB  # MAX_UPLOAD_BYTES + multipart framing
CONNECTIONS_PER_ADDRESS = 100
HEADER_TIMEOUT = 10


@pytest.fixture(scope="module")
def stack(cluster, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("slow-nginx")
    database_url = cluster.create_database("slow_nginx")
    migrate(database_url, tmp / "migrate")
    cache = RedisServer().start()
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": cache.url,
        "SECRET_KEY": SECRET,
        "INSTANCE_PATH": str(tmp / "instance"),
        "UPLOAD_DIR": str(tmp / "shared-files"),
        "RATE_LIMIT_LOGIN": "1000 per minute",
        "RATE_LIMIT_SIGNUP": "1000000 per hour",
        "RATE_LIMIT_MAIL": "1000000 per hour",
        "PROXY_COUNT": "1",
        "HOME": str(tmp),
        "XDG_RUNTIME_DIR": str(tmp),
    }
    servers = start_instances(2, env, tmp)
    proxy = Nginx([server.port for server in servers], tmp / "nginx").start()
    yield proxy
    proxy.stop()
    for server in servers:
        server.stop()
    cache.stop()


# --- slow clients ---------------------------------------------------------


@dataclass
class Trickler:
    """One slow client: `first` once per connection, then `more` every 2 s, until
    stopped; when nginx hangs up it counts the drop and connects again."""

    port: int
    first: bytes
    more: bytes
    connections: int = 0
    drops: int = 0
    connected: bool = False

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            except OSError:
                stop.wait(0.2)
                continue
            self.connections += 1
            self.connected = True
            try:
                sock.sendall(self.first)
                while not stop.wait(TRICKLE_EVERY):
                    if select.select([sock], [], [], 0)[0]:
                        break  # answered or hung up on: this attempt is over
                    sock.sendall(self.more)
                else:
                    return
            except OSError:
                pass
            finally:
                self.connected = False
                sock.close()
            self.drops += 1


def header_trickler(port: int) -> Trickler:
    return Trickler(port, b"GET /healthz HTTP/1.1\r\nHost: flaskou\r\n", b"X-Slow: aaaaaaaa\r\n")


def login_trickler(port: int) -> Trickler:
    head = (
        b"POST /api/v1/login HTTP/1.1\r\nHost: flaskou\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    )
    return Trickler(port, head + b'{"username": "', b"aaaaaaaa")


def upload_trickler(port: int, token: str) -> Trickler:
    part = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="slow.bin"\r\n\r\n'
    )
    head = (
        "POST /api/v1/files HTTP/1.1\r\nHost: flaskou\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {MIB}\r\n\r\n"
    )
    return Trickler(port, (head + part).encode(), b"b" * 512)


class Attack:
    def __init__(self, tricklers: list[Trickler]) -> None:
        self.tricklers = tricklers
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=t.run, args=(self.stop,), daemon=True) for t in tricklers
        ]

    def __enter__(self) -> Attack:
        for thread in self.threads:
            thread.start()
        deadline = time.monotonic() + 10
        while not all(t.connected for t in self.tricklers):
            assert time.monotonic() < deadline, "slow clients could not connect"
            time.sleep(0.05)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)


def timed(port: int, method: str, path: str, body: Any = None, headers=None, source="127.0.0.1"):
    """(status, headers, parsed body) of one request, which must answer promptly."""
    headers = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    started = time.monotonic()
    connection = HTTPConnection("127.0.0.1", port, timeout=PROMPTLY + 3, source_address=(source, 0))
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        payload = response.read()
    except OSError as error:
        took = time.monotonic() - started
        raise AssertionError(f"{method} {path}: no answer in {took:.1f}s ({error!r})") from None
    finally:
        connection.close()
    took = time.monotonic() - started
    assert took < PROMPTLY, f"{method} {path} took {took:.2f}s"
    parsed = json.loads(payload) if "json" in (response.getheader("Content-Type") or "") else None
    return response.status, dict(response.getheaders()), parsed


def journey(port: int, source: str = "127.0.0.1") -> None:
    """Health check, sign up, log in, who am I: each answered promptly."""
    name = "u" + uuid.uuid4().hex[:12]
    assert timed(port, "GET", "/healthz", source=source)[0] == 200
    status, _, body = timed(
        port,
        "POST",
        "/api/v1/signup",
        {"username": name, "email": f"{name}@example.com", "password": PASSWORD},
        source=source,
    )
    assert status == 201, body
    status, _, body = timed(
        port, "POST", "/api/v1/login", {"username": name, "password": PASSWORD}, source=source
    )
    assert status == 200, body
    status, _, me = timed(
        port,
        "GET",
        "/api/v1/users/me",
        headers={"Authorization": f"Bearer {body['token']}"},
        source=source,
    )
    assert (status, me["username"]) == (200, name)


def log_in(base: str, name: str) -> dict[str, str]:
    http(
        base,
        "POST",
        "/api/v1/signup",
        {"username": name, "email": f"{name}@example.com", "password": PASSWORD},
    )
    status, _, body = http(base, "POST", "/api/v1/login", {"username": name, "password": PASSWORD})
    assert status == 200, body
    return {"Authorization": f"Bearer {body['token']}"}


def assert_nginx_problem(status: int, headers: dict[str, str], body: Any, expected: int) -> None:
    assert status == expected
    assert headers["Content-Type"] == "application/problem+json"
    problem = json.loads(body) if isinstance(body, bytes) else body
    assert problem["status"] == expected
    assert problem["type"].startswith("https://flaskou.dev/problems/")
    assert problem["title"] and problem["detail"]


# --- the stories ------------------------------------------------------------


def test_fifty_slow_clients_do_not_stop_an_ordinary_one(stack):
    port = stack.port
    token = log_in(stack.base, "slow-uploader")["Authorization"].split()[1]
    heads = [header_trickler(port) for _ in range(30)]
    logins = [login_trickler(port) for _ in range(10)]
    uploads = [upload_trickler(port, token) for _ in range(10)]

    with Attack(heads + logins + uploads):
        # Over 12 s: past nginx's client_header_timeout (10 s), so the head
        # tricklers are hung up on and come back while ordinary clients go on.
        started = time.monotonic()
        while time.monotonic() - started < HEADER_TIMEOUT + 2:
            assert all(t.connected for t in logins + uploads)
            journey(port)
            time.sleep(1)

    # nginx bounds a request head in time: every head trickler was hung up on.
    assert all(t.drops >= 1 for t in heads), [t.drops for t in heads]
    # Bodies pause 2 s between pieces, under client_body_timeout (30 s): held.
    assert all(t.drops == 0 for t in logins + uploads)
    journey(port)


def test_a_json_body_over_max_json_bytes_is_refused_by_nginx(stack):
    status, headers, body = http(
        stack.base,
        "POST",
        "/api/v1/login",
        raw=b'{"username": "' + b"a" * JSON_LIMIT + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert_nginx_problem(status, headers, body, 413)
    assert body["detail"] == "The request body is larger than this route accepts."  # nginx's


def test_an_upload_over_one_mib_goes_through_nginx_and_one_over_its_limit_does_not(stack):
    owner = log_in(stack.base, "big-uploader")
    content = os.urandom(3 * MIB)
    upload, content_type = file_body(content, "three.bin")
    status, _, stored = http(
        stack.base,
        "POST",
        "/api/v1/files",
        headers={**owner, "Content-Type": content_type},
        raw=upload,
    )
    assert status == 201, stored
    status, _, downloaded = http(
        stack.base, "GET", f"/api/v1/files/{stored['id']}/content", headers=owner
    )
    assert (status, downloaded) == (200, content)

    # Over MAX_UPLOAD_BYTES + the multipart allowance: refused on the announced length.
    answer = exchange(
        stack.port,
        "POST /api/v1/files HTTP/1.1\r\nHost: flaskou\r\n"
        f"Authorization: {owner['Authorization']}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {UPLOAD_LIMIT + 1}",
    )
    assert_nginx_problem(
        answer.status, {"Content-Type": answer.headers["content-type"]}, answer.body, 413
    )


@pytest.mark.parametrize(
    ("request_head", "expected"),
    [
        ("NOT HTTP AT ALL", 400),
        ("GET / HTTP/1.1", 400),  # no Host
        (f"GET /healthz?{'a' * 9000} HTTP/1.1\r\nHost: flaskou", 414),
        (f"GET /healthz HTTP/1.1\r\nHost: flaskou\r\nX-Big: {'a' * 9000}", 431),
    ],
    ids=["garbage", "no-host", "uri-too-long", "headers-too-large"],
)
def test_nginx_errors_are_problem_json(stack, request_head, expected):
    answer = exchange(stack.port, request_head)
    assert_nginx_problem(
        answer.status, {"Content-Type": answer.headers["content-type"]}, answer.body, expected
    )


def test_no_instance_answering_is_a_problem_json_502(tmp_path):
    # nginx with the shipped site, in front of two ports where nothing listens.
    # Each is kept bound (not listening, so connecting is refused) for the whole
    # test, so neither can also be handed to nginx as its own port: nginx would
    # then proxy to itself until its per-address connection limit said 429.
    closed = [socket.socket() for _ in range(2)]
    for sock in closed:
        sock.bind(("127.0.0.1", 0))
    nobody = Nginx([sock.getsockname()[1] for sock in closed], tmp_path / "nginx")
    nobody.start(through_to_flaskou=False)
    try:
        status, headers, body = timed(nobody.port, "GET", "/healthz")
        assert_nginx_problem(status, headers, body, 502)
    finally:
        nobody.stop()
        for sock in closed:
            sock.close()


def test_one_address_cannot_hold_every_connection(stack):
    held: list[socket.socket] = []
    try:
        # Slow logins from 127.0.0.1, up to the per-address limit: each holds
        # an nginx connection while its body trickles.
        for _ in range(CONNECTIONS_PER_ADDRESS):
            sock = socket.create_connection(("127.0.0.1", stack.port), timeout=5)
            sock.sendall(
                b"POST /api/v1/login HTTP/1.1\r\nHost: flaskou\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
            )
            held.append(sock)
        deadline = time.monotonic() + 10
        while True:
            status, headers, body = timed(stack.port, "GET", "/healthz")
            if status == 429 or time.monotonic() > deadline:
                break
            time.sleep(0.1)  # until nginx has read every held request's head
        assert status == 429
        assert headers["Content-Type"] == "application/problem+json"
        assert body["type"] == "https://flaskou.dev/problems/too-many-requests"
        # Another address is served as usual meanwhile.
        journey(stack.port, source="127.0.0.2")
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 10
    while timed(stack.port, "GET", "/healthz")[0] != 200:
        assert time.monotonic() < deadline, "the address was not let in again"
        time.sleep(0.1)
