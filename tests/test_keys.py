"""An id given for a row is a UUID, or it names nothing (models.key_or_not_found)."""

from __future__ import annotations

import uuid

import pytest

from flaskou.errors import NotFound
from flaskou.models import key_or_not_found


def test_a_uuid_or_its_text_is_the_key():
    key = uuid.uuid4()
    assert key_or_not_found(key, "file") is key
    assert key_or_not_found(str(key).upper(), "file") == key


@pytest.mark.parametrize("given", ["", "me", "not-a-uuid", "123", str(uuid.uuid4())[:-1]])
def test_anything_else_names_no_row(given):
    with pytest.raises(NotFound) as raised:
        key_or_not_found(given, "passkey")
    assert raised.value.status == 404
    assert str(raised.value.detail) == "No such passkey."
