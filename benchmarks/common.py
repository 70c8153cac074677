"""What every benchmark shares: gunicorn under measurement, server CPU time
from /proc, a keep-alive load generator, the machine's facts, and the report
(docs/benchmarks.md, one level-2 section per benchmark, plots beside it in
docs/benchmarks/).

A benchmark refreshes only its own section (`write_section`), so running one
benchmark keeps the others' figures.
"""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

from tests.support.postgres import _bindir, free_port
from tests.support.server import ROOT, http

REPORT = ROOT / "docs" / "benchmarks.md"
# Plots (PNG, matplotlib) and the raw figures behind them (JSON).
FIGURES = ROOT / "docs" / "benchmarks"
CLK_TCK = os.sysconf("SC_CLK_TCK")
CONCURRENCY = 8
# Sections of docs/benchmarks.md written by hand, kept after the measured ones.
TRAILING = ("## Optimisations",)


PASSWORD = "benchmark password"  # noqa: S105 - the benchmark accounts' password


def flaskou_env(database_url: str, workdir: Path) -> dict[str, str]:
    """The environment of a flaskou under measurement: its own instance and
    upload directories, and limits no benchmark reaches."""
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "benchmark-secret-benchmark-secret",
        "INSTANCE_PATH": str(workdir / "instance"),
        "UPLOAD_DIR": str(workdir / "uploads"),
        "RATE_LIMIT_LOGIN": "100000000 per minute",
        "RATE_LIMIT_SIGNUP": "100000 per hour",
    }


def migrate(env: dict[str, str]) -> None:
    """`flask db upgrade` for that environment's database."""
    subprocess.run(
        [str(Path(sys.executable).parent / "flask"), "--app", "flaskou", "db", "upgrade"],
        env={**os.environ, **env},
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


def sign_up_and_log_in(base: str, username: str = "bench") -> str:
    """An account made through the API, and a session token for it."""
    account = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    status, _, body = http(base, "POST", "/api/v1/signup", account)
    assert status == 201, f"signup answered {status}: {body}"
    status, _, body = http(
        base, "POST", "/api/v1/login", {"username": username, "password": PASSWORD}
    )
    assert status == 200 and body.get("token"), f"login answered {status}: {body}"
    return str(body["token"])


def make_key(base: str, session_token: str) -> str:
    """An API key made as its owner makes one: through the API, with a
    session, holding only the scope GET /users/me needs."""
    status, _, body = http(
        base,
        "POST",
        "/api/v1/users/me/api-keys",
        {"name": "benchmark", "scopes": ["account:read"]},
        headers={"Authorization": f"Bearer {session_token}"},
    )
    assert status == 201 and body.get("token"), f"api-keys answered {status}: {body}"
    return str(body["token"])


def report_path() -> Path | None:
    """Where the report goes: docs/benchmarks.md, BENCH_REPORT=path, or nowhere (BENCH_REPORT=-)."""
    destination = os.environ.get("BENCH_REPORT", str(REPORT))
    return None if destination == "-" else Path(destination)


class Gunicorn:
    """One gunicorn, flaskou's settings file, one worker, loopback only."""

    def __init__(self, app: str, env: dict[str, str], workdir: Path, *, chdir: Path = ROOT):
        self.port = free_port()
        self.app = app
        self.chdir = chdir
        self.workdir = workdir
        # Samples of prometheus' multiprocess mode go to a dir of our own
        # (gunicorn.conf.py would otherwise make one in /tmp per start).
        self.env = {
            **os.environ,
            "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
            **env,
        }
        self.env.pop("GUNICORN_ACCESS_LOG", None)  # same logging for every target
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, probe: str, timeout: float = 60) -> Gunicorn:
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log = open(self.workdir / "gunicorn.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                gunicorn,
                "-c",
                str(ROOT / "gunicorn.conf.py"),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
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
                raise RuntimeError(f"gunicorn exited; see {self.workdir / 'gunicorn.log'}")
            try:
                http(self.base, "GET", probe, timeout=5)
                if self.pids()[1:]:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer in {timeout}s; see {self.workdir}")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        assert self.process is not None
        master = self.process.pid
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        return [master, *map(int, children)]

    def cpu_seconds(self) -> float:
        """utime + stime (and those of waited-for children) of master and worker."""
        assert self.process is not None
        return tree_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if getattr(self, "log", None) and not self.log.closed:
            self.log.close()


def tree_cpu_seconds(root: int) -> float:
    """CPU time of a process and its children, theirs included once they are reaped."""
    total = 0
    children = Path(f"/proc/{root}/task/{root}/children").read_text().split()
    for pid in [root, *map(int, children)]:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            continue  # a child that just went away; its time is in our cutime
        # Fields after the command name, which may hold spaces: state is
        # field 3, utime 14, stime 15, cutime 16, cstime 17.
        fields = stat.rpartition(")")[2].split()
        total += sum(int(value) for value in fields[11:15])
    return total / CLK_TCK


def load(
    port: int,
    path: str,
    headers: dict[str, str],
    total: int,
    *,
    method: str = "GET",
    body: Any = None,
    concurrency: int = CONCURRENCY,
    expect: int = 200,
) -> tuple[float, list[float]]:
    """`total` requests from `concurrency` threads, one keep-alive connection each
    (`body`, when given, is sent as JSON).

    Returns the wall time and every request's latency. Any other status than `expect` stops
    the benchmark: the cost of an error answer is not what is measured.
    """
    payload = None if body is None else json.dumps(body).encode()
    request_headers = dict(headers)
    if payload is not None:
        request_headers["Content-Type"] = "application/json"
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start_line = threading.Barrier(concurrency + 1)
    shares = [total // concurrency + (i < total % concurrency) for i in range(concurrency)]

    def client(count: int) -> None:
        connection = HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        start_line.wait()
        try:
            for _ in range(count):
                began = time.perf_counter()
                connection.request(method, path, body=payload, headers=request_headers)
                response = connection.getresponse()
                response.read()
                mine.append(time.perf_counter() - began)
                if response.status != expect:
                    raise RuntimeError(f"{method} {path} answered {response.status}")
        except Exception as error:  # reported by the caller, not lost in a thread
            with lock:
                errors.append(repr(error))
        finally:
            connection.close()
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    start_line.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"load on port {port}{path}: {errors[0]}")
    return elapsed, latencies


def machine() -> dict[str, str]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = "?"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    postgres = subprocess.run(
        [str(_bindir() / "postgres"), "-V"], capture_output=True, text=True, check=False
    ).stdout.strip()
    conf = (ROOT / "gunicorn.conf.py").read_text()
    worker = re.search(r"^worker_class\s*=\s*\"(.+)\"", conf, re.MULTILINE)
    return {
        "CPU (/proc/cpuinfo)": cpu,
        "nproc": str(len(os.sched_getaffinity(0))),
        "Memory": memory,
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "PostgreSQL": postgres or "?",
        "gunicorn worker_class": worker.group(1) if worker else "?",
    }


def write_section(path: Path, title: str, body: str) -> None:
    """Refresh this benchmark's section of the report, keeping the others."""
    facts = machine()
    intro = "\n".join(
        [
            "# Benchmarks",
            "",
            "Side-by-side measurements, each figure a ratio to a reference taken in the "
            "same run, so they hold on a shared, noisy machine. `make bench` runs them all "
            "(`python -m benchmarks NAME` runs one, e.g. `python -m benchmarks auth_path`); "
            "everything runs on 127.0.0.1 and stops by itself.",
            "",
            "Machine of the last run:",
            "",
            "| | |",
            "|---|---|",
            *[f"| {key} | {value} |" for key, value in facts.items()],
            "",
        ]
    )
    sections: list[str] = []
    if path.exists():
        # Split on level-2 headings; this one is replaced where it stands.
        sections = re.split(r"(?m)^(?=## )", path.read_text())[1:]
    mine = [i for i, part in enumerate(sections) if part.startswith(f"## {title}\n")]
    if mine:
        sections[mine[0]] = body
        sections = [part for i, part in enumerate(sections) if i not in mine[1:]]
    else:
        # A new section goes before the hand-written ones (what was changed
        # and what it bought), which stay last.
        trailing = [part for part in sections if part.startswith(TRAILING)]
        sections = [part for part in sections if not part.startswith(TRAILING)]
        sections.extend([body, *trailing])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        intro + "\n" + "\n".join(part.rstrip("\n") + "\n" for part in sections).rstrip() + "\n"
    )
