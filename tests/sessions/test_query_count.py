"""A guarded request asks the database once: the session, its user and the
user's roles come back in one statement, with no transaction around it (the
authenticated path's floor).

Counted at the driver (tests/support/statements.py), as the database sees it.
"""

from __future__ import annotations

from flaskou.extensions import db
from tests.support.statements import statements_sent


def test_an_authenticated_read_is_one_statement(app, client, accounts):
    ada = accounts.create("ada")
    admin = accounts.create_admin("root")
    for account in (ada, admin):
        client.get("/api/v1/users/me", headers=account.headers)  # last_used_at is fresh now
        with statements_sent() as sent:
            response = client.get("/api/v1/users/me", headers=account.headers)
        assert response.status_code == 200
        assert len(sent) == 1, sent
    me = client.get("/api/v1/users/me", headers=admin.headers).get_json()
    assert me["roles"] == ["admin"]  # the joined roles are the real ones


def test_a_route_that_changes_the_account_still_sees_the_same_caller(app, client, accounts):
    ada = accounts.create("ada")
    response = client.patch(
        "/api/v1/users/me",
        json={"email": "ada.new@example.com", "current_password": ada.password},
        headers=ada.headers,
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["email"] == "ada.new@example.com"
    assert client.get("/api/v1/users/me", headers=ada.headers).get_json()["email"] == (
        "ada.new@example.com"
    )


def test_listing_files_is_the_lookup_and_the_page(app, client, accounts):
    ada = accounts.create("ada")
    client.get("/api/v1/users/me", headers=ada.headers)  # last_used_at is fresh now
    with statements_sent() as sent:
        response = client.get("/api/v1/files", headers=ada.headers)
    assert response.status_code == 200
    # Ownership is checked against the caller the lookup read: no query for
    # the account itself. The lookup, then the page (on PostgreSQL the ORM
    # session's transaction begins with a BEGIN of its own).
    expected = 2 if db.engine.dialect.name == "sqlite" else 3
    assert len(sent) == expected, sent


def test_signing_in_clears_expired_sessions_by_a_range_of_the_users_index(app, client, accounts):
    """The sign-in's purge reads only the user's expired sessions, however many
    live ones the user holds (on an index of user_id alone it read them all)."""
    from datetime import timedelta

    from sqlalchemy import select, update

    from flaskou.models import utcnow
    from flaskou.sessions.models import LoginSession
    from flaskou.sessions.service import _PURGE

    ada = accounts.create("ada")
    credentials = {"username": "ada", "password": ada.password}
    for _ in range(3):
        assert client.post("/api/v1/login", json=credentials).status_code == 200
    with app.app_context():
        ids = db.session.scalars(select(LoginSession.id).order_by(LoginSession.created_at)).all()
        db.session.execute(
            update(LoginSession)
            .where(LoginSession.id == ids[0])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
        if db.engine.dialect.name == "sqlite":
            statement = _PURGE.sql(db.engine.dialect)
            plan = db.session.connection().exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", ("0" * 32, "2026-01-01")
            )
            assert "ix_sessions_user_id_expires_at (user_id=? AND expires_at<?)" in str(plan.all())
    assert client.post("/api/v1/login", json=credentials).status_code == 200
    with app.app_context():
        left = set(db.session.scalars(select(LoginSession.id)).all())
    assert ids[0] not in left
    assert set(ids[1:]) <= left
    assert len(left) == len(ids)  # the expired one went, the new one came
