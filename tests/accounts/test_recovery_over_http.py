"""Verification, password reset and security notices, end to end: HTTP to a
real gunicorn, the delivery worker as its own process, and the messages read
back from a real SMTP server on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from flaskou.accounts.models import AccountToken
from flaskou.extensions import db
from flaskou.mail.models import OutboxMessage
from tests.support.mailstack import start_stack
from tests.support.smtp import link_in, parts, token_in

SIGNUP_LINK = "/verify-email#token="
RESET_LINK = "/reset-password#token="
PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"
FLASK = str(Path(sys.executable).parent / "flask")

pytestmark = [pytest.mark.slow]


@pytest.fixture
def stack_env() -> dict[str, str]:
    return {}


@pytest.fixture
def stack(app, migrated_database, tmp_path, smtp_server, stack_env):
    stack = start_stack(migrated_database, tmp_path, smtp_server, **stack_env)
    yield stack
    stack.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def audit_actions(stack, admin_token: str, action: str) -> list[dict]:
    status, _, body = stack.request(
        "GET", f"/api/v1/audit?action={action}", headers=bearer(admin_token)
    )
    assert status == 200, body
    return list(body["items"])


def test_signup_mails_a_verification_link_that_verifies_once(stack, smtp_server):
    user = stack.signup("ada")
    assert user["email_verified"] is False

    (message,) = smtp_server.wait_for(1)
    assert message["To"] == "ada@example.com"
    assert message["From"] == "flaskou <no-reply@flaskou.example>"
    assert message["Subject"] == "Confirm your email address for flaskou"
    assert message["Message-ID"] and message["Date"]
    text, html = parts(message)
    link = link_in(message, SIGNUP_LINK)
    assert link.startswith(stack.server.base + SIGNUP_LINK)
    assert link in html and "48 hours" in text and "ada@example.com" in text

    token = token_in(message, SIGNUP_LINK)
    status, _, body = stack.request("POST", "/api/v1/verify-email", {"token": token})
    assert status == 200, body
    assert body["username"] == "ada" and body["email_verified"] is True

    status, _, body = stack.request("POST", "/api/v1/verify-email", {"token": token})
    assert status == 400
    assert body["type"].endswith("/invalid-token")


def test_only_hashes_of_tokens_and_sealed_bodies_are_at_rest(app, stack, smtp_server):
    stack.signup("ada")
    smtp_server.wait_for(1)
    stack.worker.stop()  # the next message stays in the outbox, to be looked at
    stack.request("POST", "/api/v1/password-reset", {"email": "ada@example.com"})
    db.session.remove()
    queued = db.session.scalars(select(OutboxMessage).where(OutboxMessage.status == "pending"))
    (reset,) = [message for message in queued if message.kind == "password_reset"]
    hashes = set(db.session.scalars(select(AccountToken.token_hash)))
    assert reset.sealed_body and "reset-password" not in reset.sealed_body
    sent = db.session.scalars(select(OutboxMessage).where(OutboxMessage.status == "sent"))
    assert all(message.sealed_body is None for message in sent)  # erased once sent
    assert all(len(value) == 64 for value in hashes)

    stack.worker.start()
    token = token_in(smtp_server.wait_for(2)[1], RESET_LINK)
    assert token not in hashes


def test_a_password_reset_signs_out_everywhere_and_says_so(stack, smtp_server):
    stack.signup("ada")
    old_session = stack.login("ada")
    smtp_server.wait_for(1)  # the verification link

    status, _, body = stack.request("POST", "/api/v1/password-reset", {"email": "ADA@example.com"})
    assert status == 202, body
    message = smtp_server.wait_for(2)[1]
    assert message["Subject"] == "Reset your flaskou password"
    text, _ = parts(message)
    assert "30 minutes" in text and "127.0.0.1" in text and PASSWORD not in text
    token = token_in(message, RESET_LINK)

    status, _, body = stack.request(
        "POST", "/api/v1/password-reset/confirm", {"token": token, "password": NEW_PASSWORD}
    )
    assert status == 204, body
    assert stack.request("GET", "/api/v1/users/me", headers=bearer(old_session))[0] == 401
    status, _, _ = stack.request("POST", "/api/v1/login", {"username": "ada", "password": PASSWORD})
    assert status == 401
    assert stack.login("ada", NEW_PASSWORD)

    notice = smtp_server.wait_for(3)[2]
    assert notice["Subject"] == "Your flaskou password was reset"
    assert "signed out" in parts(notice)[0]

    status, _, body = stack.request(
        "POST", "/api/v1/password-reset/confirm", {"token": token, "password": "yet another one!"}
    )
    assert status == 400 and body["type"].endswith("/invalid-token")


def test_reset_answers_the_same_for_unknown_addresses_and_mails_only_owners(stack, smtp_server):
    stack.signup("ada")
    smtp_server.wait_for(1)
    known = stack.request("POST", "/api/v1/password-reset", {"email": "ada@example.com"})
    unknown = stack.request("POST", "/api/v1/password-reset", {"email": "nobody@example.com"})
    assert known[0] == unknown[0] == 202
    assert known[2] == unknown[2]
    assert known[1]["Content-Type"] == unknown[1]["Content-Type"]
    smtp_server.wait_for(2)
    time.sleep(1.5)  # the worker has had several passes: nothing for the unknown address
    assert smtp_server.messages_to("nobody@example.com") == []


def test_a_new_reset_link_voids_the_earlier_and_a_password_change_voids_all(stack, smtp_server):
    stack.signup("ada")
    session = stack.login("ada")
    for _ in range(2):
        stack.request("POST", "/api/v1/password-reset", {"email": "ada@example.com"})
    first, second = (token_in(m, RESET_LINK) for m in smtp_server.wait_for(3)[1:3])
    status, _, body = stack.request(
        "POST", "/api/v1/password-reset/confirm", {"token": first, "password": NEW_PASSWORD}
    )
    assert status == 400 and body["type"].endswith("/invalid-token")

    status, _, body = stack.request(
        "PATCH",
        "/api/v1/users/me",
        {"current_password": PASSWORD, "password": NEW_PASSWORD},
        headers=bearer(session),
    )
    assert status == 200, body
    status, _, body = stack.request(
        "POST", "/api/v1/password-reset/confirm", {"token": second, "password": "yet another one!"}
    )
    assert status == 400 and body["type"].endswith("/invalid-token")
    notice = smtp_server.wait_for(4)[3]
    assert notice["Subject"] == "Your flaskou password was changed"
    assert "If it wasn't you" in parts(notice)[0]


def test_a_refused_new_password_leaves_the_link_usable(stack, smtp_server):
    stack.signup("ada")
    stack.request("POST", "/api/v1/password-reset", {"email": "ada@example.com"})
    token = token_in(smtp_server.wait_for(2)[1], RESET_LINK)
    status, _, body = stack.request(
        "POST", "/api/v1/password-reset/confirm", {"token": token, "password": "short"}
    )
    assert status == 422 and "password" in body["errors"]
    status, _, _ = stack.request(
        "POST", "/api/v1/password-reset/confirm", {"token": token, "password": NEW_PASSWORD}
    )
    assert status == 204


def test_an_email_change_asks_the_new_address_and_tells_the_old(stack, smtp_server):
    stack.signup("ada")
    old_link = token_in(smtp_server.wait_for(1)[0], SIGNUP_LINK)
    session = stack.login("ada")
    status, _, body = stack.request(
        "PATCH",
        "/api/v1/users/me",
        {"current_password": PASSWORD, "email": "ada@new.example.org"},
        headers=bearer(session),
    )
    assert status == 200 and body["email_verified"] is False
    smtp_server.wait_for(3)
    (notice,) = smtp_server.messages_to("ada@example.com")[1:]
    assert notice["Subject"] == "Your flaskou email address was changed"
    assert "a•••@new.example.org" in parts(notice)[0]
    (verify,) = smtp_server.messages_to("ada@new.example.org")

    # The link sent to the old address proves nothing about the new one.
    status, _, body = stack.request("POST", "/api/v1/verify-email", {"token": old_link})
    assert status == 400 and body["type"].endswith("/invalid-token")
    status, _, body = stack.request(
        "POST", "/api/v1/verify-email", {"token": token_in(verify, SIGNUP_LINK)}
    )
    assert status == 200 and body["email"] == "ada@new.example.org" and body["email_verified"]


def test_an_admins_email_change_is_told_to_the_old_address_too(stack, smtp_server, tmp_path):
    stack.signup("ada")
    smtp_server.wait_for(1)
    result = subprocess.run(
        [FLASK, "--app", "flaskou", "create-admin", "root", "root@example.com", PASSWORD],
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    root = stack.login("root")
    status, _, body = stack.request(
        "PATCH", "/api/v1/users/ada", {"email": "ada@elsewhere.example.org"}, headers=bearer(root)
    )
    assert status == 200 and body["email_verified"] is False
    smtp_server.wait_for(3)
    (notice,) = smtp_server.messages_to("ada@example.com")[1:]
    assert "by an administrator" in parts(notice)[0]
    (verify,) = smtp_server.messages_to("ada@elsewhere.example.org")
    assert link_in(verify, SIGNUP_LINK)
    # The operator vouched for the admin's own address: verified from the start.
    status, _, body = stack.request("GET", "/api/v1/users/me", headers=bearer(root))
    assert body["email_verified"] is True


def test_resending_a_verification_link(stack, smtp_server):
    stack.signup("ada")
    session = stack.login("ada")
    status, _, body = stack.request(
        "POST", "/api/v1/users/me/verify-email", headers=bearer(session)
    )
    assert status == 202, body
    first, _ = smtp_server.wait_for(2)
    # Both links work until one is used: the user may open either mail.
    status, _, _ = stack.request(
        "POST", "/api/v1/verify-email", {"token": token_in(first, SIGNUP_LINK)}
    )
    assert status == 200
    status, _, body = stack.request(
        "POST", "/api/v1/users/me/verify-email", headers=bearer(session)
    )
    assert status == 409, body


class TestRequired:
    @pytest.fixture
    def stack_env(self):
        return {"EMAIL_VERIFICATION": "required"}

    def test_no_session_until_the_address_is_verified(self, stack, smtp_server):
        stack.signup("ada")
        smtp_server.wait_for(1)
        status, _, body = stack.request(
            "POST", "/api/v1/login", {"username": "ada", "password": PASSWORD}
        )
        assert status == 403 and body["type"].endswith("/email-unverified")
        assert "token" not in body
        # A wrong password still says only "wrong credentials".
        status, _, body = stack.request(
            "POST", "/api/v1/login", {"username": "ada", "password": "not the password"}
        )
        assert status == 401
        # The refused login sent a fresh link.
        fresh = smtp_server.wait_for(2)[1]
        status, _, _ = stack.request(
            "POST", "/api/v1/verify-email", {"token": token_in(fresh, SIGNUP_LINK)}
        )
        assert status == 200
        assert stack.login("ada")


class TestOff:
    @pytest.fixture
    def stack_env(self):
        return {"EMAIL_VERIFICATION": "off"}

    def test_signup_sends_nothing(self, stack, smtp_server):
        stack.signup("ada")
        stack.request("POST", "/api/v1/password-reset", {"email": "ada@example.com"})
        (only,) = smtp_server.wait_for(1)
        assert only["Subject"] == "Reset your flaskou password"
        status, _, body = stack.request("GET", "/api/v1/settings")
        assert status == 200 and body["email_verification"] == "off"


class TestMailLimits:
    """RATE_LIMIT_MAIL per client address and per address mailed. The stack
    trusts one proxy (PROXY_COUNT=1), so each request names its client."""

    @pytest.fixture
    def stack_env(self):
        return {
            "RATE_LIMIT_MAIL": "2 per hour",
            "RATE_LIMIT_SIGNUP": "3 per hour",
            "PROXY_COUNT": "1",
        }

    @staticmethod
    def reset(stack, email, client):
        return stack.request(
            "POST", "/api/v1/password-reset", {"email": email}, headers={"X-Forwarded-For": client}
        )

    def test_per_client_address(self, stack):
        assert self.reset(stack, "a@example.com", "10.0.0.1")[0] == 202
        assert self.reset(stack, "b@example.com", "10.0.0.1")[0] == 202
        status, headers, body = self.reset(stack, "c@example.com", "10.0.0.1")
        assert status == 429 and int(headers["Retry-After"]) > 0
        assert body["type"].endswith("/too-many-requests")
        assert self.reset(stack, "c@example.com", "10.0.0.2")[0] == 202

    def test_per_address_mailed_alike_for_known_and_unknown(self, stack, smtp_server):
        stack.signup("ada")
        answers = {}
        for email in ("ada@example.com", "nobody@example.com"):
            answers[email] = [self.reset(stack, email, f"10.0.1.{n}")[::2] for n in range(3)]
        assert answers["ada@example.com"] == answers["nobody@example.com"]
        assert [status for status, _ in answers["ada@example.com"]] == [202, 202, 429]
        # Two reset links reached ada (and the verification link); nobody got nothing.
        smtp_server.wait_for(3)
        assert len(smtp_server.messages_to("ada@example.com")) == 3

    def test_signups_per_client_address(self, stack):
        for name in ("ada", "bob", "cyd"):
            stack.signup(name)
        status, headers, _ = stack.request(
            "POST",
            "/api/v1/signup",
            {"username": "dee", "email": "dee@example.com", "password": PASSWORD},
        )
        assert status == 429 and "Retry-After" in headers
