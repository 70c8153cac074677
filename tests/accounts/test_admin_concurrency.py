"""Two admins demoting each other at the same moment: one must stay admin."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from flaskou.accounts.service import active_admin_count
from flaskou.extensions import db

ROUNDS = 8


def _race(app, calls):
    """Run the calls in threads released together; answer their statuses."""
    barrier = threading.Barrier(len(calls))
    statuses = [None] * len(calls)

    def run(index, method, path, headers):
        client = app.test_client()
        barrier.wait()
        statuses[index] = client.open(path, method=method, headers=headers).status_code

    threads = [threading.Thread(target=run, args=(i, *call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(statuses)


@pytest.mark.slow
@pytest.mark.parametrize(
    "how",
    [
        ("DELETE", "/api/v1/users/{other}/roles/admin"),
        ("DELETE", "/api/v1/users/{other}"),
    ],
)
def test_admins_demoting_each_other_at_once_leave_one_admin(app, accounts, how, monkeypatch):
    from flaskou.accounts import service

    # Hold both requests just after they passed authorization, so they truly
    # overlap: the last-admin rule alone must then keep one admin.
    both_authorized = threading.Barrier(2, timeout=10)
    look_up = service.get_user

    def get_user_together(username):
        both_authorized.wait()
        return look_up(username)

    monkeypatch.setattr(service, "get_user", get_user_together)
    method, template = how
    refused_by_the_guard = 0
    for round_ in range(ROUNDS):
        a = accounts.create_admin(f"a{round_}")
        b = accounts.create_admin(f"b{round_}")
        statuses = _race(
            app,
            [
                (method, template.format(other=b.username), a.headers),
                (method, template.format(other=a.username), b.headers),
            ],
        )
        db.session.remove()
        # One wins; the other, already past authorization, meets the guard.
        assert statuses[0] in (200, 204), statuses
        assert statuses[1] == 409, statuses
        refused_by_the_guard += 1
        assert active_admin_count() == 1
        # next round starts again from no admins
        db.session.execute(text("DELETE FROM user_roles"))
        db.session.commit()
    assert refused_by_the_guard > 0, "the two requests never overlapped"
