"""flaskou's gunicorn worker reads a large body straight into its reader's buffer.

`DirectBody.readinto` must give the same bytes gunicorn's own reader would,
in order, starting with what gunicorn read ahead with the request's head,
never past the body's end (the next request on the connection stays in the
socket), and leave gunicorn's reader knowing how much is left.
"""

from __future__ import annotations

import os
import socket
import threading

import pytest
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.unreader import SocketUnreader

from flaskou.files.upload import _fill
from flaskou.serving import DIRECT_BODY_MIN, DirectBody, direct_body_reads


@pytest.fixture
def connection():
    server, client = socket.socketpair()
    yield server, client
    server.close()
    client.close()


def body_over(sock: socket.socket, length: int, read_ahead: bytes = b"") -> Body:
    unreader = SocketUnreader(sock)
    if read_ahead:
        unreader.unread(read_ahead)  # as the request parser leaves what followed the head
    return Body(LengthReader(unreader, length))


def test_the_body_comes_whole_then_stops_at_its_end(connection):
    server, client = connection
    content = os.urandom(300_000)
    following = b"GET /next HTTP/1.1\r\n\r\n"
    ahead = content[:5000]
    # More than a socket pair holds: sent while it is read.
    sender = threading.Thread(target=client.sendall, args=(content[5000:] + following,))
    sender.start()
    reader = DirectBody(body_over(server, len(content), ahead), server)

    received = bytearray()
    buffer = bytearray(64 * 1024)
    while True:
        length = _fill(reader, buffer, len(buffer))
        if not length:
            break
        received += buffer[:length]
    sender.join()
    assert bytes(received) == content
    assert reader._reader.length == 0
    # The next request was not touched: gunicorn reads it from the socket.
    assert server.recv(100) == following


def test_reads_ahead_of_the_socket_are_served_first_through_gunicorn(connection):
    server, client = connection
    content = os.urandom(10_000)
    reader = DirectBody(body_over(server, len(content), content[:7000]), server)
    client.sendall(content[7000:])
    first = bytearray(4000)
    assert reader.readinto(first) == 4000 and first == content[:4000]
    rest = bytearray(10_000)
    got = 0
    while got < 6000:
        got += reader.readinto(memoryview(rest)[got:])
    assert rest[:6000] == content[4000:]
    assert reader.readinto(bytearray(10)) == 0


def test_a_client_gone_mid_body_ends_the_reads(connection):
    server, client = connection
    client.sendall(b"x" * 1000)
    client.close()
    reader = DirectBody(body_over(server, 5000), server)
    buffer = bytearray(8000)
    assert _fill(reader, buffer, len(buffer)) == 1000


def test_only_large_bodies_of_known_length_are_read_directly(connection):
    server, _ = connection
    seen = {}

    def app(environ, start_response):
        seen["input"] = environ["wsgi.input"]
        return []

    wrapped = direct_body_reads(app)
    for length, direct in [(DIRECT_BODY_MIN - 1, False), (DIRECT_BODY_MIN, True)]:
        body = body_over(server, length)
        wrapped({"wsgi.input": body, "gunicorn.socket": server}, None)
        assert isinstance(seen["input"], DirectBody) is direct


def test_a_read_gives_what_has_arrived_without_waiting_for_more(connection):
    """A client sending slowly: each read answers what is there (read-ahead
    first), so the upload's bytes reach storage as they come."""
    server, client = connection
    reader = DirectBody(body_over(server, 1_000_000, b"a" * 3000), server)
    server.settimeout(5)
    first = bytearray(65536)
    assert reader.readinto(first) == 3000
    client.sendall(b"b" * 2000)
    assert reader.readinto(first) == 2000
    assert first[:2000] == b"b" * 2000


def test_an_upload_goes_on_once_a_read_holds_enough_not_when_the_buffer_is_full():
    class Trickle:
        """A body arriving 300,000 bytes at a time."""

        def __init__(self, size):
            self.left = size

        def readinto(self, view):
            got = min(len(view), 300_000, self.left)
            view[:got] = b"x" * got
            self.left -= got
            return got

    buffer = bytearray(4 * 1024 * 1024)
    assert _fill(Trickle(10_000_000), buffer, 1024 * 1024) == 1_200_000
    assert _fill(Trickle(500_000), buffer, 1024 * 1024) == 500_000  # the body ended first


def test_a_stream_without_readinto_is_asked_for_no_more_than_enough():
    """gunicorn's own body (a chunked one, say) has only read(), which waits for
    all it is asked: it is asked for what is still missing of `enough`."""
    import io

    asked = []

    class Chunked:
        def __init__(self):
            self.body = io.BytesIO(b"y" * 3_000_000)

        def read(self, size):
            asked.append(size)
            return self.body.read(min(size, 700_000))

    buffer = bytearray(4 * 1024 * 1024)
    assert _fill(Chunked(), buffer, 1024 * 1024) == 1024 * 1024
    assert asked == [1024 * 1024, 1024 * 1024 - 700_000]
