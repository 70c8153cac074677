"""The requests gunicorn refuses itself, before flaskou sees them, are refused
in flaskou's words: problem+json, never an HTML page or a traceback.

Spoken over raw sockets (no client library sends these) to a real gunicorn
with the shipped gunicorn.conf.py, whose worker is flaskou.serving's.
"""

from __future__ import annotations

import json
import uuid

import pytest

from flaskou import errors
from flaskou.serving import problem_bytes
from tests.support.multipart import file_body
from tests.support.rawhttp import assert_problem, exchange, refusal
from tests.support.server import Server, http

pytestmark = [pytest.mark.slow, pytest.mark.engine_independent]

# gunicorn's limits (its defaults; gunicorn.conf.py leaves them).
REQUEST_LINE = 4094
HEADER_FIELD = 8190
HEADER_COUNT = 100
# Put in every malformed header: gunicorn's log may name a header, never show its value.
SECRET = "s3cret-header-value"
HOST = "Host: flaskou"


@pytest.fixture(scope="module")
def server(migrated_database, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("transport")
    server = Server(
        {
            "DATABASE_URL": migrated_database,
            "SECRET_KEY": "transport-errors-secret-transport-errors",
            "INSTANCE_PATH": str(tmp / "instance"),
            "UPLOAD_DIR": str(tmp / "uploads"),
            "RATE_LIMIT_LOGIN": "1000 per minute",
            "RATE_LIMIT_SIGNUP": "1000000 per hour",
            "RATE_LIMIT_MAIL": "1000000 per hour",
        },
        log_path=tmp / "gunicorn.log",
    ).start()
    yield server
    server.stop()


def request_line_of(length: int) -> str:
    """GET /healthz?aaa... HTTP/1.1, exactly `length` bytes long."""
    fixed = len("GET /healthz? HTTP/1.1")
    return f"GET /healthz?{'a' * (length - fixed)} HTTP/1.1"


def header_of(length: int) -> str:
    """One header line, exactly `length` bytes long with its CRLF (as gunicorn counts)."""
    return "X-Big: " + "a" * (length - len("X-Big: ") - 2)


REFUSED = [
    pytest.param(f"{request_line_of(REQUEST_LINE + 1)}\r\n{HOST}", 414, id="request-line-too-long"),
    pytest.param(
        f"GET /healthz HTTP/1.1\r\n{HOST}\r\n{header_of(HEADER_FIELD + 1)}",
        431,
        id="header-too-large",
    ),
    pytest.param(
        f"GET /healthz HTTP/1.1\r\n{HOST}\r\n"
        + "\r\n".join(f"X-Header-{n}: {n}" for n in range(HEADER_COUNT)),
        431,
        id="more-than-100-headers",
    ),
    pytest.param(
        f"GET /healthz HTTP/1.1\r\n{HOST}\r\nAuthorization: Bearer {SECRET}\x00",
        400,
        id="nul-in-header-value",
    ),
    pytest.param(
        f"GET /healthz HTTP/1.1\r\n{HOST}\r\nAuthorization: Bearer {SECRET}\rX-Injected: 1",
        400,
        id="cr-in-header-value",
    ),
    pytest.param(
        f"GET /healthz HTTP/1.1\r\n{HOST}\r\nX Token: {SECRET}",
        400,
        id="space-in-header-name",
    ),
    pytest.param(
        f"GET /healthz HTTP/1.1\r\n{HOST}\r\nX-Token: one\r\n {SECRET}",
        400,
        id="folded-header",
    ),
    pytest.param(f"G(T /healthz HTTP/1.1\r\n{HOST}", 400, id="invalid-method"),
    pytest.param(f"GET /healthz HTTP/2.0\r\n{HOST}", 400, id="invalid-http-version"),
    pytest.param("GET /healthz HTTP/1.1\r\nHost: flaskou\r\nHost: other", 400, id="two-hosts"),
    pytest.param(
        f"POST /api/v1/login HTTP/1.1\r\n{HOST}\r\nContent-Type: application/json\r\n"
        "Content-Length: 5\r\nTransfer-Encoding: chunked",
        400,
        id="content-length-and-transfer-encoding",
    ),
    pytest.param(
        f"POST /api/v1/login HTTP/1.1\r\n{HOST}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: zstd, chunked",
        501,
        id="unknown-transfer-coding",
    ),
    pytest.param(f"GET /healthz HTTP/1.1\r\n{HOST}\r\nExpect: {SECRET}", 417, id="bad-expect"),
    pytest.param(
        f"GET /healthz HTTP/1.1\r\n{HOST}\r\nIf-Range: \x7f{SECRET}\r\nRange: bytes=0-1",
        400,
        id="control-character-in-if-range",
    ),
    pytest.param("NOT HTTP AT ALL", 400, id="not-http"),
]


@pytest.mark.parametrize(("head", "status"), REFUSED)
def test_gunicorn_refuses_in_problem_json_and_closes(server, head, status):
    answer, closed = refusal(server.port, head)

    problem = assert_problem(answer, status)
    assert answer.headers["connection"] == "close"
    assert closed, "the connection stays open after a request that could not be parsed"
    # flaskou's header policy, as on every API answer
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"
    # Said in flaskou's words: nothing of the request echoed back.
    assert SECRET not in answer.body.decode("latin-1")
    assert "gunicorn" not in problem["detail"].lower()


def test_the_log_says_what_was_refused_but_quotes_no_header_value_or_query(server):
    for case in REFUSED:
        head, status = case.values
        assert refusal(server.port, head)[0].status == status
    assert (
        refusal(server.port, f"GET /healthz?token={SECRET} HTTP/1.1 extra\r\n{HOST}")[0].status
        == 400
    )

    log = server.log_path.read_text()
    warnings = [line for line in log.splitlines() if "Invalid request from ip=127.0.0.1" in line]
    assert len(warnings) >= len(REFUSED)
    assert any("Unable to comply with expectation" in line for line in warnings)
    assert any("'IF-RANGE'" in line for line in warnings)  # names stay
    assert SECRET not in log
    assert "Traceback" not in log


@pytest.mark.parametrize(
    ("head", "status"),
    [
        ("NOT HTTP AT ALL", 400),
        (f"{request_line_of(REQUEST_LINE + 1)}\r\n{HOST}", 414),
        (f"GET /healthz HTTP/1.1\r\n{HOST}\r\nExpect: later", 417),
        (f"GET /healthz HTTP/1.1\r\n{HOST}\r\n{header_of(HEADER_FIELD + 1)}", 431),
        (f"POST /healthz HTTP/1.1\r\n{HOST}\r\nTransfer-Encoding: zstd, chunked", 501),
    ],
    ids=["400", "414", "417", "431", "501"],
)
def test_types_and_titles_are_the_ones_flaskou_gives_the_same_status(server, head, status):
    answer, _ = refusal(server.port, head)
    from_gunicorn = assert_problem(answer, status)
    from_flaskou = json.loads(errors.problem(status).get_data())
    assert (from_gunicorn["type"], from_gunicorn["title"]) == (
        from_flaskou["type"],
        from_flaskou["title"],
    )


def test_the_limits_say_what_they_are(server):
    line, _ = refusal(server.port, f"{request_line_of(REQUEST_LINE + 1)}\r\n{HOST}")
    assert str(REQUEST_LINE) in line.json()["detail"]
    head, _ = refusal(server.port, f"GET / HTTP/1.1\r\n{HOST}\r\n{header_of(HEADER_FIELD + 1)}")
    assert str(HEADER_FIELD) in head.json()["detail"]
    assert str(HEADER_COUNT) in head.json()["detail"]


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(f"{request_line_of(4000)}\r\n{HOST}", id="4000-byte-request-line"),
        pytest.param(f"{request_line_of(REQUEST_LINE)}\r\n{HOST}", id="request-line-at-limit"),
        pytest.param(
            f"GET /healthz HTTP/1.1\r\n{HOST}\r\n{header_of(HEADER_FIELD)}", id="header-at-limit"
        ),
        pytest.param(
            "GET /healthz HTTP/1.1\r\n"
            + "\r\n".join([HOST, *(f"X-Header-{n}: {n}" for n in range(HEADER_COUNT - 1))]),
            id="100-headers",
        ),
    ],
)
def test_what_gunicorn_accepts_reaches_flaskou(server, head):
    answer = exchange(server.port, head)
    assert (answer.status, answer.json()) == (200, {"status": "ok"})
    assert answer.headers["x-request-id"]  # set by flaskou, not gunicorn


def test_a_garbage_if_range_is_flaskous_to_answer_and_it_sends_the_whole_file(server):
    # A well-formed header whose value is no validator at all: gunicorn passes
    # it on; flaskou ignores the Range (RFC 9110 13.1.5) and sends everything.
    name = f"ranger-{uuid.uuid4().hex[:8]}"
    password = "if-range password"
    status, _, _ = server.request(
        "POST",
        "/api/v1/signup",
        {"username": name, "email": f"{name}@example.com", "password": password},
    )
    assert status == 201
    _, _, login = server.request("POST", "/api/v1/login", {"username": name, "password": password})
    owner = {"Authorization": f"Bearer {login['token']}"}
    content = b"0123456789" * 10
    body, content_type = file_body(content, "range.txt")
    status, _, stored = http(
        server.base,
        "POST",
        "/api/v1/files",
        headers={**owner, "Content-Type": content_type},
        raw=body,
    )
    assert status == 201, stored

    for garbage in ["garbage", '"unterminated', "W/", "Tue, 99 Foo 2020 99:99:99 GMT", ",,,"]:
        answer = exchange(
            server.port,
            f"GET /api/v1/files/{stored['id']}/content HTTP/1.1\r\n{HOST}\r\n"
            f"Authorization: {owner['Authorization']}\r\nRange: bytes=0-3\r\nIf-Range: {garbage}",
        )
        assert (answer.status, answer.body) == (200, content), garbage
    # The static files of the web app, served by werkzeug, do the same.
    page = exchange(
        server.port,
        f"GET /static/app/app.css HTTP/1.1\r\n{HOST}\r\nRange: bytes=0-3\r\nIf-Range: x",
    )
    assert page.status == 200
    assert int(page.headers["content-length"]) > 4


def test_a_failure_in_gunicorns_handler_is_a_500_that_says_nothing_more():
    # What gunicorn answers when flaskou itself sends a header it refuses
    # (no flaskou route does): a 500, flaskou's words, no client blamed.
    from gunicorn.config import Config
    from gunicorn.http.errors import InvalidResponseHeader

    raw = problem_bytes(
        500, "Internal Server Error", InvalidResponseHeader(SECRET), Config()
    ).decode("latin-1")
    head, _, body = raw.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 500 Internal Server Error\r\n")
    assert "Content-Type: application/problem+json" in head
    assert f"Content-Length: {len(body)}" in head
    assert SECRET not in raw
    assert '"detail": "Something went wrong on our side; it has been logged."' in body
