"""Slow and idle clients never stop others from being served by gunicorn, as
`make run` (one worker) and the container (WEB_CONCURRENCY workers) run it:
with gunicorn.conf.py, whose gevent workers give a waiting client a greenlet,
not one of a handful of threads."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from tests.support.multipart import file_body
from tests.support.server import Server, http
from tests.support.slowclients import PAUSE, PROMPT, SlowClients, ordinary_visit
from tests.support.slowclients import sign_up_and_log_in as log_in

pytestmark = pytest.mark.slow

PASSWORD = "slow clients password"


def environment(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "slow-clients-secret-slow-clients-secret",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "RATE_LIMIT_LOGIN": "1000 per minute",
        "RATE_LIMIT_SIGNUP": "1000000 per hour",
        "RATE_LIMIT_MAIL": "1000000 per hour",
    }


# One worker as `make run` serves; two as compose.yaml's WEB_CONCURRENCY.
@pytest.fixture(params=[1, 2], ids=["make-run", "container"])
def server(request, app, migrated_database, tmp_path):
    server = Server(
        environment(migrated_database, tmp_path),
        workers=request.param,
        log_path=tmp_path / "gunicorn.log",
    ).start()
    yield server
    server.stop()


def test_eighty_slow_clients_do_not_stop_anyone_else(server):
    token = log_in(server.base, "uploader", PASSWORD)
    with SlowClients(server.port, token=token) as crowd:
        # 30 never-ending request heads, 10 logins whose 100,000-byte bodies
        # come 4 bytes at a time, 20 uploads at 256 bytes a second and 20
        # signed-in JSON bodies at a byte every 2 s: more signed-in requests
        # than a worker has database connections (5 + 10 overflow), so none
        # may hold one while it waits for its body.
        crowd.trickle_heads(30).trickle_login_bodies(10)
        crowd.trickle_uploads(20).trickle_json_bodies(20)
        crowd.wait_connected()
        time.sleep(PAUSE + 1)  # every one of them has started, and is waiting

        slowest: dict[str, float] = {}
        for visit in range(4):
            durations = ordinary_visit(server.base, f"visitor{visit}", PASSWORD)
            for label, seconds in durations.items():
                slowest[label] = max(slowest.get(label, 0), seconds)
            time.sleep(1)

        # The bodies are still coming, and the server still waits for them...
        assert crowd.connected["login"] == 10
        assert crowd.connected["upload"] == 20
        assert crowd.connected["json"] == 20
        # ...while a head that never ends is cut off (after `keepalive` seconds).
        assert crowd.hung_up["head"] >= 30
    assert max(slowest.values()) < PROMPT, slowest


def test_uploads_to_s3_side_by_side_do_not_stall_the_worker(
    app, migrated_database, tmp_path, s3_server
):
    # Publishing to S3 waits on a socket; if that happened inside the upload's
    # write transaction, another upload's write would wait on SQLite's busy
    # timeout with the whole worker stopped (15 s, then 503, and the worker
    # killed for missing its heartbeat).
    bucket = f"slow-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(bucket)
    env = {**environment(migrated_database, tmp_path), "S3_BUCKET": bucket}
    del env["UPLOAD_DIR"]
    server = Server(env, log_path=tmp_path / "gunicorn.log").start()
    try:
        tokens = [log_in(server.base, f"s3user{n}", PASSWORD) for n in range(4)]
        body, content_type = file_body(os.urandom(4096), "side-by-side.bin")
        answers: list[tuple[int, float]] = []
        until = time.monotonic() + 5

        def keep_uploading(token: str) -> None:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
            while time.monotonic() < until:
                started = time.monotonic()
                status = http(
                    server.base, "POST", "/api/v1/files", headers=headers, raw=body, timeout=30
                )[0]
                answers.append((status, time.monotonic() - started))

        uploaders = [threading.Thread(target=keep_uploading, args=(t,)) for t in tokens]
        for uploader in uploaders:
            uploader.start()
        for uploader in uploaders:
            uploader.join()
    finally:
        server.stop()
    assert Counter(status for status, _ in answers) == {201: len(answers)}
    assert len(answers) >= 8
    assert max(seconds for _, seconds in answers) < PROMPT
    assert "WORKER TIMEOUT" not in (tmp_path / "gunicorn.log").read_text()


@pytest.mark.engine_independent
def test_two_instances_started_from_one_directory_both_serve(app, migrated_database, tmp_path):
    # gunicorn's default control socket is one path per user ($XDG_RUNTIME_DIR
    # or ~/.gunicorn): here, a home of the test's own, shared by both.
    home = tmp_path / "home"
    home.mkdir()
    env = {**environment(migrated_database, tmp_path), "HOME": str(home)}
    env["XDG_RUNTIME_DIR"] = str(home)
    own_socket = tmp_path / "second.ctl"
    first = Server(env, log_path=tmp_path / "first.log").start()
    second = Server(
        {**env, "GUNICORN_CONTROL_SOCKET": str(own_socket)}, log_path=tmp_path / "second.log"
    ).start()
    try:
        for server in (first, second, first):
            assert server.request("GET", "/healthz")[0] == 200
        # No socket at the shared path; the second has the one it was given.
        assert sorted(path.name for path in home.rglob("*")) == []
        assert own_socket.is_socket()
    finally:
        second.stop()
        first.stop()
    for log in ("first.log", "second.log"):
        assert "Failed to start control socket" not in (tmp_path / log).read_text()


@pytest.mark.engine_independent
def test_gunicorns_access_log_keeps_no_query_string(app, migrated_database, tmp_path):
    env = {**environment(migrated_database, tmp_path), "GUNICORN_ACCESS_LOG": "-"}
    server = Server(env, log_path=tmp_path / "gunicorn.log").start()
    try:
        assert server.request("GET", "/healthz?token=s3cret-in-a-query")[0] == 200
        status, _, _ = http(
            server.base,
            "GET",
            "/api/v1/users/me?password=an0ther-s3cret&x=1",
            headers={"X-Request-ID": "query-free"},
        )
        assert status == 401
    finally:
        server.stop()
    log = (tmp_path / "gunicorn.log").read_text()
    # gunicorn's own access lines (flaskou's are JSON, and hold no query either)
    access = [line for line in log.splitlines() if 'HTTP/1.1" ' in line and line[0] != "{"]
    me = [line for line in access if "/api/v1/users/me" in line]
    assert len(me) == 1, log
    assert '"GET /api/v1/users/me HTTP/1.1" 401' in me[0]
    assert me[0].endswith(" query-free")  # the request id, for lining logs up
    assert any('"GET /healthz HTTP/1.1" 200' in line for line in access)
    assert not any("?" in line for line in access), access
    assert "s3cret" not in log


@pytest.mark.engine_independent
def test_ctrl_c_stops_make_run_at_once_and_quietly(app, migrated_database, tmp_path):
    for attempt in range(3):  # the traceback it used to print came and went
        log = tmp_path / f"gunicorn-{attempt}.log"
        server = Server(environment(migrated_database, tmp_path), log_path=log).start()
        assert server.process is not None
        os.killpg(server.process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        assert server.process.wait(timeout=10) == 0
        server.stop()
        text = log.read_text()
        assert "Shutting down: Master" in text
        assert "Traceback" not in text and "SystemExit" not in text, text
