"""`flask` commands for staff and cron (run with `flask --app main_run COMMAND`)."""

from __future__ import annotations

import json
from typing import Any

import click
from cryptography.fernet import Fernet
from flask.cli import with_appcontext

from bridge.container import services
from bridge.services import admin, results
from bridge.services.profile import ProfileDeps, training_links


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
@click.argument("member_id", type=click.IntRange(min=1))
@click.argument("course_id", type=click.IntRange(min=1))
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
@click.argument("event_id", type=int)
@with_appcontext
def show_event(event_id: int) -> None:
    """Show one stored ClassMarker event."""
    event = services().store.get_event(event_id)
    if event is None:
        raise click.ClickException(f"event {event_id} does not exist")
    _echo_json(admin.describe_event(event))


@click.command("replay-event")
@click.argument("event_id", type=int)
@with_appcontext
def replay_event(event_id: int) -> None:
    """Put a dead, failed or rejected event back and process it now."""
    receipt = results.replay(_result_deps(), event_id)
    _echo_json(receipt.as_json())
    if receipt.status == "unknown":
        raise click.ClickException(f"event {event_id} does not exist")


@click.command("reset-attempts")
@click.argument("member_id", type=click.IntRange(min=1))
@click.argument("course_id", type=click.IntRange(min=1))
@with_appcontext
def reset_attempts(member_id: int, course_id: int) -> None:
    """Clear a member's failed attempts of one course."""
    _echo_json(admin.reset_attempts(services().fabman, member_id, course_id))


commands = [gen_fernet_key, quiz_link, retry, show_event, replay_event, reset_attempts]
