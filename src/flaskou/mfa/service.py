"""Second-factor rules: enrolment, verification, recovery codes, passkey
ceremonies, and the short-lived MFA sign-in attempt.

Every secret at rest is protected: the TOTP secret is sealed with a key
derived from SECRET_KEY (flaskou.sealing), recovery codes and `mfa_token`s
are kept as SHA-256, and a passkey is a public key. Everything that must work
once (a TOTP time step, a recovery code, a challenge, an `mfa_token`) is
spent by a conditional UPDATE or DELETE, so of racing requests one wins.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pyotp
import segno
import webauthn
from flask import current_app
from sqlalchemy import delete, func, or_, select, update
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, options_to_json_dict
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from flaskou.accounts import recovery
from flaskou.accounts.models import User
from flaskou.accounts.service import require_password
from flaskou.audit.service import Actor, record, rows_changed
from flaskou.errors import (
    Conflict,
    MfaFailed,
    MfaTokenInvalid,
    NotFound,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
)
from flaskou.extensions import db
from flaskou.mfa.models import (
    MFA_SIGN_IN,
    PASSKEY_REGISTRATION,
    PASSKEY_SIGN_IN,
    Challenge,
    Passkey,
    RecoveryCode,
    TotpFactor,
)
from flaskou.models import key_or_not_found, utcnow
from flaskou.sealing import open_sealed, seal
from flaskou.throttling import allowance_left, login_limit, spend_allowance

ISSUER = "flaskou"
TOTP_SEAL = "totp-secret"
TOTP_PERIOD = 30
CHALLENGE_TTL = timedelta(minutes=5)
MAX_FAILURES = 5
RECOVERY_CODES = 10
# Crockford's base32: no I, L, O or U to misread; 10 characters = 50 bits.
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_READ_AS = str.maketrans({"o": "0", "i": "1", "l": "1"})


def _settings() -> Any:  # flaskou.settings.Settings (above the domains)
    return current_app.config["SETTINGS"]


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


# --- status -------------------------------------------------------------------


def _confirmed_totp(user: User) -> TotpFactor | None:
    return db.session.scalar(
        select(TotpFactor).where(
            TotpFactor.user_id == user.id, TotpFactor.confirmed_at.is_not(None)
        )
    )


def passkeys_of(user: User) -> list[Passkey]:
    return list(
        db.session.scalars(
            select(Passkey).where(Passkey.user_id == user.id).order_by(Passkey.created_at)
        )
    )


def status(user: User) -> dict[str, Any]:
    left = db.session.scalar(
        select(func.count()).select_from(RecoveryCode).where(RecoveryCode.user_id == user.id)
    )
    return {
        "totp": _confirmed_totp(user) is not None,
        "passkeys": passkeys_of(user),
        "recovery_codes_left": int(left or 0),
    }


def methods(user: User) -> list[str]:
    found = []
    if _confirmed_totp(user) is not None:
        found.append("totp")
    if passkeys_of(user):
        found.append("passkey")
    if db.session.scalar(select(RecoveryCode.id).where(RecoveryCode.user_id == user.id).limit(1)):
        found.append("recovery_code")
    return found


def _refresh_enabled(user: User, *, actor: Actor) -> None:
    """mfa_enabled follows the factors; with none left, the codes go too."""
    enabled = bool(_confirmed_totp(user) is not None or passkeys_of(user))
    if enabled == user.mfa_enabled:
        return
    user.mfa_enabled = enabled
    if not enabled:
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        record(actor, "mfa_disabled", target=user.username)
    else:
        record(actor, "mfa_enabled", target=user.username)


# --- recovery codes -------------------------------------------------------------


def _new_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def normalize_code(code: str) -> str:
    return "".join(code.lower().split()).replace("-", "").translate(_READ_AS)


def _issue_recovery_codes(user: User, *, actor: Actor) -> list[str]:
    """A fresh set of codes (the old ones are void), uncommitted; shown once."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_new_code() for _ in range(RECOVERY_CODES)]
    for code in codes:
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_sha256(normalize_code(code))))
    record(actor, "recovery_codes_generated", target=user.username, count=len(codes))
    return codes


def regenerate_recovery_codes(user: User, *, current_password: str, actor: Actor) -> list[str]:
    require_password(user, current_password)
    if not user.mfa_enabled:
        raise Conflict("Recovery codes come with a second factor; add one first.")
    codes = _issue_recovery_codes(user, actor=actor)
    db.session.commit()
    return codes


def _spend_recovery_code(user: User, code: str) -> bool:
    result = db.session.execute(
        delete(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _sha256(normalize_code(code)),
        )
    )
    return rows_changed(result) == 1


# --- TOTP ------------------------------------------------------------------------


def _totp_secret(row: TotpFactor) -> str:
    return open_sealed(current_app.config["SECRET_KEY"], TOTP_SEAL, row.sealed_secret).decode()


def _qr_svg(uri: str) -> str:
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(
        buffer, kind="svg", scale=4, border=2, xmldecl=False, title="Authenticator app QR code"
    )
    return buffer.getvalue().decode()


def start_totp(user: User, *, current_password: str) -> dict[str, str]:
    """A new secret, pending until confirmed (replacing a pending one)."""
    require_password(user, current_password)
    if _confirmed_totp(user) is not None:
        raise Conflict("An authenticator app is already set up; remove it first.")
    secret = pyotp.random_base32()
    db.session.execute(delete(TotpFactor).where(TotpFactor.user_id == user.id))
    db.session.add(
        TotpFactor(
            user_id=user.id,
            sealed_secret=seal(current_app.config["SECRET_KEY"], TOTP_SEAL, secret.encode()),
        )
    )
    db.session.commit()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
    return {"secret": secret, "otpauth_uri": uri, "qr_svg": _qr_svg(uri)}


def _use_totp_code(row: TotpFactor, code: str, now: datetime) -> bool:
    """The code matches a step within ±1 of now that is later than the last
    one used; that step is then used up (conditionally, against races)."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return False
    totp = pyotp.TOTP(_totp_secret(row))
    current = int(now.timestamp()) // TOTP_PERIOD
    for step in (current - 1, current, current + 1):
        if not hmac.compare_digest(totp.generate_otp(step), code):
            continue
        result = db.session.execute(
            update(TotpFactor)
            .where(
                TotpFactor.user_id == row.user_id,
                or_(TotpFactor.last_step.is_(None), TotpFactor.last_step < step),
            )
            .values(last_step=step)
            .execution_options(synchronize_session=False)
        )
        return rows_changed(result) == 1
    return False


def confirm_totp(user: User, *, code: str, actor: Actor) -> list[str]:
    row = db.session.scalar(
        select(TotpFactor).where(TotpFactor.user_id == user.id, TotpFactor.confirmed_at.is_(None))
    )
    if row is None or not _use_totp_code(row, code, utcnow()):
        db.session.rollback()
        raise ValidationFailed(
            "That code is not right.",
            errors={"code": ["Enter the current 6-digit code from the app (set it up first)."]},
        )
    row.confirmed_at = utcnow()
    db.session.flush()
    _refresh_enabled(user, actor=actor)
    codes = _issue_recovery_codes(user, actor=actor)
    recovery.notify(user, "mfa_added", actor=actor, factor="an authenticator app")
    db.session.commit()
    return codes


def disable_totp(user: User, *, current_password: str, actor: Actor) -> None:
    require_password(user, current_password)
    result = db.session.execute(
        delete(TotpFactor).where(
            TotpFactor.user_id == user.id, TotpFactor.confirmed_at.is_not(None)
        )
    )
    if rows_changed(result) != 1:
        db.session.rollback()
        raise NotFound("No authenticator app is set up.")
    _refresh_enabled(user, actor=actor)
    recovery.notify(user, "mfa_removed", actor=actor, factor="the authenticator app")
    db.session.commit()


# --- WebAuthn ----------------------------------------------------------------------


def relying_party() -> tuple[str, str]:
    """(RP id, expected origin): WEBAUTHN_RP_ID and PUBLIC_URL's origin."""
    settings = _settings()
    parts = urlsplit(settings.public_url)
    return settings.webauthn_rp_id, f"{parts.scheme}://{parts.netloc}"


_BASE64URL = re.compile(r"[A-Za-z0-9_-]{1,1400}")


def _base64url_or_empty(value: Any) -> str:
    """`value` if it is base64url text (all a credential id or a challenge
    can be), else "": nothing else reaches a query."""
    return value if isinstance(value, str) and _BASE64URL.fullmatch(value) else ""


def _challenge_of(credential: dict[str, Any]) -> str:
    """The challenge a credential's clientDataJSON signed (base64url)."""
    try:
        raw = base64url_to_bytes(credential["response"]["clientDataJSON"])
        value = json.loads(raw)["challenge"]
    except (KeyError, TypeError, ValueError):
        return ""
    return _base64url_or_empty(value)


def _new_challenge(purpose: str, user: User | None, *, token_hash: str | None = None) -> Challenge:
    now = utcnow()
    # Expired attempts are dead weight; clear them while we are here.
    db.session.execute(delete(Challenge).where(Challenge.expires_at <= now))
    row = Challenge(
        purpose=purpose,
        user_id=user.id if user else None,
        token_hash=token_hash,
        challenge=bytes_to_base64url(secrets.token_bytes(32)),
        created_at=now,
        expires_at=now + CHALLENGE_TTL,
    )
    db.session.add(row)
    return row


def _take_challenge(purpose: str, value: str, user: User | None = None) -> Challenge | None:
    """The live challenge with this value, spent (deleted, uncommitted)."""
    if not value:
        return None
    query = select(Challenge).where(
        Challenge.purpose == purpose, Challenge.challenge == value, Challenge.expires_at > utcnow()
    )
    if user is not None:
        query = query.where(Challenge.user_id == user.id)
    row = db.session.scalar(query)
    if row is None:
        return None
    result = db.session.execute(delete(Challenge).where(Challenge.id == row.id))
    return row if rows_changed(result) == 1 else None


def registration_options(user: User, *, current_password: str) -> dict[str, Any]:
    require_password(user, current_password)
    rp_id, _ = relying_party()
    row = _new_challenge(PASSKEY_REGISTRATION, user)
    options = webauthn.generate_registration_options(
        rp_id=rp_id,
        rp_name=ISSUER,
        user_name=user.username,
        user_id=user.id.bytes,
        user_display_name=user.username,
        challenge=base64url_to_bytes(row.challenge or ""),
        timeout=int(CHALLENGE_TTL.total_seconds() * 1000),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id))
            for p in passkeys_of(user)
        ],
    )
    db.session.commit()
    return dict(options_to_json_dict(options))


def add_passkey(
    user: User, *, name: str, credential: dict[str, Any], actor: Actor
) -> tuple[Passkey, list[str] | None]:
    rp_id, origin = relying_party()
    row = _take_challenge(PASSKEY_REGISTRATION, _challenge_of(credential), user)
    refused = ValidationFailed(
        "The passkey could not be verified; start again.",
        errors={"credential": ["Not a valid answer to a live registration challenge."]},
    )
    if row is None:
        db.session.rollback()
        raise refused
    try:
        verified = webauthn.verify_registration_response(
            credential=credential,
            expected_challenge=base64url_to_bytes(row.challenge or ""),
            expected_rp_id=rp_id,
            expected_origin=origin,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError):
        db.session.commit()  # the challenge stays spent
        raise refused from None
    credential_id = bytes_to_base64url(verified.credential_id)
    if db.session.scalar(select(Passkey.id).where(Passkey.credential_id == credential_id)):
        db.session.commit()
        raise Conflict("This passkey is already registered.")
    passkey = Passkey(
        user_id=user.id,
        credential_id=credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name=name,
    )
    db.session.add(passkey)
    db.session.flush()
    first = not user.mfa_enabled
    record(actor, "passkey_added", target=user.username, passkey=str(passkey.id))
    _refresh_enabled(user, actor=actor)
    codes = _issue_recovery_codes(user, actor=actor) if first else None
    recovery.notify(user, "mfa_added", actor=actor, factor=f"a passkey ({name})")
    db.session.commit()
    return passkey, codes


def get_passkey(user: User, passkey_id: uuid.UUID | str) -> Passkey:
    key = key_or_not_found(passkey_id, "passkey")
    passkey = db.session.scalar(
        select(Passkey).where(Passkey.id == key, Passkey.user_id == user.id)
    )
    if passkey is None:
        raise NotFound("No such passkey.")
    return passkey


def rename_passkey(user: User, passkey_id: uuid.UUID | str, name: str) -> Passkey:
    passkey = get_passkey(user, passkey_id)
    passkey.name = name
    db.session.commit()
    return passkey


def remove_passkey(user: User, passkey_id: uuid.UUID | str, *, actor: Actor) -> None:
    passkey = get_passkey(user, passkey_id)
    name = passkey.name
    result = db.session.execute(
        delete(Passkey).where(Passkey.id == passkey.id).execution_options(synchronize_session=False)
    )
    if rows_changed(result) != 1:
        db.session.rollback()
        raise NotFound("No such passkey.")
    record(actor, "passkey_removed", target=user.username, passkey=str(passkey_id))
    _refresh_enabled(user, actor=actor)
    recovery.notify(user, "mfa_removed", actor=actor, factor=f"the passkey {name}")
    db.session.commit()


def _request_options(row: Challenge, allow: list[Passkey]) -> dict[str, Any]:
    rp_id, _ = relying_party()
    options = webauthn.generate_authentication_options(
        rp_id=rp_id,
        challenge=base64url_to_bytes(row.challenge or ""),
        timeout=int(CHALLENGE_TTL.total_seconds() * 1000),
        allow_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id)) for p in allow
        ],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return dict(options_to_json_dict(options))


class AssertionRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _verify_assertion(credential: dict[str, Any], challenge: str, *, user: User | None) -> Passkey:
    """The passkey that signed this assertion, its counter and last use
    updated (uncommitted); AssertionRefused otherwise."""
    raw_id = _base64url_or_empty(credential.get("rawId"))
    if not raw_id:
        raise AssertionRefused("malformed")
    query = select(Passkey).where(Passkey.credential_id == raw_id)
    if user is not None:
        query = query.where(Passkey.user_id == user.id)
    passkey = db.session.scalar(query)
    if passkey is None:
        raise AssertionRefused("unknown_credential")
    rp_id, origin = relying_party()
    try:
        verified = webauthn.verify_authentication_response(
            credential=credential,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        reason = "sign_count_went_back" if "sign count" in str(exc).lower() else "invalid"
        raise AssertionRefused(reason) from None
    result = db.session.execute(
        update(Passkey)
        .where(Passkey.id == passkey.id, Passkey.sign_count == passkey.sign_count)
        .values(sign_count=verified.new_sign_count, last_used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if rows_changed(result) != 1:  # another assertion with this counter won
        raise AssertionRefused("sign_count_went_back")
    return passkey


def passkey_sign_in_options() -> dict[str, Any]:
    row = _new_challenge(PASSKEY_SIGN_IN, None)
    options = _request_options(row, [])
    db.session.commit()
    return options


def passkey_sign_in(credential: dict[str, Any], *, actor: Actor) -> User:
    """The user whose discoverable passkey signed a live challenge."""
    row = _take_challenge(PASSKEY_SIGN_IN, _challenge_of(credential))
    refused = Unauthorized("This passkey sign-in was not accepted; try again.")
    if row is None:
        db.session.rollback()
        raise refused
    try:
        passkey = _verify_assertion(credential, row.challenge or "", user=None)
    except AssertionRefused as exc:
        db.session.rollback()
        _record_refusal(actor, exc.reason, credential)
        raise refused from None
    user = db.session.get(User, passkey.user_id)
    if user is None or not user.is_active:
        db.session.rollback()
        raise refused
    return user


def _record_refusal(actor: Actor, reason: str, credential: Any, user: User | None = None) -> None:
    """Audit a refused assertion in a transaction of its own (the attempt's
    changes were rolled back)."""
    raw_id = _base64url_or_empty(credential.get("rawId")) if isinstance(credential, dict) else ""
    if user is None and raw_id:
        owner = db.session.scalar(select(Passkey.user_id).where(Passkey.credential_id == raw_id))
        user = db.session.get(User, owner) if owner else None
    record(
        actor,
        "mfa_failed",
        target=user.username if user else None,
        user=user,
        method="passkey",
        reason=reason,
    )
    db.session.commit()


# --- the MFA step of sign-in ---------------------------------------------------------


def begin_sign_in(user: User) -> tuple[str, list[str]]:
    """An `mfa_token` for this account (uncommitted) and the methods it can use."""
    token = secrets.token_urlsafe(32)
    row = _new_challenge(MFA_SIGN_IN, user, token_hash=_sha256(token))
    row.challenge = None  # a passkey challenge is made on request
    return token, methods(user)


def _attempt(mfa_token: str) -> Challenge:
    row = db.session.scalar(
        select(Challenge).where(
            Challenge.purpose == MFA_SIGN_IN,
            Challenge.token_hash == _sha256(mfa_token),
            Challenge.expires_at > utcnow(),
        )
    )
    if row is None or row.user_id is None:
        raise MfaTokenInvalid("This sign-in attempt is unknown or expired; sign in again.")
    return row


def sign_in_passkey_options(mfa_token: str) -> dict[str, Any]:
    row = _attempt(mfa_token)
    user = db.session.get(User, row.user_id)
    keys = passkeys_of(user) if user else []
    if not keys:
        raise MfaTokenInvalid("This account has no passkey; use another method.")
    row.challenge = bytes_to_base64url(secrets.token_bytes(32))
    options = _request_options(row, keys)
    db.session.commit()
    return options


def complete_sign_in(
    mfa_token: str,
    *,
    actor: Actor,
    code: str | None = None,
    recovery_code: str | None = None,
    credential: dict[str, Any] | None = None,
) -> tuple[User, str]:
    """The account and the method, when the second factor is right (the
    attempt is spent, uncommitted). A wrong one is audited and counted: 5
    void the attempt, and failures count against the account's throttle."""
    row = _attempt(mfa_token)
    user = db.session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise MfaTokenInvalid("This sign-in attempt is unknown or expired; sign in again.")
    key = str(user.id)
    wait = allowance_left(login_limit(), "mfa-account", key)
    if wait is not None:
        raise TooManyRequests("Too many wrong second factors; try again later.", retry_after=wait)
    method, accepted, reason = _check_factor(row, user, code, recovery_code, credential)
    if not accepted:
        db.session.rollback()
        return _refuse(row, user, method, reason, actor)
    result = db.session.execute(delete(Challenge).where(Challenge.id == row.id))
    if rows_changed(result) != 1:  # spent by a concurrent request
        db.session.rollback()
        raise MfaTokenInvalid("This sign-in attempt is unknown or expired; sign in again.")
    if method == "recovery_code":
        left = db.session.scalar(
            select(func.count()).select_from(RecoveryCode).where(RecoveryCode.user_id == user.id)
        )
        record(actor, "recovery_code_used", target=user.username, user=user, left=int(left or 0))
    return user, method


def _check_factor(
    row: Challenge,
    user: User,
    code: str | None,
    recovery_code: str | None,
    credential: dict[str, Any] | None,
) -> tuple[str, bool, str]:
    if code is not None:
        totp = _confirmed_totp(user)
        return "totp", totp is not None and _use_totp_code(totp, code, utcnow()), "wrong_code"
    if recovery_code is not None:
        return "recovery_code", _spend_recovery_code(user, recovery_code), "wrong_code"
    if credential is not None and row.challenge:
        if _challenge_of(credential) != row.challenge:
            return "passkey", False, "wrong_challenge"
        try:
            _verify_assertion(credential, row.challenge, user=user)
        except AssertionRefused as exc:
            return "passkey", False, exc.reason
        return "passkey", True, ""
    return "passkey" if credential is not None else "none", False, "no_challenge"


def _refuse(row: Challenge, user: User, method: str, reason: str, actor: Actor) -> Any:
    db.session.execute(
        update(Challenge)
        .where(Challenge.id == row.id)
        .values(failures=Challenge.failures + 1)
        .execution_options(synchronize_session=False)
    )
    failures = db.session.scalar(select(Challenge.failures).where(Challenge.id == row.id)) or 0
    voided = failures >= MAX_FAILURES
    if voided:
        db.session.execute(delete(Challenge).where(Challenge.id == row.id))
    record(
        actor,
        "mfa_failed",
        target=user.username,
        user=user,
        method=method,
        reason=reason,
        failures=failures,
    )
    db.session.commit()
    spend_allowance(login_limit(), "mfa-account", str(user.id))
    if voided:
        raise MfaFailed(
            f"That second factor is not right, {MAX_FAILURES} times: sign in again from the start."
        )
    raise MfaFailed(f"That second factor is not right ({MAX_FAILURES - failures} tries left).")


# --- administration ------------------------------------------------------------------


def reset(user: User, *, actor: Actor) -> None:
    """Remove every second factor of a (locked-out) user."""
    for model in (TotpFactor, RecoveryCode, Passkey, Challenge):
        db.session.execute(delete(model).where(model.user_id == user.id))
    user.mfa_enabled = False
    record(actor, "mfa_reset", target=user.username)
    recovery.notify(
        user, "mfa_removed", actor=actor, factor="every second factor (by an administrator)"
    )
    db.session.commit()


def void_all(user: User) -> None:
    """Forget the attempts and ceremonies under way for a user (uncommitted)."""
    db.session.execute(delete(Challenge).where(Challenge.user_id == user.id))
