"""Fixtures shared by every test: a migrated database on SQLite or PostgreSQL,
an app, a client, a CLI runner and helpers that make users.

Run with `--db=sqlite` (default) or `--db=postgresql`; the PostgreSQL run
starts its own throwaway server unless FLASKOU_TEST_POSTGRES_URL is given.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import text

from flaskou import Settings, create_app
from flaskou.extensions import db
from tests.support import smtp as smtp_support
from tests.support.postgres import PostgresCluster

DEFAULT_PASSWORD = "correct horse battery"

smtp_server = smtp_support.smtp_server  # a real SMTP server on loopback (aiosmtpd)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="database engine the suite runs against",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that bring their own PostgreSQL (or need none) run once, in the SQLite run."""
    if config.getoption("--db") == "sqlite":
        return
    once = [item for item in items if item.get_closest_marker("engine_independent")]
    if once:
        config.hook.pytest_deselected(items=once)
        items[:] = [item for item in items if not item.get_closest_marker("engine_independent")]


def pytest_report_header(config: pytest.Config) -> str:
    return f"flaskou database engine: {config.getoption('--db')}"


@pytest.fixture(scope="session")
def db_engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--db"))


@pytest.fixture(scope="session")
def postgres_cluster(db_engine_name: str) -> Iterator[PostgresCluster | None]:
    if db_engine_name != "postgresql" or os.environ.get("FLASKOU_TEST_POSTGRES_URL"):
        yield None
        return
    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def database_url(
    db_engine_name: str,
    postgres_cluster: PostgresCluster | None,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    if db_engine_name == "sqlite":
        return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "flaskou.sqlite3")
    if postgres_cluster is not None:
        return postgres_cluster.create_database("flaskou_test")
    return os.environ["FLASKOU_TEST_POSTGRES_URL"]


def make_settings(database_url: str, instance_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "instance_path": str(instance_path),
        "testing": True,
        "rate_limit_login": "1000 per minute",
        # Tests sign up (and ask for mail) from one address far more often
        # than a person would; the tests of these limits set their own.
        "rate_limit_signup": "100000 per hour",
        "rate_limit_mail": "100000 per hour",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def migrated_database(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    app = create_app(make_settings(database_url, tmp_path_factory.mktemp("instance")))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return database_url


def truncate_all() -> None:
    tables = list(reversed(db.metadata.sorted_tables))
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{table.name}"' for table in tables)
        db.session.execute(text(f"TRUNCATE {names} CASCADE"))
    else:
        for table in tables:
            db.session.execute(table.delete())
    db.session.commit()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a module or test to change the app's settings."""
    return {}


@pytest.fixture
def app(
    migrated_database: str, tmp_path: Path, settings_overrides: dict[str, Any]
) -> Iterator[Any]:
    app = create_app(make_settings(migrated_database, tmp_path / "instance", **settings_overrides))
    with app.app_context():
        yield app
        db.session.remove()
        truncate_all()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Any) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


@dataclass
class Account:
    username: str
    email: str
    password: str
    token: str
    id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Accounts:
    """Makes users through the public API and logs them in."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def signup(self, username: str | None = None, **fields: Any) -> dict[str, Any]:
        username = username or "u" + uuid.uuid4().hex[:10]
        body = {
            "username": username,
            "email": fields.pop("email", f"{username}@example.com"),
            "password": fields.pop("password", DEFAULT_PASSWORD),
        }
        response = self.client.post("/api/v1/signup", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def login(self, username: str, password: str = DEFAULT_PASSWORD, **headers: str) -> str:
        response = self.client.post(
            "/api/v1/login", json={"username": username, "password": password}, headers=headers
        )
        assert response.status_code == 200, response.get_json()
        return str(response.get_json()["token"])

    def create(self, username: str | None = None, **fields: Any) -> Account:
        password = fields.get("password", DEFAULT_PASSWORD)
        user = self.signup(username, **fields)
        token = self.login(user["username"], password)
        return Account(user["username"], user["email"], password, token, user["id"])

    def create_admin(self, username: str | None = None) -> Account:
        from flaskou.accounts import service

        username = username or "admin" + uuid.uuid4().hex[:8]
        service.create_admin(username, f"{username}@example.com", DEFAULT_PASSWORD)
        token = self.login(username)
        user = self.client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}
        ).get_json()
        return Account(username, user["email"], DEFAULT_PASSWORD, token, user["id"])


@pytest.fixture
def accounts(client: FlaskClient) -> Accounts:
    return Accounts(client)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Any]:
    from tests.support.redis import RedisServer

    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def app_factory(migrated_database: str, tmp_path: Path) -> Iterator[Any]:
    """Makes extra apps (another 'instance'); their connections are closed after the test."""
    made: list[Any] = []

    def make(**overrides: Any) -> Any:
        instance = tmp_path / f"instance-{len(made)}"
        app = create_app(make_settings(migrated_database, instance, **overrides))
        made.append(app)
        return app

    yield make
    for extra in made:
        with extra.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[Any]:
    from tests.support.s3 import S3Server

    server = S3Server().start()
    saved = {key: os.environ.get(key) for key in server.environment}
    os.environ.update(server.environment)
    try:
        yield server
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()
