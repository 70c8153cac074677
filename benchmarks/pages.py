"""A page deep in a 100,000-row list against the first page (issue #13, item 6).

flaskou's lists are keyset-paginated: a page continues strictly after the
cursor (the last row's sort key), so page 990 should cost what page 1 costs.
This checks it on the two big lists:

- the admin's user list (`GET /api/v1/users`, username order) over 100,000
  users;
- one user's file list (`GET /api/v1/files`, newest first) over 100,000 file
  records of that user (rows only: a listing never reads contents).

A migrated database (SQLite, and a throwaway PostgreSQL) is filled by bulk
INSERTs through flaskou's own tables (SQLAlchemy core executemany), the admin
made with `accounts.service.create_admin` (what `flask create-admin` runs) and
both callers logged in through the API. Each list is asked for its first
page and for the page after row 99,000, both with the largest page size the
API allows (limit=100). The deep cursor is built in the published cursor
format (flaskou.pagination: the last username; the last file's time and id)
from the row at offset 98,999, and checked against the chain: the page
before it answers exactly that `next_cursor` (BENCH_PAGES_WALK=1 walks the
whole chain from the first page instead, 990 requests per list).

BENCH_PAGE_REQUESTS (default 300) requests per page per round, 3 rounds in
rotated order, one request at a time, one gunicorn worker (`gunicorn.conf.py`,
127.0.0.1). Latencies are pooled over the rounds for p50/p99; CPU per request
(gunicorn master, worker, children; plus the PostgreSQL server) is the median
of the rounds. The figure is p99(deep) / p99(first), issue #13's target
<= 1.5. The section shows each database's plan for the deep queries.

Prints a table and writes the section "First page vs a page 99,000 rows deep"
of docs/benchmarks.md (BENCH_REPORT=path elsewhere, BENCH_REPORT=- not at
all), with its plot docs/benchmarks/pages.png.
"""

from __future__ import annotations

import dataclasses
import hashlib
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
from urllib.parse import quote

from flask import Flask
from sqlalchemy import event, insert, select
from tests.support.postgres import PostgresCluster
from tests.support.server import http

from benchmarks.common import (
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
from flaskou.accounts import passwords
from flaskou.accounts import service as accounts
from flaskou.accounts.models import User
from flaskou.extensions import db
from flaskou.files import service as files
from flaskou.files.models import StoredFile
from flaskou.pagination import MAX_LIMIT, encode_cursor

ROWS = 100_000
DEPTH = 99_000  # rows before the deep page
REQUESTS = int(os.environ.get("BENCH_PAGE_REQUESTS", "300"))
ROUNDS = 3
# One request at a time: a latency is then that request's own time, not also
# the wait behind others in the one worker (SQLite calls block its event loop).
CONCURRENCY = 1
WARMUP = 30
CHUNK = 5_000  # rows per executemany
TARGET = 1.5
SECTION = "First page vs a page 99,000 rows deep"
FIGURE = "pages.png"


@dataclasses.dataclass
class Page:
    short: str
    path: str
    headers: dict[str, str]
    cpu_ms: list[float] = dataclasses.field(default_factory=list)  # worker + database
    worker_ms: list[float] = dataclasses.field(default_factory=list)
    rps: list[float] = dataclasses.field(default_factory=list)
    latencies: list[float] = dataclasses.field(default_factory=list)

    def p(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


@dataclasses.dataclass
class Listing:
    """One list on one database: its first page and its deep page."""

    label: str  # e.g. "users, SQLite"
    first: Page
    deep: Page
    cursor_how: str
    plan: list[str]

    def ratio(self) -> float:
        return self.deep.p(0.99) / self.first.p(0.99)


@dataclasses.dataclass
class Database:
    label: str
    server: Gunicorn
    database_cpu: Callable[[], float] | None
    fill_seconds: float
    listings: list[Listing]
    middle_plan: list[str]  # the file list's page after row 50,000, for comparison


def measure(database: Database, page: Page) -> None:
    database_before = database.database_cpu() if database.database_cpu else 0.0
    before = database.server.cpu_seconds()
    elapsed, latencies = load(
        database.server.port, page.path, page.headers, REQUESTS, concurrency=CONCURRENCY
    )
    worker = database.server.cpu_seconds() - before
    other = database.database_cpu() - database_before if database.database_cpu else 0.0
    page.worker_ms.append(worker / REQUESTS * 1000)
    page.cpu_ms.append((worker + other) / REQUESTS * 1000)
    page.rps.append(REQUESTS / elapsed)
    page.latencies.extend(latencies)


# --- the data ----------------------------------------------------------------------------


def fill(app: Flask) -> None:
    """`admin`, `filer` with 100,000 file records, and 100,000 more users, in bulk."""
    with app.app_context():
        accounts.create_admin("admin", "admin@example.com", PASSWORD)
        accounts.create_user("filer", "filer@example.com", PASSWORD)
        db.session.commit()
        filer = accounts.find_by_login("filer")
        # Every bulk user gets one real hash (hashing 100,000 would take an hour).
        password_hash = passwords.hash_password(PASSWORD)
        now = datetime.now(UTC)
        for start in range(0, ROWS, CHUNK):
            users = [
                {
                    "id": uuid.uuid4(),
                    "username": f"user{number:06d}",
                    "email": f"user{number:06d}@example.com",
                    "password_hash": password_hash,
                    "is_active": True,
                    "email_verified": False,
                    "mfa_enabled": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for number in range(start, start + CHUNK)
            ]
            db.session.execute(insert(User), users)
            # One second apart, newest first as number grows; distinct times.
            records = [
                {
                    "id": uuid.uuid4(),
                    "owner_id": filer.id,
                    "filename": f"report-{number:06d}.pdf",
                    "content_type": "application/pdf",
                    "size": 1000 + number,
                    "sha256": hashlib.sha256(str(number).encode()).hexdigest(),
                    "storage_key": uuid.uuid4().hex,
                    "created_at": now - timedelta(seconds=number),
                }
                for number in range(start, start + CHUNK)
            ]
            db.session.execute(insert(StoredFile), records)
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE")
        db.session.remove()


def deep_cursors(app: Flask) -> tuple[str, str, str, str, str]:
    """(users' deep cursor, the one before it, files' deep cursor, the one before it,
    files' cursor halfway): the sort keys of rows DEPTH, DEPTH - MAX_LIMIT and
    ROWS / 2, in the published format."""
    with app.app_context():
        filer = accounts.find_by_login("filer")

        def username_at(offset: int) -> str:
            query = select(User.username).order_by(User.username).offset(offset - 1).limit(1)
            return encode_cursor([db.session.scalar(query)])

        def file_at(offset: int) -> str:
            query = (
                select(StoredFile.created_at, StoredFile.id)
                .where(StoredFile.owner_id == filer.id)
                .order_by(StoredFile.created_at.desc(), StoredFile.id.desc())
                .offset(offset - 1)
                .limit(1)
            )
            return encode_cursor(list(db.session.execute(query).one()))

        cursors = (
            username_at(DEPTH),
            username_at(DEPTH - MAX_LIMIT),
            file_at(DEPTH),
            file_at(DEPTH - MAX_LIMIT),
            file_at(ROWS // 2),
        )
        db.session.remove()
        return cursors


def plans(app: Flask, users_cursor: str, *files_cursors: str) -> list[list[str]]:
    """The database's plan for each page's query, exactly as flaskou sends it
    (caught on its way to the driver)."""
    with app.app_context():
        filer = accounts.find_by_login("filer")
        caught: list[tuple[str, Any]] = []

        def catch(_c: Any, _k: Any, statement: str, parameters: Any, *_: Any) -> None:
            caught.append((statement, parameters))

        results = []
        calls: list[Callable[[], object]] = [
            lambda: accounts.list_users(limit=MAX_LIMIT, cursor=users_cursor)
        ]
        for cursor in files_cursors:
            calls.append(lambda c=cursor: files.list_files(filer, limit=MAX_LIMIT, cursor=c))
        for call in calls:
            caught.clear()
            event.listen(db.engine, "before_cursor_execute", catch)
            try:
                call()
            finally:
                event.remove(db.engine, "before_cursor_execute", catch)
            statement, parameters = caught[0]  # the page's query (then roles, if any)
            with db.engine.connect() as connection:
                if db.engine.dialect.name == "postgresql":
                    rows = connection.exec_driver_sql(
                        "EXPLAIN (ANALYZE, COSTS OFF) " + statement, parameters
                    ).all()
                    lines = [str(row[0]) for row in rows]
                else:
                    rows = connection.exec_driver_sql(
                        "EXPLAIN QUERY PLAN " + statement, parameters
                    ).all()
                    lines = [str(row[-1]) for row in rows]
            results.append([" ".join(statement.split()), *lines])
        db.session.remove()
        return results


def walk(server: Gunicorn, path: str, headers: dict[str, str], depth: int) -> str:
    """Follow next_cursor from the first page until `depth` rows are behind."""
    cursor = None
    for _ in range(depth // MAX_LIMIT):
        suffix = "" if cursor is None else f"&cursor={quote(cursor)}"
        status, _, body = http(
            server.base, "GET", f"{path}?limit={MAX_LIMIT}{suffix}", headers=headers
        )
        assert status == 200 and body["next_cursor"], (status, body)
        cursor = body["next_cursor"]
    assert cursor is not None
    return cursor


def check_cursor(
    server: Gunicorn, path: str, headers: dict[str, str], before: str, deep: str
) -> None:
    """The page ending at row DEPTH - 100 points at the deep cursor: it is in the chain."""
    url = f"{path}?limit={MAX_LIMIT}&cursor={quote(before)}"
    status, _, body = http(server.base, "GET", url, headers=headers)
    assert status == 200, (status, body)
    assert body["next_cursor"] == deep, (body["next_cursor"], deep)


def prepare(
    label: str,
    url: str,
    workdir: Path,
    database_cpu: Callable[[], float] | None,
    servers: list[Gunicorn],
) -> Database:
    env = flaskou_env(url, workdir)
    migrate(env)
    app = create_app(Settings.from_env(env))
    started = time.perf_counter()
    fill(app)
    fill_seconds = time.perf_counter() - started
    users_deep, users_before, files_deep, files_before, files_middle = deep_cursors(app)
    users_plan, files_plan, middle_plan = plans(app, users_deep, files_deep, files_middle)
    with app.app_context():
        db.engine.dispose()

    server = Gunicorn("flaskou.wsgi:app", env, workdir)
    servers.append(server)  # stopped by the caller, whatever happens next
    server.start("/healthz")
    tokens = {}
    for name in ("admin", "filer"):
        status, _, body = http(
            server.base, "POST", "/api/v1/login", {"username": name, "password": PASSWORD}
        )
        assert status == 200, f"login of {name} answered {status}: {body}"
        tokens[name] = {"Authorization": f"Bearer {body['token']}"}

    listings = []
    for name, path, who, deep, before, plan in (
        ("users", "/api/v1/users", "admin", users_deep, users_before, users_plan),
        ("files", "/api/v1/files", "filer", files_deep, files_before, files_plan),
    ):
        if os.environ.get("BENCH_PAGES_WALK") == "1":
            walked = walk(server, path, tokens[who], DEPTH)
            assert walked == deep, (walked, deep)
            how = f"walked: {DEPTH // MAX_LIMIT} pages from the first, ending at the built cursor"
        else:
            check_cursor(server, path, tokens[who], before, deep)
            how = "built from row 99,000's sort key; the page before it answers it as next_cursor"
        status, _, body = http(
            server.base,
            "GET",
            f"{path}?limit={MAX_LIMIT}&cursor={quote(deep)}",
            headers=tokens[who],
        )
        assert status == 200 and len(body["items"]) == MAX_LIMIT, (status, body)
        listings.append(
            Listing(
                f"{name}, {label}",
                Page(f"{name} first", f"{path}?limit={MAX_LIMIT}", tokens[who]),
                Page(f"{name} deep", f"{path}?limit={MAX_LIMIT}&cursor={quote(deep)}", tokens[who]),
                how,
                plan,
            )
        )
    return Database(label, server, database_cpu, fill_seconds, listings, middle_plan)


# --- the report ------------------------------------------------------------------------


def table(databases: list[Database]) -> list[str]:
    lines = [
        "| list | page | server CPU ms / request | worker only | requests/s | p50 ms | p99 ms "
        "| p99 deep / first | target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for database in databases:
        for listing in database.listings:
            for page in (listing.first, listing.deep):
                value = listing.ratio()
                is_deep = page is listing.deep
                goal = f"≤ {TARGET}: " + ("met" if value <= TARGET else "not met")
                lines.append(
                    f"| {listing.label} | {'row 99,001 on' if is_deep else 'first'} | "
                    f"{statistics.median(page.cpu_ms):.2f} | "
                    f"{statistics.median(page.worker_ms):.2f} | "
                    f"{statistics.median(page.rps):.0f} | {page.p(0.5):.1f} | {page.p(0.99):.1f} | "
                    f"{f'{value:.2f}' if is_deep else '—'} | {goal if is_deep else '—'} |"
                )
    return lines


def plot(databases: list[Database], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    listings = [listing for database in databases for listing in database.listings]
    figure, (left, right) = plt.subplots(1, 2, figsize=(8, 4), dpi=100)
    width = 0.38
    for offset, pick, color, name in (
        (-width / 2, lambda x: x.first, "#888888", "first page"),
        (width / 2, lambda x: x.deep, "#3b6ea5", "99,000 rows deep"),
    ):
        values = [pick(listing).p(0.99) for listing in listings]
        positions = [index + offset for index in range(len(listings))]
        left.bar(positions, values, width, color=color, label=name)
        for x, value in zip(positions, values, strict=True):
            left.annotate(f"{value:.0f}", (x, value), ha="center", va="bottom", fontsize=7)
    left.set_xticks(range(len(listings)), [x.label.replace(", ", "\n") for x in listings])
    left.set_ylabel("p99 latency, ms")
    left.set_title("p99, limit=100")
    left.legend(fontsize=8)
    ratios = [listing.ratio() for listing in listings]
    right.bar([x.label.replace(", ", "\n") for x in listings], ratios, color="#3b6ea5")
    right.axhline(TARGET, color="#c0392b", linestyle="--", label=f"target ≤ {TARGET}")
    right.set_ylim(0, max(TARGET * 1.2, *ratios) * 1.1)
    right.set_title("p99 deep / p99 first")
    right.legend(loc="upper left", fontsize=8)
    for index, value in enumerate(ratios):
        right.annotate(f"{value:.2f}", (index, value), ha="center", va="bottom", fontsize=9)
    for axis in (left, right):
        axis.tick_params(axis="x", labelsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def section(databases: list[Database], seconds: float) -> str:
    listings = [listing for database in databases for listing in database.listings]
    unmet = [x.label for x in listings if x.ratio() > TARGET]
    verdict = (
        "Target met on every list: a page 99,000 rows deep answers as fast as the first."
        if not unmet
        else "Not met on " + "; ".join(unmet) + f": the deep page's p99 is over {TARGET} times "
        "the first page's (see the plans below)."
    )
    plan_lines: list[str] = []
    for database in databases:
        for listing in database.listings:
            plan_lines += [f"{listing.label}, the deep page's query:", "", "```"]
            plan_lines += [*listing.plan, "```", ""]
        plan_lines += [
            f"files, {database.label}, for comparison: the plan of the page after row "
            f"{ROWS // 2:,} (same query; not timed above):",
            "",
            "```",
            *database.middle_plan[1:],
            "```",
            "",
        ]
    return "\n".join(
        [
            f"## {SECTION}",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m benchmarks pages` "
            f"in {seconds:.0f} s. Two lists, each over {ROWS:,} rows: the admin's user list "
            f"(`GET /api/v1/users`, username order; {ROWS:,} users plus `admin` and `filer`) and "
            f"one user's file list (`GET /api/v1/files` as `filer`, newest first; {ROWS:,} file "
            "records, rows only). The databases (SQLite, and a throwaway PostgreSQL with "
            "fsync off) are migrated, then filled by bulk INSERTs into flaskou's tables; the "
            "admin is made by `accounts.service.create_admin` (what `flask create-admin` runs) "
            "and both callers log in through the API. Each list's first page and the page "
            f"after row {DEPTH:,}, both at limit={MAX_LIMIT} (the largest the API allows): "
            f"{REQUESTS} requests per page per round at concurrency {CONCURRENCY}, {ROUNDS} "
            "rounds in rotated order, one gunicorn worker (`gunicorn.conf.py`, 127.0.0.1). "
            "p50/p99 are over every request of the rounds; CPU is the median round's "
            "utime+stime of the gunicorn master, worker and children plus, on PostgreSQL, "
            'the database server ("worker only" leaves it out). The figure is '
            f"p99(deep) / p99(first) from this same run; issue #13's target is ≤ {TARGET} "
            f"(the same as first/deep ≥ {1 / TARGET:.2f}).",
            "",
            f"![First page vs a page 99,000 rows deep](benchmarks/{FIGURE})",
            "",
            *table(databases),
            "",
            verdict,
            "",
            "The deep cursors: "
            + "; ".join(f"{x.label}: {x.cursor_how}" for x in listings)
            + ". Bulk fill: "
            + "; ".join(f"{d.label} {d.fill_seconds:.0f} s" for d in databases)
            + ". Requests/s and latency include the load generator's own cost on the same "
            "cores, so compare them within a run.",
            "",
            *plan_lines,
        ]
    )


def main() -> None:
    print(f"== first page vs a page {DEPTH} rows deep ({REQUESTS} x {ROUNDS} rounds) ==")
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="flaskou-bench-pages-"))
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
        pages = [
            (database, page)
            for database in databases
            for listing in database.listings
            for page in (listing.first, listing.deep)
        ]
        for database, page in pages:
            load(database.server.port, page.path, page.headers, WARMUP, concurrency=CONCURRENCY)
        for round_number in range(ROUNDS):
            shift = (round_number * 3) % len(pages)
            for database, page in pages[shift:] + pages[:shift]:
                measure(database, page)
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
            print(f"pages: failed; the servers' logs are kept in {work}")

    elapsed = time.monotonic() - started
    body = section(databases, elapsed)
    print("\n".join(table(databases)))
    for database in databases:
        for listing in database.listings:
            print(f"[{listing.label}] plan: " + " / ".join(listing.plan[1:]))
    destination = report_path()
    if destination is not None:
        plot(databases, destination.parent / "benchmarks" / FIGURE)
        write_section(destination, SECTION, body)
        print(f"pages: section '{SECTION}' written to {destination}")
