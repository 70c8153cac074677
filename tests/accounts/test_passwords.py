from __future__ import annotations

import threading
import time

import gevent
from argon2 import PasswordHasher
from argon2.low_level import Type

from flaskou.accounts import passwords
from flaskou.accounts.service import find_by_login
from flaskou.extensions import db
from tests.conftest import DEFAULT_PASSWORD


def test_hashes_are_argon2id_with_at_least_owasp_parameters():
    encoded = passwords.hash_password("correct horse")
    assert encoded.startswith("$argon2id$v=19$")
    params = dict(p.split("=") for p in encoded.split("$")[3].split(","))
    assert int(params["m"]) >= 19 * 1024
    assert int(params["t"]) >= 2
    assert int(params["p"]) >= 1
    assert passwords.verify_password(encoded, "correct horse")
    assert not passwords.verify_password(encoded, "correct horsE")
    assert not passwords.verify_password("not a hash", "anything")


def test_login_rehashes_when_the_parameters_change(client, accounts):
    accounts.signup("ada")
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID)
    user = find_by_login("ada")
    user.password_hash = weak.hash(DEFAULT_PASSWORD)
    db.session.commit()

    accounts.login("ada")

    db.session.expire_all()
    upgraded = find_by_login("ada").password_hash
    assert "$m=19456,t=2,p=1$" in upgraded
    assert passwords.verify_password(upgraded, DEFAULT_PASSWORD)


def test_a_failed_login_does_not_rehash(client, accounts):
    accounts.signup("ada")
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID)
    user = find_by_login("ada")
    user.password_hash = stored = weak.hash(DEFAULT_PASSWORD)
    db.session.commit()

    client.post("/api/v1/login", json={"username": "ada", "password": "wrong password"})

    db.session.expire_all()
    assert find_by_login("ada").password_hash == stored


def test_a_gevent_worker_hashes_at_most_one_password_per_cpu_at_once():
    """Under gevent, hashing runs in native threads of flaskou's own pool, one
    per CPU: more logins at once wait for a thread rather than share the CPUs."""
    lock = threading.Lock()
    running = 0
    most = 0

    def hash_slowly(password: str) -> str:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)  # a native thread's sleep (this process is not monkey-patched)
        with lock:
            running -= 1
        return password

    pool = passwords._HashingPool()
    logins = [gevent.spawn(pool.apply, hash_slowly, (f"p{i}",)) for i in range(8)]
    gevent.joinall(logins, timeout=30, raise_error=True)
    assert [login.value for login in logins] == [f"p{i}" for i in range(8)]
    assert most == min(8, passwords.hashing_threads())
    assert passwords.hashing_threads() >= 1
