"""Commands for the whole app, and the `flaskou` console script."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup
from flask_migrate import upgrade
from sqlalchemy import MetaData

from flaskou.errors import DomainError
from flaskou.extensions import db


def one_line(error: DomainError) -> str:
    """A domain error as the one line a command prints (shared by every domain's CLI)."""
    if error.errors:
        return "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in sorted(error.errors.items())
        )
    return error.detail


@click.command("reset-db")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reset_db_command(yes: bool) -> None:
    """Drop every table and recreate the schema from the migrations."""
    if not yes:
        click.confirm(
            f"This deletes ALL data in {db.engine.url.render_as_string(hide_password=True)}. "
            "Continue?",
            abort=True,
        )
    db.session.remove()  # release this process's own locks before dropping
    existing = MetaData()
    existing.reflect(bind=db.engine)
    existing.drop_all(bind=db.engine)
    db.session.remove()
    upgrade()
    click.echo("Database reset: every table dropped and recreated.")


def init_app(app: Flask) -> None:
    app.cli.add_command(reset_db_command)


def main() -> None:
    from flaskou import create_app

    FlaskGroup(create_app=create_app)()
