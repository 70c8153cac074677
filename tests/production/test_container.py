"""The container image, built with buildah from the stand-in base image and run.

Building needs buildah and a base image: python:3.12-slim when buildah has it
locally, or else the stand-in that scripts/standin-base-image.sh makes (Debian 12
with python3, about two minutes the first time on a machine, reused afterwards).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.support.multipart import file_body
from tests.support.postgres import free_port
from tests.support.server import ROOT, http
from tests.test_dependencies import RUNTIME, read_lock

pytestmark = [pytest.mark.slow, pytest.mark.engine_independent]

IMAGE = "localhost/flaskou:test"
BASE_SCRIPT = ROOT / "scripts" / "standin-base-image.sh"


def run(*command: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="module")
def image() -> str:
    # the repository's own script: the real base image if present, else its stand-in
    made = subprocess.run([str(BASE_SCRIPT)], capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr
    base = made.stdout.strip().splitlines()[-1]
    assert shutil.which("buildah") is not None
    run(
        "buildah",
        "bud",
        "--isolation",
        "chroot",
        "--format",
        "docker",
        "--layers",
        "--build-arg",
        f"BASE_IMAGE={base}",
        "-t",
        IMAGE,
        str(ROOT),
    )
    return IMAGE


def config(image: str, field: str) -> str:
    return run("buildah", "inspect", "--format", "{{.Docker.Config." + field + "}}", image).stdout


def test_the_image_is_declared_for_production(image):
    assert config(image, "User").strip() == "flaskou"
    assert "/var/lib/flaskou" in config(image, "Volumes")
    assert "/healthz" in config(image, "Healthcheck")
    assert "5000/tcp" in config(image, "ExposedPorts")
    assert "gunicorn" in config(image, "Cmd")
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.splitlines()[1:3] == [
        "ARG BASE_IMAGE=python:3.12-slim",
        "FROM ${BASE_IMAGE} AS build",
    ]
    # no credentials are baked in
    assert "ADMIN_PASSWORD" not in config(image, "Env")
    assert "SECRET_KEY" not in config(image, "Env")


def test_the_image_holds_exactly_the_runtime_lock(image):
    container = run("buildah", "from", image).stdout.strip()
    try:
        listing = run(
            "buildah",
            "run",
            "--isolation",
            "chroot",
            container,
            "--",
            "python3",
            "-c",
            "import importlib.metadata as m, json;"
            "print(json.dumps([[d.metadata['Name'], d.version] for d in m.distributions()]))",
        ).stdout
    finally:
        run("buildah", "rm", container)
    installed = {canonicalize_name(name): version for name, version in json.loads(listing)}
    assert installed.pop("flaskou") == "0.1.0"
    locked = read_lock(RUNTIME)
    for name, version in installed.items():
        assert (name, version) in {(pin.name, pin.version) for pin in locked}, (
            f"{name} {version} is in the image but not in requirements/runtime.txt"
        )
    for pin in locked:
        if pin.marker is None:
            assert installed.get(pin.name) == pin.version, f"{pin.name}=={pin.version} missing"


def request(base, method, path, body=None, headers=None, raw=None, content_type=None):
    headers = {**(headers or {}), **({"Content-Type": content_type} if content_type else {})}
    status, _, content = http(base, method, path, body, headers, raw=raw)
    return status, content


def test_the_container_serves_as_uid_999_and_makes_the_admin_at_start(image, tmp_path):
    container = run("buildah", "from", image).stdout.strip()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "SECRET_KEY": "container-test-secret-container-test",
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "ADMIN_USERNAME": "boss",
        "ADMIN_EMAIL": "boss@example.com",
        "ADMIN_PASSWORD": "container admin pw",
    }
    arguments = ["buildah", "run", "--isolation", "chroot"]
    for key, value in env.items():
        arguments += ["--env", f"{key}={value}"]
    log = open(tmp_path / "container.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [
            *arguments,
            container,
            "--",
            "flaskou-entrypoint",
            "gunicorn",
            "-c",
            "/etc/flaskou/gunicorn.conf.py",
            "flaskou.wsgi:app",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if request(base, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, (tmp_path / "container.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "container.log").read_text()
            time.sleep(0.5)

        uids = {
            os.stat(f"/proc/{pid}").st_uid
            for pid in os.listdir("/proc")
            if pid.isdigit() and _is_our_gunicorn(pid, port)
        }
        assert uids == {999}

        status, _ = request(
            base,
            "POST",
            "/api/v1/signup",
            {"username": "ada", "email": "ada@example.com", "password": "container pw!"},
        )
        assert status == 201
        status, body = request(
            base, "POST", "/api/v1/login", {"username": "ada", "password": "container pw!"}
        )
        assert status == 200
        ada = {"Authorization": f"Bearer {body['token']}"}
        upload, content_type = file_body(b"hello from the container", "hello.txt")
        status, stored = request(
            base, "POST", "/api/v1/files", headers=ada, raw=upload, content_type=content_type
        )
        assert status == 201, stored
        assert stored["size"] == len(b"hello from the container")

        status, body = request(
            base, "POST", "/api/v1/login", {"username": "boss", "password": "container admin pw"}
        )
        assert status == 200
        status, me = request(
            base, "GET", "/api/v1/users/me", headers={"Authorization": f"Bearer {body['token']}"}
        )
        assert me["roles"] == ["admin"]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
        run("buildah", "rm", container)


def _is_our_gunicorn(pid: str, port: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return "gunicorn" in cmdline and f"BIND=127.0.0.1:{port}".encode() in environ
