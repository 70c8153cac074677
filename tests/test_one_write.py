"""flaskou's gunicorn worker sends a small answer's head and body in one write.

`OneWriteResponse` holds the head gunicorn would write on its own until the
body comes, then writes both together; a large body, a streamed (chunked)
one and a file sent with sendfile(2) keep gunicorn's order, head first. The
bytes on the wire are exactly gunicorn's; only the number of writes changes.
Requests here are parsed by gunicorn's own parser from a real socket.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from gunicorn.config import Config
from gunicorn.http.parser import RequestParser
from gunicorn.http.wsgi import FileWrapper, Response

from flaskou.serving import ONE_WRITE_MAX, OneWriteResponse


class Recorder:
    """The server's end of the connection, keeping each write it is asked for."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.writes: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.sock.sendall(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self.sock, name)


@pytest.fixture
def connection() -> Iterator[tuple[socket.socket, socket.socket]]:
    server, client = socket.socketpair()
    yield server, client
    server.close()
    client.close()


def request(server: socket.socket, client: socket.socket, method: str = "GET") -> object:
    client.sendall(f"{method} /x HTTP/1.1\r\nHost: flaskou.test\r\n\r\n".encode())
    return next(iter(RequestParser(Config(), server, ("127.0.0.1", 1))))


def answer(
    kind: type[Response],
    body: list[bytes],
    *,
    method: str = "GET",
    status: str = "200 OK",
    length: bool = True,
) -> tuple[list[bytes], bytes]:
    """Serve one answer as gunicorn's handle_request does; the writes, and every byte sent."""
    server, client = socket.socketpair()
    with server, client:
        recorder = Recorder(server)
        response = kind(request(server, client, method), recorder, Config())
        headers = [("Content-Type", "application/json")]
        if length:
            headers.append(("Content-Length", str(sum(map(len, body)))))
        response.start_response(status, headers)
        for item in body:
            response.write(item)
        response.close()
        return recorder.writes, received_all(server, client)


def received_all(server: socket.socket, client: socket.socket) -> bytes:
    server.shutdown(socket.SHUT_WR)
    received = b""
    while chunk := client.recv(1 << 20):
        received += chunk
    return received


def without_date(raw: bytes) -> bytes:
    return b"\r\n".join(line for line in raw.split(b"\r\n") if not line.startswith(b"Date: "))


def test_a_json_answer_is_one_write_of_gunicorns_bytes():
    writes, received = answer(OneWriteResponse, [b'{"status": "ok"}'])
    assert len(writes) == 1
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert received.endswith(b'\r\n\r\n{"status": "ok"}')

    _, stock = answer(Response, [b'{"status": "ok"}'])
    assert without_date(received) == without_date(stock)


def test_a_head_request_gets_the_head_alone():
    writes, received = answer(OneWriteResponse, [b'{"status": "ok"}'], method="HEAD")
    assert len(writes) == 1
    assert received.endswith(b"Content-Length: 16\r\n\r\n")


def test_an_answer_without_a_body_still_sends_its_head():
    writes, received = answer(OneWriteResponse, [], status="204 No Content")
    assert len(writes) == 1
    assert received.startswith(b"HTTP/1.1 204 No Content\r\n")
    assert received.endswith(b"\r\n\r\n")


def test_a_large_body_is_not_copied_to_join_its_head():
    body = b"x" * (ONE_WRITE_MAX + 1)
    writes, received = answer(OneWriteResponse, [body])
    assert len(writes) == 2
    assert writes[0].endswith(b"\r\n\r\n")
    assert writes[1] == body
    assert received == writes[0] + body


def test_a_streamed_answer_sends_its_head_then_chunks():
    writes, received = answer(OneWriteResponse, [b"one", b"two"], length=False)
    assert b"Transfer-Encoding: chunked\r\n" in writes[0]
    assert writes[0].endswith(b"\r\n\r\n")
    assert writes[1:] == [b"3\r\none\r\n", b"3\r\ntwo\r\n", b"0\r\n\r\n"]
    assert received.endswith(b"\r\n\r\n3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n")


def test_nothing_counts_as_sent_before_it_is_written(connection):
    """gunicorn answers a failure with a 500 only while no byte of the
    answer is on the wire: a held head is not on the wire."""
    server, client = connection
    response = OneWriteResponse(request(server, client), Recorder(server), Config())
    response.start_response("200 OK", [("Content-Length", "2")])
    response.send_headers()
    assert not response.headers_sent
    response.write(b"{}")
    assert response.headers_sent


def test_a_file_goes_by_sendfile_after_its_head(connection, tmp_path):
    server, client = connection
    content = b"flaskou file " * 1000
    path = tmp_path / "object"
    path.write_bytes(content)
    recorder = Recorder(server)
    response = OneWriteResponse(request(server, client), recorder, Config())
    response.start_response("200 OK", [("Content-Length", str(len(content)))])
    with path.open("rb") as handle:
        response.write_file(FileWrapper(handle))
    response.close()
    received = received_all(server, client)
    assert len(recorder.writes) == 1  # the head; the file itself went by sendfile(2)
    assert received == recorder.writes[0] + content
