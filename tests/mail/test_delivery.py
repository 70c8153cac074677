"""The outbox and its delivery worker against a real SMTP server: nothing is
lost while the server is away, nothing is sent twice, nothing is sent for a
change that was rolled back, and what cannot be delivered is said so."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from flaskou.extensions import db
from flaskou.mail import delivery, outbox
from flaskou.mail.models import OutboxMessage
from tests.support.mailstack import SECRET, start_stack
from tests.support.smtp import SmtpServer, parts

pytestmark = [pytest.mark.slow]

FLASK = str(Path(sys.executable).parent / "flask")


def flask_cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [FLASK, "--app", "flaskou", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def status_counts(env: dict[str, str]) -> dict[str, int]:
    result = flask_cli(env, "mail", "status")
    assert result.returncode == 0, result.stderr
    rows = dict(line.split("\t") for line in result.stdout.splitlines())
    return {name: int(rows[name]) for name in ("pending", "sent", "failed")}


@pytest.fixture
def stack_factory(app, migrated_database, tmp_path):
    stacks = []

    def make(smtp, **env):
        stack = start_stack(migrated_database, tmp_path, smtp, **env)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.stop()


def test_requests_stay_fast_while_smtp_is_down_and_mail_arrives_once_when_back(
    stack_factory, smtp_server
):
    stack = stack_factory(smtp_server)
    smtp_server.stop()
    started = time.monotonic()
    for n in range(5):
        stack.signup(f"user{n}")
    assert time.monotonic() - started < 10  # no request waited for SMTP
    time.sleep(3)  # the worker has tried and failed meanwhile
    counts = status_counts(stack.env)
    assert counts["pending"] == 5 and counts["sent"] == 0

    smtp_server.restart()
    messages = smtp_server.wait_for(5, timeout=90)  # backoff is at most a minute
    time.sleep(2)
    assert sorted(m["To"] for m in smtp_server.messages) == [
        f"user{n}@example.com" for n in range(5)
    ]
    assert len({m["Message-ID"] for m in messages}) == 5
    assert status_counts(stack.env) == {"pending": 0, "sent": 5, "failed": 0}


def test_a_4xx_answer_is_retried_and_a_5xx_answer_fails_the_message(stack_factory, smtp_server):
    stack = stack_factory(smtp_server)
    smtp_server.fail_with("451 4.3.0 Try again later")
    stack.signup("ada")
    deadline = time.monotonic() + 30
    while smtp_server.attempts < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert smtp_server.attempts >= 2 and smtp_server.messages == []
    smtp_server.fail_with(None)
    (message,) = smtp_server.wait_for(1, timeout=60)
    assert message["To"] == "ada@example.com"

    smtp_server.fail_with("550 5.1.1 No such mailbox")
    stack.signup("bob")
    deadline = time.monotonic() + 30
    while status_counts(stack.env)["failed"] == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert status_counts(stack.env) == {"pending": 0, "sent": 1, "failed": 1}
    status, _, metrics = stack.request("GET", "/metrics")
    assert status == 200
    text = metrics.decode()
    assert 'flaskou_mail_messages{status="failed"} 1.0' in text
    assert 'flaskou_mail_messages{status="sent"} 1.0' in text


def test_a_message_is_marked_failed_after_the_retry_window(stack_factory, smtp_server):
    stack = stack_factory(smtp_server, MAIL_RETRY_SECONDS="3")
    smtp_server.stop()
    stack.signup("ada")
    deadline = time.monotonic() + 30
    while status_counts(stack.env)["failed"] == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert status_counts(stack.env) == {"pending": 0, "sent": 0, "failed": 1}
    smtp_server.restart()
    time.sleep(2)
    assert smtp_server.messages == []


def test_two_workers_send_every_message_exactly_once_through_a_slow_server(
    stack_factory, smtp_server, tmp_path, db_engine_name
):
    from tests.support.server import MailWorker

    stack = stack_factory(smtp_server, worker=False)
    smtp_server.delay(0.2)
    total = 30
    for n in range(total):
        stack.signup(f"user{n}")
    workers = [
        MailWorker(stack.env, log_path=tmp_path / f"worker{n}.log").start() for n in range(2)
    ]
    try:
        smtp_server.wait_for(total, timeout=120)
        time.sleep(2)  # anything sent twice would have arrived by now
    finally:
        for worker in workers:
            worker.stop()
    recipients = sorted(m["To"] for m in smtp_server.messages)
    assert recipients == sorted(f"user{n}@example.com" for n in range(total))
    assert status_counts(stack.env) == {"pending": 0, "sent": total, "failed": 0}
    # Both workers did part of the work.
    logs = [(tmp_path / f"worker{n}.log").read_text() for n in range(2)]
    assert all("mail sent" in log for log in logs), logs


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_tls_and_login(stack_factory, tls):
    smtp = SmtpServer(tls=tls, username="flaskou", password="p@ss word").start()
    try:
        stack = stack_factory(smtp, worker=False)
        assert stack.env["MAIL_URL"].startswith("smtps://" if tls == "implicit" else "smtp://")
        stack.signup("ada")
        result = flask_cli(stack.env, "mail", "send-pending")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Sent 1" in result.stdout
        assert "p@ss" not in result.stdout + result.stderr
        (message,) = smtp.messages
        text, html = parts(message)
        assert "verify-email#token=" in text and "<html" in html
    finally:
        smtp.stop()


def test_a_server_without_starttls_is_not_sent_to_in_the_clear(stack_factory, smtp_server):
    env = {"MAIL_URL": smtp_server.url + "?starttls=true"}
    stack = stack_factory(smtp_server, worker=False, **env)
    stack.signup("ada")
    result = flask_cli(stack.env, "mail", "send-pending")
    assert result.returncode == 1
    assert "will retry 1" in result.stdout
    assert smtp_server.messages == []


def test_without_mail_url_each_message_is_written_whole_to_the_log(stack_factory, smtp_server):
    stack = stack_factory(smtp_server, worker=False, MAIL_URL="")
    stack.signup("ada")
    result = flask_cli(stack.env, "mail", "send-pending")
    assert result.returncode == 0
    assert "to the log" in result.stdout
    assert "To: ada@example.com" in result.stdout + result.stderr
    assert "/verify-email#token=" in result.stdout + result.stderr
    assert smtp_server.messages == []


def test_a_rolled_back_change_sends_nothing(app):
    outbox.enqueue("ada@example.com", "password_changed", username="ada", ip="x", device="y")
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_a_body_sealed_under_another_secret_key_fails_clearly(
    app, migrated_database, tmp_path, smtp_server
):
    outbox.enqueue("ada@example.com", "password_changed", username="ada", ip="x", device="y")
    db.session.commit()  # sealed with the test app's own random secret
    env = {
        "DATABASE_URL": migrated_database,
        "SECRET_KEY": SECRET,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "MAIL_URL": smtp_server.url,
    }
    result = flask_cli(env, "mail", "send-pending")
    assert result.returncode == 1 and "failed 1" in result.stdout
    db.session.remove()
    message = db.session.scalar(select(OutboxMessage))
    assert message.status == "failed" and "SECRET_KEY" in message.last_error
    assert message.sealed_body is None


def test_backoff_grows_to_at_most_a_minute():
    waits = [delivery.backoff(n).total_seconds() for n in range(1, 12)]
    assert 1.5 <= waits[0] <= 2
    assert all(a <= b * 1.3 for a, b in itertools.pairwise(waits))
    assert max(waits) <= 60 and waits[-1] >= 48
