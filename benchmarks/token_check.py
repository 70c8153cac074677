"""Does checking a credential stay one cheap indexed lookup however many there
are? (issue #13, item 3, for sessions; issue #14 for API keys)

Sessions: one database, two users, `solo` logged in once and `busy` with
10,000 live sessions. Both tokens come from real logins through the API;
busy's other 9,999 sessions are written beforehand by one bulk INSERT of the
rows a login writes (BENCH_REAL_LOGINS=1 opens them through real HTTP logins
instead, argon2 included: minutes).

API keys: a key alone in its table against a key among 10,000. An account
holds at most 100 keys (apikeys.service.MAX_KEYS_PER_ACCOUNT), so the 10,000
are busy's 100 (the measured one made through the API, 99 more) and 100 of
each of 99 other accounts; they are written by one bulk INSERT of the rows
`create_key` writes, with the service's own token and hash functions. The
lone key is made through the API too, in a database of its own (its own
gunicorn), where it is the only row of the table.

flaskou runs under gunicorn (`gunicorn.conf.py`, one worker, 127.0.0.1) on
SQLite and on a throwaway PostgreSQL; rounds of authenticated requests
(`GET /api/v1/users/me`) go through all the credentials in rotated order, so
machine noise hits them alike.

The figure is the server CPU per request: the gunicorn master, worker and
their children from /proc, plus, on PostgreSQL, the database server (where
the lookup actually runs). The ratio few CPU / many CPU from the same run is
the answer (1.00 = no dearer with 10,000; issue #13's target, >= 0.95, is held
for keys too). The section also shows each database's plan for both lookups.

BENCH_TOKEN_REQUESTS (default 1500) requests per credential per round,
BENCH_TOKEN_ROUNDS (default 4) rounds, concurrency 8. Prints a table and
writes the section "1 vs 10,000 sessions and API keys" of docs/benchmarks.md
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
from typing import Any

from sqlalchemy import insert, text
from tests.support.postgres import PostgresCluster
from tests.support.server import http

from benchmarks.common import (
    CONCURRENCY,
    PASSWORD,
    Gunicorn,
    flaskou_env,
    load,
    make_key,
    migrate,
    report_path,
    tree_cpu_seconds,
    write_section,
)
from flaskou import Settings, create_app
from flaskou.accounts import service as accounts
from flaskou.accounts.models import User
from flaskou.apikeys import service as apikeys
from flaskou.apikeys.models import ApiKey
from flaskou.extensions import db
from flaskou.sessions import service as sessions
from flaskou.sessions.models import LoginSession

MANY = 10_000
REQUESTS = int(os.environ.get("BENCH_TOKEN_REQUESTS", "1500"))
ROUNDS = int(os.environ.get("BENCH_TOKEN_ROUNDS", "4"))
WARMUP = 300
TARGET = 0.95
SECTION = "1 vs 10,000 sessions and API keys"
FIGURE = "token_check.png"
ME = "/api/v1/users/me"
# The lookups a request makes (flaskou joins the account and roles to them;
# the credential table is the part that grows).
SESSION_LOOKUP = "SELECT * FROM sessions WHERE token_hash = :h AND expires_at > :now"
KEY_LOOKUP = (
    "SELECT * FROM api_keys WHERE token_hash = :h AND (expires_at IS NULL OR expires_at > :now)"
)
# The whole statements the credential checks run (credential, account, roles),
# timed inside PostgreSQL; the services build them once for their hot path.
SESSION_CHECK = sessions._principal_query
KEY_CHECK = apikeys._key_query


@dataclasses.dataclass
class Token:
    short: str
    token: str
    server: Gunicorn
    database_cpu: Callable[[], float] | None  # the database server's CPU, where there is one
    cpu_ms: list[float] = dataclasses.field(default_factory=list)  # worker + database
    worker_ms: list[float] = dataclasses.field(default_factory=list)
    rps: list[float] = dataclasses.field(default_factory=list)
    p50_ms: list[float] = dataclasses.field(default_factory=list)
    p99_ms: list[float] = dataclasses.field(default_factory=list)
    # PostgreSQL: the credential table's lookup alone, planning and execution
    # ms in the database (EXPLAIN ANALYZE, median), where a bigger table shows first.
    statement_ms: tuple[float, float] | None = None


@dataclasses.dataclass
class Case:
    """One comparison: a credential with few of its kind against one with 10,000."""

    label: str  # the database
    kind: str  # "sessions" or "API keys"
    few: Token
    many: Token
    rows: int  # rows in the credential table beside `many`
    fill_seconds: float
    plan: list[str]

    def ratio(self, worker_only: bool = False) -> float:
        pick = (lambda t: t.worker_ms) if worker_only else (lambda t: t.cpu_ms)
        return statistics.median(pick(self.few)) / statistics.median(pick(self.many))


def measure(token: Token) -> None:
    database_before = token.database_cpu() if token.database_cpu else 0.0
    before = token.server.cpu_seconds()
    elapsed, latencies = load(
        token.server.port, ME, {"Authorization": f"Bearer {token.token}"}, REQUESTS
    )
    worker = token.server.cpu_seconds() - before
    other = token.database_cpu() - database_before if token.database_cpu else 0.0
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
    lone_key: Token,
) -> list[Case]:
    """Migrate, create solo and busy, open busy's sessions, start gunicorn, log
    both in; then busy's key and the other 9,999 keys. The sessions case, and
    the keys case against `lone_key` (a key alone in another database)."""
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
            assert busy is not None
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
                for _ in range(MANY - 1)
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
            MANY - 1,
            method="POST",
            body={"username": "busy", "password": PASSWORD},
            concurrency=4,
        )
    busy_token = login(server, "busy")
    fill_seconds = time.perf_counter() - started
    solo_token = login(server, "solo")
    started = time.perf_counter()
    busy_key = make_key(server.base, busy_token)
    with app.app_context():
        fill_keys()
        key_fill_seconds = time.perf_counter() - started
        session_rows = db.session.scalar(text("SELECT count(*) FROM sessions"))
        key_rows = db.session.scalar(text("SELECT count(*) FROM api_keys"))
        assert key_rows == MANY, f"{key_rows} API keys, not {MANY}"
        settle()
        session_plan = lookup_plan(SESSION_LOOKUP, sessions.hash_token(busy_token))
        key_plan = lookup_plan(KEY_LOOKUP, apikeys.hash_token(busy_key))
        timings = {
            name: statement_ms(statement, digest)
            for name, statement, digest in (
                ("solo", SESSION_CHECK(), sessions.hash_token(solo_token)),
                ("busy", SESSION_CHECK(), sessions.hash_token(busy_token)),
                ("key", KEY_CHECK(), apikeys.hash_token(busy_key)),
            )
        }
        db.session.remove()
        db.engine.dispose()
    return [
        Case(
            label,
            "sessions",
            Token("1 session", solo_token, server, database_cpu, statement_ms=timings["solo"]),
            Token(
                f"{MANY:,} sessions", busy_token, server, database_cpu, statement_ms=timings["busy"]
            ),
            session_rows,
            fill_seconds,
            session_plan,
        ),
        Case(
            label,
            "API keys",
            lone_key,
            Token(f"{MANY:,} keys", busy_key, server, database_cpu, statement_ms=timings["key"]),
            key_rows,
            key_fill_seconds,
            key_plan,
        ),
    ]


def fill_keys() -> None:
    """Busy's other 99 keys and 99 more accounts with 100 each (the most an
    account may hold): the rows `apikeys.service.create_key` writes, each
    with a token of the service's making and its hash, in bulk INSERTs."""
    busy = accounts.find_by_login("busy")
    assert busy is not None
    now = datetime.now(UTC)
    per_account = apikeys.MAX_KEYS_PER_ACCOUNT
    # The owners only hold keys: they share busy's password hash (no argon2 here).
    owners = [
        {
            "id": uuid.uuid4(),
            "username": f"owner{number:02d}",
            "email": f"owner{number:02d}@example.com",
            "password_hash": busy.password_hash,
            "is_active": True,
            "email_verified": False,
            "mfa_enabled": False,
            "created_at": now,
            "updated_at": now,
        }
        for number in range(MANY // per_account - 1)
    ]
    db.session.execute(insert(User), owners)
    holders = [busy.id] * (per_account - 1) + [
        owner["id"] for owner in owners for _ in range(per_account)
    ]

    def row(user_id: uuid.UUID, number: int) -> dict[str, Any]:
        token = apikeys.new_token()
        return {
            "id": uuid.uuid4(),
            "user_id": user_id,
            "name": f"bench {number}",
            "scopes": "account:read",
            "token_hash": apikeys.hash_token(token),
            "prefix": token[: apikeys.SHOWN_CHARS],
            "created_at": now,
            "expires_at": None,
            "last_used_at": None,
        }

    db.session.execute(
        insert(ApiKey), [row(user_id, number) for number, user_id in enumerate(holders)]
    )
    db.session.commit()


def lone_key(
    label: str,
    url: str,
    workdir: Path,
    database_cpu: Callable[[], float] | None,
    servers: list[Gunicorn],
) -> Token:
    """A database whose api_keys table holds one key, made through the API,
    and its gunicorn."""
    env = flaskou_env(url, workdir)
    migrate(env)
    app = create_app(Settings.from_env(env))
    with app.app_context():
        accounts.create_user("lone", "lone@example.com", PASSWORD)
        db.session.commit()
    server = Gunicorn("flaskou.wsgi:app", env, workdir)
    servers.append(server)
    server.start("/healthz")
    key = make_key(server.base, login(server, "lone"))
    with app.app_context():
        rows = db.session.scalar(text("SELECT count(*) FROM api_keys"))
        assert rows == 1, f"{rows} API keys beside the lone one"
        settle()
        timing = statement_ms(KEY_CHECK(), apikeys.hash_token(key))
        db.session.remove()
        db.engine.dispose()
    return Token("1 key", key, server, database_cpu, statement_ms=timing)


def settle() -> None:
    """PostgreSQL: VACUUM ANALYZE the tables now, as autovacuum would do to a
    freshly filled table a minute later, in the middle of the rounds (its CPU
    counts in the database server's, for whichever credential was measured)."""
    if db.engine.dialect.name != "postgresql":
        return
    db.session.remove()  # no transaction of ours open beside VACUUM
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in ("users", "sessions", "api_keys"):
            connection.execute(text(f"VACUUM ANALYZE {table}"))


def statement_ms(statement: Any, digest: str, runs: int = 200) -> tuple[float, float] | None:
    """PostgreSQL's own planning and execution time (medians) of the very
    statement the credential check runs (the service's, compiled as the worker
    compiles it, on a DBAPI cursor), or None on another database."""
    if db.engine.dialect.name != "postgresql":
        return None
    sql = "EXPLAIN (ANALYZE, FORMAT JSON) " + str(statement.compile(dialect=db.engine.dialect))
    parameters = {"digest": digest, "now": datetime.now(UTC)}
    planning: list[float] = []
    execution: list[float] = []
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        for _ in range(runs):
            cursor.execute(sql, parameters)
            report = cursor.fetchone()[0]
            planning.append(report[0]["Planning Time"])
            execution.append(report[0]["Execution Time"])
        connection.rollback()
    finally:
        connection.close()
    return statistics.median(planning), statistics.median(execution)


def lookup_plan(lookup: str, digest: str) -> list[str]:
    parameters: dict[str, Any] = {"h": digest, "now": datetime.now(UTC)}
    if db.engine.dialect.name == "postgresql":
        rows = db.session.execute(text("EXPLAIN " + lookup), parameters).scalars()
        return [row.strip() for row in rows]
    parameters["now"] = parameters["now"].isoformat(" ")  # as flaskou stores it
    rows = db.session.execute(text("EXPLAIN QUERY PLAN " + lookup), parameters).all()
    return [str(row[-1]) for row in rows]


# --- the report ------------------------------------------------------------------------


def _name(case: Case) -> str:
    return f"{case.label} {case.kind}"


def table(cases: list[Case]) -> list[str]:
    lines = [
        "| database | credential | server CPU ms / request | worker only | few / this | "
        "target | requests/s | p50 ms | p99 ms |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for case in cases:
        for token in (case.few, case.many):
            value = statistics.median(case.few.cpu_ms) / statistics.median(token.cpu_ms)
            goal = (
                "—"
                if token is case.few
                else f"≥ {TARGET:.2f}: " + ("met" if value >= TARGET else "not met")
            )
            lines.append(
                f"| {case.label} | {token.short} | {statistics.median(token.cpu_ms):.3f} | "
                f"{statistics.median(token.worker_ms):.3f} | {value:.2f} | {goal} | "
                f"{statistics.median(token.rps):.0f} | {statistics.median(token.p50_ms):.2f} | "
                f"{statistics.median(token.p99_ms):.2f} |"
            )
    return lines


def plot(cases: list[Case], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(8, 4), dpi=100)
    width = 0.38
    names = [f"{case.label}\n{case.kind}" for case in cases]
    for offset, pick, color, legend in (
        (-width / 2, lambda c: c.few, "#888888", "1"),
        (width / 2, lambda c: c.many, "#3b6ea5", f"{MANY:,}"),
    ):
        values = [statistics.median(pick(c).cpu_ms) for c in cases]
        positions = [index + offset for index in range(len(cases))]
        left.bar(positions, values, width, color=color, label=legend)
        for x, value in zip(positions, values, strict=True):
            left.annotate(f"{value:.2f}", (x, value), ha="center", va="bottom", fontsize=7)
    left.set_xticks(range(len(cases)), names, fontsize=8)
    left.set_ylabel("server CPU ms / request")
    left.set_title("GET /api/v1/users/me", fontsize=10)
    tallest = max(statistics.median(t.cpu_ms) for c in cases for t in (c.few, c.many))
    left.set_ylim(0, tallest * 1.3)  # room for the legend above the bars
    left.legend(fontsize=8, loc="upper left", ncol=2)
    ratios = [case.ratio() for case in cases]
    right.bar(range(len(cases)), ratios, color="#3b6ea5")
    right.axhline(TARGET, color="#c0392b", linestyle="--", label=f"target ≥ {TARGET}")
    right.set_xticks(range(len(cases)), names, fontsize=8)
    right.set_ylim(0, max(1.1, *ratios) * 1.1)
    right.set_title(f"CPU, 1 / {MANY:,} (higher is cheaper)", fontsize=10)
    right.legend(loc="lower right", fontsize=8)
    for index, value in enumerate(ratios):
        right.annotate(f"{value:.2f}", (index, value), ha="center", va="bottom", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def verdict(cases: list[Case]) -> str:
    unmet = [_name(c) for c in cases if c.ratio() < TARGET]
    if not unmet:
        return (
            "Target met for " + ", ".join(_name(c) for c in cases) + f": a credential among "
            f"{MANY:,} of its kind costs no more than one alone."
        )
    return (
        "Not met for " + ", ".join(unmet) + f": the credential among {MANY:,} costs more "
        f"than 1/{TARGET} of the lone one."
    )


def section(cases: list[Case], seconds: float) -> str:
    tokens = [(c, t) for c in cases for t in (c.few, c.many)]
    rounds = [
        "| round | " + " | ".join(f"{c.label} {t.short}" for c, t in tokens) + " |",
        "|---" + "|---:" * len(tokens) + "|",
        *[
            f"| {index + 1} | " + " | ".join(f"{t.cpu_ms[index]:.3f}" for _, t in tokens) + " |"
            for index in range(ROUNDS)
        ],
    ]
    how = (
        "through real HTTP logins (BENCH_REAL_LOGINS=1)"
        if os.environ.get("BENCH_REAL_LOGINS") == "1"
        else "beforehand by one bulk INSERT of the rows a login writes (token hash, user, times)"
    )
    plans: list[str] = []
    for case in cases:
        plans += [f"{case.label}, {case.kind}:", "", "```", *case.plan, "```", ""]
    timed = [(c, t) for c in cases for t in (c.few, c.many) if t.statement_ms]
    statements = "; ".join(
        f"{c.kind} {t.short}: {t.statement_ms[0] * 1000:.0f} + {t.statement_ms[1] * 1000:.0f} µs"
        for c, t in timed
        if t.statement_ms
    )
    filled = "; ".join(
        f"{_name(c)} {c.rows:,} rows (opened in {c.fill_seconds:.0f} s)" for c in cases
    )
    return "\n".join(
        [
            f"## {SECTION}",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m benchmarks "
            f"token_check` in {seconds:.0f} s: `GET {ME}` with each credential below, "
            f"{REQUESTS} requests per credential per round at concurrency {CONCURRENCY}, "
            f"{ROUNDS} rounds going through all of them in rotated order, medians. flaskou runs "
            "under gunicorn (`gunicorn.conf.py`, one worker, 127.0.0.1). Server CPU is "
            "utime+stime of the gunicorn master, worker and their children (from "
            "/proc/PID/stat) plus, on PostgreSQL, the postmaster and its backends, where the "
            'lookup runs; "worker only" leaves the database server out. The figure is the '
            f"few's CPU / the many's from this same run (1.00 = no dearer among {MANY:,}); "
            f"issue #13's target is ≥ {TARGET}, held for API keys too (issue #14).",
            "",
            f"**Sessions**: the token of `solo` (1 session) against that of `busy` ({MANY:,} "
            "live sessions), both from real logins through the API; busy's other sessions "
            f"were opened {how}. **API keys**: a key alone in its table (its own database "
            f"and gunicorn) against one of {MANY:,} keys in the table. An account holds at "
            f"most {apikeys.MAX_KEYS_PER_ACCOUNT} keys, so the {MANY:,} are busy's "
            f"{apikeys.MAX_KEYS_PER_ACCOUNT} and {apikeys.MAX_KEYS_PER_ACCOUNT} of each of "
            f"{MANY // apikeys.MAX_KEYS_PER_ACCOUNT - 1} other accounts. Both measured keys "
            "were made through `POST /api/v1/users/me/api-keys` with the scope "
            f"`account:read`; the other {MANY - 1:,} were written beforehand by one bulk INSERT of "
            "the rows that call writes (a token of `apikeys.service.new_token`, its "
            "`hash_token`, owner, scopes, times). On PostgreSQL the tables are vacuumed and "
            "analysed once filled, so autovacuum does not run during the rounds.",
            "",
            f"![1 vs {MANY:,} sessions and API keys](benchmarks/{FIGURE})",
            "",
            *table(cases),
            "",
            verdict(cases),
            "",
            "Server CPU ms / request, round by round:",
            "",
            *rounds,
            "",
            f"Credential tables: {filled}. Each lookup (`{SESSION_LOOKUP}`; `{KEY_LOOKUP}`; "
            "with busy's token, among the many) is one unique-index probe on the token's "
            "hash whatever the table holds, as each database's plan shows:",
            "",
            *plans,
            *(
                [
                    "The credential check's whole statement (credential, account and roles, "
                    "as the service builds it) timed inside PostgreSQL by `EXPLAIN (ANALYZE)`, "
                    f"planning + execution, medians of 200: {statements}. A key alone in its "
                    f"table sits in a one-page index; among {MANY:,} the index has one level "
                    "more to descend (and its database more accounts to join): the growth of "
                    "B-tree probes, logarithmic, not of a scan.",
                    "",
                ]
                if timed
                else []
            ),
        ]
    )


def main() -> None:
    print(f"== credential check, 1 vs {MANY} sessions and API keys ({REQUESTS} x {ROUNDS}) ==")
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="flaskou-bench-token-"))
    cluster: PostgresCluster | None = None
    cases: list[Case] = []
    servers: list[Gunicorn] = []
    done = False
    try:
        lone = lone_key(
            "SQLite", f"sqlite:///{work}/lone.sqlite3", work / "sqlite-lone", None, servers
        )
        cases += prepare(
            "SQLite", f"sqlite:///{work}/flaskou.sqlite3", work / "sqlite", None, servers, lone
        )
        print(f"SQLite ready ({time.monotonic() - started:.0f} s)")
        cluster = PostgresCluster().start()
        postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])

        def postgres_cpu() -> float:
            return tree_cpu_seconds(postmaster)

        lone = lone_key(
            "PostgreSQL",
            cluster.create_database("flaskou_lone"),
            work / "postgresql-lone",
            postgres_cpu,
            servers,
        )
        cases += prepare(
            "PostgreSQL",
            cluster.create_database("flaskou_bench"),
            work / "postgresql",
            postgres_cpu,
            servers,
            lone,
        )
        print(f"PostgreSQL ready ({time.monotonic() - started:.0f} s)")
        tokens = [token for case in cases for token in (case.few, case.many)]
        for token in tokens:
            load(token.server.port, ME, {"Authorization": f"Bearer {token.token}"}, WARMUP)
        for round_number in range(ROUNDS):
            shift = round_number % len(tokens)
            for token in tokens[shift:] + tokens[:shift]:
                measure(token)
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
    body = section(cases, elapsed)
    print("\n".join(table(cases)))
    print(verdict(cases))
    for case in cases:
        print(f"[{_name(case)}] plan: " + " / ".join(case.plan))
    destination = report_path()
    if destination is not None:
        plot(cases, destination.parent / "benchmarks" / FIGURE)
        write_section(destination, SECTION, body)
        print(f"token_check: section '{SECTION}' written to {destination}")
