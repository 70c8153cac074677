"""Typed settings read from the environment and validated at start-up.

The variable names are the ones in the API contract. Anything wrong with them
stops flaskou before it serves a single request, with a message naming the
variable, so a typo never turns into a surprise at runtime.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

import click
from limits import parse as parse_rate_limit
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name)
MIN_SECRET_KEY_LENGTH = 16


class ConfigError(click.ClickException):
    """A setting is missing or malformed; the message names the variable.

    A ClickException, so the command line prints it as one line
    ("Error: ...") and exits non-zero instead of showing a traceback.
    """


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be greater than zero, not {value}")
    return value


def _optional(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    return raw.strip()


def _score(env: Mapping[str, str], name: str) -> int:
    raw = (env.get(name) or "0").strip() or "0"
    if raw not in {"0", "1", "2", "3", "4"}:
        raise ConfigError(f"{name} must be a whole number from 0 to 4, not {raw!r}")
    return int(raw)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything flaskou can be told from outside, with safe defaults."""

    database_url: str | None = None
    secret_key: str | None = None
    upload_dir: str | None = None
    s3_bucket: str | None = None
    redis_url: str | None = None
    max_upload_bytes: int = 100 * 1024 * 1024
    # Every JSON body is bounded before it is read (uploads have their own limit).
    max_json_bytes: int = 1024 * 1024
    user_quota_bytes: int = 1024 * 1024 * 1024
    token_ttl_seconds: int = 14 * 24 * 3600
    signup_enabled: bool = True
    rate_limit_login: str = "10 per minute"
    # Least zxcvbn score (0-4) a new password needs; 0 turns the check off.
    password_min_score: int = 0
    # Number of reverse proxies in front of flaskou whose X-Forwarded-* headers
    # are trusted (0: use the peer address as the client address).
    proxy_count: int = 0
    instance_path: str | None = None
    debug: bool = False
    testing: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if env is None else env
        proxy_raw = env.get("PROXY_COUNT", "0").strip() or "0"
        if not proxy_raw.isdigit():
            raise ConfigError(f"PROXY_COUNT must be a whole number, not {proxy_raw!r}")
        values: dict[str, object] = {
            "database_url": _optional(env, "DATABASE_URL"),
            "secret_key": _optional(env, "SECRET_KEY"),
            "upload_dir": _optional(env, "UPLOAD_DIR"),
            "s3_bucket": _optional(env, "S3_BUCKET"),
            "redis_url": _optional(env, "REDIS_URL"),
            "max_upload_bytes": _positive_int(env, "MAX_UPLOAD_BYTES", cls.max_upload_bytes),
            "max_json_bytes": _positive_int(env, "MAX_JSON_BYTES", cls.max_json_bytes),
            "user_quota_bytes": _positive_int(env, "USER_QUOTA_BYTES", cls.user_quota_bytes),
            "token_ttl_seconds": _positive_int(env, "TOKEN_TTL_SECONDS", cls.token_ttl_seconds),
            "signup_enabled": _bool(env, "SIGNUP_ENABLED", True),
            "rate_limit_login": env.get("RATE_LIMIT_LOGIN", cls.rate_limit_login).strip(),
            "password_min_score": _score(env, "PASSWORD_MIN_SCORE"),
            "proxy_count": int(proxy_raw),
            "instance_path": _optional(env, "INSTANCE_PATH"),
            "debug": _bool(env, "FLASK_DEBUG", False),
        }
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        try:
            item = parse_rate_limit(self.rate_limit_login)
        except ValueError:
            raise ConfigError(
                f"RATE_LIMIT_LOGIN must look like '10 per minute', not {self.rate_limit_login!r}"
            ) from None
        if item.amount <= 0:
            raise ConfigError("RATE_LIMIT_LOGIN must allow at least one attempt")
        if self.database_url is not None:
            try:
                url = make_url(self.database_url)
            except ArgumentError:
                raise ConfigError("DATABASE_URL is not a valid database URL") from None
            if url.get_backend_name() not in {"sqlite", "postgresql"}:
                raise ConfigError(
                    "DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL, "
                    f"not {url.get_backend_name()!r}"
                )
            if url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg":
                raise ConfigError(
                    "DATABASE_URL for PostgreSQL must use the psycopg driver: "
                    "postgresql+psycopg://user:password@host/dbname"
                )
        if self.redis_url is not None and not self.redis_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ConfigError("REDIS_URL must start with redis://, rediss:// or unix://")
        if self.secret_key is not None and len(self.secret_key) < MIN_SECRET_KEY_LENGTH:
            raise ConfigError(
                f"SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters long"
            )

    @property
    def development(self) -> bool:
        return self.debug or self.testing

    def resolve_secret_key(self, instance_path: str) -> str:
        """The configured secret, or in development one kept in the instance folder."""
        if self.secret_key:
            return self.secret_key
        if self.testing:
            return "flaskou-testing-secret-" + secrets.token_hex(8)
        if not self.debug:
            raise ConfigError(
                "SECRET_KEY is not set. Set it to a long random value, for example "
                "`python3 -c 'import secrets; print(secrets.token_hex(32))'`, "
                "or set FLASK_DEBUG=1 for local development."
            )
        path = Path(instance_path) / SECRET_KEY_FILE
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        # Created with owner-only permissions; never printed.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first
            return path.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
        return key
