"""Operator commands for files."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import Flask
from flask.cli import AppGroup

from flaskou.files import service
from flaskou.files.storage import current_storage

files_cli = AppGroup("files", help="Maintain stored file contents.")

PROGRESS_THRESHOLD = 20


def _size(count: int) -> str:
    value = float(count)
    for unit in ["B", "KiB", "MiB", "GiB"]:
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"  # pragma: no cover


@files_cli.command("gc")
@click.option(
    "--older-than",
    type=click.IntRange(min=0),
    default=3600,
    show_default=True,
    help="Only touch leftovers at least this many seconds old (uploads in flight are younger).",
)
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
def gc_command(older_than: int, dry_run: bool) -> None:
    """Remove what crashed uploads left behind: unpublished temporary objects
    and published objects that no file row references."""
    storage = current_storage()
    leftovers = service.find_leftovers(storage, older_than=timedelta(seconds=older_than))
    total = sum(item.size for item in leftovers)
    if not leftovers:
        click.echo(f"Nothing to remove ({storage.name} storage).")
        return
    if dry_run:
        for item in leftovers:
            click.echo(f"{item.kind}\t{item.name}\t{item.size}")
        click.echo(f"Would remove {len(leftovers)} leftover(s), {_size(total)}.")
        return
    if len(leftovers) >= PROGRESS_THRESHOLD:
        click.echo(f"Removing {len(leftovers)} leftover(s), {_size(total)}...")
        with click.progressbar(leftovers, label="Removing leftovers") as bar:
            for item in bar:
                storage.remove(item)
    else:
        for item in leftovers:
            storage.remove(item)
    click.echo(f"Removed {len(leftovers)} leftover(s), {_size(total)}.")


def init_app(app: Flask) -> None:
    app.cli.add_command(files_cli)
