"""nginx in front of flaskou instances, with the compose stack's own site config."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.support.postgres import free_port
from tests.support.server import ROOT

SITE = ROOT / "docker" / "nginx.conf"


class Nginx:
    def __init__(
        self, upstream_ports: list[int], directory: Path, *, worker_connections: int = 256
    ) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            raise RuntimeError("nginx not found; `make test` installs it")
        self.binary = binary
        self.port = free_port()
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        site = SITE.read_text().replace("listen 8080;", f"listen 127.0.0.1:{self.port};")
        for index, port in enumerate(upstream_ports, start=1):
            site = site.replace(f"flaskou-{index}:5000", f"127.0.0.1:{port}")
        assert "flaskou-" not in site, "every upstream of docker/nginx.conf must be replaced"
        (directory / "site.conf").write_text(site)
        (directory / "nginx.conf").write_text(
            "worker_processes 1;\n"
            f"pid {directory}/nginx.pid;\n"
            f"error_log {directory}/error.log;\n"
            # Each proxied request takes two connections (client and upstream).
            f"events {{ worker_connections {worker_connections}; }}\n"
            "http {\n"
            f"  access_log {directory}/access.log;\n"
            f"  client_body_temp_path {directory}/body;\n"
            f"  proxy_temp_path {directory}/proxy;\n"
            f"  include {directory}/site.conf;\n"
            "}\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, through_to_flaskou: bool = True) -> Nginx:
        """Start nginx; wait until /healthz answers through it, or, for a test
        whose upstreams are meant to be unreachable (or whose listener speaks
        TLS), only until its port accepts connections."""
        config = str(self.directory / "nginx.conf")
        subprocess.run(
            [self.binary, "-t", "-c", config, "-p", str(self.directory)],
            check=True,
            capture_output=True,
        )
        self.process = subprocess.Popen(
            [self.binary, "-c", config, "-p", str(self.directory), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if through_to_flaskou:
                    urllib.request.urlopen(self.base + "/healthz", timeout=1).close()
                else:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("nginx did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
