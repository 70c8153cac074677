"""HTTP/1.1 spoken byte by byte over a socket, for requests no client library sends."""

from __future__ import annotations

import json
import select
import socket
from collections.abc import Iterable
from typing import Any


class RawResponse:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


def read_response(sock: socket.socket) -> RawResponse:
    """One response, read until its Content-Length (or the connection's end)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a whole response head: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "-1"))
    while length < 0 or len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return RawResponse(status, headers, body)


def exchange(
    port: int, head: str, body: bytes | Iterable[bytes] = b"", *, timeout: float = 30
) -> RawResponse:
    """Send a request head (without the blank line) and a body, as given, and read the answer.

    A body given as an iterable is sent piece by piece, and sending stops as
    soon as the server answers (as a server that refuses a body early would
    have a client do).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n\r\n")
        pieces = [body] if isinstance(body, bytes) else body
        try:
            for piece in pieces:
                if select.select([sock], [], [], 0)[0]:
                    break  # an answer (or the close) came before the whole body
                sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_response(sock)


def refusal(port: int, head: str, *, timeout: float = 30) -> tuple[RawResponse, bool]:
    """Send a request head as given, read the answer, and whether the server
    then closed the connection (as it must after a request it could not parse)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n\r\n")
        response = read_response(sock)
        sock.settimeout(min(timeout, 5))
        try:
            closed = sock.recv(1) == b""
        except ConnectionResetError:
            closed = True
        except TimeoutError:
            closed = False
        return response, closed


def assert_problem(response: RawResponse, status: int) -> dict[str, Any]:
    """The answer is an RFC 9457 problem of flaskou's, with this status, and no page."""
    assert b"<html" not in response.body.lower(), response.body
    assert b"traceback" not in response.body.lower(), response.body
    assert response.status == status, (response.status, response.body)
    assert response.headers.get("content-type") == "application/problem+json", response.headers
    problem = response.json()
    assert set(problem) >= {"type", "title", "status", "detail"}, problem
    assert problem["status"] == status
    assert problem["type"].startswith("https://flaskou.dev/problems/"), problem
    assert problem["title"] and problem["detail"], problem
    return dict(problem)
