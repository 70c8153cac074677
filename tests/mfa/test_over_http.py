"""Second factors over HTTP against gunicorn: real TOTP codes (pyotp), real
WebAuthn ceremonies from a software authenticator (real ES256 keys and
signatures, verified by the server for real), notices read from a real SMTP
server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import update

from flaskou.extensions import db
from flaskou.mfa.models import Challenge
from flaskou.models import utcnow
from tests.support.mailstack import PASSWORD, start_stack
from tests.support.webauthn import SoftAuthenticator

pytestmark = [pytest.mark.slow]

FLASK = str(Path(sys.executable).parent / "flask")


@pytest.fixture
def stack(app, migrated_database, tmp_path, smtp_server):
    stack = start_stack(migrated_database, tmp_path, smtp_server)
    yield stack
    stack.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def step_code(secret: str, offset: int = 0) -> str:
    totp = pyotp.TOTP(secret)
    return totp.at(time.time() + offset * 30)


def enrol_totp(stack, token: str) -> tuple[str, list[str]]:
    status, _, body = stack.request(
        "POST", "/api/v1/users/me/mfa/totp", {"current_password": PASSWORD}, headers=bearer(token)
    )
    assert status == 200, body
    secret = body["secret"]
    status, _, body = stack.request(
        "POST",
        "/api/v1/users/me/mfa/totp/confirm",
        {"code": step_code(secret, -1)},
        headers=bearer(token),
    )
    assert status == 200, body
    return secret, body["recovery_codes"]


def password_step(stack, name: str = "ada") -> dict:
    status, _, body = stack.request(
        "POST", "/api/v1/login", {"username": name, "password": PASSWORD}
    )
    assert status == 401, body
    assert body["type"].endswith("/mfa-required")
    return body


def mfa(stack, token: str, **factor):
    return stack.request("POST", "/api/v1/login/mfa", {"mfa_token": token, **factor})


def test_enrolling_an_authenticator_app(stack, smtp_server):
    stack.signup("ada")
    token = stack.login("ada")
    status, _, body = stack.request(
        "POST", "/api/v1/users/me/mfa/totp", {"current_password": "wrong"}, headers=bearer(token)
    )
    assert status == 403
    status, _, body = stack.request(
        "POST", "/api/v1/users/me/mfa/totp", {"current_password": PASSWORD}, headers=bearer(token)
    )
    assert status == 200
    secret = body["secret"]
    assert body["otpauth_uri"] == pyotp.TOTP(secret).provisioning_uri(
        name="ada", issuer_name="flaskou"
    )
    assert body["qr_svg"].startswith("<svg") and "xmlns" in body["qr_svg"]

    status, _, body = stack.request(
        "POST", "/api/v1/users/me/mfa/totp/confirm", {"code": "000000"}, headers=bearer(token)
    )
    assert status == 422 and "code" in body["errors"]
    status, _, body = stack.request(
        "POST",
        "/api/v1/users/me/mfa/totp/confirm",
        {"code": step_code(secret)},
        headers=bearer(token),
    )
    assert status == 200
    codes = body["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(len(code) == 11 and code[5] == "-" for code in codes)

    status, _, body = stack.request("GET", "/api/v1/users/me/mfa", headers=bearer(token))
    assert body == {"totp": True, "passkeys": [], "recovery_codes_left": 10}
    assert stack.request("GET", "/api/v1/users/me", headers=bearer(token))[2]["mfa_enabled"]
    status, _, _ = stack.request(
        "POST", "/api/v1/users/me/mfa/totp", {"current_password": PASSWORD}, headers=bearer(token)
    )
    assert status == 409

    notices = [m for m in smtp_server.wait_for(2) if "second factor" in m["Subject"]]
    assert notices and "an authenticator app" in notices[0].get_body(("plain",)).get_content()


def test_sign_in_with_a_code_once_and_never_the_same_code_twice(stack):
    stack.signup("ada")
    secret, _ = enrol_totp(stack, stack.login("ada"))
    first = password_step(stack)
    assert set(first["methods"]) == {"totp", "recovery_code"}
    assert first["mfa_token"]

    # The code used to confirm the app (previous step) is spent.
    status, _, body = mfa(stack, first["mfa_token"], code=step_code(secret, -1))
    assert status == 401 and body["type"].endswith("/mfa-failed")
    status, _, body = mfa(stack, first["mfa_token"], code=step_code(secret))
    assert status == 200 and body["token"]
    status, _, body = mfa(stack, first["mfa_token"], code=step_code(secret, 1))
    assert status == 401 and body["type"].endswith("/mfa-token-invalid")  # single use

    second = password_step(stack)
    status, _, body = mfa(stack, second["mfa_token"], code=step_code(secret))
    assert status == 401 and body["type"].endswith("/mfa-failed")  # replay of that step
    status, _, body = mfa(stack, second["mfa_token"], code=step_code(secret, 1))  # drift +1
    assert status == 200


def test_a_recovery_code_works_once(stack):
    stack.signup("ada")
    _, codes = enrol_totp(stack, stack.login("ada"))
    attempt = password_step(stack)
    status, _, body = mfa(stack, attempt["mfa_token"], recovery_code=codes[3].upper())
    assert status == 200, body
    left = stack.request("GET", "/api/v1/users/me/mfa", headers=bearer(body["token"]))[2]
    assert left["recovery_codes_left"] == 9
    again = password_step(stack)
    status, _, _ = mfa(stack, again["mfa_token"], recovery_code=codes[3])
    assert status == 401


def test_five_failures_void_the_attempt(stack):
    stack.signup("ada")
    secret, _ = enrol_totp(stack, stack.login("ada"))
    attempt = password_step(stack)
    for n in range(5):
        status, _, body = mfa(stack, attempt["mfa_token"], code="000000")
        assert status == 401 and body["type"].endswith("/mfa-failed"), (n, body)
    status, _, body = mfa(stack, attempt["mfa_token"], code=step_code(secret))
    assert status == 401 and body["type"].endswith("/mfa-token-invalid")


def test_an_expired_attempt_is_refused(app, stack):
    stack.signup("ada")
    secret, _ = enrol_totp(stack, stack.login("ada"))
    attempt = password_step(stack)
    db.session.execute(update(Challenge).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    status, _, body = mfa(stack, attempt["mfa_token"], code=step_code(secret))
    assert status == 401 and body["type"].endswith("/mfa-token-invalid")


def test_exactly_one_factor_per_attempt(stack):
    status, _, _ = stack.request(
        "POST", "/api/v1/login/mfa", {"mfa_token": "x", "code": "1", "recovery_code": "2"}
    )
    assert status == 422


def test_removing_the_app_turns_second_factors_off(stack):
    stack.signup("ada")
    token = stack.login("ada")
    enrol_totp(stack, token)
    remove = {"current_password": "wrong"}
    status, _, _ = stack.request(
        "DELETE", "/api/v1/users/me/mfa/totp", remove, headers=bearer(token)
    )
    assert status == 403
    remove["current_password"] = PASSWORD
    status, _, _ = stack.request(
        "DELETE", "/api/v1/users/me/mfa/totp", remove, headers=bearer(token)
    )
    assert status == 204
    status, _, body = stack.request("GET", "/api/v1/users/me/mfa", headers=bearer(token))
    assert body == {"totp": False, "passkeys": [], "recovery_codes_left": 0}
    assert stack.login("ada")
    status, _, _ = stack.request(
        "DELETE", "/api/v1/users/me/mfa/totp", remove, headers=bearer(token)
    )
    assert status == 404


def add_passkey(stack, token: str, device: SoftAuthenticator, name: str = "laptop", **options):
    status, _, creation = stack.request(
        "POST",
        "/api/v1/users/me/passkeys/options",
        {"current_password": PASSWORD},
        headers=bearer(token),
    )
    assert status == 200, creation
    assert creation["authenticatorSelection"]["residentKey"] == "required"
    assert creation["authenticatorSelection"]["userVerification"] == "required"
    credential = device.create(creation, **options)
    return stack.request(
        "POST",
        "/api/v1/users/me/passkeys",
        {"name": name, "credential": credential},
        headers=bearer(token),
    )


def passkey_login(stack, device: SoftAuthenticator, **options):
    status, _, request_options = stack.request("POST", "/api/v1/login/passkey/options")
    assert status == 200, request_options
    assert request_options["userVerification"] == "required"
    assertion = device.get(request_options, **options)
    return stack.request("POST", "/api/v1/login/passkey", {"credential": assertion}), assertion


def test_a_passkey_is_a_whole_sign_in(stack):
    stack.signup("ada")
    token = stack.login("ada")
    device = SoftAuthenticator(origin=stack.server.base)
    status, _, body = add_passkey(stack, token, device)
    assert status == 201, body
    assert len(body["recovery_codes"]) == 10  # the first second factor
    passkey_id = body["id"]

    (status, _, body), assertion = passkey_login(stack, device)
    assert status == 200 and body["token"]
    listed = stack.request("GET", "/api/v1/users/me/passkeys", headers=bearer(body["token"]))[2]
    assert [p["id"] for p in listed["items"]] == [passkey_id]
    assert listed["items"][0]["last_used_at"]

    # The same assertion again: its challenge is spent.
    status, _, _ = stack.request("POST", "/api/v1/login/passkey", {"credential": assertion})
    assert status == 401

    status, _, body = stack.request(
        "PATCH",
        f"/api/v1/users/me/passkeys/{passkey_id}",
        {"name": "work laptop"},
        headers=bearer(token),
    )
    assert status == 200 and body["name"] == "work laptop"


def test_a_passkey_as_the_second_factor_in_cookie_mode(stack):
    stack.signup("ada")
    device = SoftAuthenticator(origin=stack.server.base)
    add_passkey(stack, stack.login("ada"), device)
    attempt = password_step(stack)
    assert "passkey" in attempt["methods"]
    status, _, options = stack.request(
        "POST", "/api/v1/login/mfa/passkey-options", {"mfa_token": attempt["mfa_token"]}
    )
    assert status == 200 and options["allowCredentials"]
    status, headers, body = stack.request(
        "POST",
        "/api/v1/login/mfa",
        {"mfa_token": attempt["mfa_token"], "credential": device.get(options), "cookie": True},
    )
    assert status == 200 and "token" not in body
    assert "HttpOnly" in headers["Set-Cookie"]


@pytest.mark.parametrize("wrong", ["origin", "challenge", "user_verification"])
def test_a_registration_that_does_not_verify_creates_nothing(stack, wrong):
    stack.signup("ada")
    token = stack.login("ada")
    device = SoftAuthenticator(origin=stack.server.base)
    options = {
        "origin": {"origin": "http://evil.example"},
        "challenge": {"challenge": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
        "user_verification": {"user_verified": False},
    }[wrong]
    status, _, body = add_passkey(stack, token, device, **options)
    assert status == 422, body
    listed = stack.request("GET", "/api/v1/users/me/passkeys", headers=bearer(token))[2]
    assert listed["items"] == []
    assert (
        stack.request("GET", "/api/v1/users/me", headers=bearer(token))[2]["mfa_enabled"] is False
    )


def test_a_cloned_authenticator_is_refused_and_audited(stack):
    stack.signup("ada")
    token = stack.login("ada")
    device = SoftAuthenticator(origin=stack.server.base)
    add_passkey(stack, token, device)
    clone = device.clone()
    for _ in range(2):
        (status, _, _), _ = passkey_login(stack, device)
        assert status == 200
    (status, _, _), _ = passkey_login(stack, clone)  # its counter is behind
    assert status == 401
    (status, _, _), _ = passkey_login(stack, device, origin="http://evil.example")
    assert status == 401
    result = subprocess.run(
        [FLASK, "--app", "flaskou", "create-admin", "root", "root@example.com", PASSWORD],
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    root = stack.login("root")
    events = stack.request("GET", "/api/v1/audit?action=mfa_failed", headers=bearer(root))[2]
    reasons = sorted(event["detail"]["reason"] for event in events["items"])
    assert reasons == ["invalid", "sign_count_went_back"]


def test_an_admin_resets_a_locked_out_users_factors(stack):
    stack.signup("ada")
    enrol_totp(stack, stack.login("ada"))
    password_step(stack)
    result = subprocess.run(
        [FLASK, "--app", "flaskou", "create-admin", "root", "root@example.com", PASSWORD],
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    root = stack.login("root")
    assert stack.request("DELETE", "/api/v1/users/nobody/mfa", headers=bearer(root))[0] == 404
    assert stack.request("DELETE", "/api/v1/users/ada/mfa", headers=bearer(root))[0] == 204
    assert stack.login("ada")  # the password alone again
    events = stack.request("GET", "/api/v1/audit?action=mfa_reset", headers=bearer(root))[2]
    assert [event["target"] for event in events["items"]] == ["ada"]


def test_the_command_line_resets_second_factors(stack):
    stack.signup("ada")
    enrol_totp(stack, stack.login("ada"))
    result = subprocess.run(
        [FLASK, "--app", "flaskou", "users", "reset-mfa", "ada"],
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert stack.login("ada")
    result = subprocess.run(
        [FLASK, "--app", "flaskou", "users", "reset-mfa", "nobody"],
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and "nobody" in result.stderr


def test_a_credential_is_opaque_to_the_nul_rule_and_refused_by_the_verifier(stack):
    # The WebAuthn objects are free-form (the standard defines them); what is
    # wrong in one, NUL included, is the verifier's to refuse: 401, never 422.
    credential = {"id": "a\u0000b", "rawId": "a\u0000b", "response": {"x\u0000": "\u0000"}}
    status, _, body = stack.request("POST", "/api/v1/login/passkey", {"credential": credential})
    assert status == 401, body
    status, _, body = stack.request(
        "POST", "/api/v1/login/passkey", {"credential": {}, "cookie": "\u0000"}
    )
    assert status == 422, body  # outside the credential, the rule holds
