"""Putting a message in the outbox, inside the caller's transaction.

`enqueue()` renders the message now (plain text and HTML, from the
templates in this package) and adds it to the current database session
without committing: it is delivered if and only if the caller's change is
committed. The body is sealed (see flaskou.sealing), since a link in it
holds a token that must not be readable from a copy of the database.
"""

from __future__ import annotations

import json
from datetime import datetime
from email.utils import parseaddr
from typing import Any

from flask import current_app
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from flaskou.extensions import db
from flaskou.mail.models import OutboxMessage
from flaskou.models import utcnow
from flaskou.sealing import seal

PRODUCT = "flaskou"
SEAL_PURPOSE = "mail-outbox"

# kind: subject. Each kind has templates/<kind>.txt and templates/<kind>.html.
SUBJECTS = {
    "verify_email": "Confirm your email address for flaskou",
    "password_reset": "Reset your flaskou password",
    "password_changed": "Your flaskou password was changed",
    "password_reset_done": "Your flaskou password was reset",
    "email_changed": "Your flaskou email address was changed",
    "mfa_added": "A second factor was added to your flaskou account",
    "mfa_removed": "A second factor was removed from your flaskou account",
    "api_key_created": "A new API key was created for your flaskou account",
}

_templates = Environment(
    loader=PackageLoader("flaskou.mail", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def _when(moment: datetime) -> str:
    return moment.strftime("%A %d %B %Y at %H:%M UTC")


def render(kind: str, **context: Any) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of a message of this kind."""
    public_url = current_app.config["SETTINGS"].public_url
    values = {
        "product": PRODUCT,
        "public_url": public_url,
        "when": _when(context.pop("at", None) or utcnow()),
        "subject": SUBJECTS[kind],
        **context,
    }
    text = _templates.get_template(f"{kind}.txt").render(values)
    html = _templates.get_template(f"{kind}.html").render(values)
    return SUBJECTS[kind], text, html


def enqueue(recipient: str, kind: str, **context: Any) -> OutboxMessage:
    """Add a message for `recipient` to the current transaction (not committed)."""
    subject, text, html = render(kind, **context)
    body = json.dumps({"text": text, "html": html}).encode()
    message = OutboxMessage(
        kind=kind,
        recipient=recipient,
        subject=subject,
        sealed_body=seal(current_app.config["SECRET_KEY"], SEAL_PURPOSE, body),
        next_attempt_at=utcnow(),
    )
    db.session.add(message)
    return message


def mask(address: str) -> str:
    """j•••@example.com: enough for the owner to recognise an address."""
    local, _, domain = parseaddr(address)[1].partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"
