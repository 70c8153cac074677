"""Login throttling shared through a real Redis, as several instances use it."""

from __future__ import annotations

import pytest

from tests.conftest import DEFAULT_PASSWORD
from tests.support.postgres import free_port
from tests.support.problems import assert_problem

pytestmark = pytest.mark.slow


@pytest.fixture
def settings_overrides(redis_server):
    redis_server_url = redis_server.url
    import redis

    redis.Redis.from_url(redis_server_url).flushall()
    return {"redis_url": redis_server_url, "rate_limit_login": "3 per minute"}


def test_failures_count_across_instances(app, accounts, app_factory, settings_overrides):
    accounts.signup("ada")
    other_instance = app_factory(**settings_overrides).test_client()
    first_instance = accounts.client

    for client, address in [
        (first_instance, "10.1.0.1"),
        (other_instance, "10.1.0.2"),
        (first_instance, "10.1.0.3"),
    ]:
        response = client.post(
            "/api/v1/login",
            json={"username": "ada", "password": "wrong guess"},
            environ_base={"REMOTE_ADDR": address},
        )
        assert_problem(response, 401)

    blocked = other_instance.post(
        "/api/v1/login",
        json={"username": "ada", "password": DEFAULT_PASSWORD},
        environ_base={"REMOTE_ADDR": "10.1.0.4"},
    )
    assert_problem(blocked, 429)
    assert int(blocked.headers["Retry-After"]) > 0


def test_readyz_checks_redis(client, redis_server):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["redis"] == "ok"


def test_readyz_answers_503_when_redis_is_down(app_factory):
    app = app_factory(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["redis"] == "unavailable"


def test_login_answers_503_not_500_when_redis_is_down(app_factory):
    app = app_factory(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    response = app.test_client().post(
        "/api/v1/login", json={"username": "ada", "password": DEFAULT_PASSWORD}
    )
    assert_problem(response, 503)
