"""Uploads come back byte for byte however the network splits their body.

Werkzeug's multipart decoder lets a stray CR through when a read ends inside
the closing delimiter (pallets/werkzeug#3285); `make loadtest` caught two of
529 uploads stored one byte long. flaskou's decoder holds those bytes back.
"""

from __future__ import annotations

import hashlib
import random

import pytest
from werkzeug.sansio.multipart import Data, Epilogue, File, NeedData

from flaskou.files.upload import READ_SIZE, MultipartDecoder

BOUNDARY = b"flaskou-split"
ENDINGS = [b"", b"\r", b"\n", b"\r\n", b"\r\r", b"-", b"\r\n-", b"\r\n--flaskou"]


def body_for(content: bytes) -> bytes:
    return (
        b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="file"; '
        b'filename="x.bin"\r\n\r\n' + content + b"\r\n--" + BOUNDARY + b"--\r\n"
    )


def decode(body: bytes, cuts: list[int]) -> bytes:
    decoder = MultipartDecoder(BOUNDARY)
    out, start, in_file = b"", 0, False
    for end in [*cuts, len(body), None]:
        decoder.receive_data(None if end is None else body[start:end])
        start = end or start
        event = decoder.next_event()
        while not isinstance(event, NeedData | Epilogue):
            if isinstance(event, File):
                in_file = True
            elif isinstance(event, Data) and in_file:
                out += event.data
                in_file = event.more_data
            event = decoder.next_event()
    return out


@pytest.mark.parametrize("ending", ENDINGS)
def test_every_split_point_gives_back_the_same_bytes(ending):
    content = b"some file content" + ending
    body = body_for(content)
    for cut in range(1, len(body)):
        assert decode(body, [cut]) == content, f"split after byte {cut}"


def test_random_splits_of_random_bodies():
    rng = random.Random(3285)
    for _ in range(2000):
        content = rng.randbytes(rng.randint(0, 300)) + rng.choice(ENDINGS)
        body = body_for(content)
        cuts = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, rng.randint(1, 8))))
        assert decode(body, cuts) == content


def test_an_upload_whose_read_ends_inside_the_closing_delimiter_is_stored_exactly(client, accounts):
    """The server reads READ_SIZE bytes at a time: put the end of a read right
    after `CRLF--boundary-`, where werkzeug's own decoder adds a byte."""
    ada = accounts.create("ada")
    head = body_for(b"")[: -len(b"\r\n--" + BOUNDARY + b"--\r\n")]
    content = b"x" * (2 * READ_SIZE - len(head) - len(b"\r\n--" + BOUNDARY + b"-"))
    body = body_for(content)
    assert body.index(b"\r\n--" + BOUNDARY + b"--") + len(BOUNDARY) + 5 == 2 * READ_SIZE
    response = client.post(
        "/api/v1/files",
        data=body,
        headers=ada.headers,
        content_type=f"multipart/form-data; boundary={BOUNDARY.decode()}",
    )
    assert response.status_code == 201, response.get_json()
    stored = response.get_json()
    assert (stored["size"], stored["sha256"]) == (len(content), hashlib.sha256(content).hexdigest())


def test_content_that_looks_like_a_delimiter_comes_back_whole_from_large_reads():
    """Reads of many KiB, as the server makes them, are handed on without a
    copy when `--boundary` is nowhere in them; content full of near-delimiters
    (the boundary without a line break before it, a line break and part of
    it, lone CRs and LFs) at every position around the reads' ends must come
    back exactly, whichever path each read takes."""
    rng = random.Random(13)
    pieces = [b"--" + BOUNDARY, b"\r\n--" + BOUNDARY[:-1], b"\r", b"\n", b"-", b"\r\n--"]
    boundary_re = MultipartDecoder(BOUNDARY).boundary_re
    checked = 0
    while checked < 300:
        content = b"".join(
            rng.choice(pieces) if rng.random() < 0.3 else rng.randbytes(rng.randint(1, 4000))
            for _ in range(rng.randint(1, 40))
        )
        body = body_for(content)
        start = body.index(b"\r\n\r\n") + 4
        # From the line break that opens the content: a delimiter may begin there.
        if boundary_re.search(body, start - 2).start() != start + len(content):
            continue  # the content closes the part itself: not a valid upload of it
        cuts = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, rng.randint(1, 6))))
        assert decode(body, cuts) == content
        checked += 1


def test_a_large_read_is_handed_on_as_a_view_of_itself():
    """The point of the fast path: no copy of the content of a read."""
    decoder = MultipartDecoder(BOUNDARY)
    head = body_for(b"")[: -len(b"\r\n--" + BOUNDARY + b"--\r\n")]
    decoder.receive_data(head + b"first")
    events = []
    event = decoder.next_event()
    while not isinstance(event, NeedData):
        events.append(event)
        event = decoder.next_event()
    assert any(isinstance(event, File) for event in events)
    read = bytes(range(256)) * 256
    decoder.receive_data(read)
    event = decoder.next_event()
    data = [event]
    while not isinstance(event, NeedData):
        event = decoder.next_event()
        data.append(event)
    views = [e.data for e in data if isinstance(e, Data) and isinstance(e.data, memoryview)]
    assert views and views[0].obj is read


def test_a_delimiter_split_between_two_large_reads_is_found():
    """The bytes held back from one read and the start of the next are searched
    together: a delimiter that begins in one and ends in the other (here the
    closing one, with an epilogue after it) still ends the part."""
    content = bytes(range(256)) * 64
    body = body_for(content) + b"an epilogue, which multipart allows and ignores" * 4
    delimiter = body.index(b"\r\n--" + BOUNDARY + b"--")
    for cut in range(delimiter - 1, delimiter + len(BOUNDARY) + 7):
        assert decode(body, [1000, cut]) == content, f"split after byte {cut}"
