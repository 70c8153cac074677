"""Finding processes from outside, through /proc: a gunicorn master's workers,
and which of them holds a given TCP connection.

Fault tests kill the very worker that is serving a request; they find it by
the connection it holds (to PostgreSQL, or the client's own), so no hook in
flaskou is needed to tell which worker picked the request up.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def children(pid: int) -> list[int]:
    """The live child processes of `pid` (a gunicorn master's workers)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return sorted(set(found))


def _tcp_inodes(local_port: int, remote_port: int) -> set[str]:
    """Socket inodes of IPv4 TCP connections between these two ports."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.split(":")[1], 16) == local_port and (
            int(remote.split(":")[1], 16) == remote_port
        ):
            inodes.add(inode)
    return inodes


def owner_of_connection(local_port: int, remote_port: int, candidates: list[int]) -> int | None:
    """Which of `candidates` has a socket whose local end is `local_port` and
    remote end `remote_port` (None if none does)."""
    wanted = {f"socket:[{inode}]" for inode in _tcp_inodes(local_port, remote_port)}
    if not wanted:
        return None
    for pid in candidates:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                        return pid
                except OSError:
                    continue
        except OSError:
            continue
    return None


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll until `predicate()` answers something truthy; answer it."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"
