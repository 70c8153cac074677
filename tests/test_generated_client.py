"""A client generated from flaskou's OpenAPI document drives a whole journey.

The run fetches the document from a real gunicorn, generates a Python client
from it with openapi-python-client (a maintained generator, pinned in the dev
dependencies), imports the generated package untouched from a temporary
directory and uses nothing else to talk to the server: no raw HTTP, no hand
fixes. Ada signs up, logs in on two devices, uploads a file and downloads it
byte for byte, revokes the other device; an admin grants her a role; and
401, 404 and 422 come back parsed into the generated `Problem` model.

Every generated call runs with `raise_on_unexpected_status`, so an answer
whose status the document does not list fails the journey.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import random
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.server import Server

pytestmark = [pytest.mark.slow]

PACKAGE = "flaskou_generated_client"
PASSWORD = "generated client password"
BIN = Path(sys.executable).parent


@pytest.fixture
def server(app, migrated_database, tmp_path) -> Iterator[Server]:
    """gunicorn on the run's database; `app` empties that database afterwards."""
    env = {
        "DATABASE_URL": migrated_database,
        "SECRET_KEY": "generated-client-secret-generated-client",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "RATE_LIMIT_LOGIN": "1000 per minute",
        "RATE_LIMIT_SIGNUP": "1000000 per hour",
        "RATE_LIMIT_MAIL": "1000000 per hour",
    }
    server = Server(env, workers=1, log_path=tmp_path / "gunicorn.log").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def generated(server, tmp_path, monkeypatch) -> Iterator[ModuleType]:
    """The client package, generated from the document the server serves."""
    with urllib.request.urlopen(f"{server.base}/api/v1/openapi.json", timeout=30) as response:
        document = json.load(response)
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(document))
    output = tmp_path / "client" / PACKAGE
    result = subprocess.run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(spec),
            "--output-path",
            str(output),
            "--meta",
            "none",
            # A warning means the generator left a piece of the document out.
            "--fail-on-warning",
        ],
        # The generator formats its output with ruff (its post-hooks), found on PATH.
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    monkeypatch.syspath_prepend(str(output.parent))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


class Api:
    """The generated package, used the way its README says: clients, models, operations."""

    def __init__(self, package: ModuleType, server: Server) -> None:
        self.package = package
        self.server = server
        self.models = importlib.import_module(f"{package.__name__}.models")
        self.types = importlib.import_module(f"{package.__name__}.types")
        self.client_module = importlib.import_module(f"{package.__name__}.client")
        self.clients: list[Any] = []

    def operation(self, name: str) -> ModuleType:
        return importlib.import_module(f"{self.package.__name__}.api.{name}")

    def call(self, operation: str, **arguments: Any) -> Any:
        return self.operation(operation).sync_detailed(**arguments)

    def anonymous(self) -> Any:
        return self._keep(self.client_module.Client(**self._options()))

    def signed_in(self, token: str) -> Any:
        return self._keep(self.client_module.AuthenticatedClient(token=token, **self._options()))

    def _options(self) -> dict[str, Any]:
        return {"base_url": self.server.base, "raise_on_unexpected_status": True, "timeout": 60}

    def _keep(self, client: Any) -> Any:
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.__exit__()


@pytest.fixture
def api(generated, server) -> Iterator[Api]:
    api = Api(generated, server)
    try:
        yield api
    finally:
        api.close()


def login(api: Api, username: str) -> Any:
    answer = api.call(
        "sessions.login",
        client=api.anonymous(),
        body=api.models.LoginIn(username=username, password=PASSWORD),
    )
    assert answer.status_code == 200, answer.content
    return answer.parsed


def assert_problem(api: Api, answer: Any, status: int) -> Any:
    assert answer.status_code == status, answer.content
    assert answer.headers["Content-Type"] == "application/problem+json"
    problem = answer.parsed
    assert isinstance(problem, api.models.Problem), problem
    assert problem.status == status
    assert problem.type_.startswith("https://") and problem.title and problem.detail
    return problem


def test_a_generated_client_drives_the_whole_journey(api, server, generated):
    # Every generated operation module imports (none was left half-written).
    operations = sorted(Path(generated.__file__).parent.glob("api/*/[!_]*.py"))
    assert len(operations) > 20
    for path in operations:
        assert callable(api.operation(f"{path.parent.name}.{path.stem}").sync_detailed), path

    # Ada signs up and logs in on her laptop and on her phone.
    answer = api.call(
        "accounts.signup",
        client=api.anonymous(),
        body=api.models.UserCreateIn(username="ada", email="ada@example.com", password=PASSWORD),
    )
    assert answer.status_code == 201, answer.content
    ada = answer.parsed
    assert isinstance(ada, api.models.UserOut)
    assert (ada.username, ada.email, ada.roles) == ("ada", "ada@example.com", [])

    laptop_login = login(api, "ada")
    phone_login = login(api, "ada@example.com")  # either name logs in
    assert isinstance(laptop_login, api.models.LoginOut)
    assert laptop_login.token_type.lower() == "bearer"
    laptop = api.signed_in(laptop_login.token)
    phone = api.signed_in(phone_login.token)

    me = api.call("accounts.get_me", client=laptop).parsed
    assert isinstance(me, api.models.UserOut)
    assert (me.id, me.username) == (ada.id, "ada")

    # She sees both sessions, this one marked current.
    sessions = api.call("sessions.list_sessions", client=laptop).parsed
    assert isinstance(sessions, api.models.SessionListOut)
    by_id = {session.id: session for session in sessions.items}
    assert set(by_id) == {laptop_login.session.id, phone_login.session.id}
    assert by_id[laptop_login.session.id].current is True
    assert by_id[phone_login.session.id].current is False

    # She uploads a file as multipart through the generated model ...
    content = random.Random(20261124).randbytes(300_000)
    # The generator sends every multipart body with the fixed boundary `+++`
    # (its template sets the header; httpx then uses it): content holding
    # CRLF "--+++" would be cut short by the client itself, whatever the server does.
    assert b"\r\n--+++" not in content
    answer = api.call(
        "files.upload_file",
        client=laptop,
        body=api.models.FileUploadIn(
            file=api.types.File(
                payload=BytesIO(content), file_name="notes.bin", mime_type="application/pdf"
            )
        ),
    )
    assert answer.status_code == 201, answer.content
    uploaded = answer.parsed
    assert isinstance(uploaded, api.models.FileOut)
    assert (uploaded.filename, uploaded.size, uploaded.owner) == ("notes.bin", len(content), "ada")
    assert uploaded.content_type == "application/pdf"
    assert uploaded.sha256 == hashlib.sha256(content).hexdigest()

    # ... finds it in her list, from the other device too ...
    page = api.call("files.list_files", client=phone).parsed
    assert isinstance(page, api.models.FilePage)
    assert [item.id for item in page.items] == [uploaded.id]
    assert page.next_cursor is None

    # ... and downloads exactly the bytes she sent.
    answer = api.call("files.download_file", file_id=uploaded.id, client=phone)
    assert answer.status_code == 200
    assert isinstance(answer.parsed, api.types.File)
    assert answer.parsed.payload.read() == content

    # She lost her phone: she revokes its session from the laptop.
    answer = api.call("sessions.revoke_session", session_id=phone_login.session.id, client=laptop)
    assert answer.status_code == 204, answer.content
    sessions = api.call("sessions.list_sessions", client=laptop).parsed
    assert [session.id for session in sessions.items] == [laptop_login.session.id]

    # 401: the phone's token no longer works, and says so in the generated model.
    assert_problem(api, api.call("accounts.get_me", client=phone), 401)

    # 404: a file that is not there.
    assert_problem(api, api.call("files.get_file", file_id=uuid.uuid4(), client=laptop), 404)

    # 422: a username that breaks the rules names the field.
    answer = api.call(
        "accounts.signup",
        client=api.anonymous(),
        body=api.models.UserCreateIn(
            username="Not A Name", email="bob@example.com", password=PASSWORD
        ),
    )
    problem = assert_problem(api, answer, 422)
    assert isinstance(problem.errors, api.models.ProblemErrors)
    assert list(problem.errors.additional_properties) == ["username"]
    assert problem.errors.additional_properties["username"]

    # An operator creates an admin; the admin makes a role and grants it to Ada.
    from flaskou.accounts import service

    service.create_admin("grace", "grace@example.com", PASSWORD)
    admin = api.signed_in(login(api, "grace").token)
    answer = api.call(
        "administration.create_role",
        client=admin,
        body=api.models.RoleCreateIn(name="editor", description="Edits shared documents"),
    )
    assert answer.status_code == 201, answer.content
    assert isinstance(answer.parsed, api.models.RoleOut)
    assert answer.parsed.name == "editor"
    answer = api.call("administration.grant_role", username="ada", role="editor", client=admin)
    assert answer.status_code == 200, answer.content
    assert "editor" in answer.parsed.roles

    # Ada's own view shows the role.
    me = api.call("accounts.get_me", client=laptop).parsed
    assert me.roles == ["editor"]

    # Ada is no admin: the admin operation answers 403 in the same error model.
    answer = api.call(
        "administration.create_role",
        client=laptop,
        body=api.models.RoleCreateIn(name="sneaky", description="Not allowed"),
    )
    assert_problem(api, answer, 403)

    log = Path(server.log_path).read_text()
    assert " 500 " not in log and "Traceback" not in log, log[-4000:]
