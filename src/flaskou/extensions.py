"""Extensions are created unbound here and bound to the app in create_app()."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase

# Deterministic constraint names, so migrations can alter them on every engine.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Database(SQLAlchemy):
    def _teardown_session(self, exc: BaseException | None) -> None:
        """End the request's session; a database that went away meanwhile
        (a restart, an admin shutdown) must not turn an answered request into
        a 500 at teardown. The broken connection is discarded by the pool."""
        try:
            self.session.remove()
        except DBAPIError as error:
            logging.getLogger(__name__).warning(
                "database connection lost at the end of a request: %s", error.__class__.__name__
            )
            self.session.registry.clear()


db = Database(model_class=Base)
migrate = Migrate()

F = TypeVar("F", bound=Callable[..., Any])
_NO_DATABASE = "_flaskou_no_database"


def no_database(view: F) -> F:
    """Declare that a route answers without the database (so never 503 for it)."""
    setattr(view, _NO_DATABASE, True)
    return view


def uses_database(view: Callable[..., Any]) -> bool:
    return not getattr(view, _NO_DATABASE, False)


# Models subclass `Model`: Flask-SQLAlchemy's db.Model at runtime, and the
# declarative base it extends for type checkers.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
