"""Property-based fuzzing of every documented operation (schemathesis): whatever
the input, flaskou answers without a server error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import Server

pytestmark = [pytest.mark.slow]


def test_no_input_makes_a_server_error(app, migrated_database, tmp_path):
    from flaskou.accounts import service

    service.create_admin("root", "root@example.com", "fuzzing password")
    server = Server(
        {
            "DATABASE_URL": migrated_database,
            "SECRET_KEY": "fuzzing-secret-fuzzing-secret-fuzzing",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "UPLOAD_DIR": str(tmp_path / "uploads"),
            "RATE_LIMIT_LOGIN": "100000 per minute",
        },
        workers=1,
        log_path=tmp_path / "gunicorn.log",
    ).start()
    try:
        _, _, body = server.request(
            "POST", "/api/v1/login", {"username": "root", "password": "fuzzing password"}
        )
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"{server.base}/api/v1/openapi.json",
                "--checks",
                "not_a_server_error",
                "--header",
                f"Authorization: Bearer {body['token']}",
                "--max-examples",
                "25",
                "--seed",
                "20261124",
                # keep the fuzzer's own session alive
                "--exclude-path-regex",
                r"^/api/v1/(logout|tokens|users/me)$",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            cwd=tmp_path,  # its .schemathesis/ reports stay out of the repository
        )
    finally:
        server.stop()
    assert result.returncode == 0, result.stdout[-6000:]
    assert " 500 " not in (tmp_path / "gunicorn.log").read_text()
