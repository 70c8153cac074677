"""Load test that proves nothing is lost: `make loadtest`.

A mixed workload (signups, logins, authenticated reads, uploads, downloads,
session revocations, file deletions, and a few requests that must be refused)
from N concurrent clients for S seconds, through nginx (the compose stack's
docker/nginx.conf) to two flaskou instances (real gunicorn with the repo's
gunicorn.conf.py) on one PostgreSQL and one Redis, with one shared UPLOAD_DIR.

Every client keeps a ledger of what the service answered. When the time is
up, the checker compares the ledger with the database and the file store:

- no 5xx and no broken connection, ever;
- every write that answered 2xx is there: users that signed up exist, files
  that were stored are listed, their bytes on disk hash to the SHA-256 the
  client computed, and their audit events exist;
- every write that answered 4xx left nothing: no extra users, no extra files,
  no object in UPLOAD_DIR without its row, no unfinished upload;
- revoked sessions no longer authenticate and their rows are gone; deleted
  files are gone from the database and from storage.

Everything runs on 127.0.0.1 and stops by itself. The load generator shares
the machine's cores with the servers, so the numbers are a floor, not a
capacity figure. `python -m benchmarks.loadtest --help` lists the knobs;
`--report PATH` writes the Markdown report (docs/loadtest.md for `make loadtest`).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import hashlib
import json
import os
import platform
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import urllib3
from tests.production.conftest import SECRET, make_admin, migrate
from tests.support.multipart import file_body
from tests.support.nginx import Nginx
from tests.support.postgres import PostgresCluster
from tests.support.redis import RedisServer
from tests.support.server import ROOT, Server

PASSWORD = "load test password"  # noqa: S105 - the test accounts' password
ADMIN = "loadadmin"
MAX_UPLOAD_BYTES = 1024 * 1024
# What each client does next, by weight (after its first signup and login).
MIX = {
    "me": 22,
    "list_files": 12,
    "upload": 18,
    "download": 14,
    "delete_file": 8,
    "revoke_session": 6,
    "sessions": 4,
    "new_account": 4,
    "wrong_password": 3,
    "duplicate_signup": 3,
    "too_large_upload": 3,
    "bad_upload": 3,
}
# The statuses each kind of request may answer; anything else is a finding.
EXPECTED = {
    "signup": {201},
    "duplicate_signup": {409},
    "login": {200},
    "wrong_password": {401},
    "me": {200},
    "list_files": {200},
    "sessions": {200},
    "upload": {201},
    "too_large_upload": {413},
    "bad_upload": {422},
    "download": {200},
    "delete_file": {204},
    "revoke_session": {204},
    "revoked_token": {401},
}


# --- the stack ----------------------------------------------------------------


@dataclasses.dataclass
class Stack:
    base: str
    database: str  # a libpq connection string for the checker
    upload_dir: Path
    servers: list[Server]
    proxy: Nginx
    workdir: Path
    instances: int
    workers: int


@contextmanager
def stack(workdir: Path, *, instances: int = 2, workers: int = 2) -> Iterator[Stack]:
    """PostgreSQL, Redis, `instances` gunicorns and nginx, all on loopback; torn down after."""
    cluster = PostgresCluster().start()
    cache: RedisServer | None = None
    servers: list[Server] = []
    proxy: Nginx | None = None
    try:
        url = cluster.create_database("loadtest")
        migrate(url, workdir / "migrate")
        make_admin(url, workdir / "admin", ADMIN, PASSWORD)
        cache = RedisServer().start()
        upload_dir = workdir / "shared-files"
        env = {
            "DATABASE_URL": url,
            "REDIS_URL": cache.url,
            "SECRET_KEY": SECRET,
            "INSTANCE_PATH": str(workdir / "instance"),
            "UPLOAD_DIR": str(upload_dir),  # one store for both, as a shared volume
            "MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
            # Every client comes from 127.0.0.1; throttling is not what is measured.
            "RATE_LIMIT_LOGIN": "1000000 per minute",
            "RATE_LIMIT_SIGNUP": "1000000 per hour",
            "RATE_LIMIT_MAIL": "1000000 per hour",
            "PROXY_COUNT": "1",
        }
        for index in range(instances):
            server = Server(env, workers=workers, log_path=workdir / f"instance-{index}.log")
            servers.append(server.start(timeout=60))
        proxy = Nginx(
            [server.port for server in servers], workdir / "nginx", worker_connections=1024
        ).start()
        yield Stack(
            base=proxy.base,
            database=f"host=127.0.0.1 port={cluster.port} user=postgres dbname=loadtest",
            upload_dir=upload_dir,
            servers=servers,
            proxy=proxy,
            workdir=workdir,
            instances=instances,
            workers=workers,
        )
    finally:
        if proxy is not None:
            proxy.stop()
        for server in servers:
            server.stop()
        if cache is not None:
            cache.stop()
        cluster.destroy()


# --- what the clients saw -------------------------------------------------------


@dataclasses.dataclass
class Ledger:
    """What the service promised one client, answer by answer."""

    users: set[str] = dataclasses.field(default_factory=set)  # signup answered 201
    refused_users: set[str] = dataclasses.field(default_factory=set)  # answered 4xx
    unknown_users: set[str] = dataclasses.field(default_factory=set)  # no clear answer
    logins: set[str] = dataclasses.field(default_factory=set)  # session ids of 200s
    files: dict[str, tuple[str, str, int]] = dataclasses.field(default_factory=dict)
    deleted: set[str] = dataclasses.field(default_factory=set)  # file ids answered 204
    revoked: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (token, id)
    live: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    unknown_uploads: set[str] = dataclasses.field(default_factory=set)  # sha256 values
    findings: list[str] = dataclasses.field(default_factory=list)


class Recorder:
    """Every answer's kind, status and latency, shared by all clients."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.samples: list[tuple[str, int, float]] = []
        self.server_errors: list[str] = []

    def add(self, op: str, status: int, seconds: float, detail: str) -> None:
        with self.lock:
            self.samples.append((op, status, seconds))
            if status >= 500 or status == 0:
                self.server_errors.append(detail)

    def counts(self) -> tuple[int, int]:
        with self.lock:
            return len(self.samples), len(self.server_errors)


class Client(threading.Thread):
    def __init__(
        self, index: int, base: str, deadline: float, recorder: Recorder, seed: int
    ) -> None:
        super().__init__(name=f"client-{index}", daemon=True)
        self.index = index
        self.deadline = deadline
        self.recorder = recorder
        self.rng = random.Random(seed)  # noqa: S311 - a workload, not a secret
        self.ledger = Ledger()
        host, port = base.removeprefix("http://").split(":")
        self.pool = urllib3.HTTPConnectionPool(
            host,
            int(port),
            maxsize=1,
            retries=False,
            timeout=urllib3.Timeout(connect=10, read=120),
            # Each client from its own loopback address (all of 127/8 is local),
            # as distinct users would be: docker/nginx.conf allows one address
            # only so many connections (limit_conn), which 200 clients sharing
            # 127.0.0.1 would exceed.
            source_address=(f"127.0.{1 + index // 250}.{1 + index % 250}", 0),
        )
        self.accounts = 0
        self.username = ""
        self.token = ""
        self.session_id = ""
        self.my_files: list[str] = []

    # one request, timed and recorded
    def call(
        self,
        op: str,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
    ) -> tuple[int, bytes]:
        headers = dict(headers or {})
        if json_body is not None:
            raw = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        start = time.perf_counter()
        try:
            response = self.pool.urlopen(
                method, path, body=raw, headers=headers, preload_content=True, redirect=False
            )
            status, data = response.status, response.data
            request_id = response.headers.get("X-Request-ID", "?")
            content_type = response.headers.get("Content-Type", "")
        except (urllib3.exceptions.HTTPError, OSError) as error:
            status, data, request_id, content_type = 0, repr(error).encode(), "-", ""
        elapsed = time.perf_counter() - start
        detail = f"{op} {method} {path} -> {status} request-id={request_id} {data[:300]!r}"
        self.recorder.add(op, status, elapsed, detail)
        if status not in EXPECTED[op] and status < 500 and status != 0:
            self.ledger.findings.append(f"unexpected answer: {detail}")
        if 400 <= status < 600 and content_type != "application/problem+json":
            self.ledger.findings.append(f"error answer not problem+json: {detail}")
        return status, data

    # the workload
    def run(self) -> None:
        try:
            self.new_account()
            ops, weights = list(MIX), list(MIX.values())
            while time.monotonic() < self.deadline:
                op = self.rng.choices(ops, weights)[0]
                getattr(self, op)()
            if self.token:
                self.ledger.live.append((self.token, self.session_id))
        except Exception as error:  # a bug in the load generator must not pass silently
            self.ledger.findings.append(f"client {self.index} crashed: {error!r}")

    def new_account(self) -> None:
        self.accounts += 1
        name = f"c{self.index}-{self.accounts}-{self.rng.randrange(16**6):06x}"
        status, _ = self.call(
            "signup",
            "POST",
            "/api/v1/signup",
            json_body={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
        )
        if status == 201:
            self.ledger.users.add(name)
        elif 400 <= status < 500:
            self.ledger.refused_users.add(name)
            return
        else:
            self.ledger.unknown_users.add(name)
            return
        if self.token:
            self.ledger.live.append((self.token, self.session_id))
        self.username, self.my_files = name, []
        self.token, self.session_id = self.login() or ("", "")

    def login(self) -> tuple[str, str] | None:
        status, data = self.call(
            "login",
            "POST",
            "/api/v1/login",
            json_body={"username": self.username, "password": PASSWORD},
        )
        if status != 200:
            return None
        body = json.loads(data)
        self.ledger.logins.add(body["session"]["id"])
        return body["token"], body["session"]["id"]

    def duplicate_signup(self) -> None:
        if not self.username:
            return self.new_account()
        # A fresh username with a taken email: 409, and the name must not exist afterwards.
        name = f"d{self.index}-{self.rng.randrange(16**8):08x}"
        status, _ = self.call(
            "duplicate_signup",
            "POST",
            "/api/v1/signup",
            json_body={
                "username": name,
                "email": f"{self.username}@example.com",
                "password": PASSWORD,
            },
        )
        if status == 201:
            self.ledger.users.add(name)
        elif 400 <= status < 500:
            self.ledger.refused_users.add(name)
        else:
            self.ledger.unknown_users.add(name)
        return None

    def wrong_password(self) -> None:
        if self.username:
            self.call(
                "wrong_password",
                "POST",
                "/api/v1/login",
                json_body={"username": self.username, "password": "not the password"},
            )

    def me(self) -> None:
        if not self.token:
            return self.new_account()
        status, data = self.call("me", "GET", "/api/v1/users/me", token=self.token)
        if status == 200 and json.loads(data)["username"] != self.username:
            self.ledger.findings.append(f"/users/me answered someone else: {data[:200]!r}")
        return None

    def sessions(self) -> None:
        if self.token:
            self.call("sessions", "GET", "/api/v1/tokens", token=self.token)

    def list_files(self) -> None:
        if not self.token:
            return
        status, data = self.call("list_files", "GET", "/api/v1/files?limit=100", token=self.token)
        if status != 200:
            return
        listed = {item["id"] for item in json.loads(data)["items"]}
        if len(self.my_files) <= 100 and listed != set(self.my_files):
            self.ledger.findings.append(
                f"{self.username}'s list {sorted(listed)} is not what it stored "
                f"{sorted(self.my_files)}"
            )

    def upload(self) -> None:
        if not self.token:
            return
        content = os.urandom(self.rng.choice([1, 4, 16, 64, 256]) * 1024 - self.rng.randrange(512))
        digest = hashlib.sha256(content).hexdigest()
        body, content_type = file_body(content, f"load-{self.rng.randrange(10**6)}.bin")
        status, data = self.call(
            "upload",
            "POST",
            "/api/v1/files",
            raw=body,
            headers={"Content-Type": content_type},
            token=self.token,
        )
        if status == 201:
            stored = json.loads(data)
            if stored["sha256"] != digest or stored["size"] != len(content):
                self.ledger.findings.append(
                    f"upload of {len(content)} bytes with sha256 {digest} answered "
                    f"size {stored['size']} and sha256 {stored['sha256']}: {stored}"
                )
            self.ledger.files[stored["id"]] = (self.username, digest, len(content))
            self.my_files.append(stored["id"])
        elif status >= 500 or status == 0:
            self.ledger.unknown_uploads.add(digest)

    def too_large_upload(self) -> None:
        if not self.token:
            return
        body, content_type = file_body(os.urandom(MAX_UPLOAD_BYTES + 1024), "too-large.bin")
        status, _ = self.call(
            "too_large_upload",
            "POST",
            "/api/v1/files",
            raw=body,
            headers={"Content-Type": content_type},
            token=self.token,
        )
        if status == 201:
            self.ledger.findings.append("an upload over MAX_UPLOAD_BYTES was stored")

    def bad_upload(self) -> None:
        if not self.token:
            return
        # A multipart body with no `file` part, after some bytes were streamed.
        boundary = "flaskou-load-boundary"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="other"\r\n\r\n'.encode()
            + os.urandom(8192)
            + f"\r\n--{boundary}--\r\n".encode()
        )
        self.call(
            "bad_upload",
            "POST",
            "/api/v1/files",
            raw=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            token=self.token,
        )

    def download(self) -> None:
        if not self.my_files:
            return self.upload()
        file_id = self.rng.choice(self.my_files)
        status, data = self.call(
            "download", "GET", f"/api/v1/files/{file_id}/content", token=self.token
        )
        if status == 200 and hashlib.sha256(data).hexdigest() != self.ledger.files[file_id][1]:
            self.ledger.findings.append(f"download of {file_id} does not hash as uploaded")
        return None

    def delete_file(self) -> None:
        if not self.my_files:
            return self.upload()
        file_id = self.my_files.pop(self.rng.randrange(len(self.my_files)))
        status, _ = self.call("delete_file", "DELETE", f"/api/v1/files/{file_id}", token=self.token)
        if status == 204:
            self.ledger.deleted.add(file_id)
        elif status != 0 and status < 500:
            self.my_files.append(file_id)
        return None

    def revoke_session(self) -> None:
        """Log in again (a second device), revoke the first session from the
        second, and check at once that the first no longer authenticates."""
        if not self.token:
            return self.new_account()
        fresh = self.login()
        if fresh is None:
            return None
        status, _ = self.call(
            "revoke_session",
            "DELETE",
            f"/api/v1/tokens/{self.session_id}",
            token=fresh[0],
        )
        if status == 204:
            self.ledger.revoked.append((self.token, self.session_id))
            self.call("revoked_token", "GET", "/api/v1/users/me", token=self.token)
        else:
            self.ledger.live.append((self.token, self.session_id))
        self.token, self.session_id = fresh
        return None


# --- the run ----------------------------------------------------------------------


@dataclasses.dataclass
class Results:
    clients: int
    seconds: float
    elapsed: float
    samples: list[tuple[str, int, float]]
    server_errors: list[str]
    ledger: Ledger
    problems: list[str]
    checked: dict[str, int]


def drive(
    base: str, *, clients: int, seconds: float, seed: int = 9
) -> tuple[Recorder, Ledger, float]:
    recorder = Recorder()
    start = time.monotonic()
    deadline = start + seconds
    crowd = [Client(i, base, deadline, recorder, seed * 100_000 + i) for i in range(clients)]
    for client in crowd:
        client.start()
    last = 0.0
    while any(client.is_alive() for client in crowd):
        time.sleep(0.5)
        now = time.monotonic() - start
        if now - last >= 5 or not any(client.is_alive() for client in crowd):
            last = now
            done, errors = recorder.counts()
            running = sum(client.is_alive() for client in crowd)
            print(
                f"[{now:5.1f}s] {done} answers ({done / now:.0f}/s), 5xx or broken: {errors}, "
                f"clients still running: {running}",
                flush=True,
            )
        if now > seconds + 300:
            raise RuntimeError("clients did not stop 300 s after the deadline")
    elapsed = time.monotonic() - start
    merged = Ledger()
    for client in crowd:
        led = client.ledger
        merged.users |= led.users
        merged.refused_users |= led.refused_users
        merged.unknown_users |= led.unknown_users
        merged.logins |= led.logins
        merged.files.update(led.files)
        merged.deleted |= led.deleted
        merged.revoked += led.revoked
        merged.live += led.live
        merged.unknown_uploads |= led.unknown_uploads
        merged.findings += led.findings
        client.pool.close()
    return recorder, merged, elapsed


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check(target: Stack, ledger: Ledger) -> tuple[list[str], dict[str, int]]:
    """Compare what the clients were told with the database and the file store."""
    problems = list(ledger.findings)
    checked: dict[str, int] = {}
    with psycopg.connect(target.database) as db:
        users = {row[0] for row in db.execute("SELECT username FROM users")}
        missing = ledger.users - users
        extra = users - ledger.users - ledger.unknown_users - {ADMIN}
        problems += [f"user {name} signed up (201) but is not in the database" for name in missing]
        problems += [f"user {name} is in the database but no signup answered 201" for name in extra]
        refused_present = ledger.refused_users & users
        problems += [
            f"signup of {name} was refused but the user exists" for name in refused_present
        ]
        checked["users in the database"] = len(users)

        signups = {
            row[0] for row in db.execute("SELECT target FROM audit_events WHERE action = 'signup'")
        }
        problems += [f"no signup event for {name}" for name in ledger.users - signups]

        rows = {
            str(row[0]): (row[1], row[2], row[3], row[4])
            for row in db.execute(
                "SELECT f.id, u.username, f.sha256, f.size, f.storage_key "
                "FROM files f JOIN users u ON u.id = f.owner_id"
            )
        }
        expected = set(ledger.files) - ledger.deleted
        for file_id in sorted(expected - set(rows)):
            problems.append(f"file {file_id} was stored (201) but its row is gone")
        for file_id in sorted(ledger.deleted & set(rows)):
            problems.append(f"file {file_id} was deleted (204) but its row is still there")
        for file_id in sorted(set(rows) - expected - ledger.deleted):
            if rows[file_id][1] not in ledger.unknown_uploads:
                problems.append(f"file {file_id} is in the database but no upload answered 201")
        objects = {
            path.name: path
            for path in (target.upload_dir / "objects").glob("*/*")
            if path.is_file()
        }
        for file_id, (owner, sha256, size, key) in sorted(rows.items()):
            if file_id in ledger.files:
                want_owner, want_sha, want_size = ledger.files[file_id]
                if (owner, sha256, size) != (want_owner, want_sha, want_size):
                    problems.append(f"file {file_id} row {owner, sha256, size} differs from upload")
            if key not in objects:
                problems.append(f"file {file_id} has a row but no stored object {key}")
            elif _sha256_file(objects[key]) != sha256:
                problems.append(f"file {file_id}'s stored bytes do not hash to {sha256}")
        keys = {value[3] for value in rows.values()}
        for key in sorted(set(objects) - keys):
            problems.append(f"orphan object in UPLOAD_DIR: objects/{key[:2]}/{key}")
        for part in sorted((target.upload_dir / "incoming").glob("*")):
            problems.append(f"unfinished upload left in UPLOAD_DIR: incoming/{part.name}")
        checked["files in the database"] = len(rows)
        checked["objects hashed in UPLOAD_DIR"] = len(objects)

        events: dict[str, set[str]] = collections.defaultdict(set)
        for action, target_id in db.execute(
            "SELECT action, target FROM audit_events "
            "WHERE action IN ('file_uploaded', 'file_deleted', 'login', 'session_revoked')"
        ):
            events[action].add(target_id)
        problems += [
            f"no file_uploaded event for {file_id}"
            for file_id in sorted(set(ledger.files) - events["file_uploaded"])
        ]
        problems += [
            f"no file_deleted event for {file_id}"
            for file_id in sorted(ledger.deleted - events["file_deleted"])
        ]
        problems += [
            f"no login event for session {session_id}"
            for session_id in sorted(ledger.logins - events["login"])
        ]

        live_hashes = {row[0] for row in db.execute("SELECT token_hash FROM sessions")}
        for token, session_id in ledger.revoked:
            if hashlib.sha256(token.encode()).hexdigest() in live_hashes:
                problems.append(f"session {session_id} was revoked (204) but its row is there")
            if session_id not in events["session_revoked"]:
                problems.append(f"no session_revoked event for {session_id}")
        for token, session_id in ledger.live:
            if hashlib.sha256(token.encode()).hexdigest() not in live_hashes:
                problems.append(f"session {session_id} was never revoked but is gone")
        checked["revoked sessions checked in the database"] = len(ledger.revoked)
        checked["live sessions checked in the database"] = len(ledger.live)

    # And over HTTP, through nginx: revoked tokens are refused, deleted files are 404.
    host, port = target.base.removeprefix("http://").split(":")
    pool = urllib3.HTTPConnectionPool(host, int(port), maxsize=4, retries=False, timeout=30)
    for token, session_id in ledger.revoked[:300]:
        response = pool.urlopen(
            "GET", "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}
        )
        if response.status != 401:
            problems.append(f"revoked session {session_id} answered {response.status}, not 401")
    checked["revoked tokens tried over HTTP"] = min(len(ledger.revoked), 300)
    pool.close()
    return problems, checked


def run(target: Stack, *, clients: int, seconds: float) -> Results:
    print(
        f"loadtest: {clients} clients for {seconds:.0f}s against {target.base} "
        f"(nginx -> {target.instances} gunicorn x {target.workers} workers)",
        flush=True,
    )
    recorder, ledger, elapsed = drive(target.base, clients=clients, seconds=seconds)
    print("loadtest: checking the database and UPLOAD_DIR against what clients were told...")
    problems, checked = check(target, ledger)
    problems += [f"5xx or broken connection: {line}" for line in recorder.server_errors]
    return Results(
        clients,
        seconds,
        elapsed,
        recorder.samples,
        recorder.server_errors,
        ledger,
        problems,
        checked,
    )


# --- the report ---------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "?"
    return (
        (done.stdout or done.stderr).strip().splitlines()[0]
        if (done.stdout or done.stderr)
        else "?"
    )


def machine() -> dict[str, str]:
    cpu = "?"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    conf = (ROOT / "gunicorn.conf.py").read_text()
    worker_class = re.search(r"^worker_class\s*=\s*(.+)$", conf, re.MULTILINE)
    return {
        "CPU": f"{os.cpu_count()} x {cpu}",
        "Memory": memory,
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "PostgreSQL": _version([str(PostgresCluster().bindir / "postgres"), "--version"]),
        "Redis": _version([shutil.which("redis-server") or "redis-server", "--version"]),
        "nginx": _version([shutil.which("nginx") or "/usr/sbin/nginx", "-v"]),
        "gunicorn worker_class": worker_class.group(1).strip().strip("\"'")
        if worker_class
        else "?",
    }


def markdown(results: Results, target: Stack, command: str) -> str:
    by_op: dict[str, list[float]] = collections.defaultdict(list)
    statuses: collections.Counter[int] = collections.Counter()
    op_statuses: dict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)
    for op, status, seconds in results.samples:
        by_op[op].append(seconds)
        statuses[status] += 1
        op_statuses[op][status] += 1
    everything = [seconds for _, _, seconds in results.samples]
    total = len(results.samples)
    verdict = "PASS" if not results.problems else f"FAIL ({len(results.problems)} problems)"
    lines = [
        "# Load test",
        "",
        f"Written by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. "
        f"Verdict: **{verdict}**.",
        "",
        f"{results.clients} concurrent clients for {results.seconds:.0f} s "
        f"(the last answers came {results.elapsed:.1f} s after the start), through nginx "
        f"(`docker/nginx.conf`) to {target.instances} flaskou instances (gunicorn with "
        f"`gunicorn.conf.py`, {target.workers} workers each) on one PostgreSQL and one Redis, "
        "one shared local UPLOAD_DIR, everything on 127.0.0.1. The load generator (Python "
        "threads, one keep-alive connection per client) shares the machine's cores with the "
        "servers, so these numbers are a floor, not a capacity figure.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *[f"| {key} | {value} |" for key, value in machine().items()],
        "",
        "## Throughput and latency",
        "",
        f"{total} answers in {results.elapsed:.1f} s: "
        f"**{total / results.elapsed:.0f} requests/s**; "
        f"latency p50 **{percentile(everything, 0.5) * 1000:.0f} ms**, "
        f"p99 **{percentile(everything, 0.99) * 1000:.0f} ms**.",
        "",
        "| request | count | p50 ms | p99 ms | statuses |",
        "|---|---:|---:|---:|---|",
    ]
    for op in sorted(by_op, key=lambda name: -len(by_op[name])):
        values = by_op[op]
        shown = ", ".join(f"{s}: {n}" for s, n in sorted(op_statuses[op].items()))
        lines.append(
            f"| {op} | {len(values)} | {percentile(values, 0.5) * 1000:.0f} | "
            f"{percentile(values, 0.99) * 1000:.0f} | {shown} |"
        )
    lines += [
        "",
        "Status counts: "
        + ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
        + " (0 would be a broken connection or a timeout).",
        "",
        "The 401, 409, 413 and 422 answers are asked for on purpose: wrong passwords, "
        "revoked tokens, a taken email, uploads over MAX_UPLOAD_BYTES (1 MiB here) and "
        "multipart bodies with no file part. Each must leave nothing behind.",
        "",
        "## What was checked afterwards",
        "",
        "| | |",
        "|---|---:|",
        f"| users that signed up (201) | {len(results.ledger.users)} |",
        f"| signups refused (409), must not exist | {len(results.ledger.refused_users)} |",
        f"| logins (200), each with its `login` event | {len(results.ledger.logins)} |",
        f"| files stored (201) | {len(results.ledger.files)} |",
        f"| files deleted (204), gone from DB and disk | {len(results.ledger.deleted)} |",
        f"| sessions revoked (204), gone and refused | {len(results.ledger.revoked)} |",
        *[f"| {key} | {value} |" for key, value in results.checked.items()],
        "",
        "The checks: every user that signed up exists and no other; every stored file "
        "is listed for its owner and its row's bytes on disk hash to the SHA-256 the "
        "client computed; every deleted file is gone from the database and from "
        "UPLOAD_DIR; no object in UPLOAD_DIR lacks its row and no unfinished upload is "
        "left; revoked sessions are gone and their tokens answer 401; every change has "
        "its audit event.",
        "",
    ]
    if results.problems:
        lines += ["## Problems", ""]
        lines += [f"- {problem}" for problem in results.problems[:200]]
        if len(results.problems) > 200:
            lines.append(f"- ... and {len(results.problems) - 200} more")
        lines.append("")
    else:
        lines += ["No 5xx, no broken connection, nothing lost, nothing extra.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per instance")
    parser.add_argument("--report", type=Path, help="write the Markdown report here")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 1000 or not 0 < args.seconds <= 600:
        parser.error("at most 1000 clients for at most 600 seconds")
    workdir = Path(tempfile.mkdtemp(prefix="flaskou-loadtest-"))
    with stack(workdir, instances=args.instances, workers=args.workers) as target:
        results = run(target, clients=args.clients, seconds=args.seconds)
        command = (
            "make loadtest"
            if argv is None and os.environ.get("MAKELEVEL")
            else (
                "python -m benchmarks.loadtest "
                + shlex.join(sys.argv[1:] if argv is None else argv)
            )
        )
        report = markdown(results, target, command)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(report)
        print(f"loadtest: report written to {args.report}")
    print(report.split("## Machine")[0].strip())
    if results.problems:
        print(f"loadtest: FAILED, {len(results.problems)} problems; logs kept in {workdir}:")
        for problem in results.problems[:30]:
            print("  " + problem)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    print("loadtest: PASSED")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
