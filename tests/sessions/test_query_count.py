"""A guarded request asks the database once: the session, its user and the
user's roles come back in one query (the authenticated path's floor)."""

from __future__ import annotations

from sqlalchemy import event

from flaskou.extensions import db


def statements_of(client, headers) -> tuple[int, list[str]]:
    """The status of an authenticated GET /users/me and the SQL it ran."""
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        response = client.get("/api/v1/users/me", headers=headers)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return response.status_code, statements


def test_an_authenticated_read_is_one_query(app, client, accounts):
    ada = accounts.create("ada")
    admin = accounts.create_admin("root")
    for account in (ada, admin):
        client.get("/api/v1/users/me", headers=account.headers)  # last_used_at is fresh now
        status, statements = statements_of(client, account.headers)
        assert status == 200
        assert len(statements) == 1, statements
    me = client.get("/api/v1/users/me", headers=admin.headers).get_json()
    assert me["roles"] == ["admin"]  # the joined roles are the real ones
