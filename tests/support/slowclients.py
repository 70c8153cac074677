"""Clients that take their time: they trickle a request head or body a few bytes
every couple of seconds, as a slow link or a slowloris attack does, and keep
at it (reconnecting when the server hangs up) until they are told to stop.

Everything goes to 127.0.0.1 (or another loopback address), and each client
is one thread that sleeps between sends, so dozens cost the test nothing.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.support.multipart import BOUNDARY
from tests.support.server import http

# How often a slow client sends its next few bytes.
PAUSE = 2.0
# An ordinary request that takes longer than this has not been served "promptly";
# the client gives up a little later, so a stuck server fails the test quickly.
PROMPT = 2.0


@dataclass
class SlowClients:
    """A crowd of slow clients against one port; use as a context manager."""

    port: int
    token: str | None = None
    source: str = "127.0.0.1"
    threads: list[threading.Thread] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    # How many times the server hung up on a slow client (a timeout doing its job).
    hung_up: dict[str, int] = field(default_factory=dict)
    # How many slow clients are connected right now, by kind.
    connected: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def trickle_heads(self, count: int) -> SlowClients:
        """Request heads sent one header line at a time, never finished."""

        def pieces() -> Iterator[bytes]:
            yield b"GET /healthz HTTP/1.1\r\nHost: flaskou\r\n"
            for n in range(10_000):
                yield f"X-Slow-{n}: {'a' * 10}\r\n".encode()

        return self._start("head", count, pieces)

    def trickle_login_bodies(self, count: int) -> SlowClients:
        """`POST /api/v1/login` announcing 100,000 bytes of JSON, sent a few at a time."""

        def pieces() -> Iterator[bytes]:
            yield (
                b"POST /api/v1/login HTTP/1.1\r\nHost: flaskou\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
                b'{"username": "nobody", "password": "'
            )
            while True:
                yield b"xxxx"

        return self._start("login", count, pieces)

    def trickle_json_bodies(self, count: int) -> SlowClients:
        """Authenticated `PATCH /api/v1/users/me` whose JSON body comes a byte at a time."""
        assert self.token, "these need a token"

        def pieces() -> Iterator[bytes]:
            yield (
                "PATCH /api/v1/users/me HTTP/1.1\r\nHost: flaskou\r\n"
                f"Authorization: Bearer {self.token}\r\n"
                "Content-Type: application/json\r\nContent-Length: 10000\r\n\r\n"
                '{"email": "'
            ).encode()
            while True:
                yield b"a"

        return self._start("json", count, pieces)

    def trickle_uploads(self, count: int) -> SlowClients:
        """Multipart uploads of 1 MiB, sent 512 bytes at a time."""
        assert self.token, "uploads need a token"
        part = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            'filename="slow.bin"\r\n\r\n'
        ).encode()

        def pieces() -> Iterator[bytes]:
            yield (
                "POST /api/v1/files HTTP/1.1\r\nHost: flaskou\r\n"
                f"Authorization: Bearer {self.token}\r\n"
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                f"Content-Length: {len(part) + 1024 * 1024}\r\n\r\n"
            ).encode() + part
            while True:
                yield b"u" * 512

        return self._start("upload", count, pieces)

    def _start(self, kind: str, count: int, pieces: Callable[[], Iterator[bytes]]) -> SlowClients:
        self.hung_up.setdefault(kind, 0)
        self.connected.setdefault(kind, 0)
        for _ in range(count):
            thread = threading.Thread(target=self._run, args=(kind, pieces), daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def _count(self, table: dict[str, int], kind: str, delta: int) -> None:
        with self.lock:
            table[kind] += delta

    def _run(self, kind: str, pieces: Callable[[], Iterator[bytes]]) -> None:
        while not self.stopping.is_set():
            try:
                sock = socket.create_connection(
                    ("127.0.0.1", self.port), timeout=5, source_address=(self.source, 0)
                )
            except OSError:
                self.stopping.wait(0.5)
                continue
            self._count(self.connected, kind, 1)
            try:
                for piece in pieces():
                    sock.sendall(piece)
                    if self.stopping.wait(PAUSE):
                        return
                    if _closed_by_peer(sock):
                        break
            except OSError:
                pass
            finally:
                self._count(self.connected, kind, -1)
                sock.close()
            self._count(self.hung_up, kind, 1)

    def wait_connected(self, timeout: float = 10) -> None:
        """Until every slow client has a connection open."""
        deadline = time.monotonic() + timeout
        while sum(self.connected.values()) < len(self.threads):
            if time.monotonic() > deadline:
                raise AssertionError(f"slow clients not all connected: {self.connected}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def __enter__(self) -> SlowClients:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _closed_by_peer(sock: socket.socket) -> bool:
    """Whether the server answered or hung up: either way this attempt is over."""
    sock.setblocking(False)
    try:
        sock.recv(65536)  # an answer, or b"" for a hang-up
        return True
    except BlockingIOError:
        return False  # nothing yet: the server is still waiting for us
    except OSError:
        return True
    finally:
        sock.setblocking(True)


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.monotonic()
    result = call()
    return time.monotonic() - started, result


def ordinary_visit(base: str, name: str, password: str) -> dict[str, float]:
    """What an ordinary client does (health check, sign up, log in, who am I),
    each call's duration by name; every answer must be the expected one."""
    durations: dict[str, float] = {}

    def call(label: str, expected: int, *args: Any, **kwargs: Any) -> Any:
        elapsed, (status, _, body) = timed(lambda: http(base, *args, timeout=3 * PROMPT, **kwargs))
        assert status == expected, f"{label}: {status} {body!r}"
        durations[label] = elapsed
        return body

    call("healthz", 200, "GET", "/healthz")
    call(
        "signup",
        201,
        "POST",
        "/api/v1/signup",
        {"username": name, "email": f"{name}@example.com", "password": password},
    )
    body = call("login", 200, "POST", "/api/v1/login", {"username": name, "password": password})
    me = call(
        "me", 200, "GET", "/api/v1/users/me", headers={"Authorization": f"Bearer {body['token']}"}
    )
    assert me["username"] == name
    return durations


def sign_up_and_log_in(base: str, name: str, password: str) -> str:
    http(
        base,
        "POST",
        "/api/v1/signup",
        {"username": name, "email": f"{name}@example.com", "password": password},
    )
    status, _, body = http(base, "POST", "/api/v1/login", {"username": name, "password": password})
    assert status == 200, body
    return str(body["token"])
