"""Behind the compose stack's nginx (docker/nginx.conf), no error is HTML either:
what nginx refuses itself, and what it passes on for gunicorn to refuse
(flaskou.serving), both answer RFC 9457 problem+json in flaskou's words."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import uuid

import pytest

from flaskou import errors
from tests.production.conftest import SECRET, migrate, start_instances
from tests.support.multipart import file_body
from tests.support.nginx import SITE, Nginx
from tests.support.rawhttp import assert_problem, exchange, refusal
from tests.support.server import http

pytestmark = [pytest.mark.slow, pytest.mark.engine_independent]

HOST = "Host: flaskou"
GUNICORN_REQUEST_LINE = 4094  # gunicorn's limit; nginx's is its 8 KiB header buffer
NGINX_BUFFER = 8192  # large_client_header_buffers (nginx's default, 4 x 8k)
# Every 4xx/5xx in nginx's own table of error pages (ngx_http_special_response.c),
# 494-497 being its names for oversized heads and TLS troubles.
NGINX_ERROR_STATUSES = {
    *(400, 401, 402, 403, 404, 405, 406, 408, 409, 410, 411, 412, 413, 414, 415, 416),
    *(421, 429, 494, 495, 496, 497, 500, 501, 502, 503, 504, 505, 507),
}


@pytest.fixture(scope="module")
def stack(cluster, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nginx-errors")
    database_url = cluster.create_database("nginx_errors")
    migrate(database_url, tmp / "migrate")
    env = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET,
        "INSTANCE_PATH": str(tmp / "instance"),
        "UPLOAD_DIR": str(tmp / "shared-files"),
        "RATE_LIMIT_LOGIN": "1000 per minute",
        "RATE_LIMIT_SIGNUP": "1000000 per hour",
        "RATE_LIMIT_MAIL": "1000000 per hour",
        "PROXY_COUNT": "1",
        "HOME": str(tmp),
        "XDG_RUNTIME_DIR": str(tmp),
    }
    servers = start_instances(2, env, tmp)
    proxy = Nginx([server.port for server in servers], tmp / "nginx").start()
    yield proxy
    proxy.stop()
    for server in servers:
        server.stop()


def line_of(length: int) -> str:
    fixed = len("GET /healthz? HTTP/1.1")
    return f"GET /healthz?{'a' * (length - fixed)} HTTP/1.1"


REFUSED = [
    # Under nginx's buffer, over gunicorn's limit: gunicorn's 414, passed on.
    pytest.param(f"{line_of(GUNICORN_REQUEST_LINE + 1)}\r\n{HOST}", 414, id="line-over-gunicorns"),
    pytest.param(f"{line_of(NGINX_BUFFER + 100)}\r\n{HOST}", 414, id="line-over-nginxs"),
    pytest.param(
        f"GET /healthz HTTP/1.1\r\n{HOST}\r\nX-Big: {'a' * NGINX_BUFFER}",
        431,
        id="header-too-large",
    ),
    pytest.param(
        f"GET /healthz HTTP/1.1\r\n{HOST}\r\n" + "\r\n".join(f"X-H{n}: {n}" for n in range(101)),
        431,
        id="more-than-100-headers",
    ),
    pytest.param(f"GET /healthz HTTP/1.1\r\n{HOST}\r\nX-A: a\x00b", 400, id="nul-in-header-value"),
    pytest.param(f"GET /healthz HTTP/1.1\r\n{HOST}\r\nX-A: a\rb", 400, id="cr-in-header-value"),
    pytest.param(f"GET /healthz HTTP/1.1\r\n{HOST}\r\nX A: b", 400, id="space-in-header-name"),
    pytest.param(f"GET /healthz HTTP/1.1\r\n{HOST}\r\nX-A: a\r\n b", 400, id="folded-header"),
    pytest.param(f"G(T /healthz HTTP/1.1\r\n{HOST}", 400, id="invalid-method"),
    pytest.param(f"GET /healthz HTTP/2.0\r\n{HOST}", 505, id="http-2-over-http-1"),
    pytest.param(f"GET /healthz HTTP/9.9\r\n{HOST}", 505, id="unknown-http-version"),
    pytest.param(f"GET /healthz HTTP/x.y\r\n{HOST}", 400, id="invalid-http-version"),
    pytest.param(
        f"POST /api/v1/login HTTP/1.1\r\n{HOST}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked",
        400,
        id="content-length-and-transfer-encoding",
    ),
    pytest.param(
        f"POST /api/v1/login HTTP/1.1\r\n{HOST}\r\nTransfer-Encoding: zstd, chunked",
        501,
        id="unknown-transfer-coding",
    ),
    pytest.param(
        f"GET /healthz HTTP/1.1\r\n{HOST}\r\nIf-Range: \x7fx\r\nRange: bytes=0-1",
        400,
        id="control-character-in-if-range",
    ),
    pytest.param(f"TRACE / HTTP/1.1\r\n{HOST}", 405, id="trace"),
    pytest.param(f"GET /metrics HTTP/1.1\r\n{HOST}", 404, id="metrics-not-public"),
    pytest.param("GET /healthz HTTP/1.1", 400, id="no-host"),
    pytest.param("NOT HTTP AT ALL", 400, id="not-http"),
]


@pytest.mark.parametrize(("head", "status"), REFUSED)
def test_every_refusal_behind_nginx_is_problem_json(stack, head, status):
    answer, _ = refusal(stack.port, head)
    assert_problem(answer, status)
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"


def test_a_refused_trace_says_which_methods_are_passed_on(stack):
    answer, _ = refusal(stack.port, f"TRACE /api/v1/users/me HTTP/1.1\r\n{HOST}")
    assert_problem(answer, 405)
    assert "TRACE" not in answer.headers["allow"]
    assert {"GET", "POST", "DELETE"} <= set(answer.headers["allow"].replace(",", " ").split())


def test_a_head_request_nginx_refuses_gets_the_head_of_the_problem(stack):
    answer, _ = refusal(stack.port, f"HEAD /metrics HTTP/1.1\r\n{HOST}\r\nConnection: close")
    assert answer.status == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.body == b""


def test_flaskous_own_errors_pass_through_as_they_are(stack):
    # proxy_intercept_errors is off: flaskou's 404 keeps its own detail.
    answer = exchange(stack.port, f"GET /api/v1/nothing-here HTTP/1.1\r\n{HOST}")
    assert_problem(answer, 404)
    assert answer.headers["x-request-id"]  # flaskou's answer, not nginx's


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(f"{line_of(4000)}\r\n{HOST}", id="4000-byte-request-line"),
        pytest.param(f"{line_of(GUNICORN_REQUEST_LINE)}\r\n{HOST}", id="line-at-gunicorns-limit"),
        pytest.param(f"GET /healthz HTTP/1.1\r\n{HOST}\r\nExpect: later", id="unknown-expect"),
        pytest.param(f"GET /healthz HTTP/1.0\r\n{HOST}", id="http-1.0"),
    ],
)
def test_what_nginx_and_gunicorn_accept_reaches_flaskou(stack, head):
    answer = exchange(stack.port, head)
    assert (answer.status, answer.json()) == (200, {"status": "ok"})
    assert answer.headers["x-request-id"]


def test_a_garbage_if_range_through_nginx_gets_the_whole_file(stack):
    name = f"ranger-{uuid.uuid4().hex[:8]}"
    password = "if-range password"
    status, _, _ = http(
        stack.base,
        "POST",
        "/api/v1/signup",
        {"username": name, "email": f"{name}@example.com", "password": password},
    )
    assert status == 201
    _, _, login = http(
        stack.base, "POST", "/api/v1/login", {"username": name, "password": password}
    )
    owner = f"Bearer {login['token']}"
    content = b"0123456789" * 10
    body, content_type = file_body(content, "range.txt")
    status, _, stored = http(
        stack.base,
        "POST",
        "/api/v1/files",
        headers={"Authorization": owner, "Content-Type": content_type},
        raw=body,
    )
    assert status == 201, stored
    answer = exchange(
        stack.port,
        f"GET /api/v1/files/{stored['id']}/content HTTP/1.1\r\n{HOST}\r\n"
        f"Authorization: {owner}\r\nRange: bytes=0-3\r\nIf-Range: garbage",
    )
    assert (answer.status, answer.body) == (200, content)


# --- the configuration itself: statuses nginx could make, not only today's ----


def problems_in_site() -> dict[str, tuple[int, dict]]:
    """{location: (status it returns, its problem)} under /_problems/ in docker/nginx.conf."""
    site = SITE.read_text()
    found = {}
    for location, status, body in re.findall(
        r"location = (/_problems/[\w-]+) \{[^}]*?return (\d+) '(\{.*?\})\\n';", site, re.S
    ):
        found[location] = (int(status), json.loads(body))
    return found


def error_pages_in_site() -> dict[int, tuple[int, str]]:
    """{status nginx makes: (status it answers, problem location)} from error_page."""
    pages = {}
    for codes, answer, target in re.findall(
        r"^\s*error_page ((?:\d+ )+)(?:=(\d+) )?(\S+);", SITE.read_text(), re.M
    ):
        for code in codes.split():
            pages[int(code)] = (int(answer or code), target)
    return pages


def flaskous_wording(status: int) -> set[tuple[str, str]]:
    """(type, title) pairs flaskou itself answers this status with: werkzeug's
    title through errors.problem, or a domain error's own slug and title."""
    import flaskou.files.routes  # noqa: F401  (its RangeNotSatisfiable)

    generic = json.loads(errors.problem(status).get_data())
    wordings = {(generic["type"], generic["title"])}
    pending = list(errors.DomainError.__subclasses__())
    while pending:
        kind = pending.pop()
        pending.extend(kind.__subclasses__())
        if kind.status == status:
            wordings.add((errors.PROBLEM_BASE + kind.slug, kind.title))
    return wordings


def test_every_status_nginx_can_make_has_a_problem_json_page():
    pages = error_pages_in_site()
    problems = problems_in_site()
    assert set(pages) >= NGINX_ERROR_STATUSES, NGINX_ERROR_STATUSES - set(pages)
    for status, (answer, target) in pages.items():
        assert target in problems, f"error_page {status} goes to {target}, which is not there"
        returned, problem = problems[target]
        assert returned == answer == problem["status"], (status, target)
        assert set(problem) == {"type", "title", "status", "detail"}
        assert (problem["type"], problem["title"]) in flaskous_wording(answer), problem


def test_a_plain_http_request_to_a_tls_port_is_a_problem_json_400(tmp_path):
    # The shipped site listens without TLS; the same site with a TLS listener
    # (as one might add) answers nginx's 497 with a problem, not a page.
    key, cert = str(tmp_path / "key.pem"), str(tmp_path / "cert.pem")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=flaskou.test",
            "-keyout",
            key,
            "-out",
            cert,
        ],
        check=True,
        capture_output=True,
    )
    closed = socket.socket()  # an upstream nobody listens on (never reached)
    closed.bind(("127.0.0.1", 0))
    proxy = Nginx([closed.getsockname()[1]] * 2, tmp_path / "nginx")
    site = proxy.directory / "site.conf"
    listen = f"listen 127.0.0.1:{proxy.port};"
    site.write_text(
        site.read_text().replace(
            listen,
            f"listen 127.0.0.1:{proxy.port} ssl;\n"
            f"    ssl_certificate {cert};\n    ssl_certificate_key {key};",
        )
    )
    proxy.start(through_to_flaskou=False)
    try:
        answer, _ = refusal(proxy.port, f"GET /healthz HTTP/1.1\r\n{HOST}")
        problem = assert_problem(answer, 400)
        assert "HTTPS" in problem["detail"]
    finally:
        proxy.stop()
        closed.close()
