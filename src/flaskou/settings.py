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
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

import click
from limits import parse_many
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


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    raw = (env.get(name) or default).strip().lower() or default
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
    return raw


def _score(env: Mapping[str, str], name: str) -> int:
    raw = (env.get(name) or "0").strip() or "0"
    if raw not in {"0", "1", "2", "3", "4"}:
        raise ConfigError(f"{name} must be a whole number from 0 to 4, not {raw!r}")
    return int(raw)


EMAIL_VERIFICATION_MODES = ("off", "optional", "required")


def _check_rate_limit(name: str, value: str) -> None:
    try:
        items = parse_many(value)
    except ValueError:
        raise ConfigError(f"{name} must look like '10 per minute', not {value!r}") from None
    if any(item.amount <= 0 for item in items):
        raise ConfigError(f"{name} must allow at least one request")


def _check_public_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(
            f"PUBLIC_URL must be the http(s) address users reach flaskou at, not {value!r}"
        )
    if parts.query or parts.fragment:
        raise ConfigError("PUBLIC_URL must not have a query or a fragment")


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
    # Where users reach the web app: links in mail point there.
    public_url: str = "http://127.0.0.1:5000"
    # SMTP server (smtp://, smtp://...?starttls=true, smtps://); None: mail goes to the log.
    mail_url: str | None = None
    mail_from: str = "flaskou <no-reply@localhost>"
    email_verification: str = "optional"
    password_reset_ttl_seconds: int = 1800
    rate_limit_mail: str = "5 per hour"
    rate_limit_signup: str = "20 per hour"
    # WebAuthn relying party; None: the host of PUBLIC_URL.
    webauthn_rp_id_setting: str | None = None
    # How long the delivery worker keeps retrying a message before marking it failed.
    mail_retry_seconds: int = 24 * 3600
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
            "public_url": (env.get("PUBLIC_URL") or cls.public_url).strip().rstrip("/"),
            "mail_url": _optional(env, "MAIL_URL"),
            "mail_from": (env.get("MAIL_FROM") or cls.mail_from).strip(),
            "email_verification": _choice(
                env, "EMAIL_VERIFICATION", EMAIL_VERIFICATION_MODES, cls.email_verification
            ),
            "password_reset_ttl_seconds": _positive_int(
                env, "PASSWORD_RESET_TTL_SECONDS", cls.password_reset_ttl_seconds
            ),
            "rate_limit_mail": env.get("RATE_LIMIT_MAIL", cls.rate_limit_mail).strip(),
            "rate_limit_signup": env.get("RATE_LIMIT_SIGNUP", cls.rate_limit_signup).strip(),
            "webauthn_rp_id_setting": _optional(env, "WEBAUTHN_RP_ID"),
            "mail_retry_seconds": _positive_int(env, "MAIL_RETRY_SECONDS", cls.mail_retry_seconds),
            "proxy_count": int(proxy_raw),
            "instance_path": _optional(env, "INSTANCE_PATH"),
            "debug": _bool(env, "FLASK_DEBUG", False),
        }
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        for name, value in (
            ("RATE_LIMIT_LOGIN", self.rate_limit_login),
            ("RATE_LIMIT_MAIL", self.rate_limit_mail),
            ("RATE_LIMIT_SIGNUP", self.rate_limit_signup),
        ):
            _check_rate_limit(name, value)
        _check_public_url(self.public_url)
        if self.mail_url is not None:
            from flaskou.mail.transport import MailUrlError, parse_mail_url

            try:
                parse_mail_url(self.mail_url)
            except MailUrlError as exc:
                raise ConfigError(f"MAIL_URL {exc}") from None
        if not parseaddr(self.mail_from)[1] or "@" not in parseaddr(self.mail_from)[1]:
            raise ConfigError(
                f"MAIL_FROM must be an address such as 'flaskou <no-reply@example.com>', "
                f"not {self.mail_from!r}"
            )
        host = urlsplit(self.public_url).hostname or ""
        rp_id = self.webauthn_rp_id
        if host != rp_id and not host.endswith("." + rp_id):
            raise ConfigError(
                f"WEBAUTHN_RP_ID {rp_id!r} must be PUBLIC_URL's host {host!r} or a domain it is in"
            )
        if self.email_verification not in EMAIL_VERIFICATION_MODES:
            raise ConfigError(
                f"EMAIL_VERIFICATION must be one of {', '.join(EMAIL_VERIFICATION_MODES)}"
            )
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
    def webauthn_rp_id(self) -> str:
        """WEBAUTHN_RP_ID, or the host of PUBLIC_URL."""
        return self.webauthn_rp_id_setting or (urlsplit(self.public_url).hostname or "")

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
