from __future__ import annotations

import os
import stat

import pytest

from flaskou import create_app
from flaskou.settings import ConfigError, Settings


def test_defaults_match_the_contract():
    settings = Settings.from_env({})
    assert settings.max_upload_bytes == 104857600
    assert settings.user_quota_bytes == 1073741824
    assert settings.token_ttl_seconds == 1209600
    assert settings.signup_enabled is True
    assert settings.rate_limit_login == "10 per minute"
    assert settings.redis_url is None
    assert settings.s3_bucket is None


def test_reads_the_environment():
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql+psycopg://u:p@db/flaskou",
            "TOKEN_TTL_SECONDS": "60",
            "SIGNUP_ENABLED": "false",
            "RATE_LIMIT_LOGIN": "5 per minute",
            "REDIS_URL": "redis://localhost:6379/0",
            "SECRET_KEY": "x" * 32,
        }
    )
    assert settings.token_ttl_seconds == 60
    assert settings.signup_enabled is False
    assert settings.rate_limit_login == "5 per minute"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TOKEN_TTL_SECONDS": "soon"}, "TOKEN_TTL_SECONDS"),
        ({"TOKEN_TTL_SECONDS": "0"}, "TOKEN_TTL_SECONDS"),
        ({"MAX_UPLOAD_BYTES": "-5"}, "MAX_UPLOAD_BYTES"),
        ({"USER_QUOTA_BYTES": "lots"}, "USER_QUOTA_BYTES"),
        ({"SIGNUP_ENABLED": "maybe"}, "SIGNUP_ENABLED"),
        ({"RATE_LIMIT_LOGIN": "often"}, "RATE_LIMIT_LOGIN"),
        ({"RATE_LIMIT_LOGIN": "10 per minute; 0 per day"}, "RATE_LIMIT_LOGIN"),
        ({"RATE_LIMIT_MAIL": "5 per hour; soon"}, "RATE_LIMIT_MAIL"),
        ({"DATABASE_URL": "mysql://db/x"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql+psycopg2://db/x"}, "psycopg"),
        ({"DATABASE_URL": "::not a url::"}, "DATABASE_URL"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"PROXY_COUNT": "two"}, "PROXY_COUNT"),
    ],
)
def test_bad_values_stop_start_up_with_the_variable_named(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_missing_secret_outside_development_stops_start_up(tmp_path):
    settings = Settings.from_env({"INSTANCE_PATH": str(tmp_path)})
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_app(settings)


def test_development_generates_a_secret_once_and_keeps_it(tmp_path):
    env = {"FLASK_DEBUG": "1", "INSTANCE_PATH": str(tmp_path)}
    first = create_app(Settings.from_env(env))
    second = create_app(Settings.from_env(env))
    key_file = tmp_path / "secret_key"
    assert key_file.exists()
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) >= 32


def test_an_explicit_secret_wins(tmp_path):
    app = create_app(Settings.from_env({"SECRET_KEY": "s" * 40, "INSTANCE_PATH": str(tmp_path)}))
    assert app.config["SECRET_KEY"] == "s" * 40
    assert not (tmp_path / "secret_key").exists()


def test_default_database_lives_in_the_instance_folder(tmp_path):
    app = create_app(Settings.from_env({"FLASK_DEBUG": "1", "INSTANCE_PATH": str(tmp_path)}))
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/flaskou.sqlite3"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "SECRET_KEY is not set"),
        ({"SECRET_KEY": "x" * 32, "SIGNUP_ENABLED": "maybe"}, "SIGNUP_ENABLED"),
    ],
)
def test_the_command_line_reports_bad_settings_in_one_line(tmp_path, env, message):
    import subprocess
    import sys
    from pathlib import Path

    clean = {k: v for k, v in os.environ.items() if k not in {"FLASK_DEBUG", "SECRET_KEY"}}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "flask"), "--app", "flaskou", "db", "upgrade"],
        env={**clean, "INSTANCE_PATH": str(tmp_path), **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
