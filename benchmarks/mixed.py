"""A mixed workload at fixed concurrency through nginx to two flaskou
instances on PostgreSQL: throughput, p50/p99 per operation, server CPU per
request, and no error.

The stack and the clients are `make loadtest`'s (benchmarks/loadtest.py):
nginx with the compose stack's docker/nginx.conf, two gunicorn instances
(gunicorn.conf.py, two workers each), one PostgreSQL, one Redis, one shared
UPLOAD_DIR, all on 127.0.0.1. Each client signs up, logs in, then picks its
next request by weight (reads of its profile, sessions and files, uploads and
downloads of 1-256 KiB, deletions, a second login that revokes the first
session, new accounts, and requests that must be refused: wrong passwords, a
taken email, uploads over the limit or with no file part).

Afterwards the load test's checker compares what every client was told with
the database and UPLOAD_DIR; a 5xx, a broken connection, an answer other than
the expected one or anything lost or left over is an error, and there must be
none (the benchmark fails after writing its section if there is).

The main figure is CPU time per request of the two instances (utime + stime of
their gunicorn masters and workers, from /proc); PostgreSQL's and nginx's are
shown beside it. BENCH_MIXED_CLIENTS (default 32) and BENCH_MIXED_SECONDS
(default 45) set the run.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from benchmarks import loadtest
from benchmarks.common import FIGURES, report_path, tree_cpu_seconds, write_section

CLIENTS = int(os.environ.get("BENCH_MIXED_CLIENTS", "32"))
SECONDS = float(os.environ.get("BENCH_MIXED_SECONDS", "45"))
INSTANCES = 2
WORKERS = 2  # per instance, as `make loadtest` runs them
SECTION = "Mixed workload through nginx, two instances, PostgreSQL"

# What each kind of request is, for the reader of the table.
MEANING = {
    "signup": "sign up (a new account)",
    "login": "log in",
    "me": "read own profile (`GET /users/me`)",
    "list_files": "list own files",
    "sessions": "list own sessions",
    "upload": "upload 1-256 KiB",
    "download": "download own file",
    "delete_file": "delete own file",
    "revoke_session": "revoke the previous session",
    "revoked_token": "use the revoked token (401)",
    "wrong_password": "wrong password (401)",
    "duplicate_signup": "sign up with a taken email (409)",
    "too_large_upload": "upload over the limit (413)",
    "bad_upload": "upload with no file part (422)",
}


@dataclasses.dataclass
class Operation:
    name: str
    latencies: list[float]
    statuses: collections.Counter[int]

    @property
    def p50_ms(self) -> float:
        return loadtest.percentile(self.latencies, 0.5) * 1000

    @property
    def p99_ms(self) -> float:
        return loadtest.percentile(self.latencies, 0.99) * 1000


@dataclasses.dataclass
class Outcome:
    elapsed: float
    operations: list[Operation]
    instances_cpu: float  # seconds, both instances
    postgres_cpu: float
    nginx_cpu: float
    broken: int  # 5xx answers and broken connections
    unexpected: int  # answers other than the expected status (or not problem+json)
    problems: list[str]  # all of them, the checker's included
    checked: dict[str, int]

    @property
    def requests(self) -> int:
        return sum(len(op.latencies) for op in self.operations)

    @property
    def cpu_ms_per_request(self) -> float:
        return self.instances_cpu / self.requests * 1000


def postmaster_pid(database: str) -> int:
    with psycopg.connect(database) as connection:
        row = connection.execute("SHOW data_directory").fetchone()
    assert row is not None
    return int((Path(row[0]) / "postmaster.pid").read_text().split()[0])


def run(workdir: Path) -> Outcome:
    with loadtest.stack(workdir, instances=INSTANCES, workers=WORKERS) as target:
        postgres = postmaster_pid(target.database)
        assert target.proxy.process is not None
        nginx = target.proxy.process.pid
        masters = [server.process.pid for server in target.servers if server.process]
        assert len(masters) == INSTANCES

        def cpu() -> tuple[float, float, float]:
            return (
                sum(tree_cpu_seconds(pid) for pid in masters),
                tree_cpu_seconds(postgres),
                tree_cpu_seconds(nginx),
            )

        before = cpu()
        recorder, ledger, elapsed = loadtest.drive(target.base, clients=CLIENTS, seconds=SECONDS)
        after = cpu()
        print("mixed: checking the database and UPLOAD_DIR against what clients were told...")
        problems, checked = loadtest.check(target, ledger)
    problems += [f"5xx or broken connection: {line}" for line in recorder.server_errors]
    by_name: dict[str, Operation] = {}
    for name, status, seconds in recorder.samples:
        operation = by_name.setdefault(name, Operation(name, [], collections.Counter()))
        operation.latencies.append(seconds)
        operation.statuses[status] += 1
    unexpected = sum(
        1
        for finding in ledger.findings
        if finding.startswith(("unexpected answer", "error answer not problem+json"))
    )
    return Outcome(
        elapsed=elapsed,
        operations=sorted(by_name.values(), key=lambda op: -len(op.latencies)),
        instances_cpu=after[0] - before[0],
        postgres_cpu=after[1] - before[1],
        nginx_cpu=after[2] - before[2],
        broken=len(recorder.server_errors),
        unexpected=unexpected,
        problems=problems,
        checked=checked,
    )


# --- the report ------------------------------------------------------------------------


def summary(outcome: Outcome) -> list[str]:
    everything = [s for op in outcome.operations for s in op.latencies]
    requests = outcome.requests
    return [
        "| | |",
        "|---|---:|",
        f"| requests answered | {requests} in {outcome.elapsed:.1f} s |",
        f"| **throughput** | **{requests / outcome.elapsed:.0f} requests/s** |",
        f"| **server CPU / request** (both instances) | **{outcome.cpu_ms_per_request:.2f} ms** |",
        f"| PostgreSQL CPU / request (beside it) | "
        f"{outcome.postgres_cpu / requests * 1000:.2f} ms |",
        f"| nginx CPU / request (beside it) | {outcome.nginx_cpu / requests * 1000:.2f} ms |",
        f"| latency p50 / p99, all requests | {loadtest.percentile(everything, 0.5) * 1000:.1f}"
        f" / {loadtest.percentile(everything, 0.99) * 1000:.1f} ms |",
        f"| 5xx or broken connections | {outcome.broken} |",
        f"| answers other than expected | {outcome.unexpected} |",
        f"| problems found by the checker (all kinds) | {len(outcome.problems)} |",
    ]


def table(outcome: Outcome) -> list[str]:
    lines = [
        "| request | what | count | requests/s | p50 ms | p99 ms | statuses |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for op in outcome.operations:
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(op.statuses.items()))
        lines.append(
            f"| {op.name} | {MEANING.get(op.name, '')} | {len(op.latencies)} | "
            f"{len(op.latencies) / outcome.elapsed:.1f} | {op.p50_ms:.1f} | {op.p99_ms:.1f} | "
            f"{statuses} |"
        )
    return lines


def verdict(outcome: Outcome) -> str:
    if not outcome.problems:
        return (
            "Errors: none (no 5xx, no broken connection, every answer as expected, nothing "
            "lost or left over)."
        )
    return (
        f"**Errors: {len(outcome.problems)}**, the first ones: "
        + "; ".join(problem[:200] for problem in outcome.problems[:5])
        + "."
    )


def plot(outcome: Outcome, destination: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    operations = list(reversed(outcome.operations))  # the most frequent at the top
    names = [op.name for op in operations]
    positions = range(len(operations))
    figure, (left, right) = plt.subplots(1, 2, figsize=(8, 4), dpi=100, sharey=True)
    left.barh(positions, [op.p99_ms for op in operations], color="tab:orange", label="p99")
    left.barh(positions, [op.p50_ms for op in operations], color="tab:blue", label="p50")
    left.set_xscale("log")
    # Plain numbers at 1, 2 and 5 times the powers of ten: matplotlib's own labels overlap.
    left.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    left.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    left.xaxis.set_minor_formatter(ticker.NullFormatter())
    left.set_yticks(list(positions), names, fontsize=8)
    left.set_xlabel("latency, ms (log scale)")
    left.set_title("Latency per request kind")
    left.legend(fontsize=8)
    rates = [len(op.latencies) / outcome.elapsed for op in operations]
    right.barh(positions, rates, color="tab:green")
    right.set_xlabel("requests/s")
    right.set_title(
        f"Throughput: {outcome.requests / outcome.elapsed:.0f}/s, "
        f"{outcome.cpu_ms_per_request:.2f} CPU ms/request"
    )
    right.title.set_fontsize(9)
    figure.suptitle(
        f"{CLIENTS} clients, {SECONDS:.0f} s, nginx → 2 instances → PostgreSQL", fontsize=10
    )
    figure.tight_layout()
    destination.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(destination)
    plt.close(figure)


def section(outcome: Outcome, seconds: float) -> str:
    checked = "; ".join(f"{key}: {value}" for key, value in outcome.checked.items())
    return "\n".join(
        [
            f"## {SECTION}",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m benchmarks mixed` "
            f"in {seconds:.0f} s: {CLIENTS} concurrent clients for {SECONDS:.0f} s (the last "
            f"answers came {outcome.elapsed:.1f} s after the start), through nginx "
            f"(`docker/nginx.conf`) to {INSTANCES} flaskou instances (gunicorn with "
            f"`gunicorn.conf.py`, {WORKERS} workers each) on one PostgreSQL (a throwaway "
            "local server, fsync off) and one Redis, one shared UPLOAD_DIR, all on "
            "127.0.0.1: the stack and the clients of `make loadtest` "
            "(benchmarks/loadtest.py). Each client signs up, logs in, then picks each next "
            "request by weight: reads, uploads, downloads, deletions, revocations (a second "
            "login revokes the first session, whose token must then answer 401), new "
            "accounts, and requests that must be refused. Server CPU / request is the "
            "utime+stime of both instances' gunicorn masters and workers (from "
            "/proc/PID/stat) over the run, divided by every answer; PostgreSQL's "
            "(postmaster and backends) and nginx's are beside it, not in it.",
            "",
            "![Mixed workload: latency and throughput per request](benchmarks/mixed.png)",
            "",
            *summary(outcome),
            "",
            *table(outcome),
            "",
            verdict(outcome),
            f"Checked afterwards against the database and UPLOAD_DIR: {checked}.",
            "",
            "The 401, 409, 413 and 422 answers are asked for on purpose and expected. "
            "The load generator (Python threads, one keep-alive connection per client, "
            "each from its own loopback address) runs on the same 2 cores as the servers, "
            "so requests/s and latencies are a floor and only comparable within a run; "
            "CPU per request is the figure to follow. Sign-ups and logins are dominated by "
            "the password hash (argon2), which is why their latency sits far above the "
            "reads'. `make loadtest` runs the same stack with 200 clients and reports in "
            "docs/loadtest.md.",
            "",
        ]
    )


def main() -> None:
    print(f"== mixed workload: {CLIENTS} clients for {SECONDS:.0f} s, nginx, 2 instances ==")
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="flaskou-bench-mixed-"))
    outcome = run(work)
    elapsed = time.monotonic() - started
    print("\n".join(summary(outcome)).replace("**", ""))
    print("\n".join(table(outcome)))
    destination = report_path()
    if destination is not None:
        # Beside the report: docs/benchmarks/ for docs/benchmarks.md.
        plot(outcome, destination.parent / FIGURES.name / "mixed.png")
        write_section(destination, SECTION, section(outcome, elapsed))
        print(f"mixed: section '{SECTION}' written to {destination}")
    if outcome.problems:
        print(f"mixed: {len(outcome.problems)} errors; the servers' logs are kept in {work}")
        for problem in outcome.problems[:20]:
            print("  " + problem)
        raise RuntimeError(f"the mixed workload had {len(outcome.problems)} errors")
    shutil.rmtree(work, ignore_errors=True)
    print("mixed: no errors")
