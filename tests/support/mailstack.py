"""flaskou as deployed for mail: gunicorn, the delivery worker as its own
process, and a real SMTP server on loopback, on the test run's database."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from tests.support.server import MailWorker, Server
from tests.support.smtp import SmtpServer

SECRET = "mail-test-secret-mail-test-secret"
PASSWORD = "correct horse battery"


@dataclasses.dataclass
class MailStack:
    server: Server
    worker: MailWorker | None
    smtp: SmtpServer
    env: dict[str, str]

    def request(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, str], Any]:
        return self.server.request(*args, **kwargs)

    def signup(self, name: str, password: str = PASSWORD) -> dict[str, Any]:
        status, _, body = self.request(
            "POST",
            "/api/v1/signup",
            {"username": name, "email": f"{name}@example.com", "password": password},
        )
        assert status == 201, body
        return dict(body)

    def login(self, name: str, password: str = PASSWORD) -> str:
        status, _, body = self.request(
            "POST", "/api/v1/login", {"username": name, "password": password}
        )
        assert status == 200, body
        return str(body["token"])

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.server.stop()


def start_stack(
    database_url: str,
    tmp_path: Path,
    smtp: SmtpServer,
    *,
    worker: bool = True,
    **env: str,
) -> MailStack:
    settings = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "MAIL_URL": smtp.url,
        "MAIL_FROM": "flaskou <no-reply@flaskou.example>",
        "RATE_LIMIT_LOGIN": "1000 per minute",
        "RATE_LIMIT_MAIL": "1000 per hour",
        **env,
    }
    if smtp.ca_file is not None:
        settings["SSL_CERT_FILE"] = str(smtp.ca_file)
    server = Server(settings, log_path=tmp_path / "gunicorn.log")
    settings.setdefault("PUBLIC_URL", server.base)
    server.env["PUBLIC_URL"] = settings["PUBLIC_URL"]
    server.start()
    mail_worker = None
    if worker:
        mail_worker = MailWorker(settings, log_path=tmp_path / "worker.log").start()
    return MailStack(server, mail_worker, smtp, settings)
