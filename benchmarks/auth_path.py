"""What an authenticated request costs next to bare Flask (issue #13, item 1).

Six targets, each served by gunicorn with flaskou's gunicorn.conf.py (its
worker class), ONE worker, on 127.0.0.1 at a free port, then the peers:

1. bare Flask returning the JSON `GET /api/v1/users/me` answers, as a fixed dict;
2. the lean floor: bare Flask plus one raw sqlite3 indexed lookup of
   sha256(token) joined to the user (its own tiny schema);
3. flaskou `GET /api/v1/users/me` with a real session token (signed up and
   logged in through the API), on SQLite and on a throwaway PostgreSQL;
4. the same with a personal API key of that user (issue #14: made through
   the API with the scope account:read), same servers, same rotation, so
   "a key costs no more than a session" is a ratio from one run;
5. flaskou `GET /healthz` (no auth, no database);
6. the peers (issue #13, item 2; benchmarks/peers/): Flask-Security-Too with
   token authentication, fastapi-users with its database strategy, and the
   FastAPI full-stack template's JWT + user by id, each written after the
   project's quick start, installed from PyPI with exact pins in a virtualenv
   of its own (built once, cached in ~/.cache/flaskou-bench), served by that
   virtualenv's gunicorn with one worker, answering the same JSON document
   from SQLite. BENCH_PEERS=none leaves them out; BENCH_PEERS=flask_security,...
   picks some.

Each round sends N requests (BENCH_REQUESTS, default 3000) at concurrency 8
over keep-alive connections to every target in turn; 3 rounds, medians. The
main figure is the server's CPU time per request: utime+stime of the gunicorn
master, its worker and their waited-for children, from /proc/<pid>/stat,
before and after the round. Unlike requests/s it hardly moves when something
else shares the machine, and the load generator (Python threads, in this
process) is not counted. Ratios are "bare Flask CPU / target CPU" from the
same run, so 1.00 means as cheap as bare Flask.

Prints a table and writes the section "Authenticated request vs bare Flask"
of docs/benchmarks.md (BENCH_REPORT=path elsewhere, BENCH_REPORT=- not at all)
and its plot, docs/benchmarks/auth_path.png (beside the report).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.support.postgres import PostgresCluster
from tests.support.server import http

from benchmarks import peers
from benchmarks.common import (
    CONCURRENCY,
    FIGURES,
    Gunicorn,
    flaskou_env,
    load,
    make_key,
    migrate,
    report_path,
    sign_up_and_log_in,
    tree_cpu_seconds,
    write_section,
)

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "3000"))
ROUNDS = 3
WARMUP = 300  # requests per target before the first round: imports, caches, pool
SECTION = "Authenticated request vs bare Flask"
FLASKOU_SQLITE = "users/me SQLite"  # the short name of the row the peers are compared with
# Issue #14: an API key costs no more per request than a session token; the
# key's CPU / the session's, same engine, same run, allowing for noise.
KEY_VS_SESSION = 1.05
PLOT = "auth_path.png"

# Written to the temp dir and served by gunicorn exactly like flaskou.
BARE_APP = '''\
"""Bare Flask: the answer of GET /api/v1/users/me, as a fixed dict."""
import json

from flask import Flask

ME = json.loads({me!r})
app = Flask(__name__)


@app.get("/api/v1/users/me")
def me():
    return ME
'''

# The practical floor for a revocable token: one indexed lookup per request,
# nothing remembered between requests. One module-level connection: SQLite
# calls never yield to gevent, so no two greenlets use it at the same time.
FLOOR_APP = '''\
"""Bare Flask + one raw sqlite3 lookup of sha256(token) joined to the user."""
import hashlib
import json
import sqlite3
import time

from flask import Flask, abort, request

DB = sqlite3.connect({database!r}, check_same_thread=False)
QUERY = (
    "SELECT u.document FROM sessions s JOIN users u ON u.id = s.user_id "
    "WHERE s.token_hash = ? AND s.expires_at > ?"
)
app = Flask(__name__)


@app.get("/api/v1/users/me")
def me():
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        abort(401)
    digest = hashlib.sha256(token.encode()).hexdigest()
    row = DB.execute(QUERY, (digest, time.time())).fetchone()
    if row is None:
        abort(401)
    return json.loads(row[0])
'''


@dataclasses.dataclass
class Target:
    name: str
    short: str  # for the round-by-round table
    path: str
    headers: dict[str, str]
    server: Gunicorn
    target: float | None = None  # the minimum ratio, if it sets one
    # For an API key row: the session-token row of the same engine it is
    # held to (issue #14, key CPU / session CPU <= KEY_VS_SESSION).
    session: Target | None = None
    # CPU spent for this target outside gunicorn (the PostgreSQL server):
    # shown beside the figure, not in it (the issue compares the worker).
    database_cpu: Callable[[], float] | None = None
    peer: peers.Peer | None = None  # another project's app, flaskou's to beat
    # The bare Flask figure this one is a ratio to: the one measured in the
    # same phase (the peers have a phase of their own, see main()).
    reference: Target | None = None
    database_ms: list[float] = dataclasses.field(default_factory=list)
    cpu_ms: list[float] = dataclasses.field(default_factory=list)
    rps: list[float] = dataclasses.field(default_factory=list)
    p50_ms: list[float] = dataclasses.field(default_factory=list)
    p99_ms: list[float] = dataclasses.field(default_factory=list)


def measure(target: Target) -> None:
    database_before = target.database_cpu() if target.database_cpu else 0.0
    before = target.server.cpu_seconds()
    elapsed, latencies = load(target.server.port, target.path, target.headers, REQUESTS)
    cpu = target.server.cpu_seconds() - before
    if target.database_cpu:
        database = target.database_cpu() - database_before
        target.database_ms.append(database / REQUESTS * 1000)
    latencies.sort()
    target.cpu_ms.append(cpu / REQUESTS * 1000)
    target.rps.append(REQUESTS / elapsed)
    target.p50_ms.append(latencies[len(latencies) // 2] * 1000)
    target.p99_ms.append(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000)


# --- the servers -------------------------------------------------------------------


@dataclasses.dataclass
class Flaskou:
    """A migrated flaskou under gunicorn with one user: a session token of the
    user, an API key of theirs, and their /users/me JSON."""

    server: Gunicorn
    token: str
    key: str
    me: dict[str, Any]


def flaskou(database_url: str, workdir: Path) -> Flaskou:
    env = flaskou_env(database_url, workdir)
    migrate(env)
    server = Gunicorn("flaskou.wsgi:app", env, workdir).start("/healthz")
    token = sign_up_and_log_in(server.base)
    status, _, me = http(
        server.base, "GET", "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 200, f"/users/me answered {status}: {me}"
    key = make_key(server.base, token)
    status, _, by_key = http(
        server.base, "GET", "/api/v1/users/me", headers={"Authorization": f"Bearer {key}"}
    )
    # The same document both ways, or the two rows would not measure the same work.
    assert status == 200 and by_key == me, f"/users/me with the key answered {status}: {by_key}"
    return Flaskou(server, token, key, me)


def bare(me: dict[str, Any], workdir: Path) -> Gunicorn:
    workdir.mkdir(parents=True)
    (workdir / "bare_app.py").write_text(BARE_APP.format(me=json.dumps(me)))
    return Gunicorn("bare_app:app", {}, workdir, chdir=workdir).start("/api/v1/users/me")


def floor(me: dict[str, Any], workdir: Path) -> tuple[Gunicorn, str]:
    """The lean floor's schema (an index on the token hash), one user, one
    session among 1,000 others, and its server."""
    workdir.mkdir(parents=True)
    database = workdir / "floor.sqlite3"
    token = secrets.token_urlsafe(32)
    with sqlite3.connect(database) as connection:
        connection.executescript(
            """
            CREATE TABLE users (id INTEGER PRIMARY KEY, document TEXT NOT NULL);
            CREATE TABLE sessions (
                id INTEGER PRIMARY KEY,
                token_hash TEXT NOT NULL,
                user_id INTEGER NOT NULL REFERENCES users (id),
                expires_at REAL NOT NULL
            );
            CREATE UNIQUE INDEX sessions_token_hash ON sessions (token_hash);
            """
        )
        connection.execute("INSERT INTO users (id, document) VALUES (1, ?)", (json.dumps(me),))
        expires = time.time() + 86400
        others = [
            (hashlib.sha256(secrets.token_bytes(32)).hexdigest(), 1, expires) for _ in range(1000)
        ]
        others.append((hashlib.sha256(token.encode()).hexdigest(), 1, expires))
        connection.executemany(
            "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (?, ?, ?)", others
        )
    (workdir / "floor_app.py").write_text(FLOOR_APP.format(database=str(database)))
    server = Gunicorn("floor_app:app", {}, workdir, chdir=workdir).start("/api/v1/users/me")
    status, _, answer = http(
        server.base, "GET", "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 200 and answer == me, f"the floor answered {status}: {answer}"
    return server, token


# --- the report ------------------------------------------------------------------------


def _flaskou(targets: list[Target]) -> Target:
    """flaskou's GET /users/me on SQLite: the row the peers are compared with."""
    return next(target for target in targets if target.short == FLASKOU_SQLITE)


def _goal(targets: list[Target], target: Target) -> str:
    if target.peer is not None:
        cheaper = _ratio(targets, _flaskou(targets)) > _ratio(targets, target)
        return f"flaskou (SQLite) cheaper: {'met' if cheaper else 'not yet'}"
    if target.target is None:
        return "—"
    met = _ratio(targets, target) >= target.target
    return f"≥ {target.target:.2f}: {'met' if met else 'not yet'}"


def table(targets: list[Target]) -> list[str]:
    lines = [
        "| target | CPU ms / request | vs bare Flask | target | requests/s | p50 ms | p99 ms |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for target in targets:
        cpu = statistics.median(target.cpu_ms)
        ratio = _ratio(targets, target)
        goal = _goal(targets, target)
        lines.append(
            f"| {target.name} | {cpu:.3f} | {ratio:.2f} | {goal} | "
            f"{statistics.median(target.rps):.0f} | {statistics.median(target.p50_ms):.2f} | "
            f"{statistics.median(target.p99_ms):.2f} |"
        )
    return lines


def _engine(key: Target) -> str:
    """The engine of a key row: SQLite of "users/me SQLite key"."""
    return key.short.removeprefix("users/me ").removesuffix(" key")


def _key_vs_session(key: Target) -> float:
    """Issue #14's figure: the key's CPU per request / its engine's session token's."""
    assert key.session is not None
    return statistics.median(key.cpu_ms) / statistics.median(key.session.cpu_ms)


def key_table(targets: list[Target]) -> list[str]:
    """Issue #14: a key beside a session token, per engine, both from this run."""
    lines = [
        "| engine | session token CPU ms / request | API key CPU ms / request | key / session "
        "| target | key vs bare Flask | target |",
        "|---|---:|---:|---:|---|---:|---|",
    ]
    for key in targets:
        if key.session is None:
            continue
        ratio = _key_vs_session(key)
        met = "met" if ratio <= KEY_VS_SESSION else "not yet"
        lines.append(
            f"| {_engine(key)} | {statistics.median(key.session.cpu_ms):.3f} | "
            f"{statistics.median(key.cpu_ms):.3f} | {ratio:.2f} | ≤ {KEY_VS_SESSION:.2f}: {met} "
            f"| {_ratio(targets, key):.2f} | {_goal(targets, key)} |"
        )
    return lines


def verdicts(targets: list[Target], missing: dict[str, str]) -> list[str]:
    """The issue's ratio targets, a key against a session, then "cheaper than every peer"."""
    unmet = [t.name for t in targets if t.target is not None and _ratio(targets, t) < t.target]
    lines = [
        "Every ratio target is met."
        if not unmet
        else f"Ratio targets not met yet: {len(unmet)} of "
        f"{sum(t.target is not None for t in targets)}."
    ]
    keys = [t for t in targets if t.session is not None]
    if keys:
        dearer = [f"{_engine(k)} ({_key_vs_session(k):.2f})" for k in keys if not _fits(k)]
        figures = ", ".join(f"{_engine(k)} {_key_vs_session(k):.2f}" for k in keys)
        lines.append(
            f"An API key costs no more than a session token (key / session CPU ≤ "
            f"{KEY_VS_SESSION:.2f}, issue #14): "
            + (f"**met** ({figures})." if not dearer else f"**not yet** on {', '.join(dearer)}.")
        )
    measured = [t for t in targets if t.peer is not None]
    # Each side as a ratio to the bare Flask of its own phase.
    ours = _ratio(targets, _flaskou(targets))
    dearer = [t.peer.title for t in measured if t.peer and _ratio(targets, t) >= ours]
    if not measured:
        lines.append("Cheaper than every peer: not measured (no peer ran).")
    elif not dearer:
        best = max(_ratio(targets, t) for t in measured)
        lines.append(
            f"Cheaper than every peer: **met**. flaskou's GET /users/me on SQLite runs at "
            f"{ours:.2f} of bare Flask's CPU cost, the cheapest peer at {best:.2f}: "
            f"{best / ours:.2f} of flaskou's CPU per request."
        )
    else:
        lines.append(
            f"Cheaper than every peer: **not yet**; flaskou (SQLite, {ours:.2f} of bare Flask) "
            f"is not cheaper than {', '.join(dearer)}."
        )
    if missing:
        lines[-1] += " Not measured: " + "; ".join(f"{k} ({v})" for k, v in missing.items()) + "."
    return lines


def _fits(key: Target) -> bool:
    return _key_vs_session(key) <= KEY_VS_SESSION


def plot(targets: list[Target], destination: Path) -> None:
    """Horizontal bars of "vs bare Flask", each issue target marked on its bar,
    and flaskou's own ratio as the line the peers' bars must stay left of."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = list(reversed(targets))  # the table's order, top to bottom
    ratios = [_ratio(targets, target) for target in shown]
    colours = [
        "tab:gray"
        if target.peer is None and (target.short.startswith("bare") or target.short == "floor")
        else "tab:orange"
        if target.peer is not None
        else "tab:cyan"
        if target.session is not None
        else "tab:blue"
        for target in shown
    ]
    figure, axes = plt.subplots(figsize=(8, 4), dpi=100)
    positions = range(len(shown))
    axes.barh(positions, ratios, color=colours)
    for position, (target, ratio) in enumerate(zip(shown, ratios, strict=True)):
        # Right of the bar and of its target's tick, so the tick does not cross the figure.
        right = max(ratio, target.target or 0.0) + 0.01
        axes.text(right, position, f"{ratio:.2f}", va="center", fontsize=8)
        if target.target is not None:
            axes.plot(
                [target.target, target.target],
                [position - 0.4, position + 0.4],
                color="black",
                linewidth=2,
            )
    ours = _ratio(targets, _flaskou(targets))
    axes.axvline(ours, color="tab:blue", linestyle=":", linewidth=1)
    axes.axvline(1.0, color="tab:gray", linestyle="--", linewidth=1)
    axes.set_yticks(list(positions), [target.short for target in shown], fontsize=8)
    axes.set_xlim(0, max(1.1, max(ratios) + 0.12))
    axes.set_xlabel(
        "bare Flask CPU / target CPU per request, higher is cheaper "
        "(tick: the issues' target; dotted: flaskou SQLite)",
        fontsize=8,
    )
    axes.set_title(
        "GET /api/v1/users/me: server CPU per request vs bare Flask\n"
        "(blue: flaskou with a session token, cyan: with an API key, orange: peers)",
        fontsize=9,
    )
    figure.tight_layout()
    destination.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(destination)
    plt.close(figure)


def section(targets: list[Target], seconds: float, missing: dict[str, str]) -> str:
    rounds = [
        "| round | " + " | ".join(target.short for target in targets) + " |",
        "|---" + "|---:" * len(targets) + "|",
        *[
            f"| {index + 1} | "
            + " | ".join(f"{target.cpu_ms[index]:.3f}" for target in targets)
            + " |"
            for index in range(ROUNDS)
        ],
    ]
    database = [
        f"{statistics.median(t.database_ms):.3f} ms / request in the PostgreSQL server "
        f"for {t.short}"
        for t in targets
        if t.database_ms
    ]
    measured = [t.peer for t in targets if t.peer is not None]
    versions = [f"{peer.title}: {peer.versions()}" for peer in measured]
    return "\n".join(
        [
            f"## {SECTION}",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m benchmarks "
            f"auth_path` in {seconds:.0f} s: {REQUESTS} requests at concurrency {CONCURRENCY} "
            f"per round, {ROUNDS} rounds, medians. Each target is its own gunicorn "
            "(`gunicorn.conf.py`, one worker, 127.0.0.1; the peers': below); the load "
            "generator is Python threads with one keep-alive connection each, in the "
            "benchmark's process (not counted). CPU ms / request is the server's "
            "utime+stime (master, worker and their children, from /proc/PID/stat) over "
            "the round, divided by the requests; "
            "\"vs bare Flask\" is bare Flask's CPU / the target's, from this same run "
            "(1.00 = as cheap as bare Flask). The run has two phases, each with bare "
            "Flask measured in it: flaskou's targets, then the peers; a ratio is to the "
            "bare Flask of its own phase. Targets are issue #13's: the ratios, and "
            "flaskou's SQLite row cheaper per request than every peer (item 2), compared "
            "as ratios; and issue #14's: those targets hold for an API key too, and a key "
            "costs no more per request than a session token.",
            "",
            f"![Server CPU per request vs bare Flask, flaskou and its peers](benchmarks/{PLOT})",
            "",
            *table(targets),
            "",
            *[f"{line}  " for line in verdicts(targets, missing)],
            "",
            "An API key beside a session token (issue #14): the same user's `GET "
            "/api/v1/users/me` on the same server, in the same rounds; the key made through "
            "`POST /api/v1/users/me/api-keys` with the scope `account:read` only, and checked "
            "to answer the same document as the session. Key / session is the key's CPU per "
            "request over the session token's (1.00 = as cheap; the target allows 5 % for "
            "noise); each key row is held to its engine's session target against bare Flask.",
            "",
            *key_table(targets),
            "",
            "Server CPU ms / request, round by round (the rounds visit the targets in a "
            "rotated order):",
            "",
            *rounds,
            "",
            "Not counted above (the issue compares the worker), measured beside it: "
            + "; ".join(database)
            + " (the postmaster and its backends, over the same rounds).",
            "",
            "The lean floor is bare Flask plus one raw `sqlite3` query per request: "
            "sha256 of the bearer token looked up through a unique index on the session "
            "table (1,001 rows) and joined to the user, expiry checked, so a revoked token "
            "fails on the very next request. flaskou on PostgreSQL is a throwaway local "
            "server (fsync off). Requests/s and latency include the load generator's own "
            "cost on the same cores, so they are only comparable within a run. The CPU "
            "ratio is the figure to follow; other work on the machine still moves it "
            "somewhat (CPU time grows when caches and cores are shared), as the spread "
            "of the rounds shows.",
            "",
            "The peers (benchmarks/peers/) are apps written here after each project's "
            "documented quick start, on SQLite (a file in the run's temp dir), with one "
            "user whose fields are flaskou's, answering the same JSON document (checked "
            "before the rounds) through the project's own current-user mechanism. Each is "
            "installed from PyPI with exact pins (peers/PEER/requirements.txt, the whole "
            "tree) into a virtualenv of its own (built on the first run, then reused from "
            "~/.cache/flaskou-bench) and served by that virtualenv's gunicorn, one worker, "
            "with flaskou's keep-alive and connection settings and no access log, measured "
            "exactly like flaskou. **Flask-Security-Too**: the quick start's Flask-SQLAlchemy "
            'models (`fsqla_v3`), `@auth_required("token")`, the token from `POST '
            "/login?include_auth_token` sent in the `Authentication-Token` header "
            "(`SECURITY_TOKEN_AUTHENTICATION_HEADER`), served by gunicorn's own `gevent` "
            "worker (flaskou's worker class is a subclass of it, but the peer's virtualenv "
            "has no flaskou). **fastapi-users**: the SQLAlchemy (aiosqlite) setup with the "
            "database strategy (an AccessToken table) and a Bearer transport, the token "
            "from `POST /auth/db/login`, `current_user(active=True)`, roles loaded with the "
            "user (`selectin`). **FastAPI full-stack template**: its `deps.py` way, "
            "`OAuth2PasswordBearer`, a PyJWT HS256 decode and `session.get(User, id)` "
            "through SQLModel in a plain `def` endpoint, the token from its "
            "`create_access_token`. Both FastAPI apps are served by uvicorn (uvloop, "
            "httptools) through `uvicorn_worker.UvicornWorker`. Unlike flaskou's sessions "
            "(and fastapi-users' AccessToken rows), the template's JWT and Flask-Security's "
            "signed token cannot be revoked one by one before they expire (Flask-Security "
            "can only revoke all of a user's tokens, by changing its uniquifier): they "
            "look up the user, not the token. Versions: " + "; ".join(versions) + ".",
            "",
        ]
    )


def _ratio(targets: list[Target], target: Target) -> float:
    reference = target.reference or targets[0]
    return statistics.median(reference.cpu_ms) / statistics.median(target.cpu_ms)


def main() -> None:
    print(f"== authenticated request vs bare Flask ({REQUESTS} requests x {ROUNDS} rounds) ==")
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="flaskou-bench-auth-"))
    cluster: PostgresCluster | None = None
    servers: list[Gunicorn] = []
    missing: dict[str, str] = {}
    done = False
    try:
        lite = flaskou(f"sqlite:///{work}/flaskou.sqlite3", work / "flaskou-sqlite")
        servers.append(lite.server)
        me = lite.me
        cluster = PostgresCluster().start()
        pg = flaskou(cluster.create_database("flaskou_bench"), work / "flaskou-postgresql")
        servers.append(pg.server)
        postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
        bare_server = bare(me, work / "bare")
        servers.append(bare_server)
        floor_server, floor_token = floor(me, work / "floor")
        servers.append(floor_server)
        me_path = "/api/v1/users/me"
        peer_targets = []
        for peer in chosen_peers():
            try:
                peer_server, peer_headers = peers.serve(peer, me, work / peer.key)
            except peers.BuildError as error:
                # No PyPI (offline) is not a reason to lose flaskou's figures.
                print(f"auth_path: {peer.title} left out: {error}")
                missing[peer.title] = "its virtualenv could not be built"
                continue
            servers.append(peer_server)
            peer_targets.append(
                Target(
                    f"{peer.title} (peer)",
                    peer.title,
                    me_path,
                    peer_headers,
                    peer_server,
                    peer=peer,
                )
            )

        def bearer(token: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}"}

        sqlite_session = Target(
            "**flaskou `GET /api/v1/users/me` (SQLite)**",
            FLASKOU_SQLITE,
            me_path,
            bearer(lite.token),
            lite.server,
            0.5,
        )
        pg_session = Target(
            "**flaskou `GET /api/v1/users/me` (PostgreSQL)**",
            "users/me PostgreSQL",
            me_path,
            bearer(pg.token),
            pg.server,
            0.4,
            database_cpu=lambda: tree_cpu_seconds(postmaster),
        )
        targets = [
            Target("bare Flask returning the same JSON user", "bare", me_path, {}, bare_server),
            Target(
                "bare Flask + one raw sqlite3 indexed lookup of sha256(token) joined to "
                "the user (lean floor)",
                "floor",
                me_path,
                bearer(floor_token),
                floor_server,
            ),
            sqlite_session,
            # Issue #14: the performance targets hold for keys too, so each
            # key row has its engine's session target, and is held to it.
            Target(
                "**flaskou `GET /api/v1/users/me` with an API key (SQLite)**",
                "users/me SQLite key",
                me_path,
                bearer(lite.key),
                lite.server,
                0.5,
                session=sqlite_session,
            ),
            pg_session,
            Target(
                "**flaskou `GET /api/v1/users/me` with an API key (PostgreSQL)**",
                "users/me PostgreSQL key",
                me_path,
                bearer(pg.key),
                pg.server,
                0.4,
                database_cpu=lambda: tree_cpu_seconds(postmaster),
                session=pg_session,
            ),
            Target(
                "flaskou `GET /healthz` (no auth, no database)",
                "healthz",
                "/healthz",
                {},
                lite.server,
                0.8,
            ),
            *peer_targets,
        ]
        # Two phases, each with bare Flask measured in it: flaskou's targets,
        # then the peers. With the peers' servers in flaskou's rotation,
        # flaskou's figures came out 5-25 % higher (caches and cores shared
        # with busier neighbours); each ratio is to the bare Flask of its phase.
        phases = [[t for t in targets if t.peer is None]]
        if peer_targets:
            beside_peers = Target(
                "bare Flask, measured again beside the peers",
                "bare (peers)",
                me_path,
                {},
                bare_server,
            )
            beside_peers.reference = beside_peers
            for target in peer_targets:
                target.reference = beside_peers
            phases.append([beside_peers, *peer_targets])
            targets.insert(targets.index(peer_targets[0]), beside_peers)
        for target in targets:
            load(target.server.port, target.path, target.headers, WARMUP)
        for phase_number, phase in enumerate(phases):
            for round_number in range(ROUNDS):
                # A different order each round, so a burst of outside load
                # does not always land on the same target.
                shift = round_number % len(phase)
                for target in phase[shift:] + phase[:shift]:
                    measure(target)
                print(
                    f"phase {phase_number + 1}/{len(phases)}, round {round_number + 1}/{ROUNDS} "
                    f"done ({time.monotonic() - started:.0f} s)"
                )
        done = True
    finally:
        for server in servers:
            server.stop()
        if cluster is not None:
            cluster.destroy()
        if done:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"auth_path: failed; the servers' logs are kept in {work}")

    elapsed = time.monotonic() - started
    body = section(targets, elapsed, missing)
    print("\n".join(table(targets)).replace("**", ""))
    print("\n".join(key_table(targets)))
    print("\n".join(verdicts(targets, missing)).replace("**", ""))
    destination = report_path()
    if destination is not None:
        write_section(destination, SECTION, body)
        # The plot sits in benchmarks/ beside the report, where its link points.
        figure = destination.parent / FIGURES.name / PLOT
        plot(targets, figure)
        print(f"auth_path: section '{SECTION}' written to {destination}, plot to {figure}")


def chosen_peers() -> list[peers.Peer]:
    """BENCH_PEERS: "all" (the default), "none", or keys such as flask_security,fastapi_users."""
    wanted = os.environ.get("BENCH_PEERS", "all").strip()
    if wanted == "all":
        return list(peers.PEERS)
    if wanted in ("", "none"):
        return []
    known = {peer.key: peer for peer in peers.PEERS}
    unknown = [key for key in wanted.split(",") if key.strip() not in known]
    if unknown:
        raise SystemExit(f"BENCH_PEERS: unknown {unknown}; choose from {', '.join(known)}")
    return [known[key.strip()] for key in wanted.split(",")]
