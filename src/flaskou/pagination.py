"""Keyset pagination: cursors and the `limit`/`cursor` query rules.

A cursor is the sort key of the last row of a page. Pages continue strictly
after it, so rows inserted while a client walks the pages never cause a gap
or a duplicate among the rows that existed before.

Clients treat cursors as opaque, but their form is exact and published: each
list's `cursor` parameter has a pattern, and every string matching it is a
valid position in that list (a time-ordered list's cursor is the last row's
time in microseconds since 1970 and its id; a name-ordered list's is the
last name). So the OpenAPI document says precisely which cursors are
refused (422), and a well-formed cursor is never refused.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

from apiflask import Schema, fields, validators
from sqlalchemy import ColumnElement, literal, tuple_

from flaskou.errors import ValidationFailed

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 100


@dataclasses.dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


Kind = Literal["datetime", "uuid", "str"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)
# The form of each kind of value in a cursor. Sixteen digits of microseconds
# reach the year 2286, well inside what datetime can hold.
_PATTERNS: dict[str, str] = {
    "datetime": "[0-9]{1,16}",
    "uuid": "[0-9a-f]{32}",
    "str": "[^\\u0000]+",
}
_SEPARATOR = "."


def cursor_pattern(kinds: Sequence[Kind]) -> str:
    """The exact form of a cursor made of these kinds of values."""
    if "str" in kinds and len(kinds) > 1:  # pragma: no cover - a programming error
        raise AssertionError("a text value is only ever a cursor's one value")
    return "^" + re.escape(_SEPARATOR).join(_PATTERNS[kind] for kind in kinds) + "$"


class PageQuery(Schema):
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validators.Range(min=1, max=MAX_LIMIT),
        metadata={"description": f"Page size, 1 to {MAX_LIMIT}."},
    )


def cursor_field(kinds: Sequence[Kind]) -> fields.String:
    pattern = cursor_pattern(kinds)
    return fields.String(
        load_default=None,
        validate=validators.Regexp(
            pattern, error="Not a cursor from a previous page of this list."
        ),
        metadata={
            "description": "`next_cursor` of the previous page; omit it for the first page.",
            "pattern": pattern,
        },
    )


def _encode_value(value: Any) -> str:
    if isinstance(value, datetime):
        return str((value - _EPOCH) // _ONE_MICROSECOND)
    if isinstance(value, uuid.UUID):
        return value.hex
    return str(value)


def encode_cursor(values: Sequence[Any]) -> str:
    return _SEPARATOR.join(_encode_value(value) for value in values)


def decode_cursor(cursor: str, kinds: Sequence[Kind]) -> list[Any]:
    """The values in a cursor; 422 for anything but the published form."""
    if not re.fullmatch(cursor_pattern(kinds), cursor):
        raise ValidationFailed(
            "The cursor is not valid.",
            errors={"cursor": ["Not a cursor from a previous page of this list."]},
        )
    if list(kinds) == ["str"]:
        return [cursor]
    decoded: list[Any] = []
    for kind, text in zip(kinds, cursor.split(_SEPARATOR), strict=True):
        if kind == "datetime":
            decoded.append(_EPOCH + int(text) * _ONE_MICROSECOND)
        else:
            decoded.append(uuid.UUID(hex=text))
    return decoded


def before(columns: Sequence[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows that come after the cursor in a descending (newest first) order
    on `columns`: a row-value comparison, `(a, b) < (:a, :b)`. Both SQLite
    and PostgreSQL read it as one range of the index on those columns, so
    a page deep in the chain costs what the first one does; the equivalent
    `a < :a OR (a = :a AND b < :b)` makes them scan every newer row first."""
    bound = [literal(value, column.type) for column, value in zip(columns, values, strict=True)]
    return tuple_(*columns) < tuple_(*bound)


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
