"""Storage writers: whatever the sizes of the reads they are given, the object
published is exactly the bytes written, in order."""

from __future__ import annotations

import os


def test_reads_of_any_size_become_one_exact_object(storage):
    # S3 parts of 5 MiB (S3's smallest), fed reads that never line up with them:
    # parts are joined across reads, a read is split across two parts.
    if storage.name == "s3":
        storage.part_size = 5 * 1024 * 1024
    content = os.urandom(13 * 1024 * 1024 + 4321)
    writer = storage.begin()
    sizes = [700 * 1024 + 1, 1, 3 * 1024 * 1024, 5 * 1024 * 1024 - 7, 64 * 1024]
    at, turn = 0, 0
    while at < len(content):
        size = sizes[turn % len(sizes)]
        piece = content[at : at + size]
        # Reads come as bytes or as views of a larger read.
        writer.write(memoryview(piece) if turn % 2 else piece)
        at, turn = at + len(piece), turn + 1
    key = writer.publish()
    assert b"".join(storage.read(key)) == content
    assert b"".join(storage.read(key, 5 * 1024 * 1024 - 3, 10)) == content[5242877:5242887]
    storage.delete(key)


def test_an_object_smaller_than_a_part_is_stored_whole(storage):
    writer = storage.begin()
    writer.write(b"small ")
    writer.write(memoryview(b"and whole"))
    key = writer.publish()
    assert b"".join(storage.read(key)) == b"small and whole"
