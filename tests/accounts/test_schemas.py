"""`GET /users/me` renders its account by hand (`user_document`) rather than
through marshmallow: it must stay the very document `UserOut` makes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from flaskou.accounts.models import AccountSnapshot
from flaskou.accounts.schemas import UserOut, user_document


@pytest.mark.parametrize(
    "account",
    [
        AccountSnapshot(
            id=uuid.uuid4(),
            username="ada",
            email="ada@example.com",
            is_active=True,
            email_verified=False,
            mfa_enabled=False,
            created_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
            updated_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            role_names=(),
        ),
        AccountSnapshot(
            id=uuid.uuid4(),
            username="zoë-admin",
            email="zoe@exämple.org",
            is_active=False,
            email_verified=True,
            mfa_enabled=True,
            created_at=datetime(2026, 11, 25, 0, 0, tzinfo=UTC),
            updated_at=datetime(2026, 11, 25, 23, 59, 59, 1, tzinfo=UTC),
            role_names=("admin", "editor"),
        ),
    ],
)
def test_the_hand_made_user_document_is_the_schemas(account):
    assert user_document(account) == UserOut().dump(account)


def test_the_route_answers_what_the_schema_makes(app, client, accounts):
    ada = accounts.create()
    answer = client.get("/api/v1/users/me", headers=ada.headers)
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    with app.app_context():
        from flaskou.accounts.models import User
        from flaskou.extensions import db

        user = db.session.get(User, uuid.UUID(ada.id))
        assert answer.get_json() == UserOut().dump(user)
