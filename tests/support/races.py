"""Helpers for race tests: many requests released at once, and what they left behind."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from flaskou.audit.models import AuditEvent
from flaskou.extensions import db
from tests.support.multipart import file_body
from tests.support.server import Server

PASSWORD = "correct horse battery"


def server_env(
    database_url: str, tmp_path: Path, overrides: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Environment for a gunicorn on the test's database (and storage, when given)."""
    overrides = overrides or {}
    env = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "a-test-secret-that-is-long-enough",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "RATE_LIMIT_LOGIN": "1000 per minute",
        "RATE_LIMIT_SIGNUP": "1000000 per hour",
        "RATE_LIMIT_MAIL": "1000000 per hour",
        "GUNICORN_THREADS": "8",
    }
    if "s3_bucket" in overrides:
        env["S3_BUCKET"] = overrides["s3_bucket"]
    else:
        env["UPLOAD_DIR"] = str(overrides.get("upload_dir") or tmp_path / "uploads")
    return env


@contextmanager
def gunicorn(env: dict[str, str], tmp_path: Path, workers: int = 2) -> Iterator[Server]:
    server = Server(env, workers=workers, log_path=tmp_path / "gunicorn.log").start()
    try:
        yield server
    finally:
        server.stop()


def at_once(calls: list[Callable[[], Any]], timeout: float = 60) -> list[Any]:
    """Run the calls in threads released together by a barrier; answer their results."""
    barrier = threading.Barrier(len(calls), timeout=timeout)
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "requests did not finish"
    if errors:
        raise errors[0]
    return results


def signup_and_login(server: Server, name: str, *, admin: bool = False) -> str:
    """A new account with a session on the server; answers its bearer token."""
    if admin:
        from flaskou.accounts import service

        service.create_admin(name, f"{name}@example.com", PASSWORD)
    else:
        status, _, body = server.request(
            "POST",
            "/api/v1/signup",
            {"username": name, "email": f"{name}@example.com", "password": PASSWORD},
        )
        assert status == 201, body
    return login(server, name)


def login(server: Server, name: str) -> str:
    status, _, body = server.request(
        "POST", "/api/v1/login", {"username": name, "password": PASSWORD}
    )
    assert status == 200, body
    return str(body["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def count_events(action: str, target: str | None = None) -> int:
    """Audit events of this action (and target) in the database, as committed."""
    db.session.remove()
    query = select(func.count(AuditEvent.id)).where(AuditEvent.action == action)
    if target is not None:
        query = query.where(AuditEvent.target == target)
    return int(db.session.scalar(query) or 0)


def upload_over_http(server: Server, token: str, content: bytes = b"hello") -> dict[str, Any]:
    body, content_type = file_body(content, "hello.txt")
    status, _, stored = server.request(
        "POST", "/api/v1/files", raw=body, headers={**bearer(token), "Content-Type": content_type}
    )
    assert status == 201, stored
    return dict(stored)
