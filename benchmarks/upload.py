"""A 1 GiB upload through gunicorn: the worker's memory, and speed next to `cp`.

One run, same disk: a random 1 GiB file is (1) copied with `cp` and synced,
then (2) uploaded with curl to flaskou (one gunicorn worker, local storage on
that disk) while the worker's resident memory is sampled every 10 ms. The
report gives the peak memory above the idle worker's (target: under 64 MiB)
and the upload's throughput as a ratio of cp's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.support.server import ROOT, Server

SIZE = 1024 * 1024 * 1024
MIB = 1024 * 1024


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0])


def main() -> None:
    print("== 1 GiB upload through gunicorn vs cp, same disk ==")
    work = Path(tempfile.mkdtemp(prefix="flaskou-bench-", dir=os.environ.get("BENCH_DIR")))
    try:
        source = work / "one-gib.bin"
        with open(source, "wb") as handle:
            block = os.urandom(MIB)
            for _ in range(SIZE // MIB):
                handle.write(block)

        start = time.perf_counter()
        subprocess.run(["cp", str(source), str(work / "copy.bin")], check=True)
        subprocess.run(["sync", "-f", str(work / "copy.bin")], check=True)
        cp_seconds = time.perf_counter() - start
        (work / "copy.bin").unlink()

        flask = str(Path(sys.executable).parent / "flask")
        env = {
            "DATABASE_URL": f"sqlite:///{work}/bench.sqlite3",
            "SECRET_KEY": "benchmark-secret-benchmark-secret",
            "INSTANCE_PATH": str(work / "instance"),
            "UPLOAD_DIR": str(work / "uploads"),
            "MAX_UPLOAD_BYTES": str(2 * SIZE),
            "USER_QUOTA_BYTES": str(4 * SIZE),
            "GUNICORN_ACCESS_LOG": "/dev/null",
        }
        subprocess.run(
            [flask, "--app", "flaskou", "db", "upgrade"],
            env={**os.environ, **env},
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        server = Server(env, workers=1, log_path=work / "gunicorn.log").start()
        try:
            server.request(
                "POST",
                "/api/v1/signup",
                {
                    "username": "bench",
                    "email": "bench@example.com",
                    "password": "benchmark password",
                },
            )
            token = server.request(
                "POST", "/api/v1/login", {"username": "bench", "password": "benchmark password"}
            )[2]["token"]
            small = work / "small.bin"
            small.write_bytes(os.urandom(MIB))
            _curl_upload(server, token, small)  # warm up the worker's code paths
            assert server.process is not None
            worker = worker_pid(server.process.pid)
            idle = rss_kib(worker)
            peak = idle
            stop = threading.Event()

            def sample() -> None:
                nonlocal peak
                while not stop.is_set():
                    peak = max(peak, rss_kib(worker))
                    time.sleep(0.01)

            sampler = threading.Thread(target=sample)
            sampler.start()
            start = time.perf_counter()
            status = _curl_upload(server, token, source)
            upload_seconds = time.perf_counter() - start
            stop.set()
            sampler.join()
        finally:
            server.stop()

        assert status == "201", f"upload answered {status}"
        cp_rate = SIZE / MIB / cp_seconds
        upload_rate = SIZE / MIB / upload_seconds
        print(f"cp + sync:           {cp_seconds:6.2f} s  {cp_rate:7.1f} MiB/s")
        print(f"upload (curl -F):    {upload_seconds:6.2f} s  {upload_rate:7.1f} MiB/s")
        print(f"throughput ratio upload/cp: {upload_rate / cp_rate:.2f}")
        print(
            f"worker RSS idle {idle / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB, "
            f"growth {(peak - idle) / 1024:.1f} MiB (target < 64 MiB)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _curl_upload(server: Server, token: str, path: Path) -> str:
    result = subprocess.run(
        [
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            f"Authorization: Bearer {token}",
            "-F",
            f"file=@{path}",
            f"{server.base}/api/v1/files",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout
