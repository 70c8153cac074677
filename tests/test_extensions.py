"""Rate limits (flaskou.throttling): the in-process storage (no REDIS_URL)
counts like limits' memory storage, bounds its memory, and starts no thread
per request; the headers and deductions of throttled routes."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from flaskou.observability import FLUSHER_NAME
from flaskou.throttling import InProcessStorage, throttles
from tests.conftest import DEFAULT_PASSWORD

LOGIN = "/api/v1/login"


def test_without_redis_the_counters_live_in_the_process(app):
    assert isinstance(throttles.storage, InProcessStorage)


def test_a_throttled_request_starts_no_thread(client, accounts, monkeypatch):
    accounts.signup("ada")
    started: list[object] = []
    real_start = threading._start_new_thread  # type: ignore[attr-defined]

    def counting_start(function: Any, *args: object, **kwargs: object) -> object:
        thread = getattr(function, "__self__", None)
        # The metrics' one flusher per process (tests/test_observability.py) aside
        if getattr(thread, "name", None) != FLUSHER_NAME:
            started.append(function)
        return real_start(function, *args, **kwargs)

    monkeypatch.setattr(threading, "_start_new_thread", counting_start)
    for _ in range(5):
        response = client.post(LOGIN, json={"username": "ada", "password": DEFAULT_PASSWORD})
        assert response.status_code == 200
    # limits' MemoryStorage would have started a Timer thread for most of them.
    assert started == []


def test_counters_count_and_expire():
    storage = InProcessStorage("flaskou-memory://")
    assert [storage.incr("k", expiry=60) for _ in range(3)] == [1, 2, 3]
    assert storage.get("k") == 3
    storage.incr("short", expiry=0.05)
    time.sleep(0.1)
    assert storage.get("short") == 0  # an expired counter reads as zero at once


@pytest.mark.parametrize("window", [0.05])
def test_expired_counters_are_swept_so_memory_stays_bounded(window):
    storage = InProcessStorage("flaskou-memory://")
    for i in range(1000):
        storage.incr(f"address-{i}", expiry=window)
    assert len(storage.storage) == 1000
    time.sleep(window * 2)
    storage.incr("later", expiry=60)  # within a second of the first sweep: none yet
    assert len(storage.storage) == 1001
    storage._next_sweep = 0.0  # the sweep is due (a second has passed)
    storage.incr("later", expiry=60)
    assert set(storage.storage) == {"later"}
    assert storage.get("later") == 2


def test_only_throttled_routes_carry_the_rate_limit_headers(client, accounts):
    accounts.signup("ada")
    login = client.post(LOGIN, json={"username": "ada", "password": DEFAULT_PASSWORD})
    assert login.status_code == 200
    assert int(login.headers["X-RateLimit-Limit"]) > 0
    health = client.get("/healthz")
    assert health.status_code == 200
    assert not [name for name, _ in health.headers if name.startswith("X-RateLimit")]


def test_a_throttled_answer_says_how_much_of_its_limit_is_left(client, accounts):
    accounts.signup("ada")
    credentials = {"username": "ada", "password": DEFAULT_PASSWORD}
    first = client.post(LOGIN, json=credentials)
    second = client.post(LOGIN, json=credentials)
    assert first.status_code == second.status_code == 200
    limit = int(first.headers["X-RateLimit-Limit"])
    # The address limit (every attempt counts), not the account's (failures only)
    assert int(first.headers["X-RateLimit-Remaining"]) == limit - 1
    assert int(second.headers["X-RateLimit-Remaining"]) == limit - 2
    assert 0 <= int(first.headers["X-RateLimit-Reset"]) - time.time() <= 61
    assert "Retry-After" not in first.headers  # only a 429 says when to come back


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_login": "100 per hour; 2 per minute"}])
def test_every_limit_a_setting_names_holds(client, accounts):
    """RATE_LIMIT_LOGIN may name several limits; the tighter one refuses."""
    accounts.signup("ada")
    credentials = {"username": "ada", "password": DEFAULT_PASSWORD}
    assert [client.post(LOGIN, json=credentials).status_code for _ in range(3)] == [200, 200, 429]
    refused = client.post(LOGIN, json=credentials)
    assert refused.headers["X-RateLimit-Limit"] == "2"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
