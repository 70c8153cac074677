"""Operator commands for accounts."""

from __future__ import annotations

import secrets

import click
from flask import Flask
from flask.cli import AppGroup

from flaskou import lifecycle
from flaskou.accounts import service
from flaskou.apikeys import service as apikeys
from flaskou.audit.service import Actor
from flaskou.cli import one_line
from flaskou.errors import DomainError
from flaskou.mfa import service as mfa
from flaskou.models import utcnow

users_cli = AppGroup("users", help="List users, (de)activate them, grant and revoke roles.")


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
        if service.any_active_admin():  # another instance starting up made one first
            click.echo("An active admin exists; nothing to do.")
            return
        raise click.ClickException(one_line(error)) from None
    click.echo(f"Created admin {user.username} <{user.email}>.")
    if generated:
        click.echo(f"Its generated password, shown only this once: {password}")


@users_cli.command("list")
@click.option("--q", "prefix", default=None, help="Only usernames/emails starting with this.")
def list_users_command(prefix: str | None) -> None:
    """List users: name, email, active, roles."""
    cursor = None
    shown = 0
    while True:
        page = service.list_users(limit=100, cursor=cursor, q=prefix)
        for user in page.items:
            state = "active" if user.is_active else "inactive"
            roles_text = ",".join(user.role_names) or "-"
            click.echo(f"{user.username}\t{user.email}\t{state}\t{roles_text}")
            shown += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    click.echo(f"{shown} user(s)", err=True)


def _run(action: str, call: object) -> None:
    try:
        call()  # type: ignore[operator]
    except DomainError as error:
        raise click.ClickException(one_line(error)) from None
    click.echo(action)


@users_cli.command("activate")
@click.argument("username")
def activate_command(username: str) -> None:
    """Let USERNAME log in again."""
    _run(
        f"{username} is active.",
        lambda: lifecycle.update_user(username, actor=Actor.operator(), is_active=True),
    )


@users_cli.command("deactivate")
@click.argument("username")
def deactivate_command(username: str) -> None:
    """Block USERNAME from logging in and revoke their sessions and API keys."""
    _run(
        f"{username} is inactive; their sessions and API keys are revoked.",
        lambda: lifecycle.update_user(username, actor=Actor.operator(), is_active=False),
    )


@users_cli.command("reset-mfa")
@click.argument("username")
def reset_mfa_command(username: str) -> None:
    """Remove every second factor of USERNAME (authenticator app, recovery
    codes, passkeys): for a user locked out of their account."""
    _run(
        f"{username}'s second factors are removed; they sign in with their password alone.",
        lambda: mfa.reset(service.get_user(username), actor=Actor.operator()),
    )


@users_cli.command("grant")
@click.argument("username")
@click.argument("role")
def grant_command(username: str, role: str) -> None:
    """Give USERNAME the ROLE."""
    _run(
        f"{username} holds {role}.",
        lambda: service.grant_role(username, role, actor=Actor.operator()),
    )


@users_cli.command("revoke")
@click.argument("username")
@click.argument("role")
def revoke_command(username: str, role: str) -> None:
    """Take ROLE away from USERNAME."""
    _run(
        f"{username} does not hold {role}.",
        lambda: service.revoke_role(username, role, actor=Actor.operator()),
    )


@users_cli.command("api-keys")
@click.argument("username")
def api_keys_command(username: str) -> None:
    """List USERNAME's API keys: id, prefix, name, scopes, created, expires, last used."""
    try:
        user = service.get_user(username)
    except DomainError as error:
        raise click.ClickException(one_line(error)) from None
    keys = apikeys.list_keys(user.id)
    now = utcnow()
    for key in keys:
        expires = "never" if key.expires_at is None else key.expires_at.isoformat()
        if key.expires_at is not None and key.expires_at <= now:
            expires += " (expired)"
        used = "never used" if key.last_used_at is None else key.last_used_at.isoformat()
        click.echo(
            f"{key.id}\t{key.prefix}\t{key.name}\t{','.join(key.scope_list)}"
            f"\t{key.created_at.isoformat()}\t{expires}\t{used}"
        )
    click.echo(f"{len(keys)} API key(s)", err=True)


@users_cli.command("revoke-api-key")
@click.argument("username")
@click.argument("key_id", required=False)
@click.option("--all", "everything", is_flag=True, help="Revoke every API key of USERNAME.")
def revoke_api_key_command(username: str, key_id: str | None, everything: bool) -> None:
    """Revoke USERNAME's API key KEY_ID (see `users api-keys`), or --all of them; audited."""
    if everything == (key_id is not None):
        raise click.UsageError("Give either a KEY_ID or --all.")
    if everything:
        _run(
            f"Every API key of {username} is revoked.",
            lambda: apikeys.revoke_all_keys(service.get_user(username), actor=Actor.operator()),
        )
    else:
        _run(
            f"API key {key_id} of {username} is revoked.",
            lambda: apikeys.revoke_key(
                service.get_user(username), str(key_id), actor=Actor.operator(), reason="operator"
            ),
        )


def init_app(app: Flask) -> None:
    app.cli.add_command(create_admin_command)
    app.cli.add_command(ensure_admin_command)
    app.cli.add_command(users_cli)
