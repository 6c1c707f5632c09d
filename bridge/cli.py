"""`flask` commands for staff and cron (run with `flask --app main_run COMMAND`)."""

from __future__ import annotations

import datetime as dt
import functools
import getpass
import json
import sys
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar
from zoneinfo import ZoneInfo

import click
from cryptography.fernet import Fernet
from flask.cli import with_appcontext

from bridge.adapters.fabman import FabmanError
from bridge.answers import to_json
from bridge.application import Bridge, bridge_of
from bridge.domain.models import MAX_ID
from bridge.domain.statuses import ReceiptStatus
from bridge.errors import Conflict, JobRunning, NotFound, ServiceNotConfigured
from bridge.services.admin import describe_event
from bridge.services.console.exports import evidence_csv, evidence_rows
from bridge.services.console.filters import EvidenceFilter, Period
from bridge.services.expiry import ExpirySummary, Progress
from bridge.services.ledger import ledger_row

P = ParamSpec("P")
R = TypeVar("R")


def with_bridge(command: Callable[P, R]) -> Callable[P, R]:
    """Run a command in the app's context and return only once the outbox sender holds nothing.

    A use case queues its mail and wakes the sender; a `flask` command waits
    for that mail to be sent (or to fail and stay queued) before it exits,
    so what it queued leaves as it would from a serving worker.
    """

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        finally:
            bridge_of().sender.wait_idle(timeout=None)

    return with_appcontext(run)


def _echo_json(answer: object) -> None:
    """An answer as the API writes it, indented."""
    click.echo(json.dumps(to_json(answer), indent=2, ensure_ascii=False))


@click.command("gen-fernet-key")
def gen_fernet_key() -> None:
    """Print a new Fernet key (put it first in FERNET_KEY to rotate)."""
    click.echo(Fernet.generate_key().decode("ascii"))


@click.command("quiz-link")
@click.argument("member_id", type=click.IntRange(min=1, max=MAX_ID))
@click.argument("course_id", type=click.IntRange(min=1, max=MAX_ID))
@with_bridge
def quiz_link(member_id: int, course_id: int) -> None:
    """Print a member's personal quiz link for a course."""
    links = bridge_of().training_links(member_id, course_id)
    if links.quiz_url is None:
        raise click.ClickException(f"no quiz link: {links.attempts_left} attempts left or the course is not online")
    click.echo(links.quiz_url)


@click.command("retry")
@with_bridge
def retry() -> None:
    """Apply queued ClassMarker results that are due and send unsent mail."""
    try:
        _echo_json(bridge_of().run_job("retry", trigger="cli"))
    except JobRunning as error:
        raise click.ClickException(error.detail) from None


@click.command("show-event")
@click.argument("event_id", type=click.IntRange(min=1, max=MAX_ID))
@with_bridge
def show_event(event_id: int) -> None:
    """Show one stored ClassMarker event."""
    try:
        event = bridge_of().event(event_id)
    except NotFound as error:
        raise click.ClickException(error.detail) from None
    _echo_json(describe_event(event))


@click.command("replay-event")
@click.argument("event_id", type=click.IntRange(min=1, max=MAX_ID))
@with_bridge
def replay_event(event_id: int) -> None:
    """Put a dead, failed or rejected event back and process it now."""
    receipt = bridge_of().replay(event_id)
    _echo_json(receipt)
    if receipt.status == ReceiptStatus.UNKNOWN:
        raise click.ClickException(f"event {event_id} does not exist")


@click.command("reset-attempts")
@click.argument("member_id", type=click.IntRange(min=1, max=MAX_ID))
@click.argument("course_id", type=click.IntRange(min=1, max=MAX_ID))
@with_bridge
def reset_attempts(member_id: int, course_id: int) -> None:
    """Clear a member's failed attempts of one course."""
    _echo_json(bridge_of().reset_attempts(member_id, course_id))


@click.command("expire-trainings")
@click.option("--dry-run", is_flag=True, help="Report what would be done; mail and delete nothing.")
@with_bridge
def expire_trainings(dry_run: bool) -> None:
    """Announce and remove expired trainings, send due reminders; print the summary as JSON.

    Progress goes to stderr (a bar on a terminal, a line per page of members
    otherwise) so stdout stays one JSON document; the exit code is 1 when any
    member failed (the next run retries them).
    """
    bridge = bridge_of()
    try:
        if sys.stderr.isatty():
            with click.progressbar(_unknown_length(), label="Members", show_pos=True, file=sys.stderr) as bar:
                summary = _sweep(bridge, dry_run, lambda page, _: bar.update(page))
        else:
            summary = _sweep(bridge, dry_run, _progress_line)
    except JobRunning as error:
        raise click.ClickException(error.detail) from None
    except FabmanError as error:
        raise click.ClickException(f"the sweep stopped, rerun it later: {error}") from None
    _echo_json(summary)
    if summary.errors:
        raise SystemExit(1)


def _sweep(bridge: Bridge, dry_run: bool, progress: Progress) -> ExpirySummary:
    """A real sweep is recorded as the expiry job's run; a dry run is not (it must not stand for today's sweep)."""
    if dry_run:
        return bridge.expire_trainings(dry_run=True, progress=progress)
    return bridge.run_job("expiry_sweep", trigger="cli", run=lambda: bridge.expire_trainings(progress=progress))


@click.command("jobs")
@with_bridge
def jobs() -> None:
    """Show each in-process job, its schedule and its last run."""
    _echo_json(bridge_of().job_status())


@click.group("evidence", invoke_without_command=True)
@click.option("--member", "member_id", type=click.IntRange(min=1, max=MAX_ID), help="Fabman member id.")
@click.option("--course", "course_id", type=click.IntRange(min=1, max=MAX_ID), help="Training course id.")
@click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), help="Granted on or after (YYYY-MM-DD).")
@click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), help="Granted on or before (YYYY-MM-DD).")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header row and every ledger column, instead of JSON.")
@click.pass_context
@with_bridge
def evidence(
    context: click.Context,
    member_id: int | None,
    course_id: int | None,
    date_from: dt.datetime | None,
    date_to: dt.datetime | None,
    as_csv: bool,
) -> None:
    """Print the ledger's proof of a member's trainings (--member), or run `checkpoint` / `verify` on the evidence log."""
    if context.invoked_subcommand is not None:
        return
    if member_id is None:
        raise click.UsageError("Missing option '--member' (or a command: checkpoint, verify).")
    period = Period(date_from.date() if date_from else None, date_to.date() if date_to else None)
    rows = evidence_rows(bridge_of().deps, EvidenceFilter(member_id=member_id, course_id=course_id, period=period))
    if as_csv:
        click.echo(evidence_csv(rows), nl=False)
    else:
        _echo_json([ledger_row(row) for row in rows])


@evidence.command("checkpoint")
@with_bridge
def evidence_checkpoint() -> None:
    """Sign a checkpoint of the evidence log now, keep it and mail it to EVIDENCE_WITNESS_EMAILS."""
    try:
        _echo_json(bridge_of().run_job("checkpoint", trigger="cli"))
    except JobRunning as error:
        raise click.ClickException(error.detail) from None


@evidence.command("verify")
@with_bridge
def evidence_verify() -> None:
    """Recompute every checkpoint from the stored leaves, check signatures and the ledger; exit 1 naming the first bad index."""
    report = bridge_of().evidence.verify()
    first = report.first_bad_index
    if first is None:
        click.echo(f"evidence log holds: {report.size} leaves, {report.checkpoints} checkpoints verified")
        return
    reasons = [why for index, why in report.problems if index == first]
    click.echo(f"evidence index {first} does not hold: {reasons[0]}", err=True)
    for index, why in sorted(report.problems)[1:]:
        click.echo(f"  also index {index}: {why}", err=True)
    raise SystemExit(1)


@click.group("privacy")
def privacy() -> None:
    """Members' personal data: purge past retention, erase a deleted member, export what is held."""


@privacy.command("purge")
@with_bridge
def privacy_purge() -> None:
    """Remove raw webhook bodies and sent mail bodies past PAYLOAD_RETENTION_DAYS / MAIL_RETENTION_DAYS; the counts."""
    try:
        _echo_json(bridge_of().run_job("purge", trigger="cli"))
    except JobRunning as error:
        raise click.ClickException(error.detail) from None


@privacy.command("erase")
@click.option("--member", "member_id", type=click.IntRange(min=1, max=MAX_ID), required=True, help="Fabman member id.")
@with_bridge
def privacy_erase(member_id: int) -> None:
    """Erase a member Fabman no longer has (GET /members/ID must answer 404); keeps the pseudonymous evidence."""
    try:
        _echo_json(bridge_of().privacy.erase(member_id, by=f"cli:{_shell_user()}"))
    except (Conflict, FabmanError) as error:
        raise click.ClickException(str(error)) from None


def _shell_user() -> str:
    """Who ran a command, for the staff log (a container may have no user name)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@privacy.command("export")
@click.option("--member", "member_id", type=click.IntRange(min=1, max=MAX_ID), required=True, help="Fabman member id.")
@with_bridge
def privacy_export(member_id: int) -> None:
    """Print everything the bridge holds about a member as one JSON document."""
    _echo_json(bridge_of().privacy.export(member_id))


def _unknown_length() -> Iterator[None]:
    """An iterable without a length: the bar counts members without knowing the total."""
    yield from ()


def _progress_line(page: int, summary: ExpirySummary) -> None:
    click.echo(
        f"{summary.members_scanned} members scanned, {summary.expired_found} expired, {summary.removed} removed, "
        f"{summary.reminders_queued} reminders, {len(summary.errors)} errors",
        err=True,
    )


@click.command("digest")
@click.option("--dry-run", is_flag=True, help="Print the digest only; queue and send nothing.")
@with_bridge
def digest(dry_run: bool) -> None:
    """Print the weekly staff digest and send it to FABLAB_SUPPORT_EMAIL (once per ISO week).

    The digest's text goes to stdout; what became of it (queued, already
    queued this week, no recipient, dry run) to stderr.
    """
    bridge = bridge_of()
    try:
        # A real digest is a run of the digest job (recorded, under its lock); a dry run is not.
        answer = bridge.digest(dry_run=True) if dry_run else bridge.run_job("digest", trigger="cli", run=bridge.digest)
    except JobRunning as error:
        raise click.ClickException(error.detail) from None
    except FabmanError as error:
        raise click.ClickException(f"the digest could not read Fabman, run it again later: {error}") from None
    click.echo(f"Subject: {answer.subject}\n")
    click.echo(answer.text)
    click.echo(f"digest {answer.week}: {answer.status} (to {answer.recipient or 'nobody'})", err=True)


@click.command("reconcile")
@click.option(
    "--since",
    metavar="WHEN",
    help="Start at this moment instead of the watermark: UNIX seconds or an ISO date/date-time "
    "(in TIMEZONE unless it says otherwise); may go back further than 14 days.",
)
@with_bridge
def reconcile(since: str | None) -> None:
    """Ask ClassMarker's results API for results the webhook never brought; store and apply them.

    Prints the summary as JSON; the exit code is 1 when the run stopped early
    (ClassMarker's limit or an error answer, or the hourly request budget):
    what it found so far is kept, and the next run goes on.
    """
    bridge = bridge_of()
    start = None if since is None else _moment(since, bridge.settings.tz)
    try:
        summary = bridge.run_reconcile(trigger="cli", since=start)
    except (ServiceNotConfigured, JobRunning) as error:
        raise click.ClickException(error.detail) from None
    _echo_json(summary)
    if not summary.complete:
        raise SystemExit(1)


@click.command("review-result")
@click.argument("event_id", type=click.IntRange(min=1, max=MAX_ID))
@click.argument("verdict", type=click.Choice(["passed", "failed"]))
@with_bridge
def review_result(event_id: int, verdict: str) -> None:
    """Judge a result reconciliation stored as needs_review (VERDICT: passed or failed) and apply it."""
    receipt = bridge_of().review_result(event_id, passed=verdict == "passed")
    _echo_json(receipt)
    if receipt.status == ReceiptStatus.UNKNOWN:
        raise click.ClickException(f"event {event_id} does not exist")


def _moment(text: str, tz: ZoneInfo) -> int:
    """UNIX seconds from digits or an ISO date/date-time (naive ones are in the FabLab's time zone)."""
    value = text.strip()
    if value.isascii() and value.isdigit():
        return int(value)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        hint = "use UNIX seconds (1763712000) or an ISO date/date-time (2026-11-20)"
        raise click.BadParameter(hint, param_hint="--since") from None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=tz)).timestamp())


commands = [
    gen_fernet_key,
    quiz_link,
    retry,
    show_event,
    replay_event,
    reset_attempts,
    expire_trainings,
    jobs,
    digest,
    reconcile,
    review_result,
    evidence,
    privacy,
]
