"""`flask` commands for staff and cron (run with `flask --app main_run COMMAND`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import click
from cryptography.fernet import Fernet
from flask.cli import with_appcontext

from bridge.adapters.fabman import FabmanError
from bridge.container import services
from bridge.services import admin, expiry, results
from bridge.services.profile import ProfileDeps, training_links

MAX_EVENT_ID = 2**31 - 1  # ids are 32-bit integers in the store and in Fabman


def _result_deps() -> results.ResultDeps:
    found = services()
    return results.ResultDeps(found.settings, found.fabman, found.codec, found.store, found.notifier)


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


@click.command("gen-fernet-key")
def gen_fernet_key() -> None:
    """Print a new Fernet key (put it first in FERNET_KEY to rotate)."""
    click.echo(Fernet.generate_key().decode("ascii"))


@click.command("quiz-link")
@click.argument("member_id", type=click.IntRange(min=1, max=MAX_EVENT_ID))
@click.argument("course_id", type=click.IntRange(min=1, max=MAX_EVENT_ID))
@with_appcontext
def quiz_link(member_id: int, course_id: int) -> None:
    """Print a member's personal quiz link for a course."""
    found = services()
    links = training_links(ProfileDeps(found.fabman, found.codec, found.settings.max_course_attempts), member_id, course_id)
    if links["quiz_url"] is None:
        raise click.ClickException(f"no quiz link: {links['attempts_left']} attempts left or the course is not online")
    click.echo(links["quiz_url"])


@click.command("retry")
@with_appcontext
def retry() -> None:
    """Apply queued ClassMarker results that are due and send unsent mail."""
    _echo_json(results.retry_due(_result_deps()))


@click.command("show-event")
@click.argument("event_id", type=click.IntRange(min=1, max=MAX_EVENT_ID))
@with_appcontext
def show_event(event_id: int) -> None:
    """Show one stored ClassMarker event."""
    event = services().store.get_event(event_id)
    if event is None:
        raise click.ClickException(f"event {event_id} does not exist")
    _echo_json(admin.describe_event(event))


@click.command("replay-event")
@click.argument("event_id", type=click.IntRange(min=1, max=MAX_EVENT_ID))
@with_appcontext
def replay_event(event_id: int) -> None:
    """Put a dead, failed or rejected event back and process it now."""
    receipt = results.replay(_result_deps(), event_id)
    _echo_json(receipt.as_json())
    if receipt.status == "unknown":
        raise click.ClickException(f"event {event_id} does not exist")


@click.command("reset-attempts")
@click.argument("member_id", type=click.IntRange(min=1, max=MAX_EVENT_ID))
@click.argument("course_id", type=click.IntRange(min=1, max=MAX_EVENT_ID))
@with_appcontext
def reset_attempts(member_id: int, course_id: int) -> None:
    """Clear a member's failed attempts of one course."""
    _echo_json(admin.reset_attempts(services().fabman, member_id, course_id))


@click.command("expire-trainings")
@click.option("--dry-run", is_flag=True, help="Report what would be done; mail and delete nothing.")
@with_appcontext
def expire_trainings(dry_run: bool) -> None:
    """Announce and remove expired trainings, send due reminders; print the summary as JSON.

    Progress goes to stderr (a bar on a terminal, a line per page of members
    otherwise) so stdout stays one JSON document; the exit code is 1 when any
    member failed (the next run retries them).
    """
    found = services()
    deps = expiry.ExpiryDeps(found.settings, found.fabman, found.codec, found.store, found.notifier)
    try:
        if sys.stderr.isatty():
            with click.progressbar(_unknown_length(), label="Members", show_pos=True, file=sys.stderr) as bar:
                summary = expiry.expire_trainings(deps, dry_run=dry_run, progress=lambda page, _: bar.update(page))
        else:
            summary = expiry.expire_trainings(deps, dry_run=dry_run, progress=_progress_line)
    except FabmanError as error:
        raise click.ClickException(f"the sweep stopped, rerun it later: {error}") from None
    _echo_json(summary)
    if summary["errors"]:
        raise SystemExit(1)


def _unknown_length() -> Iterator[None]:
    """An iterable without a length: the bar counts members without knowing the total."""
    yield from ()


def _progress_line(page: int, summary: expiry.SweepSummary) -> None:
    click.echo(
        f"{summary.members_scanned} members scanned, {summary.expired_found} expired, {summary.removed} removed, "
        f"{summary.reminders_queued} reminders, {len(summary.errors)} errors",
        err=True,
    )


commands = [gen_fernet_key, quiz_link, retry, show_event, replay_event, reset_attempts, expire_trainings]
