"""The software authenticator the passkey tests use makes ceremonies that a
real relying party accepts: py_webauthn, the library flaskou verifies with,
checks every registration and assertion here for real, and each way a test
plays a misbehaving client is one the library refuses."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import cbor2
import pytest
import webauthn
from webauthn.helpers import parse_attestation_object
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from tests.support.webauthn import AuthenticatorError, SoftAuthenticator, b64url, unb64url

pytestmark = pytest.mark.engine_independent

ORIGIN = "http://127.0.0.1:5123"
RP_ID = "127.0.0.1"
BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass
class Stored:
    """What a relying party keeps of a passkey after registration."""

    credential_id: bytes
    public_key: bytes
    sign_count: int
    user_id: bytes


def creation_options(
    *, user_id: bytes = b"ada-user-handle", exclude: list[bytes] | None = None, rp_id: str = RP_ID
) -> tuple[dict[str, Any], bytes]:
    """Options as the server answers them: the bare publicKey object in JSON form."""
    options = webauthn.generate_registration_options(
        rp_id=rp_id,
        rp_name="flaskou",
        user_name="ada",
        user_id=user_id,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=i) for i in exclude or []],
    )
    return json.loads(webauthn.options_to_json(options)), options.challenge


def request_options(*, allow: list[bytes] | None = None) -> tuple[dict[str, Any], bytes]:
    options = webauthn.generate_authentication_options(
        rp_id=RP_ID,
        allow_credentials=[PublicKeyCredentialDescriptor(id=i) for i in allow or []],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return json.loads(webauthn.options_to_json(options)), options.challenge


def verify_registration(credential: dict[str, Any], challenge: bytes) -> Stored:
    verified = webauthn.verify_registration_response(
        credential=credential,
        expected_challenge=challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        require_user_verification=True,
    )
    return Stored(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        user_id=b"",
    )


def verify_assertion(credential: dict[str, Any], challenge: bytes, stored: Stored) -> int:
    verified = webauthn.verify_authentication_response(
        credential=credential,
        expected_challenge=challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        credential_public_key=stored.public_key,
        credential_current_sign_count=stored.sign_count,
        require_user_verification=True,
    )
    assert verified.user_verified
    stored.sign_count = verified.new_sign_count
    return verified.new_sign_count


def register(authenticator: SoftAuthenticator, user_id: bytes = b"ada-user-handle") -> Stored:
    options, challenge = creation_options(user_id=user_id)
    stored = verify_registration(authenticator.create(options), challenge)
    stored.user_id = user_id
    return stored


def sign_in(authenticator: SoftAuthenticator, stored: Stored, **get_kwargs: Any) -> int:
    options, challenge = request_options(allow=[stored.credential_id])
    return verify_assertion(authenticator.get(options, **get_kwargs), challenge, stored)


# -- registration ------------------------------------------------------------


def test_a_registration_verifies_as_a_user_verified_es256_passkey_with_none_attestation() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    options, challenge = creation_options()

    credential = authenticator.create(options)
    verified = webauthn.verify_registration_response(
        credential=credential,
        expected_challenge=challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        require_user_verification=True,
    )

    (held,) = authenticator.credentials
    assert verified.fmt == "none"
    assert verified.user_verified
    assert verified.sign_count == 0
    assert verified.aaguid == "00000000-0000-0000-0000-000000000000"
    assert verified.credential_id == held.raw_id
    assert verified.credential_public_key == held.public_key_cose
    assert held.rp_id == RP_ID
    assert held.user_handle == b"ada-user-handle"
    assert held.sign_count == 0


def test_a_registration_has_the_shape_of_public_key_credential_to_json() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    options, _ = creation_options()

    credential = authenticator.create(options)

    assert credential["type"] == "public-key"
    assert credential["id"] == credential["rawId"] == authenticator.credentials[0].id
    assert credential["clientExtensionResults"] == {}
    assert credential["authenticatorAttachment"] == "platform"
    response = credential["response"]
    assert response["transports"] == ["internal"]
    assert response["publicKeyAlgorithm"] == -7
    for name in ("clientDataJSON", "attestationObject", "authenticatorData", "publicKey"):
        assert BASE64URL.match(response[name]), name  # no padding, no '+' or '/'
    client_data = json.loads(unb64url(response["clientDataJSON"]))
    assert client_data == {
        "type": "webauthn.create",
        "challenge": options["challenge"],
        "origin": ORIGIN,
        "crossOrigin": False,
    }
    attestation = parse_attestation_object(unb64url(response["attestationObject"]))
    assert attestation.auth_data.flags.up
    assert attestation.auth_data.flags.uv
    assert attestation.auth_data.flags.at
    assert attestation.auth_data.rp_id_hash == hashlib.sha256(RP_ID.encode()).digest()
    raw = cbor2.loads(unb64url(response["attestationObject"]))
    assert unb64url(response["authenticatorData"]) == raw["authData"]


@pytest.mark.parametrize(
    ("misbehaviour", "expected_error"),
    [
        ({"origin": "http://evil.test:5123"}, "origin"),
        ({"challenge": b64url(b"some other challenge")}, "challenge"),
        ({"user_verified": False}, "verif"),
    ],
    ids=["wrong-origin", "wrong-challenge", "no-user-verification"],
)
def test_a_registration_from_a_misbehaving_client_does_not_verify(
    misbehaviour: dict[str, Any], expected_error: str
) -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    options, challenge = creation_options()

    credential = authenticator.create(options, **misbehaviour)

    with pytest.raises(InvalidRegistrationResponse, match=f"(?i){expected_error}"):
        verify_registration(credential, challenge)


def test_a_registration_without_user_verification_still_verifies_where_none_is_required() -> None:
    """The refusal above is about the UV flag, not a broken attestation."""
    authenticator = SoftAuthenticator(origin=ORIGIN)
    options, challenge = creation_options()

    verified = webauthn.verify_registration_response(
        credential=authenticator.create(options, user_verified=False),
        expected_challenge=challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
    )

    assert not verified.user_verified


def test_the_authenticator_refuses_options_for_another_relying_party() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    options, _ = creation_options(rp_id="flaskou.example")

    with pytest.raises(AuthenticatorError) as refused:
        authenticator.create(options)

    assert refused.value.name == "SecurityError"
    assert authenticator.credentials == []


def test_the_authenticator_refuses_to_register_a_credential_the_server_excludes() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    stored = register(authenticator)
    options, _ = creation_options(exclude=[b"someone else's", stored.credential_id])

    with pytest.raises(AuthenticatorError) as refused:
        authenticator.create(options)

    assert refused.value.name == "InvalidStateError"
    assert len(authenticator.credentials) == 1


def test_excluded_credentials_of_other_devices_do_not_stop_a_registration() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    options, challenge = creation_options(user_id=b"bob", exclude=[b"another device's key"])

    verify_registration(authenticator.create(options), challenge)


def test_a_new_passkey_for_the_same_account_replaces_the_resident_one() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    first = register(authenticator)
    second = register(authenticator)
    other_account = register(authenticator, user_id=b"bob")

    assert [held.raw_id for held in authenticator.credentials] == [
        second.credential_id,
        other_account.credential_id,
    ]
    assert first.credential_id != second.credential_id


def test_options_must_be_the_bare_public_key_object() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    options, _ = creation_options()

    with pytest.raises(AuthenticatorError, match="bare"):
        authenticator.create({"publicKey": options})


def test_options_without_es256_are_not_supported() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    options, _ = creation_options()
    options["pubKeyCredParams"] = [{"type": "public-key", "alg": -257}]

    with pytest.raises(AuthenticatorError) as refused:
        authenticator.create(options)

    assert refused.value.name == "NotSupportedError"


def test_the_rp_id_must_be_the_origins_host_or_a_parent_domain() -> None:
    assert SoftAuthenticator(origin="https://app.flaskou.example", rp_id="flaskou.example")
    assert SoftAuthenticator(origin="http://localhost:8080").rp_id == "localhost"
    with pytest.raises(AuthenticatorError, match="SecurityError"):
        SoftAuthenticator(origin="https://flaskou.example", rp_id="evil.example")
    with pytest.raises(AuthenticatorError, match="SecurityError"):
        SoftAuthenticator(origin="https://notflaskou.example", rp_id="flaskou.example")


# -- authentication ----------------------------------------------------------


def test_assertions_verify_and_count_up_by_one_each_time() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    stored = register(authenticator)

    assert sign_in(authenticator, stored) == 1
    assert sign_in(authenticator, stored) == 2
    assert authenticator.credentials[0].sign_count == 2


def test_an_assertion_has_the_shape_of_public_key_credential_to_json() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    stored = register(authenticator)
    options, _ = request_options(allow=[stored.credential_id])

    assertion = authenticator.get(options)

    assert assertion["type"] == "public-key"
    assert assertion["id"] == assertion["rawId"] == b64url(stored.credential_id)
    assert assertion["clientExtensionResults"] == {}
    assert assertion["authenticatorAttachment"] == "platform"
    response = assertion["response"]
    for name in ("clientDataJSON", "authenticatorData", "signature", "userHandle"):
        assert BASE64URL.match(response[name]), name
    assert unb64url(response["userHandle"]) == b"ada-user-handle"
    assert json.loads(unb64url(response["clientDataJSON"]))["type"] == "webauthn.get"
    auth_data = unb64url(response["authenticatorData"])
    assert len(auth_data) == 37  # rpIdHash, flags, counter: no attested data, no extensions
    assert auth_data[32] == 0x05  # UP | UV
    assert int.from_bytes(auth_data[33:], "big") == 1


@pytest.mark.parametrize(
    ("misbehaviour", "expected_error"),
    [
        ({"origin": "http://evil.test:5123"}, "origin"),
        ({"challenge": b64url(b"a challenge from yesterday")}, "challenge"),
        ({"user_verified": False}, "verif"),
    ],
    ids=["wrong-origin", "wrong-challenge", "no-user-verification"],
)
def test_an_assertion_from_a_misbehaving_client_does_not_verify(
    misbehaviour: dict[str, Any], expected_error: str
) -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    stored = register(authenticator)

    with pytest.raises(InvalidAuthenticationResponse, match=f"(?i){expected_error}"):
        sign_in(authenticator, stored, **misbehaviour)


def test_a_counter_set_back_does_not_verify() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    stored = register(authenticator)
    sign_in(authenticator, stored)
    sign_in(authenticator, stored)
    authenticator.set_sign_count(b64url(stored.credential_id), 0)

    with pytest.raises(InvalidAuthenticationResponse, match="sign count"):
        sign_in(authenticator, stored)  # the device says 1, the server knows 2


def test_a_signature_verifies_only_under_its_own_key() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    ada = register(authenticator)
    bob = register(authenticator, user_id=b"bob")
    options, challenge = request_options(allow=[ada.credential_id])
    assertion = authenticator.get(options)

    with pytest.raises(InvalidAuthenticationResponse, match="signature"):
        verify_assertion(assertion, challenge, Stored(ada.credential_id, bob.public_key, 0, b""))


def test_a_discoverable_sign_in_names_the_user_it_was_created_for() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    stored = register(authenticator, user_id=b"\x00ada\xff")
    options, challenge = request_options()  # no allowCredentials: passwordless
    assert options["allowCredentials"] == []

    assertion = authenticator.get(options)

    assert unb64url(assertion["response"]["userHandle"]) == b"\x00ada\xff"
    assert unb64url(assertion["rawId"]) == stored.credential_id
    assert verify_assertion(assertion, challenge, stored) == 1


def test_a_discoverable_sign_in_with_several_passkeys_needs_one_picked() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    register(authenticator)
    bob = register(authenticator, user_id=b"bob")
    options, challenge = request_options()

    with pytest.raises(AuthenticatorError, match="credential_id"):
        authenticator.get(options)
    assertion = authenticator.get(options, credential_id=b64url(bob.credential_id))

    assert unb64url(assertion["response"]["userHandle"]) == b"bob"
    assert verify_assertion(assertion, challenge, bob) == 1


def test_a_sign_in_allowing_only_other_credentials_is_refused() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    register(authenticator)
    options, _ = request_options(allow=[b"a key on another device"])

    with pytest.raises(AuthenticatorError) as refused:
        authenticator.get(options)

    assert refused.value.name == "NotAllowedError"


def test_an_empty_authenticator_has_no_passkey_to_offer() -> None:
    options, _ = request_options()

    with pytest.raises(AuthenticatorError, match="no passkey"):
        SoftAuthenticator(origin=ORIGIN).get(options)


def test_credential_id_picks_among_allowed_credentials() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    ada = register(authenticator)
    bob = register(authenticator, user_id=b"bob")
    options, challenge = request_options(allow=[ada.credential_id, bob.credential_id])

    assertion = authenticator.get(options, credential_id=b64url(bob.credential_id))

    assert verify_assertion(assertion, challenge, bob) == 1
    assert authenticator.credential(b64url(ada.credential_id)).sign_count == 0


def test_a_sign_in_for_another_relying_party_is_refused() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    register(authenticator)
    options, _ = request_options()
    options["rpId"] = "flaskou.example"

    with pytest.raises(AuthenticatorError, match="SecurityError"):
        authenticator.get(options)


# -- cloned devices ----------------------------------------------------------


def test_a_clone_signs_with_the_same_key_and_the_same_counter_sequence() -> None:
    original = SoftAuthenticator(origin=ORIGIN)
    stored = register(original)
    sign_in(original, stored)
    clone = original.clone()

    # Each device verifies on its own, counting on from the same place.
    seen_by_original = Stored(stored.credential_id, stored.public_key, 1, b"")
    seen_by_clone = Stored(stored.credential_id, stored.public_key, 1, b"")
    assert [sign_in(original, seen_by_original) for _ in range(2)] == [2, 3]
    assert [sign_in(clone, seen_by_clone) for _ in range(2)] == [2, 3]


def test_a_server_that_saw_the_original_refuses_the_clones_counter() -> None:
    original = SoftAuthenticator(origin=ORIGIN)
    stored = register(original)
    clone = original.clone()
    sign_in(original, stored)
    sign_in(original, stored)

    with pytest.raises(InvalidAuthenticationResponse, match="sign count"):
        sign_in(clone, stored)  # the clone says 1, the server knows 2
