"""flaskou's peers on the same work (issue #13, item 2): other projects'
authenticated "who am I" endpoint, each written here after the project's own
quick start (peers/<peer>/app.py), installed from PyPI with exact pins
(peers/<peer>/requirements.txt) in a virtualenv of its own, and served by that
virtualenv's gunicorn with one worker on 127.0.0.1, measured like flaskou.

Each app answers GET /api/v1/users/me with the same JSON document flaskou's
does (the benchmark checks it), read from its own SQLite file through the
project's own current-user mechanism, for a token issued the project's way.

The virtualenvs are built once and kept in ~/.cache/flaskou-bench (or
$XDG_CACHE_HOME/flaskou-bench), one per requirements file: a changed pin
builds a new one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

from tests.support.server import http

from benchmarks.common import Gunicorn

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "flaskou-bench"
ME_PATH = "/api/v1/users/me"
PASSWORD = "benchmark password"  # noqa: S105 - the peers' benchmark account (their app.py)


@dataclasses.dataclass(frozen=True)
class Peer:
    key: str  # its directory under peers/
    title: str  # for the progress lines
    worker_class: str
    packages: tuple[str, ...]  # the ones the report names, with their pinned versions

    @property
    def requirements(self) -> Path:
        return HERE / self.key / "requirements.txt"

    def versions(self) -> str:
        """'Flask-Security-Too 5.9.2, ...' for the packages the report names."""
        pins = {}
        for line in self.requirements.read_text().splitlines():
            name, _, version = line.partition("==")
            if version:
                pins[name.strip().lower()] = version.strip()
        return ", ".join(f"{name} {pins[name.lower()]}" for name in self.packages)


FLASK_SECURITY = Peer(
    "flask_security",
    "Flask-Security-Too",
    # gunicorn's own gevent worker: flaskou's worker class is a subclass of it,
    # but a peer's virtualenv has no flaskou.
    "gevent",
    ("Flask-Security-Too", "Flask", "Flask-SQLAlchemy", "SQLAlchemy", "gunicorn", "gevent"),
)
FASTAPI_USERS = Peer(
    "fastapi_users",
    "fastapi-users",
    "uvicorn_worker.UvicornWorker",
    (
        "fastapi-users",
        "fastapi-users-db-sqlalchemy",
        "FastAPI",
        "SQLAlchemy",
        "aiosqlite",
        "uvicorn",
        "uvicorn-worker",
        "gunicorn",
    ),
)
FASTAPI_TEMPLATE = Peer(
    "fastapi_template",
    "FastAPI full-stack template",
    "uvicorn_worker.UvicornWorker",
    ("FastAPI", "SQLModel", "SQLAlchemy", "PyJWT", "uvicorn", "uvicorn-worker", "gunicorn"),
)

PEERS = (FLASK_SECURITY, FASTAPI_USERS, FASTAPI_TEMPLATE)


class BuildError(RuntimeError):
    """A peer's virtualenv could not be built (no PyPI, say)."""


def virtualenv(peer: Peer) -> Path:
    """The peer's virtualenv, built from its requirements file on first use."""
    digest = hashlib.sha256(peer.requirements.read_bytes()).hexdigest()[:12]
    home = CACHE / f"{peer.key}-{digest}"
    done = home / ".flaskou-bench-complete"
    if done.exists():
        return home
    # A virtualenv cannot be moved (its scripts name their interpreter by
    # path), so it is built in place; a build cut short is started over.
    shutil.rmtree(home, ignore_errors=True)
    print(f"building the {peer.title} virtualenv (first run only) in {home} ...", flush=True)
    home.parent.mkdir(parents=True, exist_ok=True)
    python = Path(getattr(sys, "_base_executable", sys.executable))
    steps = [
        [str(python), "-m", "venv", str(home)],
        # --no-deps: the file pins the whole tree, nothing is left to resolve.
        [
            str(home / "bin" / "pip"),
            "install",
            "--quiet",
            "--no-deps",
            "-r",
            str(peer.requirements),
        ],
        [str(home / "bin" / "pip"), "check"],
    ]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BuildError(
                f"building {home} failed at {' '.join(step[:3])}:\n{result.stdout}{result.stderr}"
            )
    done.write_text(peer.requirements.read_text())
    return home


class PeerGunicorn(Gunicorn):
    """A peer served by its own virtualenv's gunicorn: one worker, 127.0.0.1,
    the settings flaskou's gunicorn.conf.py gives its own (keep-alive 5 s,
    1000 connections, no access log) but the peer's worker class. Its CPU is
    read from /proc exactly like flaskou's (`Gunicorn.cpu_seconds`)."""

    def __init__(self, peer: Peer, venv: Path, env: dict[str, str], workdir: Path):
        super().__init__("app:app", env, workdir, chdir=HERE / peer.key)
        self.peer = peer
        self.venv = venv
        # Nothing of flaskou's virtualenv may leak into the peer's.
        for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
            self.env.pop(name, None)
        self.env["PATH"] = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        self.env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ in the repository

    def start(self, probe: str, timeout: float = 60) -> PeerGunicorn:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log = open(self.workdir / "gunicorn.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                str(self.venv / "bin" / "gunicorn"),
                "--worker-class",
                self.peer.worker_class,
                "--workers",
                "1",
                "--worker-connections",
                "1000",
                "--keep-alive",
                "5",
                "--timeout",
                "30",
                "--no-control-socket",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--chdir",
                str(self.chdir),
                self.app,
            ],
            env=self.env,
            cwd=self.chdir,
            start_new_session=True,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.peer.title} exited; see {self.workdir / 'gunicorn.log'}")
            try:
                http(self.base, "GET", probe, timeout=5)
                if self.pids()[1:]:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.peer.title} did not answer in {timeout}s; see {self.workdir}")

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            if self.process and self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)


def _seed(peer: Peer, venv: Path, env: dict[str, str], me: dict[str, Any], workdir: Path) -> str:
    """Run `app.py seed` in the peer's virtualenv; its standard output."""
    document = workdir / "me.json"
    document.write_text(json.dumps(me))
    result = subprocess.run(
        [str(venv / "bin" / "python"), "app.py", "seed", str(document)],
        cwd=HERE / peer.key,
        env={
            **{k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")},
            **env,
            "PYTHONDONTWRITEBYTECODE": "1",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{peer.title}: seeding failed:\n{result.stderr}")
    return result.stdout.strip()


def serve(peer: Peer, me: dict[str, Any], workdir: Path) -> tuple[PeerGunicorn, dict[str, str]]:
    """The peer's virtualenv (built if need be), its schema and user, its
    server, a token issued the peer's way: (server, the request's headers).
    Checks that the answer is flaskou's document."""
    venv = virtualenv(peer)
    workdir.mkdir(parents=True, exist_ok=True)
    env = {
        "PEER_DATABASE": str(workdir / f"{peer.key}.sqlite3"),
        "PEER_SECRET": secrets.token_urlsafe(32),
    }
    printed = _seed(peer, venv, env, me, workdir)
    server = PeerGunicorn(peer, venv, env, workdir).start(ME_PATH)
    try:
        headers = _log_in(peer, server, me, printed)
        status, _, answer = http(server.base, "GET", ME_PATH, headers=headers)
        answer = json.loads(answer) if isinstance(answer, bytes) and status == 200 else answer
        if status != 200 or answer != me:
            raise RuntimeError(f"{peer.title} answered {status}: {answer!r}, not {me!r}")
    except BaseException:
        server.stop()
        raise
    return server, headers


def _log_in(peer: Peer, server: PeerGunicorn, me: dict[str, Any], printed: str) -> dict[str, str]:
    if peer is FLASK_SECURITY:
        # POST /login (JSON) with ?include_auth_token answers the token.
        status, _, body = http(
            server.base,
            "POST",
            "/login?include_auth_token",
            {"email": me["email"], "password": PASSWORD},
        )
        if status != 200:
            raise RuntimeError(f"Flask-Security-Too /login answered {status}: {body!r}")
        return {"Authentication-Token": body["response"]["user"]["authentication_token"]}
    if peer is FASTAPI_USERS:
        # The auth router's login is an OAuth2 password form (username = email);
        # the database strategy writes an AccessToken row and answers its token.
        form = urllib.parse.urlencode({"username": me["email"], "password": PASSWORD})
        status, _, body = http(
            server.base,
            "POST",
            "/auth/db/login",
            raw=form.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        if status != 200:
            raise RuntimeError(f"fastapi-users /auth/db/login answered {status}: {body!r}")
        # (uvicorn's header names are lower-case, which `http` does not parse.)
        answer = json.loads(body) if isinstance(body, bytes) else body
        return {"Authorization": f"Bearer {answer['access_token']}"}
    # The template's peer printed the JWT its create_access_token made.
    return {"Authorization": f"Bearer {printed}"}
