"""Faults in the middle of work leave nothing half-done, and the service answers.

Real gunicorn, real PostgreSQL, real Redis. "The middle" is reached from
outside, with no hook in flaskou: the test takes a PostgreSQL lock, so the
request blocks inside its transaction at a known statement; the worker
serving it is found by the connection it holds (/proc), killed with SIGKILL,
and the lock released. For an upload, half the body is sent and the worker
that is receiving it is killed. A database restart and a Redis outage run
under a steady load.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.production.conftest import SECRET, make_admin, migrate
from tests.support.multipart import file_body
from tests.support.processes import children, is_alive, owner_of_connection, wait_for
from tests.support.redis import RedisServer
from tests.support.server import Server

pytestmark = [pytest.mark.slow, pytest.mark.engine_independent]

PASSWORD = "fault test password"
LOGIN_LOAD0 = {"username": "load0", "password": PASSWORD}


@dataclasses.dataclass
class Service:
    server: Server
    database: str  # libpq connection string
    env: dict[str, str]
    upload_dir: Path
    pg_port: int

    def call(self, method: str, path: str, body: Any = None, token: str | None = None, **kw: Any):
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.server.request(method, path, body, headers, **kw)

    def account(self, name: str) -> str:
        self.call(
            "POST",
            "/api/v1/signup",
            {"username": name, "email": f"{name}@example.com", "password": PASSWORD},
        )
        return self.login(name)

    def login(self, name: str) -> str:
        status, _, body = self.call(
            "POST", "/api/v1/login", {"username": name, "password": PASSWORD}
        )
        assert status == 200, body
        return str(body["token"])

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database) as db:
            return list(db.execute(query, params))

    def stored(self) -> list[str]:
        return sorted(
            str(p.relative_to(self.upload_dir)) for p in self.upload_dir.rglob("*") if p.is_file()
        )

    def files_gc(self) -> str:
        flask = str(Path(sys.executable).parent / "flask")
        done = subprocess.run(
            [flask, "--app", "flaskou", "files", "gc", "--older-than", "0"],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout


def start_service(cluster, tmp: Path, name: str, **extra: str) -> Service:
    url = cluster.create_database(name)
    migrate(url, tmp / "migrate")
    make_admin(url, tmp / "admin", "root", PASSWORD)
    env = {
        "DATABASE_URL": url,
        "SECRET_KEY": SECRET,
        "INSTANCE_PATH": str(tmp / "instance"),
        "UPLOAD_DIR": str(tmp / "files"),
        "RATE_LIMIT_LOGIN": "100000 per minute",
        "RATE_LIMIT_SIGNUP": "1000000 per hour",
        "RATE_LIMIT_MAIL": "1000000 per hour",
        **extra,
    }
    server = Server(env, workers=2, log_path=tmp / "gunicorn.log").start(timeout=60)
    dsn = f"host=127.0.0.1 port={cluster.port} user=postgres dbname={name}"
    return Service(server, dsn, env, tmp / "files", cluster.port)


@pytest.fixture
def service(cluster, tmp_path):
    svc = start_service(cluster, tmp_path, f"faults_{uuid.uuid4().hex[:12]}")
    yield svc
    svc.server.stop()


# --- killing the worker in the middle ----------------------------------------


class InBackground(threading.Thread):
    """One request on its own thread; whatever happens to it is kept."""

    def __init__(self, call: Any) -> None:
        super().__init__(daemon=True)
        self.call = call
        self.outcome: Any = None

    def run(self) -> None:
        try:
            self.outcome = self.call()
        except Exception as error:  # the worker dies under it: that is the point
            self.outcome = error


def blocked_client_port(svc: Service, lock_holder: int) -> int:
    """The local port of the flaskou connection waiting on the test's lock."""

    def waiting() -> int | None:
        rows = svc.rows(
            "SELECT client_port FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND %s = ANY(pg_blocking_pids(pid))",
            lock_holder,
        )
        return int(rows[0][0]) if rows else None

    return wait_for(waiting, 30, "a flaskou request to wait on the test's lock")


def kill_and_see_replaced(svc: Service, pid: int) -> None:
    """SIGKILL one worker; the master starts another and the service answers."""
    master = svc.server.process.pid  # type: ignore[union-attr]
    before = children(master)
    assert pid in before
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not is_alive(pid), 10, f"worker {pid} to die")
    replaced = wait_for(
        lambda: (lambda now: now if len(now) == len(before) and pid not in now else None)(
            children(master)
        ),
        30,
        "the gunicorn master to replace the killed worker",
    )
    assert pid not in replaced


def kill_while_locked(svc: Service, table: str, request: Any) -> Any:
    """Hold `table` locked, start `request`, kill the worker that blocks on the
    lock inside its transaction, release the lock; answer what the client saw."""
    master = svc.server.process.pid  # type: ignore[union-attr]
    with psycopg.connect(svc.database) as holder:
        holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        background = InBackground(request)
        background.start()
        port = blocked_client_port(svc, holder.info.backend_pid)
        worker = owner_of_connection(port, svc.pg_port, children(master))
        assert worker is not None, "no worker holds the blocked connection"
        kill_and_see_replaced(svc, worker)
        holder.rollback()
    background.join(30)
    assert not background.is_alive()
    return background.outcome


# Where the login is held: before it writes its session, or after (when it
# records its `login` event).
LOGIN_HELD_AT = ["sessions", "audit_events"]


@pytest.mark.parametrize("table", LOGIN_HELD_AT)
def test_a_worker_killed_in_the_middle_of_a_login_leaves_no_session_without_its_event(
    service, table
):
    service.call(
        "POST",
        "/api/v1/signup",
        {"username": "ada", "email": "ada@example.com", "password": PASSWORD},
    )
    seen = kill_while_locked(
        service,
        table,
        lambda: service.call("POST", "/api/v1/login", {"username": "ada", "password": PASSWORD}),
    )
    assert isinstance(seen, Exception), f"the client got an answer from a killed worker: {seen}"

    sessions = service.rows("SELECT s.id::text FROM sessions s JOIN users u ON u.id = s.user_id")
    events = service.rows("SELECT target FROM audit_events WHERE action = 'login'")
    assert sessions == [] and events == [], "half a login was kept"

    token = service.login("ada")  # the replacement worker serves, the database is whole
    assert service.call("GET", "/api/v1/users/me", token=token)[0] == 200
    sessions = {row[0] for row in service.rows("SELECT id::text FROM sessions")}
    events = {
        row[0] for row in service.rows("SELECT target FROM audit_events WHERE action='login'")
    }
    assert sessions == events and len(sessions) == 1


def test_a_worker_killed_in_the_middle_of_a_role_grant_leaves_no_grant_without_its_event(
    service,
):
    root = service.login("root")
    service.account("bob")
    assert (
        service.call(
            "POST", "/api/v1/roles", {"name": "editor", "description": "Edits."}, token=root
        )[0]
        == 201
    )

    seen = kill_while_locked(
        service,
        "audit_events",
        lambda: service.call("POST", "/api/v1/users/bob/roles/editor", token=root),
    )
    assert isinstance(seen, Exception), f"the client got an answer from a killed worker: {seen}"

    grants = service.rows(
        "SELECT 1 FROM user_roles ur JOIN users u ON u.id = ur.user_id "
        "JOIN roles r ON r.id = ur.role_id WHERE u.username = 'bob' AND r.name = 'editor'"
    )
    events = service.rows(
        "SELECT 1 FROM audit_events WHERE action = 'role_granted' AND target = 'bob'"
    )
    assert grants == [] and events == [], "half a grant was kept"

    status, _, bob = service.call("POST", "/api/v1/users/bob/roles/editor", token=root)
    assert status == 200 and "editor" in bob["roles"]
    assert (
        len(
            service.rows(
                "SELECT 1 FROM audit_events WHERE action = 'role_granted' AND target = 'bob'"
            )
        )
        == 1
    )


def test_a_worker_killed_while_it_receives_an_upload_leaves_nothing_after_gc(service):
    token = service.account("carol")
    content = os.urandom(4 * 1024 * 1024)
    body, content_type = file_body(content, "half.bin")
    master = service.server.process.pid  # type: ignore[union-attr]
    with socket.create_connection(("127.0.0.1", service.server.port), timeout=30) as sock:
        head = (
            "POST /api/v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body[: len(body) // 2])
        # The worker is streaming the part it got into a temporary object.
        wait_for(
            lambda: any(p.stat().st_size > 0 for p in (service.upload_dir / "incoming").glob("*")),
            30,
            "the upload's first bytes in UPLOAD_DIR/incoming",
        )
        worker = owner_of_connection(service.server.port, sock.getsockname()[1], children(master))
        assert worker is not None
        kill_and_see_replaced(service, worker)
        with pytest.raises(OSError):  # the connection dies with the worker
            sock.sendall(body[len(body) // 2 :])
            if not sock.recv(1):
                raise ConnectionResetError("closed")

    assert service.rows("SELECT 1 FROM files") == []
    assert service.rows("SELECT 1 FROM audit_events WHERE action = 'file_uploaded'") == []
    left = service.stored()
    assert left and all(name.startswith("incoming/") for name in left), left
    assert "Removed 1 leftover(s)" in service.files_gc()
    assert service.stored() == []

    status, _, stored = service.call(
        "POST", "/api/v1/files", token=token, raw=body, headers={"Content-Type": content_type}
    )
    assert status == 201 and stored["sha256"] == hashlib.sha256(content).hexdigest()


def test_a_worker_killed_as_it_records_an_upload_leaves_nothing_after_gc(service):
    """The content is already published under its key when the worker dies:
    only `files gc` can tell it from a live file (it has no row)."""
    token = service.account("dave")
    body, content_type = file_body(os.urandom(512 * 1024), "published.bin")

    seen = kill_while_locked(
        service,
        "audit_events",
        lambda: service.call(
            "POST", "/api/v1/files", token=token, raw=body, headers={"Content-Type": content_type}
        ),
    )
    assert isinstance(seen, Exception), f"the client got an answer from a killed worker: {seen}"

    assert service.rows("SELECT 1 FROM files") == []
    left = service.stored()
    assert len(left) == 1 and left[0].startswith("objects/"), left
    assert "Removed 1 leftover(s)" in service.files_gc()
    assert service.stored() == []
    assert service.call("GET", "/api/v1/files", token=token)[2]["items"] == []


# --- outages under a steady load ------------------------------------------------


@dataclasses.dataclass
class Answer:
    op: str
    start: float
    end: float
    status: int  # 0: no answer (broken connection)
    problem: bool  # application/problem+json
    content_type: str
    retry_after: bool


class Load:
    """A few clients, each with its own account, looping over a mix of calls
    and keeping a ledger of the writes the service confirmed."""

    def __init__(self, svc: Service, clients: int, logins: bool = True) -> None:
        self.svc = svc
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.answers: list[Answer] = []
        self.files: dict[str, str] = {}  # id -> sha256, answered 201
        self.deleted: set[str] = set()  # answered 204
        self.maybe: set[str] = set()  # sha256 of uploads with no clear answer
        self.sessions: set[str] = set()  # session ids of logins that answered 200
        self.logins = logins
        self.threads = [
            threading.Thread(target=self.client, args=(f"load{i}", svc.account(f"load{i}")))
            for i in range(clients)
        ]

    def call(self, op: str, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        start = time.monotonic()
        try:
            status, headers, body = self.svc.call(method, path, **kw)
        except OSError:
            status, headers, body = 0, {}, None
        with self.lock:
            self.answers.append(
                Answer(
                    op,
                    start,
                    time.monotonic(),
                    status,
                    headers.get("Content-Type") == "application/problem+json",
                    headers.get("Content-Type", ""),
                    "Retry-After" in headers,
                )
            )
        return status, body

    def client(self, name: str, token: str) -> None:
        mine: list[str] = []
        turn = 0
        while not self.stop.is_set():
            turn += 1
            self.call("me", "GET", "/api/v1/users/me", token=token)
            content = os.urandom(8192 + turn)
            body, content_type = file_body(content, f"{name}-{turn}.bin")
            digest = hashlib.sha256(content).hexdigest()
            status, stored = self.call(
                "upload",
                "POST",
                "/api/v1/files",
                token=token,
                raw=body,
                headers={"Content-Type": content_type},
            )
            with self.lock:
                if status == 201:
                    self.files[stored["id"]] = digest
                    mine.append(stored["id"])
                elif status >= 500 or status == 0:
                    self.maybe.add(digest)
            self.call("list", "GET", "/api/v1/files", token=token)
            if turn % 3 == 0 and mine:
                file_id = mine.pop(0)
                status, _ = self.call("delete", "DELETE", f"/api/v1/files/{file_id}", token=token)
                if status == 204:
                    with self.lock:
                        self.deleted.add(file_id)
            if self.logins and turn % 4 == 0:
                status, answer = self.call(
                    "login", "POST", "/api/v1/login", body={"username": name, "password": PASSWORD}
                )
                if status == 200:
                    with self.lock:
                        self.sessions.add(answer["session"]["id"])
            time.sleep(0.02)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(90)

    def between(self, start: float, end: float) -> list[Answer]:
        with self.lock:
            return [a for a in self.answers if a.start >= start and a.end <= end]

    def check_nothing_lost(self) -> None:
        """Every 201 upload is in the database and on disk with its bytes, every
        204 deletion is gone, nothing else is there (after gc), sessions whole."""
        svc = self.svc
        svc.files_gc()  # uploads cut off by the outage may have left leftovers
        rows = {
            str(r[0]): (r[1], r[2]) for r in svc.rows("SELECT id, sha256, storage_key FROM files")
        }
        expected = set(self.files) - self.deleted
        assert expected - set(rows) == set(), "uploads answered 201 are missing"
        assert self.deleted & set(rows) == set(), "files answered 204 are still there"
        for file_id in set(rows) - expected:
            assert rows[file_id][0] in self.maybe, f"{file_id} was never confirmed"
        objects = {p.name: p for p in (svc.upload_dir / "objects").glob("*/*")}
        for file_id, (sha256, key) in rows.items():
            assert key in objects, f"file {file_id} lost its content"
            assert hashlib.sha256(objects[key].read_bytes()).hexdigest() == sha256
            if file_id in self.files:
                assert self.files[file_id] == sha256
        assert set(objects) == {key for _, key in rows.values()}, "orphan objects"
        assert list((svc.upload_dir / "incoming").glob("*")) == []
        sessions = {r[0] for r in svc.rows("SELECT id::text FROM sessions")}
        events = {r[0] for r in svc.rows("SELECT target FROM audit_events WHERE action='login'")}
        assert self.sessions <= sessions, "sessions answered 200 are missing"
        assert self.sessions <= events, "logins answered 200 have no event"
        assert sessions == events, "a session without its login event, or the reverse"


def test_postgresql_restarted_under_load_gives_503s_then_recovers_and_loses_nothing(
    cluster, tmp_path
):
    svc = start_service(cluster, tmp_path, "restart")
    try:
        with Load(svc, clients=6) as load:
            time.sleep(3)
            stopping = time.monotonic()
            cluster.stop_server()
            down = time.monotonic()
            time.sleep(4)
            up = time.monotonic()
            cluster.start_server()
            wait_for(
                lambda: svc.call("GET", "/readyz")[0] == 200, 30, "flaskou to see the database"
            )
            recovered = time.monotonic()
            time.sleep(4)
            end = time.monotonic()

        answers = load.between(0, float("inf"))
        assert [a for a in answers if a.status == 0] == [], "a connection broke"
        # Never a 500: not even a request whose work was done when the server
        # terminated its connection (the session's rollback at teardown then
        # fails, which flaskou logs and discards; see extensions.Database).
        assert {a.status for a in answers} <= {200, 201, 204, 503}, {a.status for a in answers}
        unavailable = [a for a in answers if a.status == 503]
        assert all(a.problem and a.retry_after for a in unavailable)
        while_down = load.between(down + 0.5, up)
        assert while_down and {a.status for a in while_down} == {503}
        # It comes back by itself: once /readyz says so, the load sees 2xx again.
        after = load.between(recovered + 1, end)
        assert after and {a.status for a in after} <= {200, 201, 204}
        print(
            f"\nPostgreSQL restart: {len(answers)} answers, {len(unavailable)} x 503 "
            f"(all problem+json with Retry-After), {recovered - up:.1f}s from start to ready "
            f"(pg_ctl stop took {down - stopping:.1f}s)"
        )
        load.check_nothing_lost()
    finally:
        svc.server.stop()


def test_redis_stopped_under_load_only_logins_answer_503_and_they_recover(cluster, tmp_path):
    cache = RedisServer().start()
    svc = start_service(cluster, tmp_path, "redis_outage", REDIS_URL=cache.url)
    try:
        with Load(svc, clients=4) as load:
            time.sleep(3)
            stopping = time.monotonic()
            cache.stop()
            down = time.monotonic()
            time.sleep(4)
            up = time.monotonic()
            cache.start()
            wait_for(
                lambda: svc.call("POST", "/api/v1/login", LOGIN_LOAD0)[0] == 200,
                30,
                "logins to work again",
            )
            recovered = time.monotonic()
            time.sleep(3)
            end = time.monotonic()

        answers = load.between(0, float("inf"))
        assert [a for a in answers if a.status == 0] == [], "a connection broke"
        # A login in flight when Redis goes away can answer 500 (see the next
        # test); every other answer is a 2xx or a 503 problem.
        in_flight = [a for a in answers if a.start < down and a.end > stopping]
        boundary_500 = [a for a in in_flight if a.status == 500 and a.op == "login"]
        rest = [a for a in answers if a not in boundary_500]
        assert {a.status for a in rest} <= {200, 201, 204, 503}, {a.status for a in rest}
        while_down = load.between(down + 0.5, up)
        logins = [a for a in while_down if a.op == "login"]
        others = [a for a in while_down if a.op != "login"]
        assert logins and {a.status for a in logins} == {503}
        assert all(a.problem and a.retry_after for a in logins)
        assert others and {a.status for a in others} <= {200, 201, 204}
        after = load.between(recovered, end)
        assert after and {a.status for a in after} <= {200, 201, 204}
        print(
            f"\nRedis outage: {len(logins)} logins while down, all 503 problem+json with "
            f"Retry-After; {len(others)} other calls while down, all 2xx; logins back "
            f"{recovered - up:.1f}s after Redis restarted; "
            f"{len(boundary_500)} login(s) in flight at the stop answered 500 "
            f"({sorted({a.content_type for a in boundary_500})})"
        )
        load.check_nothing_lost()
    finally:
        svc.server.stop()
        cache.stop()


def test_a_login_in_flight_when_redis_goes_away_answers_503_not_500(cluster, tmp_path):
    cache = RedisServer().start()
    svc = start_service(cluster, tmp_path, "redis_in_flight", REDIS_URL=cache.url)
    try:
        svc.account("load0")
        with psycopg.connect(svc.database) as holder:
            # The login passes the rate limit (Redis is up), then waits on the lock.
            holder.execute("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
            login = InBackground(lambda: svc.call("POST", "/api/v1/login", LOGIN_LOAD0))
            login.start()
            blocked_client_port(svc, holder.info.backend_pid)
            cache.stop()
            holder.rollback()
        login.join(30)
        status, headers, _ = login.outcome
        assert headers.get("Content-Type") == "application/problem+json", (status, headers)
        assert status == 503
    finally:
        svc.server.stop()
        cache.stop()
