"""Secrets at rest, sealed with a key derived from SECRET_KEY.

A value that must be read back later but must not be readable from a copy of
the database (a mail body whose link holds a token) is sealed with Fernet
(AES-128-CBC and HMAC-SHA256, from `cryptography`). Each purpose gets its own
key, derived from SECRET_KEY with HKDF, so a value sealed for one purpose
cannot be opened as another. Changing SECRET_KEY makes earlier values
unreadable: `open_sealed` then raises `Unreadable`.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class Unreadable(Exception):
    """Sealed with another key (SECRET_KEY changed) or tampered with."""


@functools.lru_cache(maxsize=16)
def _fernet(secret_key: str, purpose: str) -> Fernet:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"flaskou/" + purpose.encode()
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret_key: str, purpose: str, data: bytes) -> str:
    return _fernet(secret_key, purpose).encrypt(data).decode("ascii")


def open_sealed(secret_key: str, purpose: str, token: str) -> bytes:
    try:
        return _fernet(secret_key, purpose).decrypt(token.encode("ascii"))
    except (InvalidToken, ValueError):
        raise Unreadable(f"cannot open a value sealed for {purpose!r}") from None
