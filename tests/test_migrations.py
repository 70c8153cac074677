from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from flaskou.extensions import db
from flaskou.models import render_migration_item


def test_models_and_migrations_agree(app):
    """The migrated schema is exactly what the models declare."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "render_item": render_migration_item},
        )
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_every_table_comes_from_a_migration(app):
    tables = set(inspect(db.engine).get_table_names())
    assert tables == {*db.metadata.tables, "alembic_version"}


def test_uuid_columns_are_native_on_postgresql(app):
    if db.engine.dialect.name != "postgresql":
        return
    column_type = db.session.scalar(
        text(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_name = 'users' AND column_name = 'id'"
        )
    )
    assert column_type == "uuid"
    timestamp_type = db.session.scalar(
        text(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_name = 'users' AND column_name = 'created_at'"
        )
    )
    assert timestamp_type == "timestamp with time zone"


def test_reset_db_asks_first(runner, accounts):
    accounts.signup("ada")
    result = runner.invoke(args=["reset-db"], input="n\n")
    assert result.exit_code != 0
    assert (
        accounts.client.post(
            "/api/v1/login", json={"username": "ada", "password": "correct horse battery"}
        ).status_code
        == 200
    )


def test_reset_db_drops_and_recreates_every_table(runner, accounts):
    accounts.signup("ada")
    result = runner.invoke(args=["reset-db", "--yes"])
    assert result.exit_code == 0, result.output
    db.session.remove()
    assert db.session.scalar(text("SELECT count(*) FROM users")) == 0
    assert db.session.scalar(text("SELECT version_num FROM alembic_version"))
    accounts.signup("ada")
