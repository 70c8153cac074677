"""flaskou: accounts, revocable login sessions, roles and per-user files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from apiflask import APIFlask
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from flaskou.settings import ConfigError, Settings

__all__ = ["ConfigError", "Settings", "create_app"]

MIGRATIONS_DIR = str(Path(__file__).parent / "migrations")


def _database_url(settings: Settings, instance_path: str) -> str:
    if settings.database_url:
        return settings.database_url
    return "sqlite:///" + os.path.join(instance_path, "flaskou.sqlite3")


# Connections per worker process: up to 15 at once (a gevent worker serves
# many requests concurrently), and 10 kept open between bursts. SQLAlchemy's
# default keeps 5: at a steady 6-15 requests in flight a worker would then
# open and close a connection for every request (on PostgreSQL a new server
# process each time).
POOL = {"pool_size": 10, "max_overflow": 5}


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("postgresql"):
        # No pre-ping (a round trip on every checkout): a connection the
        # server closed is noticed at checkout without one (_discard_if_gone).
        return {**POOL, "connect_args": {"connect_timeout": 5}}
    return {**POOL, "connect_args": {"timeout": 15}}


def create_app(settings: Settings | None = None) -> APIFlask:
    settings = settings or Settings.from_env()
    from flaskou.application import FlaskouApp

    app = FlaskouApp(
        __name__,
        title="flaskou",
        version="1",
        instance_path=settings.instance_path,
        instance_relative_config=False,
        spec_path="/api/v1/openapi.json",
        # /api/docs is flaskou's own page (web.py): Swagger UI under a strict CSP.
        docs_path=None,
        json_errors=False,
    )
    os.makedirs(app.instance_path, exist_ok=True)
    database_url = _database_url(settings, app.instance_path)
    app.config.update(
        SETTINGS=settings,
        DEBUG=settings.debug,
        TESTING=settings.testing,
        SECRET_KEY=settings.resolve_secret_key(app.instance_path),
        SQLALCHEMY_DATABASE_URI=database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(database_url),
        SIGNUP_ENABLED=settings.signup_enabled,
        TOKEN_TTL_SECONDS=settings.token_ttl_seconds,
        RATE_LIMIT_LOGIN=settings.rate_limit_login,
        REDIS_URL=settings.redis_url,
        RATE_LIMIT_STORAGE_URI=settings.redis_url or "flaskou-memory://",
        JSON_SORT_KEYS=False,
        # OpenAPI document and docs UI
        SECURITY_SCHEMES=None,
        INFO={
            "description": (
                "Accounts, revocable login sessions, roles and per-user files. "
                "Errors are RFC 9457 problem details (application/problem+json)."
            )
        },
    )
    from flaskou.auth import SECURITY_SCHEMES

    app.config["SECURITY_SCHEMES"] = SECURITY_SCHEMES
    if settings.proxy_count:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=settings.proxy_count,
            x_proto=settings.proxy_count,
            x_host=settings.proxy_count,
        )
    _configure_logging(app, settings)
    _init_extensions(app)
    _register_blueprints(app)
    return app


def _configure_logging(app: APIFlask, settings: Settings) -> None:
    from flaskou import observability

    if not settings.testing:  # under pytest, its own capture handles logs
        observability.configure_logging(json_lines=not settings.debug)


def _init_extensions(app: APIFlask) -> None:
    from flaskou import api, auth, errors, headers, observability, openapi
    from flaskou.extensions import db, migrate
    from flaskou.models import render_migration_item
    from flaskou.throttling import throttles

    # First, so every request, even one refused by a later hook, is counted and logged.
    observability.init_app(app)
    headers.init_app(app)
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)
        else:
            event.listen(db.engine, "connect", _watch_for_shutdown)
            event.listen(db.engine, "checkout", _discard_if_gone)
    migrate.init_app(
        app,
        db,
        directory=MIGRATIONS_DIR,
        compare_type=True,
        render_as_batch=True,
        render_item=render_migration_item,
    )
    throttles.init_app(app)
    errors.register_error_handlers(app)
    auth.init_app(app)
    api.init_app(app)
    openapi.init_app(app)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Foreign keys (cascading deletes), WAL for concurrent readers while
    # writing, and a busy timeout instead of immediate "database is locked".
    # synchronous=NORMAL: in WAL mode a commit then skips its fsync (the WAL
    # is synced at checkpoints). A crashed process loses nothing; a power cut
    # can undo the last transactions whole, never part of one. It took a
    # quarter of the database work of a sign-in (issue #13).
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()


def _watch_for_shutdown(dbapi_connection: Any, record: Any) -> None:
    """Remember when the server says it is closing this connection.

    A server that shuts down or restarts, or an administrator ending a
    backend, sends a FATAL message on every connection before closing it.
    An idle pooled connection only reads it when asked to (at checkout).
    """
    info = record.info
    info["server_gone"] = False

    def notice(diagnostic: Any) -> None:
        if diagnostic.severity_nonlocalized in ("FATAL", "PANIC"):
            info["server_gone"] = True

    dbapi_connection.add_notice_handler(notice)


def _discard_if_gone(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """At checkout, read what the server sent while the connection was idle,
    without a round trip: a FATAL message or a closed socket means the
    server is gone (restarted, say), and the pool connects anew instead of
    handing out a connection whose first query would fail."""
    import psycopg
    from sqlalchemy.exc import DisconnectionError

    pgconn = dbapi_connection.pgconn
    try:
        pgconn.consume_input()  # non-blocking: takes only what has arrived
        pgconn.is_busy()  # parses it; a FATAL message reaches `notice`
    except psycopg.OperationalError as error:  # the server closed the socket
        raise DisconnectionError(str(error)) from error
    if record.info.get("server_gone") or pgconn.status != psycopg.pq.ConnStatus.OK:
        raise DisconnectionError("the server closed this connection")


def _register_blueprints(app: APIFlask) -> None:
    from flaskou import cli, observability, ops, web
    from flaskou.accounts import cli as accounts_cli
    from flaskou.accounts.admin_routes import bp as users_admin_bp
    from flaskou.accounts.routes import bp as accounts_bp
    from flaskou.accounts.service import RESERVED_USERNAMES, USERNAME_PATTERN
    from flaskou.api import name_converter
    from flaskou.apikeys import models as _apikeys_models  # noqa: F401
    from flaskou.apikeys.routes import bp as apikeys_bp
    from flaskou.audit import models as _audit_models  # noqa: F401
    from flaskou.audit.routes import bp as audit_bp
    from flaskou.files import cli as files_cli
    from flaskou.files import models as _files_models  # noqa: F401
    from flaskou.files import storage
    from flaskou.files.routes import bp as files_bp
    from flaskou.mail import cli as mail_cli
    from flaskou.mail import delivery as mail_delivery
    from flaskou.mfa import models as _mfa_models  # noqa: F401
    from flaskou.mfa.routes import bp as mfa_bp
    from flaskou.roles import cli as roles_cli
    from flaskou.roles.routes import bp as roles_bp
    from flaskou.roles.service import ROLE_NAME_PATTERN
    from flaskou.sessions import models as _sessions_models  # noqa: F401
    from flaskou.sessions.routes import bp as sessions_bp

    app.url_map.converters["username"] = name_converter(USERNAME_PATTERN, RESERVED_USERNAMES)
    app.url_map.converters["role"] = name_converter(ROLE_NAME_PATTERN)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(sessions_bp)
    app.register_blueprint(users_admin_bp)
    app.register_blueprint(roles_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(files_bp)
    app.register_blueprint(mfa_bp)
    app.register_blueprint(apikeys_bp)
    storage.init_app(app)
    app.register_blueprint(ops.bp)
    web.init_app(app)
    cli.init_app(app)
    accounts_cli.init_app(app)
    roles_cli.init_app(app)
    files_cli.init_app(app)
    mail_cli.init_app(app)
    observability.add_collector(mail_delivery.OutboxCollector())
