"""gunicorn's gevent worker with flaskou: a request waiting on PostgreSQL yields.

psycopg waits for the server through `select`, which the gevent worker
monkey-patches before it loads flaskou; so one worker, with one request stuck
on a row lock for seconds, goes on serving everyone else. (Were psycopg to
wait in C, as it does without the patch, the whole worker would stop.)
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from sqlalchemy import create_engine, text

from tests.support.multipart import file_body
from tests.support.server import Server

pytestmark = pytest.mark.slow

PASSWORD = "a patient password"
PROMPTLY = 2.0


def log_in(server: Server, name: str) -> dict[str, str]:
    status, _, body = server.request(
        "POST",
        "/api/v1/signup",
        {"username": name, "email": f"{name}@example.com", "password": PASSWORD},
    )
    assert status == 201, body
    status, _, body = server.request(
        "POST", "/api/v1/login", {"username": name, "password": PASSWORD}
    )
    assert status == 200, body
    return {"Authorization": f"Bearer {body['token']}"}


def test_a_request_waiting_on_a_row_lock_does_not_stop_the_worker(
    app, migrated_database, db_engine_name, tmp_path
):
    if db_engine_name != "postgresql":
        pytest.skip("SQLite does not wait on a socket")
    server = Server(
        {
            "DATABASE_URL": migrated_database,
            "SECRET_KEY": "a-test-secret-that-is-long-enough",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "UPLOAD_DIR": str(tmp_path / "files"),
            "RATE_LIMIT_LOGIN": "1000 per minute",
            "RATE_LIMIT_SIGNUP": "1000000 per hour",
            "RATE_LIMIT_MAIL": "1000000 per hour",
        },
        workers=1,  # as `make run`: nothing else could serve meanwhile
        log_path=tmp_path / "gunicorn.log",
    ).start()
    engine = create_engine(migrated_database)
    try:
        patient = log_in(server, "patient")
        answers: list[int] = []

        def upload() -> None:
            # Publishing an upload locks its owner's row first: this one waits.
            body, content_type = file_body(b"waits for the lock", "wait.txt")
            status, _, _ = server.request(
                "POST",
                "/api/v1/files",
                headers={**patient, "Content-Type": content_type},
                raw=body,
            )
            answers.append(status)

        with engine.connect() as holder:
            # PostgreSQL ends the holder after 10 s whatever happens, so a
            # stuck worker fails this test in bounded time instead of hanging it.
            holder.execute(text("SET idle_in_transaction_session_timeout = '10s'"))
            holder.execute(text("SELECT id FROM users WHERE username = 'patient' FOR UPDATE"))
            waiting = threading.Thread(target=upload)
            waiting.start()
            time.sleep(0.5)  # the upload has reached the lock
            for _ in range(3):
                started = time.monotonic()
                assert server.request("GET", "/healthz")[0] == 200
                other = log_in(server, "u" + uuid.uuid4().hex[:12])
                assert server.request("GET", "/api/v1/users/me", headers=other)[0] == 200
                took = time.monotonic() - started
                assert took < 3 * PROMPTLY, f"served in {took:.1f}s while one request waited"
            assert answers == [], "the upload must still be waiting for the row lock"
            holder.rollback()
        waiting.join(timeout=30)
        assert answers == [201]
    finally:
        engine.dispose()
        server.stop()
