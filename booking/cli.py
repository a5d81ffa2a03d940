"""Flask commands: seed-demo (more come with bookings, staff and retention)."""

from __future__ import annotations

import click
from flask import Flask


def init_app(app: Flask) -> None:
    """Register the commands."""

    @app.cli.command("seed-demo")
    def seed_demo_command() -> None:
        """Create the demo centres, services and counsellors (idempotent)."""
        from booking.demo import seed_demo

        created = seed_demo()
        click.echo(
            "Demo data: {centres} centres, {services} services, {counsellors} counsellors "
            "created.".format(**created)
        )
