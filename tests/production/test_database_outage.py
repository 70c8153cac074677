"""PostgreSQL stops and comes back: flaskou answers 503, then recovers by itself."""

from __future__ import annotations

import time

import pytest

from tests.production.conftest import SECRET, migrate, start_instances

pytestmark = [pytest.mark.slow, pytest.mark.engine_independent]


def test_readyz_and_the_api_follow_the_database(cluster, tmp_path):
    database_url = cluster.create_database("outage")
    migrate(database_url, tmp_path / "migrate")
    (server,) = start_instances(
        1,
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": SECRET,
            "INSTANCE_PATH": str(tmp_path / "instance"),
        },
        tmp_path,
    )
    try:
        server.request(
            "POST",
            "/api/v1/signup",
            {"username": "ada", "email": "ada@example.com", "password": "outage pw!"},
        )
        _, _, body = server.request(
            "POST", "/api/v1/login", {"username": "ada", "password": "outage pw!"}
        )
        ada = {"Authorization": f"Bearer {body['token']}"}
        assert server.request("GET", "/readyz")[0] == 200

        cluster.stop_server()
        try:
            status, _, ready = server.request("GET", "/readyz")
            assert status == 503
            assert ready["checks"]["database"] == "unavailable"
            assert server.request("GET", "/healthz")[0] == 200
            for method, path in [("GET", "/api/v1/users/me"), ("GET", "/api/v1/tokens")]:
                status, headers, problem = server.request(method, path, headers=ada)
                assert status == 503, problem
                assert headers["Content-Type"] == "application/problem+json"
                assert "Retry-After" in headers
            status, headers, _ = server.request(
                "POST", "/api/v1/login", {"username": "ada", "password": "outage pw!"}
            )
            assert status == 503
        finally:
            cluster.start_server()

        deadline = time.monotonic() + 30
        while server.request("GET", "/readyz")[0] != 200:
            assert time.monotonic() < deadline, "flaskou did not recover"
            time.sleep(0.5)
        assert server.request("GET", "/api/v1/users/me", headers=ada)[0] == 200
    finally:
        server.stop()
