"""Every sign-in renders its answer by hand (`login_document`) rather than
through marshmallow: it must stay the very document `LoginOut` makes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from flaskou.sessions.routes import session_view
from flaskou.sessions.schemas import LoginOut, login_document
from flaskou.sessions.service import IssuedSession
from tests.conftest import DEFAULT_PASSWORD

OPENED = datetime(2026, 11, 25, 6, 30, 1, 234567, tzinfo=UTC)
SESSION = IssuedSession(
    id=uuid.uuid4(),
    description="curl/8.5 from 203.0.113.9 — «quoted»",
    created_at=OPENED,
    last_used_at=OPENED,
    expires_at=OPENED + timedelta(days=14),
)


@pytest.mark.parametrize("token", ["a-token", None])
def test_the_hand_made_login_document_is_the_schemas(token):
    body = {
        "token_type": "Bearer",
        "expires_at": SESSION.expires_at,
        "session": session_view(SESSION, SESSION.id),
    }
    if token is not None:
        body["token"] = token
    assert login_document(SESSION, token) == LoginOut().dump(body)


@pytest.mark.parametrize("cookie", [False, True])
def test_the_route_answers_what_the_schema_makes(client, accounts, cookie):
    accounts.signup("ada")
    answer = client.post(
        "/api/v1/login", json={"username": "ada", "password": DEFAULT_PASSWORD, "cookie": cookie}
    )
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    document = answer.get_json()
    assert ("token" in document) is not cookie
    assert LoginOut().load(document) is not None  # validates against the schema
    assert LoginOut().dump(LoginOut().load(document)) == document
    assert document["session"]["current"] is True
