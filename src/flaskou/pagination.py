"""Keyset pagination: opaque cursors and the `limit`/`cursor` query rules.

A cursor is the sort key of the last row of a page, base64url-encoded JSON.
Pages continue strictly after it, so rows inserted while a client walks the
pages never cause a gap or a duplicate among the rows that existed before.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from apiflask import Schema, fields, validators

from flaskou.errors import ValidationFailed

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 100


@dataclasses.dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


class PageQuery(Schema):
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validators.Range(min=1, max=MAX_LIMIT),
        metadata={"description": f"Page size, 1 to {MAX_LIMIT}."},
    )
    cursor = fields.String(
        load_default=None, metadata={"description": "`next_cursor` of the previous page."}
    )


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kinds: Sequence[str]) -> list[Any]:
    """The values in a cursor, checked against the expected kinds, else 422."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != len(kinds):
            raise ValueError("wrong shape")
        decoded: list[Any] = []
        for kind, value in zip(kinds, values, strict=True):
            if kind == "datetime":
                moment = datetime.fromisoformat(value)
                if moment.tzinfo is None:
                    raise ValueError("naive datetime")
                decoded.append(moment)
            elif kind == "uuid":
                decoded.append(uuid.UUID(value))
            elif kind == "str":
                if not isinstance(value, str):
                    raise ValueError("not a string")
                decoded.append(value)
            else:  # pragma: no cover - a programming error
                raise AssertionError(kind)
        return decoded
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed(
            "The cursor is not valid.",
            errors={"cursor": ["Not a cursor from a previous page of this list."]},
        ) from None


def page_of(rows: list[T], limit: int, sort_key: Callable[[T], Sequence[Any]]) -> Page[T]:
    """A page from `limit + 1` fetched rows: the extra row only says there is more."""
    if len(rows) <= limit:
        return Page(rows, None)
    rows = rows[:limit]
    return Page(rows, encode_cursor(sort_key(rows[-1])))


def page_schema(item_schema: type[Schema], name: str) -> Any:
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item_schema), required=True),
            "next_cursor": fields.String(allow_none=True, required=True),
        },
        name=name,
    )
