"""Password hashing with argon2id.

Parameters are OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane).
Hashes made with other parameters still verify and are replaced on the next
successful login. Unknown users are checked against a dummy hash made with
the same parameters, so a login costs the same work whether or not the
account exists.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.low_level import Type

MEMORY_COST_KIB = 19 * 1024
TIME_COST = 2
PARALLELISM = 1

T = TypeVar("T")

hasher = PasswordHasher(
    time_cost=TIME_COST,
    memory_cost=MEMORY_COST_KIB,
    parallelism=PARALLELISM,
    type=Type.ID,
)


def hashing_threads() -> int:
    """How many hashes a gevent worker computes at once: one per CPU it may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no sched_getaffinity (not Linux)
        return os.cpu_count() or 1


class _HashingPool:
    """Native threads for hashing under a gevent worker, one per CPU, made
    in the process that uses them (a forked worker makes its own).

    argon2 is CPU- and memory-bound (19 MiB a hash): more hashes at once
    than CPUs only take turns on them, each pushing the others' memory out
    of the caches, and hold 19 MiB each while they wait. Past the bound a
    login waits for a thread instead. Not gevent's shared pool (10 threads):
    it also resolves host names, which must not queue behind hashes during
    a burst of logins. docs/benchmarks.md has what it measured."""

    def __init__(self) -> None:
        self._pid = -1
        self._pool: Any = None

    def apply(self, work: Callable[..., T], args: tuple[str, ...]) -> T:
        if self._pid != os.getpid():
            from gevent.threadpool import ThreadPool

            self._pool = ThreadPool(hashing_threads())
            self._pid = os.getpid()
        result: T = self._pool.apply(work, args)
        return result


_hashing_pool = _HashingPool()


def _off_the_event_loop(work: Callable[..., T], *args: str) -> T:
    """Run CPU-bound hashing (20-30 ms; argon2 releases the GIL) in a thread
    when gevent serves: in the worker's one event-loop thread it would hold
    up every other request of the worker for that long."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        return _hashing_pool.apply(work, args)
    return work(*args)


def hash_password(password: str) -> str:
    return _off_the_event_loop(hasher.hash, password)


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def verify_password(stored_hash: str, password: str) -> bool:
    return _off_the_event_loop(_verify, stored_hash, password)


def needs_rehash(stored_hash: str) -> bool:
    try:
        return hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


@cache
def _dummy_hash() -> str:
    return hasher.hash(secrets.token_urlsafe(16))


def burn_password_check(password: str) -> None:
    """Spend the same work as a real verification, for users that do not exist."""
    verify_password(_dummy_hash(), password)
