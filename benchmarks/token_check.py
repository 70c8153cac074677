"""Does checking a token stay as cheap when its user has 10,000 sessions?
(issue #13, item 3)

One database, two users: `solo` logged in once, `busy` with 10,000 live
sessions. Both tokens come from real logins through the API; busy's other
9,999 sessions are written beforehand by one bulk INSERT of the rows a login
writes (BENCH_REAL_LOGINS=1 opens them through real HTTP logins instead,
argon2 included: minutes). flaskou runs under
gunicorn (`gunicorn.conf.py`, one worker, 127.0.0.1) on SQLite and on a
throwaway PostgreSQL; rounds of authenticated requests (`GET /api/v1/users/me`)
alternate between the two tokens in rotated order, so machine noise hits both
alike.

The figure is the server CPU per request: the gunicorn master, worker and
their children from /proc, plus, on PostgreSQL, the database server (where
the lookup actually runs). The ratio solo CPU / busy CPU from the same run is
the answer (1.00 = no dearer with 10,000 sessions; issue #13's target is
>= 0.95). The section also shows each database's plan for the lookup.

BENCH_TOKEN_REQUESTS (default 1500) requests per token per round,
BENCH_TOKEN_ROUNDS (default 4) rounds, concurrency 8. Prints a table and
writes the section "1 session vs 10,000 sessions" of docs/benchmarks.md
(BENCH_REPORT=path elsewhere, BENCH_REPORT=- not at all), with its plot
docs/benchmarks/token_check.png.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text
from tests.support.postgres import PostgresCluster
from tests.support.server import http

from benchmarks.common import (
    CONCURRENCY,
    PASSWORD,
    Gunicorn,
    flaskou_env,
    load,
    migrate,
    report_path,
    tree_cpu_seconds,
    write_section,
)
from flaskou import Settings, create_app
from flaskou.accounts import service as accounts
from flaskou.extensions import db
from flaskou.sessions import service as sessions
from flaskou.sessions.models import LoginSession

SESSIONS = 10_000
REQUESTS = int(os.environ.get("BENCH_TOKEN_REQUESTS", "1500"))
ROUNDS = int(os.environ.get("BENCH_TOKEN_ROUNDS", "4"))
WARMUP = 300
TARGET = 0.95
SECTION = "1 session vs 10,000 sessions"
FIGURE = "token_check.png"
ME = "/api/v1/users/me"
# The lookup a request makes (flaskou joins the user and roles to it; the
# sessions part is what grows).
LOOKUP = "SELECT * FROM sessions WHERE token_hash = :h AND expires_at > :now"


@dataclasses.dataclass
class Token:
    short: str
    token: str
    cpu_ms: list[float] = dataclasses.field(default_factory=list)  # worker + database
    worker_ms: list[float] = dataclasses.field(default_factory=list)
    rps: list[float] = dataclasses.field(default_factory=list)
    p50_ms: list[float] = dataclasses.field(default_factory=list)
    p99_ms: list[float] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Database:
    label: str
    url: str
    server: Gunicorn
    solo: Token
    busy: Token
    database_cpu: Callable[[], float] | None
    sessions: int
    fill_seconds: float
    plan: list[str]

    def ratio(self, worker_only: bool = False) -> float:
        pick = (lambda t: t.worker_ms) if worker_only else (lambda t: t.cpu_ms)
        return statistics.median(pick(self.solo)) / statistics.median(pick(self.busy))


def measure(database: Database, token: Token) -> None:
    database_before = database.database_cpu() if database.database_cpu else 0.0
    before = database.server.cpu_seconds()
    elapsed, latencies = load(
        database.server.port, ME, {"Authorization": f"Bearer {token.token}"}, REQUESTS
    )
    worker = database.server.cpu_seconds() - before
    other = database.database_cpu() - database_before if database.database_cpu else 0.0
    latencies.sort()
    token.worker_ms.append(worker / REQUESTS * 1000)
    token.cpu_ms.append((worker + other) / REQUESTS * 1000)
    token.rps.append(REQUESTS / elapsed)
    token.p50_ms.append(latencies[len(latencies) // 2] * 1000)
    token.p99_ms.append(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000)


def login(server: Gunicorn, username: str) -> str:
    status, _, body = http(
        server.base, "POST", "/api/v1/login", {"username": username, "password": PASSWORD}
    )
    assert status == 200, f"login of {username} answered {status}: {body}"
    return str(body["token"])


def prepare(
    label: str,
    url: str,
    workdir: Path,
    database_cpu: Callable[[], float] | None,
    servers: list[Gunicorn],
) -> Database:
    """Migrate, create solo and busy, open busy's sessions, start gunicorn, log both in."""
    env = flaskou_env(url, workdir)
    migrate(env)
    real_logins = os.environ.get("BENCH_REAL_LOGINS") == "1"
    app = create_app(Settings.from_env(env))
    started = time.perf_counter()
    with app.app_context():
        for name in ("solo", "busy"):
            accounts.create_user(name, f"{name}@example.com", PASSWORD)
        db.session.commit()
        if not real_logins:
            # The rows a login's `sessions.open_session` writes, in one bulk
            # INSERT (10,000 argon2 verifications would take minutes).
            busy = accounts.find_by_login("busy")
            now = datetime.now(UTC)
            rows = [
                {
                    "id": uuid.uuid4(),
                    "user_id": busy.id,
                    "token_hash": sessions.hash_token(sessions.new_token()),
                    "description": "bench",
                    "created_at": now,
                    "last_used_at": now,
                    "expires_at": now + timedelta(days=1),
                }
                for _ in range(SESSIONS - 1)
            ]
            db.session.execute(insert(LoginSession), rows)
            db.session.commit()
    server = Gunicorn("flaskou.wsgi:app", env, workdir)
    servers.append(server)  # stopped by the caller, whatever happens next
    server.start("/healthz")
    if real_logins:
        load(
            server.port,
            "/api/v1/login",
            {},
            SESSIONS - 1,
            method="POST",
            body={"username": "busy", "password": PASSWORD},
            concurrency=4,
        )
    busy_token = login(server, "busy")
    fill_seconds = time.perf_counter() - started
    solo_token = login(server, "solo")
    with app.app_context():
        count = db.session.scalar(text("SELECT count(*) FROM sessions"))
        plan = lookup_plan(busy_token)
        db.session.remove()
        db.engine.dispose()
    return Database(
        label,
        url,
        server,
        Token("1 session", solo_token),
        Token(f"{SESSIONS:,} sessions", busy_token),
        database_cpu,
        count,
        fill_seconds,
        plan,
    )


def lookup_plan(token: str) -> list[str]:
    parameters = {"h": sessions.hash_token(token), "now": datetime.now(UTC)}
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE sessions"))
        rows = db.session.execute(text("EXPLAIN " + LOOKUP), parameters).scalars()
        return [row.strip() for row in rows]
    parameters["now"] = parameters["now"].isoformat(" ")  # as flaskou stores it
    rows = db.session.execute(text("EXPLAIN QUERY PLAN " + LOOKUP), parameters).all()
    return [str(row[-1]) for row in rows]


# --- the report ------------------------------------------------------------------------


def table(databases: list[Database]) -> list[str]:
    lines = [
        "| database | token | server CPU ms / request | worker only | solo / this | "
        "target | requests/s | p50 ms | p99 ms |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for database in databases:
        for token in (database.solo, database.busy):
            value = statistics.median(database.solo.cpu_ms) / statistics.median(token.cpu_ms)
            goal = (
                "—"
                if token is database.solo
                else f"≥ {TARGET:.2f}: " + ("met" if value >= TARGET else "not met")
            )
            lines.append(
                f"| {database.label} | {token.short} | {statistics.median(token.cpu_ms):.3f} | "
                f"{statistics.median(token.worker_ms):.3f} | {value:.2f} | {goal} | "
                f"{statistics.median(token.rps):.0f} | {statistics.median(token.p50_ms):.2f} | "
                f"{statistics.median(token.p99_ms):.2f} |"
            )
    return lines


def plot(databases: list[Database], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(8, 4), dpi=100)
    width = 0.38
    for offset, pick, color in (
        (-width / 2, lambda d: d.solo, "#888888"),
        (width / 2, lambda d: d.busy, "#3b6ea5"),
    ):
        values = [statistics.median(pick(d).cpu_ms) for d in databases]
        positions = [index + offset for index in range(len(databases))]
        left.bar(positions, values, width, color=color, label=pick(databases[0]).short)
        for x, value in zip(positions, values, strict=True):
            left.annotate(f"{value:.2f}", (x, value), ha="center", va="bottom", fontsize=8)
    left.set_xticks(range(len(databases)), [d.label for d in databases])
    left.set_ylabel("server CPU ms / request")
    left.set_title("GET /api/v1/users/me")
    left.legend(fontsize=8)
    ratios = [d.ratio() for d in databases]
    right.bar([d.label for d in databases], ratios, color="#3b6ea5")
    right.axhline(TARGET, color="#c0392b", linestyle="--", label=f"target ≥ {TARGET}")
    right.set_ylim(0, max(1.1, *ratios) * 1.1)
    right.set_title("CPU, 1 session / 10,000 sessions")
    right.legend(loc="lower right", fontsize=8)
    for index, value in enumerate(ratios):
        right.annotate(f"{value:.2f}", (index, value), ha="center", va="bottom", fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def section(databases: list[Database], seconds: float) -> str:
    unmet = [d.label for d in databases if d.ratio() < TARGET]
    verdict = (
        "Target met on " + " and ".join(d.label for d in databases) + ": a token of a user "
        f"with {SESSIONS:,} sessions costs no more than one of a user with 1."
        if not unmet
        else "Not met on " + " and ".join(unmet) + f": the {SESSIONS:,}-session token costs "
        f"more than 1/{TARGET} of the 1-session one."
    )
    rounds = [
        "| round | "
        + " | ".join(f"{d.label} {t.short}" for d in databases for t in (d.solo, d.busy))
        + " |",
        "|---" + "|---:" * (2 * len(databases)) + "|",
        *[
            f"| {index + 1} | "
            + " | ".join(f"{t.cpu_ms[index]:.3f}" for d in databases for t in (d.solo, d.busy))
            + " |"
            for index in range(ROUNDS)
        ],
    ]
    how = (
        "through real HTTP logins (BENCH_REAL_LOGINS=1)"
        if os.environ.get("BENCH_REAL_LOGINS") == "1"
        else "beforehand by one bulk INSERT of the rows a login writes (token hash, user, times)"
    )
    plans: list[str] = []
    for database in databases:
        plans += [f"{database.label}:", "", "```", *database.plan, "```", ""]
    return "\n".join(
        [
            f"## {SECTION}",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m benchmarks "
            f"token_check` in {seconds:.0f} s: `GET {ME}` with the token of `solo` (1 session) "
            f"and of `busy` ({SESSIONS:,} live sessions), {REQUESTS} requests per token per "
            f"round at concurrency {CONCURRENCY}, {ROUNDS} rounds alternating the two in "
            "rotated order, medians. flaskou runs under gunicorn (`gunicorn.conf.py`, one "
            "worker, 127.0.0.1). Server CPU is utime+stime of the gunicorn master, worker and "
            "their children (from /proc/PID/stat) plus, on PostgreSQL, the postmaster and its "
            'backends, where the lookup runs; "worker only" leaves the database server out. '
            "Both tokens come from real logins through the API; busy's other sessions were "
            f"opened {how}. The figure is solo CPU / busy CPU from this same run "
            f"(1.00 = no dearer with {SESSIONS:,} sessions); issue #13's target is ≥ {TARGET}.",
            "",
            f"![1 session vs 10,000 sessions](benchmarks/{FIGURE})",
            "",
            *table(databases),
            "",
            verdict,
            "",
            "Server CPU ms / request, round by round:",
            "",
            *rounds,
            "",
            "Sessions in the table: "
            + "; ".join(
                f"{d.label} {d.sessions:,} (busy's opened in {d.fill_seconds:.0f} s)"
                for d in databases
            )
            + ". The session lookup (`"
            + LOOKUP
            + "`, with busy's token) is one unique-index probe on the token's hash whatever "
            "the user's session count, as each database's plan shows:",
            "",
            *plans,
        ]
    )


def main() -> None:
    print(f"== token check with 1 vs {SESSIONS} sessions ({REQUESTS} x {ROUNDS} rounds) ==")
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="flaskou-bench-token-"))
    cluster: PostgresCluster | None = None
    databases: list[Database] = []
    servers: list[Gunicorn] = []
    done = False
    try:
        databases.append(
            prepare("SQLite", f"sqlite:///{work}/flaskou.sqlite3", work / "sqlite", None, servers)
        )
        print(f"SQLite ready ({time.monotonic() - started:.0f} s)")
        cluster = PostgresCluster().start()
        postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
        databases.append(
            prepare(
                "PostgreSQL",
                cluster.create_database("flaskou_bench"),
                work / "postgresql",
                lambda: tree_cpu_seconds(postmaster),
                servers,
            )
        )
        print(f"PostgreSQL ready ({time.monotonic() - started:.0f} s)")
        for database in databases:
            for token in (database.solo, database.busy):
                load(database.server.port, ME, {"Authorization": f"Bearer {token.token}"}, WARMUP)
        for round_number in range(ROUNDS):
            pairs = [(d, t) for d in databases for t in (d.solo, d.busy)]
            shift = round_number % len(pairs)
            for database, token in pairs[shift:] + pairs[:shift]:
                measure(database, token)
            print(f"round {round_number + 1}/{ROUNDS} done ({time.monotonic() - started:.0f} s)")
        done = True
    finally:
        for server in servers:
            server.stop()
        if cluster is not None:
            cluster.destroy()
        if done:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"token_check: failed; the servers' logs are kept in {work}")

    elapsed = time.monotonic() - started
    body = section(databases, elapsed)
    print("\n".join(table(databases)))
    for database in databases:
        print(f"[{database.label}] plan: " + " / ".join(database.plan))
    destination = report_path()
    if destination is not None:
        plot(databases, destination.parent / "benchmarks" / FIGURE)
        write_section(destination, SECTION, body)
        print(f"token_check: section '{SECTION}' written to {destination}")
