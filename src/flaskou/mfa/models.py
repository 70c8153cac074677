from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from flaskou.extensions import Model
from flaskou.models import UTCDateTime, UUIDPrimaryKey, utcnow


class TotpFactor(Model):
    """An authenticator app: its secret (sealed), pending until confirmed
    with a first code, and the last time step used (no code works twice)."""

    __tablename__ = "mfa_totp"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    sealed_secret: Mapped[str] = mapped_column(Text, nullable=False)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class RecoveryCode(UUIDPrimaryKey, Model):
    """One single-use recovery code, as SHA-256 (the codes carry 50 random
    bits each, so a fast hash is enough); spent by deleting its row."""

    __tablename__ = "mfa_recovery_codes"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class Passkey(UUIDPrimaryKey, Model):
    """A WebAuthn credential: its id, public key (COSE) and sign counter."""

    __tablename__ = "mfa_passkeys"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # base64url of the credential id (at most 1023 bytes).
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True, nullable=False)
    public_key: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    sign_count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


# What a Challenge is for.
MFA_SIGN_IN = "mfa"  # a password was right; a second factor completes it
PASSKEY_SIGN_IN = "passkey"  # a passwordless sign-in ceremony
PASSKEY_REGISTRATION = "register"  # adding a passkey


class Challenge(UUIDPrimaryKey, Model):
    """A short-lived, single-use step kept server-side, so any instance can
    finish what another began: an MFA sign-in attempt (found by the hash of
    its `mfa_token`) and/or a WebAuthn challenge (found by its value)."""

    __tablename__ = "mfa_challenges"

    purpose: Mapped[str] = mapped_column(String(20), nullable=False)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    challenge: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
