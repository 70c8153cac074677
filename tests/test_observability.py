from __future__ import annotations

import json
import logging
import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flaskou.observability import FLUSH_SECONDS, JsonFormatter
from tests.support.server import Server


def test_request_ids_are_echoed_or_made(client):
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])
    hostile = client.get("/healthz", headers={"X-Request-ID": "x\u2028" + "y" * 300})
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["X-Request-ID"])


def test_one_json_line_per_request_without_secrets(client, accounts, caplog):
    ada = accounts.create("ada")
    caplog.set_level(logging.INFO, logger="flaskou.access")
    caplog.clear()
    client.get("/api/v1/users/me?x=1", headers={**ada.headers, "X-Request-ID": "req-1"})

    records = [r for r in caplog.records if r.name == "flaskou.access"]
    assert len(records) == 1
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["request_id"] == "req-1"
    assert line["method"] == "GET"
    assert line["path"] == "/api/v1/users/me"
    assert line["status"] == 200
    assert line["duration_ms"] >= 0
    assert line["user_id"] == ada.id
    assert ada.token not in json.dumps(line)


def test_login_lines_carry_no_password(client, accounts, caplog):
    accounts.signup("ada")
    caplog.set_level(logging.INFO)
    client.post("/api/v1/login", json={"username": "ada", "password": "the-secret-guess"})
    assert "the-secret-guess" not in caplog.text


def test_metrics_count_requests_by_route_and_status(client):
    client.get("/healthz")
    client.get("/api/v1/users/me")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'flaskou_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'flaskou_http_requests_total{method="GET",route="/api/v1/users/me",status="401"}' in text
    assert "flaskou_http_request_duration_seconds_bucket" in text


def _samples(registry, route):
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.labels.get("route") == route and not sample.name.endswith("_created")
    }


def test_counted_requests_reach_prometheus_as_if_observed_one_by_one():
    """The tallies a flush writes equal prometheus_client's own observe() of
    each request: the same count, sum and buckets, a duration equal to a
    bound counted in that bound's bucket (le means <=)."""
    from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

    from flaskou import observability

    route = "/test/tallies"
    durations = [0.0, 0.001, 0.005, 0.0050001, 0.01, 0.3, 1.0, 7.5, 60.0, 61.0, 1e9]
    for duration in durations:
        observability._observe("GET", route, 200, duration)
    observability._observe("GET", route, 404, 0.02)
    observability.flush_metrics()

    reference = CollectorRegistry()
    requests = Counter(
        "flaskou_http_requests_total", "", ["method", "route", "status"], registry=reference
    )
    latency = Histogram(
        "flaskou_http_request_duration_seconds",
        "",
        ["method", "route"],
        buckets=observability.LATENCY_BUCKETS,
        registry=reference,
    )
    for duration in durations:
        requests.labels("GET", route, "200").inc()
        latency.labels("GET", route).observe(duration)
    requests.labels("GET", route, "404").inc()
    latency.labels("GET", route).observe(0.02)
    assert _samples(REGISTRY, route) == _samples(reference, route)


def test_counted_requests_are_written_within_a_second_without_a_scrape(client):
    """An idle process's last requests are not left in memory: a timer
    flushes them (under gunicorn another worker may answer the scrapes)."""
    from prometheus_client import REGISTRY

    from flaskou.observability import flush_metrics

    flush_metrics()  # what earlier tests counted
    labels = {"method": "GET", "route": "/healthz", "status": "200"}
    before = REGISTRY.get_sample_value("flaskou_http_requests_total", labels) or 0
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    deadline = time.monotonic() + 3 * FLUSH_SECONDS
    while REGISTRY.get_sample_value("flaskou_http_requests_total", labels) != before + 3:
        assert time.monotonic() < deadline, "the counts were not written"
        time.sleep(0.05)


@pytest.mark.slow
def test_metrics_add_up_every_gunicorn_worker(app, migrated_database, tmp_path):
    server = Server(
        {
            "DATABASE_URL": migrated_database,
            "SECRET_KEY": "a-test-secret-that-is-long-enough",
            "INSTANCE_PATH": str(tmp_path / "instance"),
        },
        workers=2,
        log_path=tmp_path / "gunicorn.log",
    ).start()
    pattern = r'flaskou_http_requests_total\{method="GET",route="/healthz",status="200"\} (\S+)'
    try:
        for _ in range(40):
            server.request("GET", "/healthz")
        # Each worker writes its counts within a second (FLUSH_SECONDS) of its
        # requests, so a scrape answered by one worker may lack the other's
        # last second; then it has them, without further requests to it.
        deadline = time.monotonic() + 3 * FLUSH_SECONDS
        while True:
            _, _, body = server.request("GET", "/metrics")
            text = body.decode()
            match = re.search(pattern, text)
            # 40 from the loop plus the start-up probes; every worker's share is there
            if (match and float(match.group(1)) >= 40) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        server.stop()
    assert match, text[:2000]
    assert float(match.group(1)) >= 40
    log = (tmp_path / "gunicorn.log").read_text()
    lines = [json.loads(x) for x in log.splitlines() if x.startswith("{") and '"request"' in x]
    assert len({line["request_id"] for line in lines}) >= 40


def test_the_line_handler_writes_each_record_as_one_whole_line(tmp_path):
    from flaskou.observability import LineHandler

    target = tmp_path / "log"
    with target.open("wb") as stream:
        handler = LineHandler(stream)
        handler.setFormatter(JsonFormatter())
        logger = logging.getLogger("flaskou.test.lines")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        try:
            logger.warning('ünïcode and a "quote"', extra={"fields": {"n": 1}})
            try:
                raise ValueError("boom")
            except ValueError:
                logger.exception("failed")
            logger.info("x" * 70_000)  # longer than a pipe takes in one write
        finally:
            logger.removeHandler(handler)
    lines = target.read_bytes().decode().splitlines()
    assert len(lines) == 3
    first, failure, long = (json.loads(line) for line in lines)
    assert first["msg"] == 'ünïcode and a "quote"' and first["n"] == 1
    assert "ValueError: boom" in failure["exc"]
    assert long["msg"] == "x" * 70_000


def test_the_line_handler_falls_back_to_a_stream_without_a_file(caplog):
    import io

    from flaskou.observability import LineHandler

    stream = io.StringIO()
    handler = LineHandler(stream)
    record = logging.LogRecord("flaskou.test", logging.INFO, __file__, 1, "hello", None, None)
    handler.handle(record)
    assert stream.getvalue() == "hello\n"


@pytest.fixture
def json_lines_to(tmp_path, monkeypatch, caplog):
    """Logging as `configure_logging` leaves it in production: the root
    logger's one handler writes JSON lines, here to a file. Called in the
    test itself: pytest adds its capture handlers when the test starts."""
    from flaskou.observability import LineHandler

    caplog.set_level(logging.INFO, logger="flaskou.access")
    stream = (tmp_path / "log").open("wb")
    handler = LineHandler(stream)
    handler.setFormatter(JsonFormatter())

    def install():
        monkeypatch.setattr(logging.getLogger(), "handlers", [handler])
        return handler, tmp_path / "log"

    yield install
    stream.close()


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_access_line_goes_straight_to_the_sole_json_handler(client, json_lines_to, monkeypatch):
    from flaskou import observability

    _, path = json_lines_to()

    def no_record(*args, **kwargs):
        raise AssertionError("the access line went through a log record")

    monkeypatch.setattr(observability.access_log, "makeRecord", no_record)
    client.get("/healthz?secret=1", headers={"X-Request-ID": "req-7"})

    (line,) = _lines(path)
    # What JsonFormatter makes of the record logging would have made, key for key.
    assert list(line) == [
        "ts", "level", "logger", "msg",
        "request_id", "method", "path", "route", "status", "duration_ms", "user_id", "ip",
    ]  # fmt: skip
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["ts"])
    assert line | {"ts": None, "duration_ms": None} == {
        "ts": None,
        "level": "info",
        "logger": "flaskou.access",
        "msg": "request",
        "request_id": "req-7",
        "method": "GET",
        "path": "/healthz",
        "route": "/healthz",
        "status": 200,
        "duration_ms": None,
        "user_id": None,
        "ip": "127.0.0.1",
    }


def test_the_access_line_is_logged_as_a_record_when_logging_is_configured_otherwise(
    client, json_lines_to
):
    handler, path = json_lines_to()
    seen = []

    def keep(record):
        seen.append(record.fields["path"])
        return True

    handler.addFilter(keep)  # a filter: it must see the record
    client.get("/healthz")
    assert seen == ["/healthz"]
    assert [line["path"] for line in _lines(path)] == ["/healthz"]


@pytest.mark.parametrize(
    ("path", "user_id", "ip", "duration_ms"),
    [
        ("/healthz", None, "127.0.0.1", 0.5),
        ('/a "quoted" \\ path\u2028 ünï \x01\x7f \U0001f600', "5f0c", None, 1234567.89),
        (None, None, None, 0.0),
        ("/x", "", "::1", 1e-05),
    ],
)
def test_the_access_line_written_by_hand_is_what_the_formatter_makes(
    path, user_id, ip, duration_ms
):
    from flaskou.observability import access_line

    formatter = JsonFormatter()
    fields = {
        "request_id": 'id-"1"',
        "method": "GET",
        "path": path,
        "route": "/files/<file_id>",
        "status": 404,
        "duration_ms": duration_ms,
        "user_id": user_id,
        "ip": ip,
    }
    created = 1_795_000_000.123456
    by_hand = access_line(formatter, created, **fields)
    assert by_hand == formatter.line(created, "info", "flaskou.access", "request", fields)
    assert json.loads(by_hand)["path"] == path


@given(
    text=st.text(),
    maybe=st.none() | st.text(),
    status=st.integers(100, 599),
    duration_ms=st.floats(min_value=0, max_value=1e9, allow_nan=False),
)
def test_any_access_line_written_by_hand_is_what_the_formatter_makes(
    text, maybe, status, duration_ms
):
    from flaskou.observability import access_line

    formatter = JsonFormatter()
    fields = {
        "request_id": text,
        "method": text,
        "path": maybe,
        "route": text,
        "status": status,
        "duration_ms": duration_ms,
        "user_id": maybe,
        "ip": maybe,
    }
    by_hand = access_line(formatter, 1_795_000_000.5, **fields)
    assert by_hand == formatter.line(1_795_000_000.5, "info", "flaskou.access", "request", fields)
