"""Operator commands for accounts."""

from __future__ import annotations

import secrets

import click
from flask import Flask

from flaskou.accounts import service
from flaskou.errors import DomainError


def one_line(error: DomainError) -> str:
    if error.errors:
        return "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in sorted(error.errors.items())
        )
    return error.detail


@click.command("create-admin")
@click.argument("username")
@click.argument("email")
@click.argument("password", required=False)
def create_admin_command(username: str, email: str, password: str | None) -> None:
    """Create USERNAME with the admin role (prompts for the password if not given)."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = service.create_admin(username, email, password)
    except DomainError as error:
        raise click.ClickException(one_line(error)) from None
    click.echo(f"Created admin {user.username} <{user.email}>.")


@click.command("ensure-admin")
@click.option("--username", envvar="ADMIN_USERNAME", default="admin", show_default=True)
@click.option(
    "--email", envvar="ADMIN_EMAIL", default="admin@localhost.localdomain", show_default=True
)
@click.option(
    "--password",
    envvar="ADMIN_PASSWORD",
    default=None,
    help="Generated and printed once when not given.",
)
def ensure_admin_command(username: str, email: str, password: str | None) -> None:
    """Create a first admin unless an active admin already exists."""
    if service.any_active_admin():
        click.echo("An active admin exists; nothing to do.")
        return
    generated = password is None
    if password is None:
        password = secrets.token_urlsafe(12)
    try:
        user = service.create_admin(username, email, password)
    except DomainError as error:
        raise click.ClickException(one_line(error)) from None
    click.echo(f"Created admin {user.username} <{user.email}>.")
    if generated:
        click.echo(f"Its generated password, shown only this once: {password}")


def init_app(app: Flask) -> None:
    app.cli.add_command(create_admin_command)
    app.cli.add_command(ensure_admin_command)
