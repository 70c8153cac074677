"""What a login costs next to the argon2 verification inside it (issue #13, item 4).

A password login is meant to be dominated by its password check: argon2id is
slow on purpose, and everything else a login does (look the user up, open a
session row, record the audit event, answer JSON) should be small beside it.

Targets, in the same run:

1. raw argon2: argon2-cffi's `PasswordHasher.verify` with exactly the
   parameters flaskou hashes with (read from flaskou's own `hasher` object,
   not copied), in a child process: CPU time (`time.process_time`, every
   thread of the child) over N verifications of a correct password, as many
   at once as flaskou's worker runs them for the logins' concurrency
   (threads, argon2 releases the GIL: min(concurrency, CPUs), flaskou's
   `passwords.hashing_threads()`);
2. flaskou `POST /api/v1/login` (JSON username + password, 200 with a token)
   through gunicorn (`gunicorn.conf.py`, one worker, 127.0.0.1) on SQLite and
   on a throwaway PostgreSQL: the server's CPU per login from /proc (master,
   worker, children), requests/s and p50/p99. Each login really opens a
   session row and records a `login` audit event: that is part of the cost.

RATE_LIMIT_LOGIN is "100000000 per minute", so throttling never trips. N is
BENCH_LOGINS (default 240) per target per round, 5 rounds in rotated order,
medians; concurrency BENCH_LOGIN_CONCURRENCY (default 4). The figure is
"argon2 CPU / login CPU" (1.00 = a login costs no more than its argon2);
issue #13's target is >= 0.9.

Prints a table and writes the section "Login vs raw argon2" of
docs/benchmarks.md (BENCH_REPORT=path elsewhere, BENCH_REPORT=- not at all),
with its plot docs/benchmarks/login.png.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tests.support.postgres import PostgresCluster
from tests.support.server import ROOT

from benchmarks.common import (
    PASSWORD,
    Gunicorn,
    flaskou_env,
    load,
    migrate,
    report_path,
    sign_up_and_log_in,
    tree_cpu_seconds,
    write_section,
)

LOGINS = int(os.environ.get("BENCH_LOGINS", "240"))
CONCURRENCY = int(os.environ.get("BENCH_LOGIN_CONCURRENCY", "4"))
ROUNDS = 5
WARMUP = 20  # logins per target before the first round
TARGET = 0.9
SECTION = "Login vs raw argon2"
FIGURE = "login.png"

# Run with `python -c` in a child process: the raw argon2-cffi hasher built
# from flaskou's own parameters, and the CPU time of N verifications.
ARGON2_CHILD = """\
import json, sys, threading, time

import argon2

from flaskou.accounts import passwords

ours = passwords.hasher
raw = argon2.PasswordHasher(
    time_cost=ours.time_cost,
    memory_cost=ours.memory_cost,
    parallelism=ours.parallelism,
    hash_len=ours.hash_len,
    salt_len=ours.salt_len,
    type=ours.type,
)
count, concurrency, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
# As many verifications at once as flaskou's worker runs for this many logins at once.
threads = min(concurrency, passwords.hashing_threads())
stored = raw.hash(password)
for _ in range(3):
    raw.verify(stored, password)

shares = [count // threads + (i < count % threads) for i in range(threads)]
def verify(n):
    for _ in range(n):
        raw.verify(stored, password)

workers = [threading.Thread(target=verify, args=(n,)) for n in shares]
cpu, wall = time.process_time(), time.perf_counter()
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
print(json.dumps({
    "cpu": cpu,
    "wall": wall,
    "threads": threads,
    "prefix": stored.rsplit("$", 2)[0],
    "parameters": {
        "type": ours.type.name,
        "memory_cost_kib": ours.memory_cost,
        "time_cost": ours.time_cost,
        "parallelism": ours.parallelism,
        "hash_len": ours.hash_len,
        "salt_len": ours.salt_len,
    },
}))
"""


@dataclasses.dataclass
class Target:
    name: str
    short: str
    run: Callable[[Target], None]
    server: Gunicorn | None = None
    database_cpu: Callable[[], float] | None = None
    cpu_ms: list[float] = dataclasses.field(default_factory=list)
    database_ms: list[float] = dataclasses.field(default_factory=list)
    rps: list[float] = dataclasses.field(default_factory=list)
    p50_ms: list[float] = dataclasses.field(default_factory=list)
    p99_ms: list[float] = dataclasses.field(default_factory=list)


def argon2_child(count: int) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", ARGON2_CHILD, str(count), str(CONCURRENCY), PASSWORD],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(result.stdout))


def measure_argon2(target: Target) -> None:
    result = argon2_child(LOGINS)
    cpu, wall = float(result["cpu"]), float(result["wall"])  # type: ignore[arg-type]
    target.cpu_ms.append(cpu / LOGINS * 1000)
    target.rps.append(LOGINS / wall)


def measure_login(target: Target) -> None:
    server = target.server
    assert server is not None
    database_before = target.database_cpu() if target.database_cpu else 0.0
    before = server.cpu_seconds()
    elapsed, latencies = load(
        server.port,
        "/api/v1/login",
        {},
        LOGINS,
        method="POST",
        body={"username": "bench", "password": PASSWORD},
        concurrency=CONCURRENCY,
    )
    cpu = server.cpu_seconds() - before
    if target.database_cpu:
        target.database_ms.append((target.database_cpu() - database_before) / LOGINS * 1000)
    latencies.sort()
    target.cpu_ms.append(cpu / LOGINS * 1000)
    target.rps.append(LOGINS / elapsed)
    target.p50_ms.append(latencies[len(latencies) // 2] * 1000)
    target.p99_ms.append(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000)


def flaskou(database_url: str, workdir: Path) -> Gunicorn:
    """A migrated flaskou with the account `bench` signed up through the API."""
    env = flaskou_env(database_url, workdir)
    migrate(env)
    server = Gunicorn("flaskou.wsgi:app", env, workdir).start("/healthz")
    sign_up_and_log_in(server.base)
    return server


# --- the report ------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio(reference: Target, target: Target) -> float:
    return _median(reference.cpu_ms) / _median(target.cpu_ms)


def table(targets: list[Target]) -> list[str]:
    reference = targets[0]
    lines = [
        "| target | CPU ms / login | argon2 CPU / this | target | logins/s | p50 ms | p99 ms |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for target in targets:
        value = ratio(reference, target)
        goal = (
            "—"
            if target is reference
            else f"≥ {TARGET:.2f}: " + ("met" if value >= TARGET else "not yet")
        )
        latency = (
            "— | —"
            if not target.p50_ms
            else f"{_median(target.p50_ms):.1f} | {_median(target.p99_ms):.1f}"
        )
        lines.append(
            f"| {target.name} | {_median(target.cpu_ms):.2f} | {value:.2f} | {goal} | "
            f"{_median(target.rps):.1f} | {latency} |"
        )
    return lines


def plot(targets: list[Target], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    logins = targets[1:]
    figure, (left, right) = plt.subplots(1, 2, figsize=(8, 4), dpi=100)
    names = [t.short for t in targets]
    cpus = [_median(t.cpu_ms) for t in targets]
    left.bar(names, cpus, color=["#888888"] + ["#3b6ea5"] * len(logins))
    left.set_ylabel("CPU ms per login / verify")
    left.set_title("Server CPU per operation")
    for index, value in enumerate(cpus):
        left.annotate(f"{value:.1f}", (index, value), ha="center", va="bottom", fontsize=9)
    ratios = [ratio(targets[0], t) for t in logins]
    right.bar([t.short for t in logins], ratios, color="#3b6ea5")
    right.axhline(TARGET, color="#c0392b", linestyle="--", label=f"target ≥ {TARGET}")
    right.set_ylim(0, max(1.05, *ratios) * 1.1)
    right.set_title("argon2 CPU / login CPU")
    right.legend(loc="lower right", fontsize=8)
    for index, value in enumerate(ratios):
        right.annotate(f"{value:.2f}", (index, value), ha="center", va="bottom", fontsize=9)
    for axis in (left, right):
        axis.tick_params(axis="x", labelsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def section(
    targets: list[Target], parameters: dict[str, object], threads: int, seconds: float
) -> str:
    logins = targets[1:]
    unmet = [t.short for t in logins if ratio(targets[0], t) < TARGET]
    verdict = (
        f"Target met on {', '.join(t.short for t in logins)}: a login costs at most "
        f"{1 / TARGET:.2f} times its argon2 verification."
        if not unmet
        else f"Not met yet on {', '.join(unmet)}: a login costs more than "
        f"{1 / TARGET:.2f} times its argon2 verification."
    )
    rounds = [
        "| round | " + " | ".join(t.short for t in targets) + " |",
        "|---" + "|---:" * len(targets) + "|",
        *[
            f"| {index + 1} | " + " | ".join(f"{t.cpu_ms[index]:.2f}" for t in targets) + " |"
            for index in range(ROUNDS)
        ],
    ]
    database = [
        f"{_median(t.database_ms):.2f} ms / login in the PostgreSQL server for {t.short}"
        for t in targets
        if t.database_ms
    ]
    described = ", ".join(f"{key} {value}" for key, value in parameters.items())
    return "\n".join(
        [
            f"## {SECTION}",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m benchmarks login` "
            f"in {seconds:.0f} s: {LOGINS} operations per target per round at concurrency "
            f"{CONCURRENCY}, {ROUNDS} rounds in rotated order, medians. "
            "**raw argon2** is argon2-cffi's `PasswordHasher.verify` of a correct password "
            "with exactly flaskou's parameters (read from `flaskou.accounts.passwords.hasher`: "
            f"{described}), in a child process, {threads} at once in as many threads: "
            "as many as flaskou's worker hashes at once for these logins (one per CPU, "
            f"`passwords.hashing_threads()`, at most the {CONCURRENCY} logins under way); "
            "its CPU is "
            "`time.process_time()` over the verifications. **login** is flaskou's "
            "`POST /api/v1/login` (JSON username and password, answered 200 with a token) "
            "through gunicorn (`gunicorn.conf.py`, one worker, 127.0.0.1, "
            'RATE_LIMIT_LOGIN="100000000 per minute" so throttling never trips); its CPU is '
            "the server's utime+stime (master, worker and their children, from "
            "/proc/PID/stat) over the round, divided by the logins. Every login opens a "
            "session row and records a `login` audit event, as in production: that is part "
            "of what is measured. The figure is argon2 CPU / login CPU from this same run "
            f"(1.00 = a login costs no more than its argon2); issue #13's target is ≥ {TARGET}.",
            "",
            f"![Login vs raw argon2](benchmarks/{FIGURE})",
            "",
            *table(targets),
            "",
            verdict,
            "",
            "CPU ms per operation, round by round:",
            "",
            *rounds,
            "",
            "Not counted above, measured beside it: "
            + "; ".join(database)
            + " (the postmaster and its backends, over the same rounds). The raw argon2 "
            "row's per-second figure is verifications per second of the child's "
            f"{threads} threads (no HTTP). Logins/s and latency include the load "
            "generator's own cost on the same cores; the CPU ratio is the figure to follow.",
            "",
        ]
    )


def main() -> None:
    print(f"== login vs raw argon2 ({LOGINS} per target x {ROUNDS} rounds) ==")
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="flaskou-bench-login-"))
    cluster: PostgresCluster | None = None
    servers: list[Gunicorn] = []
    done = False
    try:
        # The parameters, and proof that flaskou's stored hashes use the same ones.
        probe = argon2_child(1)
        parameters = dict(probe["parameters"])  # type: ignore[call-overload]
        sqlite_server = flaskou(f"sqlite:///{work}/flaskou.sqlite3", work / "flaskou-sqlite")
        servers.append(sqlite_server)
        with sqlite3.connect(work / "flaskou.sqlite3") as connection:
            (stored,) = connection.execute(
                "SELECT password_hash FROM users WHERE username = 'bench'"
            ).fetchone()
        assert stored.rsplit("$", 2)[0] == probe["prefix"], (stored, probe["prefix"])
        cluster = PostgresCluster().start()
        pg_server = flaskou(cluster.create_database("flaskou_bench"), work / "flaskou-postgresql")
        servers.append(pg_server)
        postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])

        targets = [
            Target(
                "raw argon2 `PasswordHasher.verify`, flaskou's parameters", "argon2", measure_argon2
            ),
            Target(
                "**flaskou `POST /api/v1/login` (SQLite)**",
                "login SQLite",
                measure_login,
                sqlite_server,
            ),
            Target(
                "**flaskou `POST /api/v1/login` (PostgreSQL)**",
                "login PostgreSQL",
                measure_login,
                pg_server,
                database_cpu=lambda: tree_cpu_seconds(postmaster),
            ),
        ]
        for server in servers:
            body = {"username": "bench", "password": PASSWORD}
            load(
                server.port,
                "/api/v1/login",
                {},
                WARMUP,
                method="POST",
                body=body,
                concurrency=CONCURRENCY,
            )
        for round_number in range(ROUNDS):
            shift = round_number % len(targets)
            for target in targets[shift:] + targets[:shift]:
                target.run(target)
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
            print(f"login: failed; the servers' logs are kept in {work}")

    elapsed = time.monotonic() - started
    body = section(targets, parameters, int(probe["threads"]), elapsed)  # type: ignore[call-overload]
    print("\n".join(table(targets)).replace("**", ""))
    destination = report_path()
    if destination is not None:
        plot(targets, destination.parent / "benchmarks" / FIGURE)
        write_section(destination, SECTION, body)
        print(f"login: section '{SECTION}' written to {destination}")
