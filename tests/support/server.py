"""A real gunicorn serving flaskou, for tests that go over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.postgres import free_port

ROOT = Path(__file__).resolve().parents[2]


class Server:
    def __init__(self, env: dict[str, str], *, workers: int = 1, log_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # Tests sign up from one address far more often than a person would;
        # a test of the sign-up limit sets its own.
        self.env = {**os.environ, "RATE_LIMIT_SIGNUP": "100000 per hour", **env}
        self.workers = workers
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> Server:
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        self.log = open(self.log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                gunicorn,
                "-c",
                str(ROOT / "gunicorn.conf.py"),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "flaskou.wsgi:app",
            ],
            env=self.env,
            start_new_session=True,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log_path}")
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer in {timeout}s; see {self.log_path}")

    def kill(self) -> None:
        """Kill gunicorn and its workers at once, as a crash or power cut would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.log.close()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "log", None) and not self.log.closed:
            self.log.close()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        raw: bytes | None = None,
        timeout: float = 60,
    ) -> tuple[int, dict[str, str], Any]:
        return http(self.base, method, path, body, headers, raw=raw, timeout=timeout)


def http(
    base: str,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    *,
    raw: bytes | None = None,
    timeout: float = 60,
) -> tuple[int, dict[str, str], Any]:
    """(status, headers, content) of one request; JSON answers come back parsed.

    `body` is sent as JSON; `raw` as it is, with the caller's Content-Type.
    """
    data = raw
    headers = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read()
            status, response_headers = response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        payload = error.read()
        status, response_headers = error.code, dict(error.headers)
    is_json = "json" in response_headers.get("Content-Type", "")
    return status, response_headers, json.loads(payload) if payload and is_json else payload


class MailWorker:
    """`flask --app flaskou mail worker` as its own process, with the env a
    Server was given (the same database, MAIL_URL and SECRET_KEY)."""

    def __init__(self, env: dict[str, str], *, log_path: Path, interval: float = 0.2) -> None:
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.interval = interval
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> MailWorker:
        flask = str(Path(sys.executable).parent / "flask")
        self.log = open(self.log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [flask, "--app", "flaskou", "mail", "worker", "--interval", str(self.interval)],
            env=self.env,
            start_new_session=True,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "log", None) and not self.log.closed:
            self.log.close()

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.log.close()
