"""Revoking one session many times at once: exactly one request revokes it."""

from __future__ import annotations

import threading

import pytest
from flask import request

from tests.support.races import (
    at_once,
    bearer,
    count_events,
    gunicorn,
    login,
    server_env,
    signup_and_login,
)

pytestmark = pytest.mark.slow

PARALLEL = 50


@pytest.fixture
def server(app, migrated_database, tmp_path):
    with gunicorn(server_env(migrated_database, tmp_path), tmp_path) as server:
        yield server


def test_fifty_revocations_of_one_session_revoke_it_once(server):
    caller = signup_and_login(server, "ada")
    phone = login(server, "ada")
    _, _, sessions = server.request("GET", "/api/v1/tokens", headers=bearer(caller))
    phone_id = next(s["id"] for s in sessions["items"] if not s["current"])

    answers = at_once(
        [
            lambda: server.request("DELETE", f"/api/v1/tokens/{phone_id}", headers=bearer(caller))
            for _ in range(PARALLEL)
        ]
    )

    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [204] + [404] * (PARALLEL - 1)
    for status, headers, body in answers:
        if status == 404:
            assert headers["Content-Type"] == "application/problem+json"
            assert body["detail"] == "No such session."
    assert count_events("session_revoked", target=phone_id) == 1
    assert server.request("GET", "/api/v1/users/me", headers=bearer(phone))[0] == 401


def test_fifty_log_outs_everywhere_record_one_event_with_the_real_count(server):
    tokens = [signup_and_login(server, "ada")] + [login(server, "ada") for _ in range(4)]

    answers = at_once(
        [
            lambda: server.request("DELETE", "/api/v1/tokens", headers=bearer(tokens[0]))
            for _ in range(PARALLEL)
        ]
    )

    # Every request was either first (204) or found its token already revoked
    # (401), or got past authentication just before the winner committed (204).
    assert {status for status, _, _ in answers} <= {204, 401}
    assert sum(status == 204 for status, _, _ in answers) >= 1
    from flaskou.audit.service import list_events

    events = list_events(limit=100, cursor=None, action="session_revoked").items
    assert [(e.target, e.detail["count"]) for e in events] == [("ada", 5)]
    for token in tokens:
        assert server.request("GET", "/api/v1/users/me", headers=bearer(token))[0] == 401


ROUNDS = 6


def test_logout_racing_log_out_everywhere_never_answers_404(app, accounts, monkeypatch):
    """Both requests are held just past authentication, so they always overlap:
    each then tries to revoke the same session."""
    from flaskou.sessions import routes

    both_authenticated = threading.Barrier(2, timeout=10)
    principal_of = routes.current_principal

    def current_principal_together():
        if request.endpoint in ("sessions.logout", "sessions.revoke_all_sessions"):
            both_authenticated.wait()
        return principal_of()

    monkeypatch.setattr(routes, "current_principal", current_principal_together)
    for round_ in range(ROUNDS):
        user = accounts.create(f"ada{round_}")  # one account, one session
        (session,) = accounts.client.get("/api/v1/tokens", headers=user.headers).get_json()["items"]
        logout, everywhere = at_once(
            [
                lambda headers=user.headers: app.test_client().post(
                    "/api/v1/logout", headers=headers
                ),
                lambda headers=user.headers: app.test_client().delete(
                    "/api/v1/tokens", headers=headers
                ),
            ]
        )
        # Whichever revoked it, both callers see their goal reached...
        assert logout.status_code == 204, logout.get_json()
        assert everywhere.status_code == 204, everywhere.get_json()
        assert "Max-Age=0" in logout.headers["Set-Cookie"]  # the cookie is cleared either way
        # ...and the one session was revoked, and audited, once.
        revoked = count_events("logout", target=session["id"]) + count_events(
            "session_revoked", target=user.username
        )
        assert revoked == 1, revoked
        assert accounts.client.get("/api/v1/users/me", headers=user.headers).status_code == 401
