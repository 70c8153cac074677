"""What the database is sent, counted at the driver.

SQLite's trace of every statement it runs, and on PostgreSQL libpq's trace of
the protocol (each simple Query and each extended-protocol Sync is one round
trip), so a BEGIN or a ROLLBACK counts like any query. Statements run straight
on a pooled DBAPI connection (flaskou.hotpath) are counted too, which
SQLAlchemy's engine events would miss.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Iterator

from sqlalchemy import event

from flaskou.extensions import db

_ROUND_TRIP = re.compile(r"^F\t\d+\t(Query|Sync)\b(.*)$", re.MULTILINE)


@contextlib.contextmanager
def statements_sent() -> Iterator[list[str]]:
    """What the pooled connections send while the block runs."""
    engine = db.engine
    # The test's app context outlives requests: its ORM session may still hold
    # a connection checked out before the block. Give it back, so every
    # statement of the block goes through a checkout (and is traced).
    db.session.remove()
    sent: list[str] = []
    trace = tempfile.TemporaryFile()  # noqa: SIM115 - closed at the end of the block

    def attach(dbapi_connection, _record, _proxy) -> None:
        if engine.dialect.name == "sqlite":
            dbapi_connection.set_trace_callback(sent.append)
        else:
            from psycopg import pq

            dbapi_connection.pgconn.trace(trace.fileno())
            dbapi_connection.pgconn.set_trace_flags(
                pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE
            )

    def detach(dbapi_connection, _record) -> None:
        if engine.dialect.name == "sqlite":
            dbapi_connection.set_trace_callback(None)
        else:
            dbapi_connection.pgconn.untrace()

    event.listen(engine, "checkout", attach)
    event.listen(engine, "checkin", detach)
    try:
        yield sent
    finally:
        event.remove(engine, "checkout", attach)
        event.remove(engine, "checkin", detach)
        if engine.dialect.name != "sqlite":
            trace.seek(0)
            protocol = trace.read().decode("utf-8", "replace")
            sent.extend(" ".join(match) for match in _ROUND_TRIP.findall(protocol))
        trace.close()
