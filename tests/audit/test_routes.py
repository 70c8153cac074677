from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import select

from flaskou.audit.models import AuditEvent
from flaskou.extensions import db
from tests.conftest import DEFAULT_PASSWORD
from tests.support.problems import assert_problem

AUDIT = "/api/v1/audit"


@pytest.fixture
def admin(accounts):
    return accounts.create_admin("root")


def every_event(client, headers, **filters):
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    items, url = [], f"{AUDIT}?limit=100&{query}"
    while True:
        page = client.get(url, headers=headers).get_json()
        items += page["items"]
        if not page["next_cursor"]:
            return items
        url = f"{AUDIT}?limit=100&{query}&cursor={page['next_cursor']}"


def test_every_listed_action_is_recorded_without_secrets(client, admin, accounts):
    ada = accounts.create("ada")  # signup + login
    client.post("/api/v1/login", json={"username": "ada", "password": "wrong password"})
    client.post("/api/v1/login", json={"username": "nobody", "password": "whatever pw"})
    second = accounts.login("ada")
    session_id = next(
        s["id"]
        for s in client.get("/api/v1/tokens", headers=ada.headers).get_json()["items"]
        if not s["current"]
    )
    client.delete(f"/api/v1/tokens/{session_id}", headers=ada.headers)
    client.patch(
        "/api/v1/users/me",
        headers=ada.headers,
        json={
            "email": "ada2@example.com",
            "password": "another secret",
            "current_password": DEFAULT_PASSWORD,
        },
    )
    client.post("/api/v1/logout", headers=ada.headers)
    client.post("/api/v1/roles", json={"name": "editor", "description": "x"}, headers=admin.headers)
    client.patch("/api/v1/roles/editor", json={"description": "y"}, headers=admin.headers)
    client.post("/api/v1/users/ada/roles/editor", headers=admin.headers)
    client.delete("/api/v1/users/ada/roles/editor", headers=admin.headers)
    client.delete("/api/v1/roles/editor", headers=admin.headers)
    client.patch("/api/v1/users/ada", json={"is_active": False}, headers=admin.headers)
    bob = accounts.create("bob")
    client.delete("/api/v1/users/me", json={"current_password": bob.password}, headers=bob.headers)
    accounts.create("carl")
    client.delete("/api/v1/users/carl", headers=admin.headers)

    events = every_event(client, admin.headers)
    actions = {e["action"] for e in events}
    assert actions >= {
        "signup",
        "login",
        "login_failed",
        "logout",
        "session_revoked",
        "password_changed",
        "email_changed",
        "account_deleted",
        "user_updated",
        "user_deleted",
        "role_created",
        "role_updated",
        "role_deleted",
        "role_granted",
        "role_revoked",
    }
    for event in events:
        assert set(event) == {"id", "at", "actor", "action", "target", "ip", "detail"}
        assert event["at"].endswith("+00:00")
        assert event["ip"]
    granted = next(e for e in events if e["action"] == "role_granted" and e["target"] == "ada")
    assert (granted["actor"], granted["detail"]) == ("root", {"role": "editor"})
    assert granted["ip"] == "127.0.0.1"

    stored = json.dumps([e for e in events])
    for secret in [
        DEFAULT_PASSWORD,
        "wrong password",
        "whatever pw",
        "another secret",
        ada.token,
        second,
        bob.token,
        admin.token,
    ]:
        assert secret not in stored
    raw = db.session.scalars(select(AuditEvent)).all()
    assert DEFAULT_PASSWORD not in repr([(r.detail, r.target) for r in raw])


def test_newest_first_with_filters(client, admin, accounts):
    accounts.create("ada")
    client.post("/api/v1/login", json={"username": "ada", "password": "wrong password"})
    events = every_event(client, admin.headers)
    assert [e["at"] for e in events] == sorted((e["at"] for e in events), reverse=True)

    failed = every_event(client, admin.headers, action="login_failed")
    assert [e["target"] for e in failed] == ["ada"]
    by_ada = every_event(client, admin.headers, actor="ada")
    assert {e["action"] for e in by_ada} == {"signup", "login", "login_failed"}


def test_invalid_queries(client, admin):
    assert_problem(client.get(f"{AUDIT}?action=teleported", headers=admin.headers), 422)
    assert_problem(client.get(f"{AUDIT}?limit=0", headers=admin.headers), 422)
    assert_problem(client.get(f"{AUDIT}?cursor=%%%", headers=admin.headers), 422)


def test_only_admins_read_the_trail(client, accounts, admin):
    ada = accounts.create("ada")
    assert_problem(client.get(AUDIT, headers=ada.headers), 403)
    assert_problem(client.get(AUDIT), 401)


def test_pages_have_no_gaps_or_duplicates_while_events_arrive(app, client, admin, accounts):
    from flaskou.audit.service import Actor, record

    accounts.create("ada")
    for _ in range(30):
        client.post("/api/v1/login", json={"username": "ada", "password": "wrong password"})
    before = {e["id"] for e in every_event(client, admin.headers)}

    stop = threading.Event()

    def keep_inserting():
        with app.app_context():
            while not stop.is_set():
                record(Actor(user=None, ip="10.9.9.9"), "login_failed", reason="noise")
                db.session.commit()
            db.session.remove()

    writer = threading.Thread(target=keep_inserting)
    writer.start()
    try:
        seen, url = [], f"{AUDIT}?limit=7"
        while True:
            page = client.get(url, headers=admin.headers).get_json()
            seen += [e["id"] for e in page["items"]]
            if not page["next_cursor"]:
                break
            url = f"{AUDIT}?limit=7&cursor={page['next_cursor']}"
    finally:
        stop.set()
        writer.join()
    assert len(seen) == len(set(seen))
    assert before <= set(seen)
