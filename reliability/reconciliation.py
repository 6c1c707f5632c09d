"""Results whose webhook never arrives: reconciliation with ClassMarker's results API, counted from the world.

Each scenario has its own ClassMarker account: members take their quizzes
there, ClassMarker's webhook sender (which can lose deliveries or sign with
the wrong secret) posts them to the bridge, and ClassMarker's results API on
loopback lists them to the bridge's reconciliation. What a member did is
planned as in :mod:`reliability.scenarios` (each result's effect does not
depend on the order it is applied in), so the same checks count it from
Fabman's records, the mailbox and the store: every result applied once,
whichever of webhook and poll brought it, and every mail once.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from bridge.adapters.store import JobRunRow
from bridge.domain.statuses import EventSource
from harness import WEBHOOK_SECRET
from harness.wait import WaitTimedOut, wait_until
from reliability.checks import Json, PlannedResult, Tally, mail_kind
from reliability.scenarios import (
    RunContext,
    Scenario,
    check_jobs,
    drain_and_note,
    plan_results,
    replayable,
    settle_and_note,
    snapshot,
    verify_results,
)
from reliability.world import STAFF_EMAIL, World
from sandbox.simulator import SimState, generated_state
from sandbox.simulator.classmarker import ClassMarkerAccount, ClassMarkerWebhookDelivery, ClassMarkerWebhookSender

BRIDGE_TZ = ZoneInfo("Europe/Prague")
"""The bridge's TIMEZONE (its default): the day of the once-a-day alert."""

WEBHOOK = "/add_classmarker_training"
LOSS_RATE = 0.3
DOWN_REDELIVERIES = 3
"""How often ClassMarker re-sends a result while the bridge is down before it gives up (here; its real schedule is
undocumented and ends after hours)."""
RECONCILE_MINUTES = 1
OWN_JOBS = {
    "JOBS": "on",
    "RETRY_EVERY_SECONDS": "2",
    "RETRY_BASE_SECONDS": "1",
    "RECONCILE_MINUTES": str(RECONCILE_MINUTES),
    "SWEEP_AT": "off",
    "DIGEST_WEEKDAY": "off",
}
"""The bridge's own jobs: retry every 2 s, reconciliation every minute (the shortest it takes), no sweep or digest."""
RACE_ENV = {**OWN_JOBS, "FABMAN_CONCURRENCY": "4"}
GAP_ALERT = "webhook is probably misconfigured"
WEBHOOK_THREADS = 4
RECONCILE_JOB = "reconciliation"
WEBHOOK_PACE_SECONDS = 0.15
"""Between one webhook thread's posts: all threads together about as fast as a poll applies what it finds (each new
result applied before the next is taken, two Fabman calls), so the two meet midway through each round's results."""
REDELIVERY_PAUSE_SECONDS = 3.0


@dataclass(frozen=True)
class Quizzes:
    """What a scenario's members will do, and the world before they do it: its own ClassMarker account included."""

    state: SimState
    planned: list[PlannedResult]
    before: dict[int, Json]
    account: ClassMarkerAccount


def plan_quizzes(ctx: RunContext, seed_offset: int, count: int) -> Quizzes:
    """`count` results over a fresh Fabman state (see plan_results), seeded per scenario, and a fresh account."""
    rng = replayable(ctx.seed + seed_offset)
    state = generated_state(ctx.sizes.members, seed=ctx.seed + seed_offset)
    planned = plan_results(state, count, rng)
    before = snapshot(state, (r.member_id for r in planned))
    return Quizzes(state, planned, before, ClassMarkerAccount(webhook_secret=WEBHOOK_SECRET))


def found_new(runs: Iterable[JobRunRow]) -> int:
    """Results the reconciliation runs stored first (their summaries' `new`)."""
    return sum(int((run.summary or {}).get("new", 0)) for run in runs)


def take_quizzes(account: ClassMarkerAccount, world: World, planned: Iterable[PlannedResult]) -> None:
    """Each planned result's member finishes the quiz now, through their personal link."""
    for result in planned:
        account.take_quiz(
            world.codec.encode(result.member_id, result.course_id),
            quiz=world.quizzes[result.course_id],
            percentage=90 if result.passed else 40,
            passed=result.passed,
            result_id=int(result.result_id),
        )


def sources(world: World) -> dict[str, str]:
    """Which way each stored result came in (`webhook` or `poll`), per result key."""
    return {event.result_key: event.source for event in world.store.inbox.events(limit=1_000_000)}


def wait_all_stored(tally: Tally, world: World, planned: list[PlannedResult], *, deadline: float) -> float:
    """Wait until every planned result is in the inbox and nothing is due; how long it took (a problem if never)."""
    wanted = {r.result_id for r in planned}
    started = time.monotonic()

    def done() -> bool:
        inbox = world.inbox()
        return wanted <= set(inbox) and not any(world.backlog().values())

    try:
        wait_until(done, timeout=deadline, what="every result stored and nothing due", interval=0.5)
    except WaitTimedOut:
        missing = wanted - set(world.inbox())
        tally.problem(f"after {deadline:.0f} s, {len(missing)} results never reached the inbox; backlog {world.backlog()}")
    return time.monotonic() - started


def check_sources(tally: Tally, world: World, planned: list[PlannedResult], polled: set[str]) -> Counter[str]:
    """The results the webhook never delivered are exactly those stored by polling; counts per source."""
    came = sources(world)
    by_source = Counter(came.get(r.result_id, "missing") for r in planned)
    found = {key for key, source in came.items() if source == EventSource.POLL}
    if found != polled:
        tally.problem(
            f"{len(polled - found)} results whose webhook was lost not stored by polling, "
            f"{len(found - polled)} stored by polling although their webhook came"
        )
    return by_source


def gap_alerts(world: World) -> int:
    """Staff alerts about the webhook gap in staff's mailbox."""
    return sum(1 for to, subject in world.smtp.received() if to == STAFF_EMAIL and GAP_ALERT in subject)


def check_gap_alerts(tally: Tally, world: World) -> int:
    """Staff hear of a growing gap once a day: one alert per local day on which a run found something new."""
    days = {r.started_at.astimezone(BRIDGE_TZ).date() for r in reconcile_runs(world) if found_new([r])}
    alerts = gap_alerts(world)
    if alerts != len(days):
        tally.problem(f"staff got {alerts} webhook-gap alerts for {len(days)} day(s) on which polling found results")
    return alerts


def reconcile_runs(world: World) -> list[JobRunRow]:
    """Every recorded run of the reconciliation job (in-process, scheduler's and CLI's), oldest first."""
    return sorted((r for r in world.job_runs() if r.name == RECONCILE_JOB), key=lambda r: r.started_at)


def _answers(deliveries: Iterable[ClassMarkerWebhookDelivery]) -> str:
    counts = Counter("lost" if d.lost else str(d.status) if d.status is not None else "no answer" for d in deliveries)
    return ", ".join(f"{what} {count}" for what, count in sorted(counts.items()))


# -- webhooks lost, bridge down --------------------------------------------------


def lost_and_down(ctx: RunContext) -> Tally:
    """30 % of webhooks lost throughout, and the bridge down a while; its own reconciliation job finds the rest."""
    tally = Tally("webhooks lost, bridge down")
    quizzes = plan_quizzes(ctx, 20, ctx.sizes.lost_results)
    state, planned, before, account = quizzes.state, quizzes.planned, quizzes.before, quizzes.account
    third = len(planned) // 3
    phases = (planned[:third], planned[third : 2 * third], planned[2 * third :])
    with ctx.world(state, "lost", env=OWN_JOBS, classmarker=account) as world:
        world.simulator.faults.update(latency_ms=20, error_rate=0.05, seed=ctx.seed)
        instance = world.instances[0]
        with ClassMarkerWebhookSender(account, instance.url + WEBHOOK, loss_rate=LOSS_RATE, seed=ctx.seed) as sender:
            take_quizzes(account, world, phases[0])
            sent = sender.deliver()
            down_at = time.monotonic()
            instance.terminate(60)
            take_quizzes(account, world, phases[1])
            refused: list[ClassMarkerWebhookDelivery] = []
            for _ in range(DOWN_REDELIVERIES):
                time.sleep(REDELIVERY_PAUSE_SECONDS)  # ClassMarker's pause between tries, while the bridge stays down
                refused += sender.deliver()
            gave_up = sender.give_up()
            world.start_instances([0])
            down_seconds = time.monotonic() - down_at
            take_quizzes(account, world, phases[2])
            sent += sender.deliver()
            lost = {str(result_id) for result_id in sender.lost}
            by_rate = len(lost) - len(gave_up)
        tally.notes.append(
            f"{len(planned)} results in three equal phases; {LOSS_RATE:.0%} of webhooks lost throughout; the bridge down "
            f"{down_seconds:.0f} s in the second phase, where ClassMarker tried {DOWN_REDELIVERIES} times, "
            f"{REDELIVERY_PAUSE_SECONDS:g} s apart, and gave up; "
            "Fabman 20 ms a request, 5 % 503; nobody calls /cron/* (the bridge's own retry and reconciliation jobs only)"
        )
        tally.notes.append(
            f"webhooks while up: {_answers(sent)}; while down: {_answers(refused)}; lost for good: {by_rate} by the "
            f"rate and {len(gave_up)} given up = {len(lost)} of {len(planned)}"
        )
        waited = wait_all_stored(tally, world, planned, deadline=ctx.sizes.settle_seconds)
        tally.notes.append(f"{waited:.0f} s after the last delivery until every result was stored and nothing was due")
        tally.faults = world.simulator.faults.faults_injected + len(lost) + 1
        world.simulator.faults.reset()
        by_source = check_sources(tally, world, planned, lost)
        runs = reconcile_runs(world)
        tally.notes.append(
            f"stored by the webhook {by_source['webhook']}, by polling {by_source['poll']}; "
            f"{len(runs)} reconciliation runs, found {found_new(runs)} new; "
            f"{check_gap_alerts(tally, world)} webhook-gap alert to staff"
        )
        if not found_new(runs):
            tally.problem("no reconciliation run found anything")
        verify_results(tally, world, planned, before, log_shows_writes=False)
        check_jobs(tally, world)
        tally.requests = world.requests + len(sent) + len(refused)
    return tally


# -- every delivery refused -------------------------------------------------------


def wrong_secret(ctx: RunContext) -> Tally:
    """The secret rotated on ClassMarker's side only: every delivery is refused, polling applies every result."""
    tally = Tally("every webhook signed wrong")
    quizzes = plan_quizzes(ctx, 21, ctx.sizes.secret_results)
    state, planned, before, account = quizzes.state, quizzes.planned, quizzes.before, quizzes.account
    rounds = ctx.sizes.secret_rounds
    with ctx.world(state, "secret", env={"JOBS": "off"}, classmarker=account) as world:
        world.simulator.faults.update(latency_ms=20, error_rate=0.05, seed=ctx.seed)
        summaries: list[dict[str, Any]] = []
        with ClassMarkerWebhookSender(account, world.url + WEBHOOK, wrong_secret=True) as sender:
            for index in range(rounds):
                take_quizzes(account, world, planned[index::rounds])
                sender.deliver()
                summaries.append(world.reconcile())
            sender.deliver()  # ClassMarker goes on retrying what was refused
            deliveries = sender.deliveries
        statuses = Counter(d.status for d in deliveries)
        tally.notes.append(
            f"{len(planned)} results taken in {rounds} rounds, each followed by the scheduler's /cron/reconcile; every "
            f"webhook signed with a rotated secret: {len(deliveries)} deliveries answered "
            + ", ".join(f"{status} {count}" for status, count in sorted(statuses.items(), key=str))
            + "; Fabman 20 ms a request, 5 % 503"
        )
        if set(statuses) != {401}:
            tally.problem(f"deliveries with a wrong signature were answered {dict(statuses)}, not only 401")
        drain_and_note(tally, world, deadline=ctx.sizes.drain_seconds)
        tally.faults = world.simulator.faults.faults_injected + len(deliveries)
        world.simulator.faults.reset()
        news = [int(s.get("new", 0)) for s in summaries]
        tally.notes.append(
            "reconciliation runs found " + " + ".join(map(str, news)) + f" new; gap after the last {summaries[-1].get('gap')}"
        )
        by_source = check_sources(tally, world, planned, {r.result_id for r in planned})
        if by_source["poll"] != len(planned):
            tally.problem(f"{len(planned) - by_source['poll']} results not stored by polling")
        alerts = check_gap_alerts(tally, world)
        staff = Counter(mail_kind(subject) for to, subject in world.smtp.received() if to == STAFF_EMAIL)
        tally.notes.append(f"staff got {alerts} webhook-gap alert ({sum(staff.values())} staff mails in all)")
        verify_results(tally, world, planned, before, log_shows_writes=False)
        tally.requests = world.requests + len(deliveries)
    return tally


# -- webhook and poll at once, two instances ------------------------------------------


def webhook_and_poll(ctx: RunContext) -> Tally:
    """In rounds, results reach both instances by webhook while one instance polls them at the same moment."""
    tally = Tally("webhook and poll at once", store="postgresql")
    quizzes = plan_quizzes(ctx, 22, ctx.sizes.race_results)
    state, planned, before, account = quizzes.state, quizzes.planned, quizzes.before, quizzes.account
    rounds = ctx.sizes.race_rounds
    with ctx.cluster(state, "race", env=RACE_ENV, classmarker=account) as world:
        world.simulator.faults.update(latency_ms=20, error_rate=0.05, seed=ctx.seed)
        senders = [ClassMarkerWebhookSender(account, instance.url + WEBHOOK) for instance in world.instances]
        deliveries: list[ClassMarkerWebhookDelivery] = []
        polls: list[dict[str, Any]] = []
        try:
            for index in range(rounds):
                batch = planned[index::rounds]
                take_quizzes(account, world, batch)
                answers, summary = _race(world, senders, batch, poller=index % len(world.instances))
                deliveries += answers
                polls.append(summary)
        finally:
            for sender in senders:
                sender.close()
        webhook_stored = sum(1 for d in deliveries if d.status == 200 and _status(d) in ("accepted", "queued"))
        duplicates = sum(1 for d in deliveries if d.status == 200 and _status(d) == "duplicate")
        tally.notes.append(
            f"{len(planned)} results in {rounds} rounds; in each, every result is posted once by ClassMarker (to A and "
            f"B in turn, {WEBHOOK_THREADS} threads, newest first, each {WEBHOOK_PACE_SECONDS:g} s apart) "
            "while one instance's /cron/reconcile lists them (A and B in turn) and "
            "takes them oldest first, "
            "all released together; Fabman 20 ms a request, 5 % 503"
        )
        failed = [d for d in deliveries if d.status != 200]
        if failed:
            tally.problem(f"{len(failed)} webhook deliveries were not answered 200 (e.g. {failed[0].status})")
        settle_and_note(tally, world, deadline=ctx.sizes.settle_seconds)
        tally.faults = world.simulator.faults.faults_injected
        world.simulator.faults.reset()
        runs = reconcile_runs(world)
        polled = found_new(runs)
        by_source = Counter(sources(world).values())
        tally.notes.append(
            f"webhook answers: stored {webhook_stored}, duplicate {duplicates} (the poll was first); "
            f"{len(runs)} reconciliation runs ({len(polls)} by the scheduler's call) found {polled} new; "
            f"the inbox holds {by_source['webhook']} from the webhook and {by_source['poll']} from polling"
        )
        if webhook_stored + polled != len(planned) or duplicates != polled or by_source["poll"] != polled:
            tally.problem(
                f"{webhook_stored} stored by the webhook + {polled} by polling for {len(planned)} results "
                f"({duplicates} webhook duplicates, {by_source['poll']} polled in the inbox): stored twice or not at all"
            )
        verify_results(tally, world, planned, before, log_shows_writes=False)
        check_jobs(tally, world)
        tally.requests = world.requests + len(deliveries)
    return tally


def _race(
    world: World, senders: list[ClassMarkerWebhookSender], batch: list[PlannedResult], *, poller: int
) -> tuple[list[ClassMarkerWebhookDelivery], dict[str, Any]]:
    """Post each result of the batch (A, B in turn) while `poller` reconciles; all released at the same moment."""
    start = threading.Barrier(WEBHOOK_THREADS + 1)
    summary: dict[str, Any] = {}

    def poll() -> None:
        start.wait(timeout=60)
        summary.update(world.reconcile(instance=poller))

    def post(slot: int) -> list[ClassMarkerWebhookDelivery]:
        start.wait(timeout=60)
        # The poll takes the listing oldest first; the webhooks go newest first, so the two meet on the same results.
        mine = list(reversed(batch))[slot::WEBHOOK_THREADS]
        sent: list[ClassMarkerWebhookDelivery] = []
        for position, result in enumerate(mine):
            if position:
                time.sleep(WEBHOOK_PACE_SECONDS)
            sender = senders[(slot + position) % len(senders)]
            sent += sender.deliver(int(result.result_id))
        return sent

    with ThreadPoolExecutor(max_workers=WEBHOOK_THREADS + 1) as pool:
        polling = pool.submit(poll)
        posting = [pool.submit(post, slot) for slot in range(WEBHOOK_THREADS)]
        polling.result()
        answers = [delivery for future in posting for delivery in future.result()]
    return answers, summary


def _status(delivery: ClassMarkerWebhookDelivery) -> str:
    """The `status` of the bridge's JSON answer to a delivery."""
    try:
        return str(json.loads(delivery.body).get("status"))
    except ValueError:
        return ""


SCENARIOS = (
    Scenario(
        "lost",
        "Webhooks lost and the bridge down",
        f"One instance on SQLite with its own jobs only (retry every 2 s, reconciliation every {RECONCILE_MINUTES} min): "
        f"ClassMarker loses {LOSS_RATE:.0%} of its webhooks throughout, and the bridge is stopped for a third of the "
        "results, long enough for ClassMarker to give up on them. The reconciliation job (its first run at start, "
        "then every minute) stores exactly the results whose webhook never came, with source `poll`, and applies "
        "them; every result is applied once and mailed once.",
        lost_and_down,
    ),
    Scenario(
        "secret",
        "Every webhook signed with a wrong secret",
        "One instance on SQLite, the webhook secret rotated on ClassMarker's side only: every delivery is answered "
        "401. Results come in rounds, each followed by the scheduler's /cron/reconcile. Polling stores and applies "
        "every result once, every member gets their mail once, and staff get exactly one webhook-gap alert for the "
        "day although the gap grows at every run.",
        wrong_secret,
    ),
    Scenario(
        "race",
        "Webhook and poll of the same result at once",
        "Two instances on one PostgreSQL (own jobs on). In rounds, members finish quizzes; then ClassMarker posts "
        "each result (to A and B in turn) while the other instance's /cron/reconcile lists the same results, "
        "released at the same moment. Each result is stored by exactly one of them (webhook `accepted`/`queued` "
        "or poll `new`, the other sees a duplicate) and applied and mailed once.",
        webhook_and_poll,
        postgres=True,
    ),
)
