"""Storage writers: whatever the sizes of the reads they are given, the object
published is exactly the bytes written, in order."""

from __future__ import annotations

import os

import pytest


def test_reads_of_any_size_become_one_exact_object(storage):
    # S3 parts of 5 MiB (S3's smallest), fed reads that never line up with them:
    # parts are joined across reads, a read is split across two parts.
    if storage.name == "s3":
        storage.part_size = 5 * 1024 * 1024
    content = os.urandom(13 * 1024 * 1024 + 4321)
    writer = storage.begin()
    sizes = [700 * 1024 + 1, 1, 3 * 1024 * 1024, 5 * 1024 * 1024 - 7, 64 * 1024]
    scratch = bytearray(max(sizes))
    at, turn = 0, 0
    while at < len(content):
        size = sizes[turn % len(sizes)]
        piece = content[at : at + size]
        # Reads come as bytes, as views of a larger read, or as views of a
        # buffer that is filled again as soon as the writer returns.
        if turn % 3 == 0:
            writer.write(piece)
        elif turn % 3 == 1:
            writer.write(memoryview(piece))
        else:
            scratch[: len(piece)] = piece
            writer.write(memoryview(scratch)[: len(piece)])
            scratch[:] = bytes(len(scratch))
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


def test_a_large_local_upload_is_written_behind_as_it_comes(storage, monkeypatch):
    """Every FLUSH_AFTER bytes the kernel is asked to start writing the newest
    stretch and to drop the one before (written by then); the object is still
    exactly what was written."""
    if storage.name != "local":
        pytest.skip("local disk only")
    from flaskou.files import storage as storage_module

    calls = []
    real = os.posix_fadvise

    def advise(fd, offset, length, advice):
        calls.append((offset, length, advice))
        real(fd, offset, length, advice)

    monkeypatch.setattr(storage_module.os, "posix_fadvise", advise)
    step = storage_module.FLUSH_AFTER
    content = os.urandom(3 * step + step // 2)
    writer = storage.begin()
    for at in range(0, len(content), 1024 * 1024):
        writer.write(content[at : at + 1024 * 1024])
    key = writer.publish()
    assert calls == [
        (0, step, os.POSIX_FADV_DONTNEED),
        (0, 2 * step, os.POSIX_FADV_DONTNEED),
        (step, 2 * step, os.POSIX_FADV_DONTNEED),
    ]
    assert b"".join(storage.read(key)) == content
