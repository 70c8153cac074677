"""Extensions are created unbound here and bound to the app in create_app()."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase

from flaskou.net import client_address

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
limiter = Limiter(key_func=client_address, headers_enabled=True)

# Models subclass `Model`: Flask-SQLAlchemy's db.Model at runtime, and the
# declarative base it extends for type checkers.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
