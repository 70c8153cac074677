"""Statements on the hot path: compiled once, run straight on a pooled connection.

The credential check runs on every authenticated request, so its statement
is built with SQLAlchemy (the same tables, types and dialects as the rest of
flaskou) but not executed through it. `Compiled` compiles it once per
database dialect, takes SQLAlchemy's own converters for its parameters and
its columns (UUIDs, UTC datetimes, booleans, per engine), and runs it on a
DBAPI cursor from the engine's pool: the same SQL and the same values as
`connection.execute(statement)`, without building an execution context and a
result object per call (about half the cost of a one-row lookup on SQLite).

`autocommit_cursor()` lends a cursor in autocommit mode: each statement is
its own transaction, so there is no BEGIN before it and no ROLLBACK after it
(each a round trip on PostgreSQL). Errors come out as SQLAlchemy's (so a lost
database is a 503 like anywhere else), and a connection the server dropped
is discarded from the pool.
"""

from __future__ import annotations

import contextlib
import dataclasses
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable

from flaskou.extensions import db

Converter = Callable[[Any], Any] | None


@dataclasses.dataclass(frozen=True)
class _Form:
    """A statement as one dialect runs it."""

    sql: str
    names: tuple[str, ...] | None  # parameter order, for positional paramstyles
    binds: tuple[tuple[str, Converter], ...]
    columns: tuple[tuple[int, Callable[[Any], Any]], ...]  # (position, converter), where one is


class Compiled:
    """A statement with named bind parameters, compiled once per dialect."""

    def __init__(self, build: Callable[[], Executable]) -> None:
        self._build = build
        self._forms: weakref.WeakKeyDictionary[Dialect, _Form] = weakref.WeakKeyDictionary()

    def _form(self, dialect: Dialect) -> _Form:
        form = self._forms.get(dialect)
        if form is None:
            statement: Any = self._build()
            compiled = statement.compile(dialect=dialect)
            binds = tuple(
                (name, bind.type.dialect_impl(dialect).bind_processor(dialect))
                for name, bind in compiled.binds.items()
            )
            selected = getattr(statement, "selected_columns", ())
            form = _Form(
                sql=str(compiled),
                names=tuple(compiled.positiontup) if dialect.positional else None,
                binds=tuple((name, convert) for name, convert in binds if convert is not None),
                columns=tuple(
                    (position, convert)
                    for position, column in enumerate(selected)
                    if (
                        convert := column.type.dialect_impl(dialect).result_processor(dialect, None)
                    )
                    is not None
                ),
            )
            self._forms[dialect] = form
        return form

    def sql(self, dialect: Dialect) -> str:
        """The statement as this dialect runs it (for EXPLAIN, in tests)."""
        return self._form(dialect).sql

    def _run(self, cursor: Any, dialect: Dialect, params: Mapping[str, Any]) -> _Form:
        form = self._form(dialect)
        values = dict(params)
        for name, convert in form.binds:
            values[name] = convert(values[name])  # type: ignore[misc]
        arguments: Any = values if form.names is None else [values[n] for n in form.names]
        try:
            cursor.execute(form.sql, arguments)
        except dialect.loaded_dbapi.Error as error:
            raise _translated(error, form.sql, arguments, cursor, dialect) from error
        return form

    def rows(
        self, cursor: Any, dialect: Dialect, params: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        """Run a SELECT: its rows, each value converted as SQLAlchemy would."""
        form = self._run(cursor, dialect, params)
        try:
            fetched = cursor.fetchall()
        except dialect.loaded_dbapi.Error as error:
            raise _translated(error, form.sql, params, cursor, dialect) from error
        converters = form.columns
        if not converters:
            return [tuple(row) for row in fetched]
        converted = []
        for row in fetched:
            values = list(row)
            for position, convert in converters:
                values[position] = convert(values[position])
            converted.append(tuple(values))
        return converted

    def execute(self, cursor: Any, dialect: Dialect, params: Mapping[str, Any]) -> int:
        """Run a statement that returns no rows: how many rows it changed."""
        self._run(cursor, dialect, params)
        return int(cursor.rowcount)


def _translated(
    error: Exception, sql: str, params: Any, cursor: Any, dialect: Dialect
) -> DBAPIError:
    gone = dialect.is_disconnect(error, cursor.connection, cursor)  # type: ignore[arg-type]
    translated = DBAPIError.instance(
        sql, params, error, dialect.loaded_dbapi.Error, connection_invalidated=gone, dialect=dialect
    )
    assert isinstance(translated, DBAPIError)  # what a DBAPI error becomes
    return translated


def _autocommit_on(dialect: Dialect, dbapi_connection: Any) -> Callable[[], None]:
    """Put a DBAPI connection in autocommit mode; answers how to undo it.

    Driver attributes only, no statement: sqlite3's `isolation_level = None`
    (SQLAlchemy's own switch back also runs a PRAGMA), psycopg's autocommit.
    """
    if dialect.name == "sqlite":
        previous = dbapi_connection.isolation_level
        dbapi_connection.isolation_level = None

        def undo() -> None:
            dbapi_connection.isolation_level = previous

        return undo
    dialect.set_isolation_level(dbapi_connection, "AUTOCOMMIT")
    return lambda: dialect.reset_isolation_level(dbapi_connection)


@contextlib.contextmanager
def autocommit_cursor() -> Iterator[tuple[Any, Dialect]]:
    """A DBAPI cursor on a pooled connection in autocommit mode, and the
    dialect to run `Compiled` statements with; the connection goes back to
    the pool (out of autocommit) when the block ends, or is discarded if the
    server dropped it."""
    engine = db.engine
    dialect = engine.dialect
    try:
        connection = engine.raw_connection()
    except dialect.loaded_dbapi.Error as error:  # no connection to be had (a database down)
        raise DBAPIError.instance(
            None, None, error, dialect.loaded_dbapi.Error, dialect=dialect
        ) from error
    dbapi_connection: Any = connection.dbapi_connection
    undo: Callable[[], None] | None = None
    try:
        undo = _autocommit_on(dialect, dbapi_connection)
        cursor = connection.cursor()
        try:
            yield cursor, dialect
        finally:
            cursor.close()
    except DBAPIError as error:
        if error.connection_invalidated:
            connection.invalidate(error)
            undo = None  # nothing to restore on a connection that is gone
        raise
    finally:
        if undo is not None:
            try:
                undo()
            except Exception as error:  # a broken connection must not go back
                connection.invalidate(error)
        connection.close()


@contextlib.contextmanager
def transaction_cursor() -> Iterator[tuple[Any, Dialect]]:
    """A DBAPI cursor on the request's own transaction (db.session's
    connection): for a `Compiled` statement that must see, and be part of,
    what the request goes on to write."""
    connection = db.session.connection()
    cursor = connection.connection.cursor()
    try:
        yield cursor, connection.dialect
    except DBAPIError as error:
        if error.connection_invalidated:
            connection.invalidate(error)
        raise
    finally:
        cursor.close()
