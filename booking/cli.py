"""Flask commands: seed-demo, outbox send|work, create-user, check, purge, invite."""

from __future__ import annotations

from datetime import datetime

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from booking import bookings, find_requests, invitations
from booking.accounts import AccountError, create_or_update_user
from booking.availability import get_centre_and_service
from booking.checks import deployment_findings, workers_from
from booking.demo import seed_demo
from booking.models import utcnow
from booking.outbox import send_due, work
from booking.retention import purge, vacuum_erased


def before_sending(app: Flask, *, now: datetime) -> int:
    """What the outbox worker does first in each round: release the holds that ran out
    (their time is free for everyone), answer waiting "find my booking" requests (whose
    mails the round then sends). Returns how many things it did."""
    return bookings.expire_holds(now) + find_requests.resolve_pending(app, now=now)


def init_app(app: Flask) -> None:
    """Register the commands."""

    @app.cli.command("seed-demo")
    @click.option(
        "--bookings/--no-bookings",
        default=True,
        show_default=True,
        help="Also invent bookings of the last months and next days (for calendars, reports).",
    )
    def seed_demo_command(bookings: bool) -> None:
        """Create the demo centres, services, counsellors and events (idempotent)."""

        created = seed_demo(with_bookings=bookings)
        click.echo(
            "Demo data: {centres} centres, {services} services, {counsellors} counsellors, "
            "{bookings} bookings, {events} events created.".format(**created)
        )

    outbox_group = AppGroup("outbox", help="Send the mails waiting in the outbox.")
    app.cli.add_command(outbox_group)

    @outbox_group.command("send")
    @click.option("--limit", default=100, show_default=True, help="At most this many mails.")
    def outbox_send(limit: int) -> None:
        """Release the holds that ran out, answer waiting "find my booking" requests and
        send what is due, once."""

        app, now = current_app._get_current_object(), utcnow()
        bookings.expire_holds(now)
        answered = find_requests.resolve_pending(app, now=now)
        sent, failed = send_due(app, now=now, limit=limit)
        click.echo(f"Outbox: {sent} sent, {failed} failed; {answered} link requests answered.")

    @outbox_group.command("work")
    @click.option("--poll", default=5.0, show_default=True, help="Seconds between rounds.")
    def outbox_work(poll: float) -> None:
        """Keep sending until stopped (Ctrl+C)."""

        click.echo("Outbox worker running; Ctrl+C stops it.")
        try:
            work(
                current_app._get_current_object(),
                poll_seconds=poll,
                before_sending=before_sending,
            )
        except KeyboardInterrupt:
            click.echo("Outbox worker stopped.")

    @app.cli.command("purge")
    @click.option(
        "--dry-run", is_flag=True, help="Only count what would be erased; change nothing."
    )
    @click.option(
        "--days",
        type=click.IntRange(min=1),
        default=None,
        help="Days after the appointment (default: RETENTION_DAYS, 90).",
    )
    def purge_command(dry_run: bool, days: int | None) -> None:
        """Erase names, contacts, messages and mail bodies of bookings and event
        registrations past retention, and of holds that ran out unconfirmed."""

        days = days or current_app.config["RETENTION_DAYS"]
        counts = purge(utcnow(), days, dry_run=dry_run)
        prefix = "Would erase" if dry_run else "Erased"
        click.echo(
            f"{prefix} (older than {days} days after the appointment): "
            f"{counts.bookings} bookings, {counts.registrations} event registrations, "
            f"{counts.mails} mail bodies; "
            f"{counts.expired_holds} holds that ran out unconfirmed (at any age); "
            f"{counts.invitations} invitations; "
            f"{counts.sign_in_records} old sign-in records; "
            f"{counts.find_requests} unanswered link requests."
        )
        if not dry_run:
            vacuumed = vacuum_erased()
            if vacuumed:
                click.echo(f"Vacuumed: {', '.join(vacuumed)}.")

    @app.cli.command("create-user")
    @click.argument("email")
    @click.option(
        "--role",
        type=click.Choice(["admin", "counsellor", "reception", "school_supervision"]),
        required=True,
    )
    @click.option(
        "--centre", "centre_slugs", multiple=True, help="Centre slug; admins may repeat it."
    )
    @click.option("--name", default=None, help="Display name (default: the e-mail's local part).")
    @click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
    def create_user_command(email, role, centre_slugs, name, password_stdin):
        """Create a staff account, or set the password and role of an existing one."""
        import sys

        if not password_stdin:
            raise click.UsageError("give the password on standard input with --password-stdin")
        password = sys.stdin.readline().rstrip("\r\n")
        try:
            user, created = create_or_update_user(
                email, role, list(centre_slugs), password, name, now=utcnow()
            )
        except AccountError as error:
            raise click.ClickException(str(error)) from error
        click.echo(f"{'Created' if created else 'Updated'} {user.role} {user.email}.")

    @app.cli.command("check")
    @click.option(
        "--workers",
        type=click.IntRange(min=1),
        default=None,
        help="gunicorn workers (default: --gunicorn-config's, else WEB_CONCURRENCY, else 1).",
    )
    @click.option(
        "--gunicorn-config",
        type=click.Path(exists=True, dir_okay=False),
        default=None,
        help="The gunicorn.conf.py the service runs with; its `workers` counts.",
    )
    def check_command(workers, gunicorn_config):
        """Say what is missing or unsafe for production; exit 1 when anything is."""
        import os

        if workers is None:
            workers = workers_from(gunicorn_config, dict(os.environ))
        findings = deployment_findings(current_app._get_current_object(), workers)
        for finding in findings:
            click.echo(f"{finding.level.upper():7} {finding.text}")
        unsafe = [f for f in findings if f.level == "unsafe"]
        if unsafe:
            click.echo(f"{len(unsafe)} problem(s): not ready for production.")
            raise SystemExit(1)
        click.echo("Ready for production.")

    @app.cli.command("invite")
    @click.option("--centre", "centre_slug", required=True, help="The centre's slug.")
    @click.option("--service", "service_slug", required=True, help="The service's slug.")
    @click.option("--name", default=None, help="The family's name.")
    @click.option("--email", default=None, help="Their e-mail address (the link is mailed).")
    @click.option("--phone", default=None, help="Their phone number.")
    @click.option("--language", default="de", show_default=True, help="ar, tr, uk, de-easy, ...")
    @click.option("--case-note", default=None, help="For the counsellor and the officer.")
    @click.option(
        "--expires-days", default=str(invitations.VALID_DAYS), show_default=True, help="Validity."
    )
    @click.option(
        "--csv",
        "csv_file",
        type=click.File("r", encoding="utf-8-sig"),
        default=None,
        help="Invite every row of this file (columns: " + ", ".join(invitations.CSV_COLUMNS) + ").",
    )
    def invite_command(
        centre_slug, service_slug, name, email, phone, language, case_note, expires_days, csv_file
    ):
        """Invite a family (or every row of a list) to book; print each link."""
        centre, service = get_centre_and_service(centre_slug, service_slug)
        if centre is None or service is None:
            raise click.ClickException(f"no centre {centre_slug!r} with service {service_slug!r}")
        now = utcnow()
        # Links are absolute: SERVER_NAME names the host, else this is http://localhost.
        with current_app.test_request_context():
            if csv_file is not None:
                result = invitations.invite_list(
                    centre, service, csv_file.read(), actor=None, now=now
                )
                for invitation, token in result.invited:
                    click.echo(
                        f"{invitation.reference}\t{invitations.invitation_url(invitation, token)}"
                    )
                for number, errors in sorted(result.refused.items()):
                    for field, messages in errors.items():
                        click.echo(f"row {number}: {field}: {' '.join(messages)}", err=True)
                click.echo(f"{len(result.invited)} invited, {len(result.refused)} rows refused.")
                if result.refused:
                    raise SystemExit(1)
                return
            details, errors = invitations.clean_invitation(
                {
                    "name": name,
                    "email": email,
                    "phone": phone,
                    "language": language,
                    "case_note": case_note,
                    "expires_days": expires_days,
                }
            )
            if errors:
                text = "; ".join(f"{f}: {' '.join(m)}" for f, m in errors.items())
                raise click.ClickException(text)
            invitation, token = invitations.invite(centre, service, details, actor=None, now=now)
            click.echo(invitations.invitation_url(invitation, token))
