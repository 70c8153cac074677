"""Operator commands for mail: the delivery worker, one pass, and the queue's state."""

from __future__ import annotations

import logging
import signal
import threading

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from flaskou.extensions import db
from flaskou.mail import delivery
from flaskou.mail.transport import parse_mail_url

mail_cli = AppGroup("mail", help="Deliver the mail outbox.")

log = logging.getLogger(__name__)


def _destination() -> str:
    url = current_app.config["SETTINGS"].mail_url
    return str(parse_mail_url(url)) if url else "the log (MAIL_URL is not set)"


@mail_cli.command("worker")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="Seconds between looks at the outbox when it is empty.",
)
def worker_command(interval: float) -> None:
    """Deliver queued messages until stopped (SIGTERM or Ctrl-C finish the
    message under way first). Any number may run at once."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    log.info("mail worker started: delivering to %s", _destination())
    delivery.run_worker(interval=interval, stop=stop)
    log.info("mail worker stopped")


@mail_cli.command("send-pending")
def send_pending_command() -> None:
    """Try every message that is due once, then exit (for cron, or to flush by hand)."""
    total = delivery.PassResult()
    while True:
        result = delivery.send_pending()
        total.sent += result.sent
        total.retrying += result.retrying
        total.failed += result.failed
        if result.handled < delivery.BATCH:
            break
    db.session.remove()
    click.echo(
        f"Sent {total.sent}, will retry {total.retrying}, failed {total.failed} "
        f"(to {_destination()})."
    )
    if total.retrying or total.failed:
        raise SystemExit(1)


@mail_cli.command("status")
def status_command() -> None:
    """How many messages are pending, sent and failed."""
    counts = delivery.counts()
    due = delivery.next_due()
    click.echo(f"pending\t{counts['pending']}")
    click.echo(f"sent\t{counts['sent']}")
    click.echo(f"failed\t{counts['failed']}")
    if counts["pending"] and due is not None:
        click.echo(f"next attempt\t{due.isoformat()}")


def init_app(app: Flask) -> None:
    app.cli.add_command(mail_cli)
