"""Real services for the production tests: PostgreSQL, Redis, gunicorn instances."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask_migrate import upgrade

from flaskou import Settings, create_app
from flaskou.extensions import db
from tests.support.postgres import PostgresCluster
from tests.support.server import Server

SECRET = "production-test-secret-production-test-secret"


def migrate(database_url: str, instance: Path) -> None:
    app = create_app(Settings(database_url=database_url, instance_path=str(instance), testing=True))
    with app.app_context():
        upgrade()
        db.engine.dispose()


def make_admin(database_url: str, instance: Path, username: str, password: str) -> None:
    from flaskou.accounts import service

    app = create_app(Settings(database_url=database_url, instance_path=str(instance), testing=True))
    with app.app_context():
        service.create_admin(username, f"{username}@example.com", password)
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def cluster() -> Any:
    cluster = PostgresCluster().start()
    yield cluster
    cluster.destroy()


def start_instances(count: int, env: dict[str, str], tmp: Path) -> list[Server]:
    servers = []
    for index in range(count):
        servers.append(Server(env, workers=1, log_path=tmp / f"instance-{index}.log").start())
    return servers
