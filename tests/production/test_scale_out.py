"""Two flaskou instances (gunicorn each) on one PostgreSQL and one Redis."""

from __future__ import annotations

import os

import pytest
import redis

from tests.production.conftest import SECRET, make_admin, migrate, start_instances
from tests.support.multipart import file_body
from tests.support.nginx import Nginx
from tests.support.redis import RedisServer
from tests.support.server import http

pytestmark = [pytest.mark.slow, pytest.mark.engine_independent]

PASSWORD = "scale out password"


@pytest.fixture(scope="module")
def stack(cluster, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scale-out")
    database_url = cluster.create_database("scale_out")
    migrate(database_url, tmp / "migrate")
    make_admin(database_url, tmp / "admin", "root", PASSWORD)
    cache = RedisServer().start()
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": cache.url,
        "SECRET_KEY": SECRET,
        "INSTANCE_PATH": str(tmp / "instance"),
        "UPLOAD_DIR": str(tmp / "shared-files"),  # one store for both, as a shared volume
        "RATE_LIMIT_LOGIN": "5 per minute",
        "RATE_LIMIT_SIGNUP": "1000000 per hour",
        "RATE_LIMIT_MAIL": "1000000 per hour",
        "PROXY_COUNT": "1",  # nginx in front, as in compose.yaml
    }
    servers = start_instances(2, env, tmp)
    proxy = Nginx([server.port for server in servers], tmp / "nginx").start()
    yield servers, cache, proxy
    proxy.stop()
    for server in servers:
        server.stop()
    cache.stop()


@pytest.fixture
def instances(stack):
    servers, cache, _ = stack
    redis.Redis.from_url(cache.url).flushall()  # fresh throttling counters per test
    return servers


def signup_and_login(server, name):
    server.request(
        "POST",
        "/api/v1/signup",
        {"username": name, "email": f"{name}@example.com", "password": PASSWORD},
    )
    status, _, body = server.request(
        "POST", "/api/v1/login", {"username": name, "password": PASSWORD}
    )
    assert status == 200, body
    return {"Authorization": f"Bearer {body['token']}"}


def test_a_session_revoked_on_one_is_refused_by_the_other(instances):
    a, b = instances
    ada = signup_and_login(a, "ada")
    assert b.request("GET", "/api/v1/users/me", headers=ada)[0] == 200
    assert a.request("POST", "/api/v1/logout", headers=ada)[0] == 204
    status, headers, _ = b.request("GET", "/api/v1/users/me", headers=ada)
    assert status == 401
    assert headers["Content-Type"] == "application/problem+json"


def test_a_role_granted_on_one_applies_on_the_other(instances):
    a, b = instances
    bob = signup_and_login(b, "bob")
    _, _, body = a.request("POST", "/api/v1/login", {"username": "root", "password": PASSWORD})
    root = {"Authorization": f"Bearer {body['token']}"}
    assert b.request("GET", "/api/v1/roles", headers=bob)[0] == 403
    assert a.request("POST", "/api/v1/users/bob/roles/admin", headers=root)[0] == 200
    assert b.request("GET", "/api/v1/roles", headers=bob)[0] == 200
    assert a.request("DELETE", "/api/v1/users/bob/roles/admin", headers=root)[0] == 200
    assert b.request("GET", "/api/v1/roles", headers=bob)[0] == 403


def test_login_throttling_counts_across_both(instances):
    a, b = instances
    signup_and_login(a, "carol")
    redis.Redis.from_url(instances[0].env["REDIS_URL"]).flushall()
    for attempt in range(5):
        server = a if attempt % 2 else b
        status, _, _ = server.request(
            "POST", "/api/v1/login", {"username": "carol", "password": "wrong password"}
        )
        assert status == 401
    for server in (a, b):
        status, headers, body = server.request(
            "POST", "/api/v1/login", {"username": "carol", "password": PASSWORD}
        )
        assert status == 429, body
        assert int(headers["Retry-After"]) > 0


def test_a_file_uploaded_through_one_downloads_through_the_other(instances):
    a, b = instances
    dave = signup_and_login(a, "dave")
    content = os.urandom(3 * 1024 * 1024)
    body, content_type = file_body(content, "shared.bin")
    status, headers, _ = a.request(
        "POST", "/api/v1/files", headers={**dave, "Content-Type": content_type}, raw=body
    )
    assert status == 201
    file_id = headers["Location"].rsplit("/", 1)[1]
    status, _, downloaded = b.request("GET", f"/api/v1/files/{file_id}/content", headers=dave)
    assert status == 200
    assert downloaded == content


def test_nginx_spreads_requests_streams_uploads_and_keeps_request_ids(stack):
    servers, _, proxy = stack

    def call(method, path, body=None, headers=None, raw=None):
        return http(proxy.base, method, path, body, headers, raw=raw)

    call(
        "POST",
        "/api/v1/signup",
        {"username": "nina", "email": "nina@example.com", "password": PASSWORD},
    )
    status, _, body = call("POST", "/api/v1/login", {"username": "nina", "password": PASSWORD})
    assert status == 200
    nina = {"Authorization": f"Bearer {body['token']}"}

    status, headers, _ = call("GET", "/api/v1/users/me", headers={**nina, "X-Request-ID": "edge-1"})
    assert (status, headers["X-Request-ID"]) == (200, "edge-1")
    status, headers, _ = call("GET", "/api/v1/users/me", headers=nina)
    assert status == 200 and len(headers["X-Request-ID"]) == 32  # nginx's own id

    content = os.urandom(2 * 1024 * 1024)
    upload, content_type = file_body(content, "edge.bin")
    status, _, stored = call(
        "POST", "/api/v1/files", headers={**nina, "Content-Type": content_type}, raw=upload
    )
    assert status == 201
    file_id = stored["id"]
    for _ in range(4):  # whichever instance nginx picks
        status, _, downloaded = call("GET", f"/api/v1/files/{file_id}/content", headers=nina)
        assert status == 200 and downloaded == content

    assert call("GET", "/metrics")[0] == 404  # not for the outside
    served = [server.request("GET", "/metrics")[2].decode() for server in servers]
    route = 'route="/api/v1/files/<file_id>/content"'
    assert all(route in text for text in served), "nginx sent downloads to both instances"
