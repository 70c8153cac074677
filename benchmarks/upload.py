"""A 1 GiB file up to flaskou and back down, next to `cp` of the same file,
on local disk and on S3 (moto's standalone server), with the worker's memory.

One run, same disk, same file (random bytes, its SHA-256 taken first):

- references: `cp` of the file then `sync` of the copy, an fsync of that
  one file (what an upload must do: flaskou fsyncs the object before it
  answers 201; not `sync -f`, a syncfs that also flushed whatever else on
  the file system was dirty, the source file just written among it, twice
  the disk work and another tenant's besides), and `cp` of the stored
  object to a new file (what a download does: read it, write it to a file);
- flaskou on local disk: the file uploaded with `curl -F` to one gunicorn
  worker (gunicorn.conf.py), then downloaded with `curl -o` to a file; the
  answer's SHA-256 and size, the stored object and the downloaded file are
  all checked against the source;
- flaskou on S3: the same upload and download with S3_BUCKET set, moto's
  server (tests.support.s3) as the endpoint, and beside it the same S3 calls
  made directly by a boto3 client (8 MiB parts one after another, one
  streamed GET): what moto itself costs, without flaskou.

While each transfer runs, the gunicorn worker's resident memory (VmRSS) is
sampled every 10 ms; the figure is its peak above the worker's idle size
after a warm-up transfer (issue #13's target: under 64 MiB). Throughput is
given as a ratio of cp's from this run (target for uploads: at least 0.5).
CPU seconds of the server (gunicorn master and worker, and moto's server for
S3) are measured beside it, from /proc.

moto keeps what it is sent in memory: at 1 GiB it grows by about 4 GiB.
BENCH_UPLOAD_MIB sets the size (default 1024), BENCH_UPLOAD_ROUNDS the number
of rounds (default 3; medians of the times, maxima of the memory).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.support.s3 import CREDENTIALS, S3Server, _lower
from tests.support.server import http

from benchmarks.common import FIGURES, Gunicorn, report_path, tree_cpu_seconds, write_section

MIB = 1024 * 1024
SIZE = int(os.environ.get("BENCH_UPLOAD_MIB", "1024")) * MIB
ROUNDS = int(os.environ.get("BENCH_UPLOAD_ROUNDS", "3"))
PASSWORD = "benchmark password"  # noqa: S105 - the benchmark account's password
SECTION = "1 GiB upload and download vs cp"
RATIO_TARGET = 0.5  # an upload's throughput / cp's (issue #13)
RSS_TARGET_MIB = 64  # the worker's growth during a transfer (issue #13)
PART = 8 * MIB  # S3Storage's part size, used by the direct client too
CURL_MAX_SECONDS = 900


# --- measuring -------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class PeakRss:
    """The highest VmRSS of some processes, sampled every 10 ms in a thread."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peaks = {pid: rss_kib(pid) for pid in pids}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self.stop.is_set():
            for pid in self.pids:
                self.peaks[pid] = max(self.peaks[pid], rss_kib(pid))
            time.sleep(0.01)

    def __enter__(self) -> PeakRss:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()
        for pid in self.pids:  # and once more at the very end
            self.peaks[pid] = max(self.peaks[pid], rss_kib(pid))


def children_cpu_seconds() -> float:
    """CPU time of this process's reaped children (cp, sync): utime + stime."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclasses.dataclass
class Transfer:
    """One kind of transfer, measured once per round."""

    name: str
    short: str
    reference: str  # the key of the Transfer it is a ratio of, or "" for a reference
    target: float | None = None
    seconds: list[float] = dataclasses.field(default_factory=list)
    cpu: list[float] = dataclasses.field(default_factory=list)  # server (or cp) CPU s
    store_cpu: list[float] = dataclasses.field(default_factory=list)  # moto's CPU s
    rss_growth_kib: list[int] = dataclasses.field(default_factory=list)
    store_growth_kib: list[int] = dataclasses.field(default_factory=list)

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rate(self) -> float:
        return SIZE / MIB / self.median_seconds


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(MIB), b""):
            digest.update(chunk)
    return digest.hexdigest()


def run_cp(source: Path, destination: Path, *, sync: bool) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of `cp` (and an fsync of the copy: `sync FILE`)."""
    cpu = children_cpu_seconds()
    start = time.perf_counter()
    subprocess.run(["cp", str(source), str(destination)], check=True)
    if sync:
        subprocess.run(["sync", str(destination)], check=True)
    return time.perf_counter() - start, children_cpu_seconds() - cpu


# --- flaskou --------------------------------------------------------------------------


class Flaskou:
    """One gunicorn worker of flaskou with one user logged in."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        workdir.mkdir(parents=True)
        database = workdir / "bench.sqlite3"
        self.env = {
            "DATABASE_URL": f"sqlite:///{database}",
            "SECRET_KEY": "benchmark-secret-benchmark-secret",
            "INSTANCE_PATH": str(workdir / "instance"),
            "MAX_UPLOAD_BYTES": str(2 * SIZE),
            "USER_QUOTA_BYTES": str(4 * SIZE * ROUNDS),
            **env,
        }
        flask = str(Path(sys.executable).parent / "flask")
        subprocess.run(
            [flask, "--app", "flaskou", "db", "upgrade"],
            env={**os.environ, **self.env},
            check=True,
            capture_output=True,
        )
        self.server = Gunicorn("flaskou.wsgi:app", self.env, workdir).start("/healthz")
        self.workdir = workdir
        account = {"username": "bench", "email": "bench@example.com", "password": PASSWORD}
        status, _, body = http(self.server.base, "POST", "/api/v1/signup", account)
        assert status == 201, f"signup answered {status}: {body}"
        status, _, body = http(
            self.server.base, "POST", "/api/v1/login", {"username": "bench", "password": PASSWORD}
        )
        assert status == 200, f"login answered {status}: {body}"
        self.token = body["token"]

    @property
    def worker(self) -> int:
        return self.server.pids()[1]

    def upload(self, path: Path) -> dict[str, Any]:
        answer = self.workdir / "answer.json"
        status = self._curl(
            ["-F", f"file=@{path};type=application/octet-stream", "-o", str(answer)],
            "/api/v1/files",
        )
        body = json.loads(answer.read_text())
        assert status == "201", f"upload answered {status}: {body}"
        return body  # type: ignore[no-any-return]

    def download(self, file_id: str, destination: Path) -> None:
        status = self._curl(["-o", str(destination)], f"/api/v1/files/{file_id}/content")
        assert status == "200", f"download answered {status}: {destination.read_bytes()[:300]!r}"

    def _curl(self, arguments: list[str], path: str) -> str:
        result = subprocess.run(
            [
                "curl",
                "-sS",
                "--max-time",
                str(CURL_MAX_SECONDS),
                "-w",
                "%{http_code}",
                "-H",
                f"Authorization: Bearer {self.token}",
                *arguments,
                f"{self.server.base}{path}",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout

    def stop(self) -> None:
        self.server.stop()


@dataclasses.dataclass
class Rig:
    """What one transfer is measured against: the server, and the S3 store if any."""

    flaskou: Flaskou
    store_pid: int | None = None
    idle_kib: int = 0
    store_idle_kib: int = 0


@contextmanager
def measured(transfer: Transfer, rig: Rig) -> Iterator[None]:
    """Time a transfer; record the server's CPU and the peak memory above idle."""
    server = rig.flaskou.server
    pids = [rig.flaskou.worker] + ([rig.store_pid] if rig.store_pid else [])
    cpu = server.cpu_seconds()
    store_cpu = tree_cpu_seconds(rig.store_pid) if rig.store_pid else 0.0
    with PeakRss(pids) as peak:
        start = time.perf_counter()
        yield
        seconds = time.perf_counter() - start
    transfer.seconds.append(seconds)
    transfer.cpu.append(server.cpu_seconds() - cpu)
    transfer.rss_growth_kib.append(peak.peaks[rig.flaskou.worker] - rig.idle_kib)
    if rig.store_pid:
        transfer.store_cpu.append(tree_cpu_seconds(rig.store_pid) - store_cpu)
        transfer.store_growth_kib.append(peak.peaks[rig.store_pid] - rig.store_idle_kib)


def round_trip(
    rig: Rig, source: Path, digest: str, up: Transfer, down: Transfer, work: Path
) -> str:
    """Upload `source`, download it back, check every byte; answer the file's id."""
    with measured(up, rig):
        stored = rig.flaskou.upload(source)
    assert (stored["sha256"], stored["size"]) == (digest, SIZE), f"upload answered {stored}"
    downloaded = work / "downloaded.bin"
    with measured(down, rig):
        rig.flaskou.download(stored["id"], downloaded)
    assert sha256_file(downloaded) == digest, "the downloaded file differs from the upload"
    downloaded.unlink()
    return str(stored["id"])


def warm_up(rig: Rig, work: Path) -> None:
    """A small transfer each way first (imports, the connection pool to S3), then
    the worker's (and the store's) idle size."""
    small = work / "warm-up.bin"
    small.write_bytes(os.urandom(MIB))
    stored = rig.flaskou.upload(small)
    rig.flaskou.download(stored["id"], work / "warm-up.out")
    assert (work / "warm-up.out").read_bytes() == small.read_bytes()
    delete(rig, stored["id"])
    time.sleep(0.5)
    rig.idle_kib = rss_kib(rig.flaskou.worker)
    if rig.store_pid:
        rig.store_idle_kib = rss_kib(rig.store_pid)


def delete(rig: Rig, file_id: str) -> None:
    status = http(
        rig.flaskou.server.base,
        "DELETE",
        f"/api/v1/files/{file_id}",
        headers={"Authorization": f"Bearer {rig.flaskou.token}"},
    )[0]
    assert status == 204, f"delete answered {status}"


def direct_s3(
    store: S3Server,
    idle: int,
    bucket: str,
    source: Path,
    digest: str,
    up: Transfer,
    down: Transfer,
) -> None:
    """The same calls as S3Storage (multipart, 8 MiB parts in turn; one streamed
    GET), made by a boto3 client in this process: moto's own speed."""
    import boto3
    from boto3.s3.transfer import TransferConfig

    assert store.process is not None
    pid = store.process.pid
    client = boto3.client("s3", endpoint_url=store.endpoint, **_lower(CREDENTIALS))
    config = TransferConfig(
        multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=1, use_threads=False
    )
    key = f"direct/{uuid.uuid4().hex}"

    def timed(transfer: Transfer, action: Callable[[], None]) -> None:
        cpu = tree_cpu_seconds(pid)
        with PeakRss([pid]) as peak:
            start = time.perf_counter()
            action()
            transfer.seconds.append(time.perf_counter() - start)
        transfer.store_cpu.append(tree_cpu_seconds(pid) - cpu)
        transfer.store_growth_kib.append(peak.peaks[pid] - idle)

    timed(up, lambda: client.upload_file(str(source), bucket, key, Config=config))
    copy = source.with_name("direct.bin")

    def get() -> None:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        with open(copy, "wb") as handle:
            for chunk in body.iter_chunks(256 * 1024):
                handle.write(chunk)

    timed(down, get)
    assert sha256_file(copy) == digest, "moto gave back other bytes"
    copy.unlink()
    client.delete_object(Bucket=bucket, Key=key)


# --- the run ------------------------------------------------------------------------


def transfers_to_measure() -> dict[str, Transfer]:
    return {
        "cp_up": Transfer("`cp` + `sync` of the copy (reference for uploads)", "cp+sync", ""),
        "cp_down": Transfer("`cp` of the stored object (reference for downloads)", "cp back", ""),
        "sha256": Transfer(
            "SHA-256 of the file alone, hashlib in one thread (what an upload must also do)",
            "sha256",
            "cp_up",
        ),
        "local_up": Transfer(
            "**flaskou upload, local disk** (`curl -F`)", "up local", "cp_up", RATIO_TARGET
        ),
        "local_down": Transfer(
            "**flaskou download, local disk** (`curl -o` to a file)", "down local", "cp_down"
        ),
        "s3_up": Transfer("**flaskou upload, S3 (moto)**", "up S3", "cp_up", RATIO_TARGET),
        "s3_down": Transfer("**flaskou download, S3 (moto)**", "down S3", "cp_down"),
        "direct_up": Transfer("boto3 client straight to moto, upload", "boto3 up", "cp_up"),
        "direct_down": Transfer("boto3 client straight to moto, download", "boto3 down", "cp_down"),
    }


def measure(work: Path) -> dict[str, Transfer]:
    transfers = transfers_to_measure()
    source = work / "source.bin"
    with open(source, "wb") as handle:
        for _ in range(SIZE // MIB):
            handle.write(os.urandom(MIB))
        # On disk before anything is timed: its writeback must not land in
        # the middle of one transfer and not another.
        os.fsync(handle.fileno())
    digest = sha256_file(source)

    store = S3Server().start()
    local: Flaskou | None = None
    remote: Flaskou | None = None
    try:
        assert store.process is not None
        bucket = f"flaskou-bench-{uuid.uuid4().hex[:12]}"
        store.create_bucket(bucket)
        uploads = work / "uploads"
        local = Flaskou({"UPLOAD_DIR": str(uploads)}, work / "local")
        remote = Flaskou({**store.environment, "S3_BUCKET": bucket}, work / "s3")
        local_rig = Rig(local)
        s3_rig = Rig(remote, store_pid=store.process.pid)
        warm_up(local_rig, work)
        warm_up(s3_rig, work)

        for number in range(ROUNDS):
            cpu, start = time.process_time(), time.perf_counter()
            assert sha256_file(source) == digest
            transfers["sha256"].seconds.append(time.perf_counter() - start)
            transfers["sha256"].cpu.append(time.process_time() - cpu)
            copy = work / "copy.bin"
            seconds, cpu = run_cp(source, copy, sync=True)
            transfers["cp_up"].seconds.append(seconds)
            transfers["cp_up"].cpu.append(cpu)
            copy.unlink()

            file_id = round_trip(
                local_rig, source, digest, transfers["local_up"], transfers["local_down"], work
            )
            (stored,) = [p for p in (uploads / "objects").glob("*/*") if p.stat().st_size == SIZE]
            assert sha256_file(stored) == digest, "the stored object differs from the upload"
            seconds, cpu = run_cp(stored, copy, sync=False)
            transfers["cp_down"].seconds.append(seconds)
            transfers["cp_down"].cpu.append(cpu)
            copy.unlink()
            delete(local_rig, file_id)

            file_id = round_trip(
                s3_rig, source, digest, transfers["s3_up"], transfers["s3_down"], work
            )
            delete(s3_rig, file_id)  # moto holds it in memory
            direct_s3(
                store,
                s3_rig.store_idle_kib,
                bucket,
                source,
                digest,
                transfers["direct_up"],
                transfers["direct_down"],
            )
            print(f"round {number + 1}/{ROUNDS} done")
    finally:
        for server in (local, remote):
            if server is not None:
                server.stop()
        store.stop()
    return transfers


# --- the report ------------------------------------------------------------------------


def _mib(kib: list[int]) -> str:
    return f"{max(kib) / 1024:.1f}" if kib else "—"


def _cpu(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "—"


def ratio(transfers: dict[str, Transfer], key: str, reference: str | None = None) -> float:
    """Throughput as a ratio of the reference's (cp's unless told), from this run."""
    transfer = transfers[key]
    return transfers[reference or transfer.reference].median_seconds / transfer.median_seconds


# flaskou's S3 transfers and the same calls made straight to moto.
DIRECT = {"s3_up": "direct_up", "s3_down": "direct_down"}


def table(transfers: dict[str, Transfer]) -> list[str]:
    lines = [
        "| transfer | seconds | MiB/s | vs cp | target | vs boto3 → moto | "
        "worker peak RSS above idle, MiB | server CPU s | moto CPU s | "
        "moto peak RSS above idle, MiB |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for key, transfer in transfers.items():
        versus_cp = ratio(transfers, key) if transfer.reference else 1.0
        goals = []
        if transfer.target is not None:
            goals.append(f"≥ {transfer.target:.1f}")
        if transfer.rss_growth_kib:
            goals.append(f"< {RSS_TARGET_MIB} MiB")
        goal = "—"
        if goals:
            goal = " and ".join(goals) + (": not yet" if key in unmet(transfers) else ": met")
        versus_direct = f"{ratio(transfers, key, DIRECT[key]):.2f}" if key in DIRECT else "—"
        lines.append(
            f"| {transfer.name} | {transfer.median_seconds:.2f} | {transfer.rate:.0f} | "
            f"{versus_cp:.2f} | {goal} | {versus_direct} | {_mib(transfer.rss_growth_kib)} | "
            f"{_cpu(transfer.cpu)} | {_cpu(transfer.store_cpu)} | "
            f"{_mib(transfer.store_growth_kib)} |"
        )
    return lines


def unmet(transfers: dict[str, Transfer]) -> list[str]:
    """flaskou's transfers that miss a target (speed vs cp, worker memory)."""
    return [
        key
        for key in ("local_up", "local_down", "s3_up", "s3_down")
        if max(transfers[key].rss_growth_kib) >= RSS_TARGET_MIB * 1024
        or (transfers[key].target is not None and ratio(transfers, key) < RATIO_TARGET)
    ]


def verdict(transfers: dict[str, Transfer]) -> str:
    missed = unmet(transfers)
    if not missed:
        return "Every target is met."
    return "Not met yet: " + ", ".join(transfers[key].short for key in missed) + "."


def size_text() -> str:
    return "1 GiB" if SIZE == 1024 * MIB else f"{SIZE // MIB} MiB"


def plot(transfers: dict[str, Transfer], destination: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ["local_up", "local_down", "s3_up", "s3_down", "direct_up", "direct_down"]
    labels = [transfers[key].short for key in keys]
    ratios = [ratio(transfers, key) for key in keys]
    colours = ["tab:blue"] * 4 + ["tab:gray"] * 2
    figure, (left, right) = plt.subplots(1, 2, figsize=(8, 4), dpi=100)
    left.bar(labels, ratios, color=colours)
    left.axhline(RATIO_TARGET, color="tab:red", linestyle="--", label="target for uploads")
    left.set_ylim(0, max(RATIO_TARGET * 1.2, *ratios) * 1.1)
    left.set_ylabel("throughput / cp's")
    left.set_title("Speed vs cp (same run)")
    left.tick_params(axis="x", labelrotation=45, labelsize=8)
    left.legend(fontsize=8)
    for index, value in enumerate(ratios):
        left.annotate(f"{value:.2f}", (index, value), ha="center", va="bottom", fontsize=8)
    flaskou = keys[:4]
    growth = [max(transfers[key].rss_growth_kib) / 1024 for key in flaskou]
    right.bar([transfers[key].short for key in flaskou], growth, color="tab:blue")
    right.axhline(RSS_TARGET_MIB, color="tab:red", linestyle="--", label="target (below)")
    right.set_ylabel("MiB")
    right.set_title("Worker peak RSS above idle")
    right.tick_params(axis="x", labelrotation=45, labelsize=8)
    right.set_ylim(0, max(RSS_TARGET_MIB * 1.2, *growth) * 1.1)
    right.legend(fontsize=8)
    for index, value in enumerate(growth):
        right.annotate(f"{value:.1f}", (index, value), ha="center", va="bottom", fontsize=8)
    figure.suptitle(f"{size_text()} up to flaskou and back", fontsize=10)
    figure.tight_layout()
    destination.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(destination)
    plt.close(figure)


def section(transfers: dict[str, Transfer], seconds: float) -> str:
    size = size_text()
    store_peak = max(transfers["s3_up"].store_growth_kib + transfers["direct_up"].store_growth_kib)
    return "\n".join(
        [
            f"## {SECTION}",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m benchmarks upload` "
            f"in {seconds:.0f} s: one {size} file of random bytes, {ROUNDS} round(s) "
            "(medians of the times, maxima of the memory). flaskou is one gunicorn worker "
            "(`gunicorn.conf.py`) on SQLite, on 127.0.0.1, driven by `curl` (`-F` up, `-o` "
            "to a file down). The references are `cp` of the same file on the same disk: "
            "for an upload, `cp` then `sync` of the copy, an fsync of that file alone "
            "(flaskou fsyncs the object "
            "before it answers 201); for a download, `cp` of the stored object to a new "
            "file (no sync on either side; the object is in the page cache for both). "
            "\"vs cp\" is cp's time / the transfer's, from this same run. Every transfer "
            "is checked: the upload's answered SHA-256 and size, the stored object and the "
            "downloaded file all match the source. The worker's memory is its peak VmRSS "
            "(sampled every 10 ms) above its size when idle after a 1 MiB warm-up "
            "transfer each way, measured before the upload; a download's figure so "
            "includes whatever the upload left allocated. Server CPU s is gunicorn's "
            "(master and worker) over the transfer, cp's own for the cp rows. \"vs boto3 → "
            'moto" is the same S3 calls made by a client straight to moto (below). '
            "Targets are issue #13's: an upload at "
            f"least {RATIO_TARGET} of cp's speed, the worker growing less than "
            f"{RSS_TARGET_MIB} MiB.",
            "",
            f"![{size} upload and download vs cp](benchmarks/upload.png)",
            "",
            *table(transfers),
            "",
            verdict(transfers),
            "",
            "The SHA-256 row is hashlib over the same file (from the page cache) in one "
            "thread: the digest an upload answers costs at least that much CPU on this "
            "machine, whatever the server; flaskou takes it in a native thread beside the "
            "one receiving and writing the body, so on two cores the upload's time is "
            "about the larger of the two, not their sum.",
            "",
            "S3 here is moto's standalone server (`python -m moto.server`, as the tests "
            "use it) on 127.0.0.1: one Python process (werkzeug, a thread per request) "
            "that keeps every object and every uploaded part in its own memory (it grew by "
            f"{store_peak / 1024:.0f} MiB at most while holding the file). So the S3 rows "
            "measure flaskou's streaming to and from an S3 API (8 MiB multipart parts sent "
            "in turn, one streamed GET back) with a slow, CPU-hungry store sharing the "
            "machine's 2 cores, not what a real S3 would give: moto's CPU is shown beside "
            "it, and the boto3 rows are the same calls made straight to moto with no "
            "flaskou in the way, the ceiling on this machine. Against real S3 the network "
            "sets the pace; the figure that carries over is the worker's memory.",
            "",
        ]
    )


def main() -> None:
    size = size_text()
    print(f"== {size} upload and download vs cp, local disk and S3 (moto), {ROUNDS} round(s) ==")
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="flaskou-bench-upload-", dir=os.environ.get("BENCH_DIR")))
    done = False
    try:
        transfers = measure(work)
        done = True
    finally:
        if done:
            shutil.rmtree(work, ignore_errors=True)
        else:
            # Keep the servers' logs; the big files are of no use.
            for big in work.rglob("*.bin"):
                big.unlink(missing_ok=True)
            print(f"upload: failed; the servers' logs are kept in {work}")
    elapsed = time.monotonic() - started
    print("\n".join(table(transfers)).replace("**", ""))
    print(verdict(transfers))
    destination = report_path()
    if destination is not None:
        # Beside the report: docs/benchmarks/ for docs/benchmarks.md.
        plot(transfers, destination.parent / FIGURES.name / "upload.png")
        write_section(destination, SECTION, section(transfers, elapsed))
        print(f"upload: section '{SECTION}' written to {destination}")
