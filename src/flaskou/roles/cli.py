"""Operator commands for the role catalogue."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from flaskou.audit.service import Actor
from flaskou.cli import one_line
from flaskou.errors import DomainError
from flaskou.roles import service

roles_cli = AppGroup("roles", help="List, create and delete roles.")


@roles_cli.command("list")
def list_command() -> None:
    """Every role with its description."""
    for role in service.list_roles():
        click.echo(f"{role.name}\t{role.description}")


@roles_cli.command("create")
@click.argument("name")
@click.argument("description")
def create_command(name: str, description: str) -> None:
    """Create role NAME."""
    try:
        service.create_role(name, description, actor=Actor.operator())
    except DomainError as error:
        raise click.ClickException(one_line(error)) from None
    click.echo(f"Created role {name}.")


@roles_cli.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete_command(name: str, yes: bool) -> None:
    """Delete role NAME (its holders lose it)."""
    if not yes:
        click.confirm(f"Delete role {name}? Its holders lose it.", abort=True)
    try:
        service.delete_role(name, actor=Actor.operator())
    except DomainError as error:
        raise click.ClickException(one_line(error)) from None
    click.echo(f"Deleted role {name}.")


def init_app(app: Flask) -> None:
    app.cli.add_command(roles_cli)
