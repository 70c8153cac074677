"""A software WebAuthn authenticator: real P-256 keys, real ES256 signatures.

The passkey tests run whole ceremonies against the server with it, so what the
server verifies is exactly what a browser and a platform authenticator would
send: `create()` answers `navigator.credentials.create()` and `get()` answers
`navigator.credentials.get()`, both in the form `PublicKeyCredential.toJSON()`
gives (binary members base64url without padding).

Where a browser or authenticator refuses a ceremony (wrong RP ID, an excluded
credential, no credential to use) it raises `AuthenticatorError`, whose `name`
is the DOMException a browser would reject the promise with. Where a test
needs a misbehaving client (another origin, another challenge, no user
verification, a counter going back, a cloned device) the knobs are explicit
arguments, so a test reads as the attack it plays.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import ipaddress
import json
import secrets
import struct
from typing import Any
from urllib.parse import urlsplit

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

ES256 = -7  # COSE algorithm: ECDSA with SHA-256 on P-256

# Authenticator data flags (WebAuthn §6.1)
FLAG_UP = 0x01  # user present
FLAG_UV = 0x04  # user verified
FLAG_AT = 0x40  # attested credential data included

# A software authenticator has no certified model; all zeros is what
# "none" attestation reports anyway.
ZERO_AAGUID = bytes(16)


class AuthenticatorError(Exception):
    """A ceremony a browser would refuse; `name` is the DOMException's name."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(value: str) -> bytes:
    if not isinstance(value, str):
        raise AuthenticatorError("TypeError", f"expected a base64url string, got {value!r}")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (ValueError, TypeError) as exc:
        raise AuthenticatorError("TypeError", f"not base64url: {value!r}") from exc


@dataclasses.dataclass
class Credential:
    """One resident (discoverable) ES256 credential the authenticator holds."""

    raw_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    user_name: str
    sign_count: int = 0

    @property
    def id(self) -> str:
        """The credential ID as the server sees it: base64url, no padding."""
        return b64url(self.raw_id)

    @property
    def user_handle_b64(self) -> str:
        return b64url(self.user_handle)

    @property
    def public_key_cose(self) -> bytes:
        """The COSE_Key (EC2, P-256, ES256) the attestation carries."""
        numbers = self.private_key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: ES256,  # alg
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    @property
    def public_key_spki(self) -> bytes:
        """The public key as SubjectPublicKeyInfo DER, what toJSON()'s `publicKey` holds."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )


class SoftAuthenticator:
    """A platform authenticator with its browser, bound to one origin."""

    def __init__(self, *, origin: str, rp_id: str | None = None) -> None:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"origin must be scheme://host[:port], got {origin!r}")
        # An origin has no path; "http://h:1/" would never match what a browser sends.
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.host = parts.hostname
        self.rp_id = rp_id if rp_id is not None else self.host
        if not _rp_id_valid_for(self.rp_id, self.host):
            raise AuthenticatorError(
                "SecurityError",
                f"RP ID {self.rp_id!r} is neither the origin's host {self.host!r} "
                "nor a parent domain of it",
            )
        self.credentials: list[Credential] = []

    # -- navigator.credentials.create() ------------------------------------

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        challenge: str | None = None,
        user_verified: bool = True,
    ) -> dict[str, Any]:
        """Make a new resident ES256 credential and answer with "none" attestation.

        `origin` and `challenge` replace what goes into clientDataJSON (a
        phishing page, a replayed or foreign challenge); `user_verified=False`
        plays an authenticator that did not verify the user.
        """
        options = _bare(options)
        rp = options.get("rp")
        rp_id = rp.get("id") if isinstance(rp, dict) else None
        # A browser uses the origin's host when the RP leaves rp.id out.
        rp_id = rp_id if rp_id is not None else self.host
        self._check_rp_id(rp_id)

        user = options.get("user")
        if not isinstance(user, dict):
            raise AuthenticatorError("TypeError", "options.user is missing")
        user_handle = unb64url(user.get("id"))  # type: ignore[arg-type]
        if not 1 <= len(user_handle) <= 64:
            raise AuthenticatorError(
                "TypeError", f"user.id must be 1 to 64 bytes, got {len(user_handle)}"
            )

        params = options.get("pubKeyCredParams")
        # An empty list means the browser's defaults, which include ES256.
        if params and not any(
            p.get("type") == "public-key" and p.get("alg") == ES256 for p in params
        ):
            raise AuthenticatorError(
                "NotSupportedError", f"no ES256 in pubKeyCredParams {params!r}"
            )

        for descriptor in options.get("excludeCredentials") or []:
            held = self._find(unb64url(descriptor.get("id")), rp_id)
            if held is not None:
                raise AuthenticatorError(
                    "InvalidStateError",
                    f"credential {held.id} for {rp_id} is already on this authenticator",
                )

        client_data = self._client_data(
            "webauthn.create", options, origin=origin, challenge=challenge
        )

        credential = Credential(
            raw_id=secrets.token_bytes(32),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp_id,
            user_handle=user_handle,
            user_name=str(user.get("name", "")),
        )
        # An authenticator keeps one resident credential per (RP, user): a new
        # one for the same account overwrites the old (CTAP2 authenticatorMakeCredential).
        self.credentials = [
            held
            for held in self.credentials
            if not (held.rp_id == rp_id and held.user_handle == user_handle)
        ]
        self.credentials.append(credential)

        flags = FLAG_UP | FLAG_AT | (FLAG_UV if user_verified else 0)
        attested = (
            ZERO_AAGUID
            + struct.pack(">H", len(credential.raw_id))
            + credential.raw_id
            + credential.public_key_cose
        )
        auth_data = _rp_id_hash(rp_id) + bytes([flags]) + struct.pack(">I", 0) + attested
        attestation_object = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})

        return {
            "id": credential.id,
            "rawId": credential.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation_object),
                "authenticatorData": b64url(auth_data),
                "transports": ["internal"],
                "publicKey": b64url(credential.public_key_spki),
                "publicKeyAlgorithm": ES256,
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    # -- navigator.credentials.get() ---------------------------------------

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        challenge: str | None = None,
        user_verified: bool = True,
        credential_id: str | None = None,
    ) -> dict[str, Any]:
        """Sign an assertion with one of our credentials for the RP.

        With allowCredentials, the first of ours it lists (or `credential_id`,
        which must be listed); without, our resident credential for the RP
        (`credential_id` picks one when there are several, as the account
        chooser a browser shows would).
        """
        options = _bare(options)
        rp_id = options.get("rpId")
        rp_id = rp_id if rp_id is not None else self.host
        self._check_rp_id(rp_id)

        credential = self._choose(rp_id, options.get("allowCredentials") or [], credential_id)
        client_data = self._client_data("webauthn.get", options, origin=origin, challenge=challenge)

        # The counter moves before the signature, so every assertion carries a new value.
        credential.sign_count += 1
        flags = FLAG_UP | (FLAG_UV if user_verified else 0)
        auth_data = _rp_id_hash(rp_id) + bytes([flags]) + struct.pack(">I", credential.sign_count)
        signature = credential.private_key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )

        return {
            "id": credential.id,
            "rawId": credential.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": credential.user_handle_b64,
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    # -- what tests do to the device itself --------------------------------

    def credential(self, credential_id: str) -> Credential:
        for held in self.credentials:
            if held.id == credential_id:
                return held
        raise KeyError(f"no credential {credential_id!r} on this authenticator")

    def set_sign_count(self, credential_id: str, value: int) -> None:
        """Set a counter, e.g. back in time, as a cloned or reset device would show."""
        if not 0 <= value <= 0xFFFFFFFF:
            raise ValueError(f"a sign count is 32 bits unsigned, got {value}")
        self.credential(credential_id).sign_count = value

    def clone(self) -> SoftAuthenticator:
        """A copy of the device: the same keys and counters, moving on independently."""
        twin = SoftAuthenticator(origin=self.origin, rp_id=self.rp_id)
        # Key objects are immutable and may be shared; each twin gets its own counters.
        twin.credentials = [dataclasses.replace(held) for held in self.credentials]
        return twin

    # -- internals -----------------------------------------------------------

    def _check_rp_id(self, rp_id: str) -> None:
        if rp_id != self.rp_id:
            raise AuthenticatorError(
                "SecurityError",
                f"the options name RP ID {rp_id!r}, this authenticator serves {self.rp_id!r} "
                f"at {self.origin}",
            )

    def _find(self, raw_id: bytes, rp_id: str) -> Credential | None:
        for held in self.credentials:
            if held.raw_id == raw_id and held.rp_id == rp_id:
                return held
        return None

    def _choose(
        self, rp_id: str, allow: list[dict[str, Any]], credential_id: str | None
    ) -> Credential:
        if allow:
            listed = [self._find(unb64url(d.get("id")), rp_id) for d in allow]  # type: ignore[arg-type]
            usable = [held for held in listed if held is not None]
            if credential_id is not None:
                usable = [held for held in usable if held.id == credential_id]
            if not usable:
                raise AuthenticatorError(
                    "NotAllowedError",
                    "none of the credentials in allowCredentials"
                    + (f" matching {credential_id!r}" if credential_id else "")
                    + f" is on this authenticator for {rp_id}",
                )
            return usable[0]

        resident = [held for held in self.credentials if held.rp_id == rp_id]
        if credential_id is not None:
            resident = [held for held in resident if held.id == credential_id]
        if not resident:
            raise AuthenticatorError(
                "NotAllowedError",
                f"no passkey for {rp_id}"
                + (f" with id {credential_id!r}" if credential_id else "")
                + " on this authenticator",
            )
        if len(resident) > 1:
            raise AuthenticatorError(
                "NotAllowedError",
                f"{len(resident)} passkeys for {rp_id}; pass credential_id= to pick one "
                "(a browser would ask the user)",
            )
        return resident[0]

    def _client_data(
        self, kind: str, options: dict[str, Any], *, origin: str | None, challenge: str | None
    ) -> bytes:
        if challenge is None:
            # The browser decodes the options' challenge and encodes it again,
            # so what is signed is canonical base64url whatever the padding.
            challenge = b64url(unb64url(options.get("challenge")))  # type: ignore[arg-type]
        # The key order and compact form browsers serialize clientDataJSON with.
        return json.dumps(
            {
                "type": kind,
                "challenge": challenge,
                "origin": origin if origin is not None else self.origin,
                "crossOrigin": False,
            },
            separators=(",", ":"),
        ).encode()


def _bare(options: dict[str, Any]) -> dict[str, Any]:
    """The options must be the bare publicKey object the contract promises."""
    if not isinstance(options, dict):
        raise AuthenticatorError("TypeError", f"options must be a JSON object, got {options!r}")
    if "publicKey" in options:
        raise AuthenticatorError(
            "TypeError",
            "options are wrapped in {'publicKey': ...}; the API answers the bare object",
        )
    if "challenge" not in options:
        raise AuthenticatorError("TypeError", "options have no challenge")
    return options


def _rp_id_hash(rp_id: str) -> bytes:
    return hashlib.sha256(rp_id.encode()).digest()


def _rp_id_valid_for(rp_id: str, host: str) -> bool:
    """The origin's host itself, or (for domain names) a parent domain of it.

    Browsers also refuse IP addresses as RP IDs and public suffixes such as
    "com"; the first is left out so tests may run on 127.0.0.1, the second
    needs the public suffix list and never arises in tests.
    """
    if rp_id == host:
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host.endswith("." + rp_id)
    return False
