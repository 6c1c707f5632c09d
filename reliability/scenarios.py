"""The scenarios of one bridge instance on SQLite, each in a fresh world, and what every scenario shares.

A scenario plans what it sends from the simulator's state before the run,
drives the bridge over HTTP while the world misbehaves, waits until the
world shows nothing left to do, and then counts from the world what
happened. The webhook answers once a result is stored (`accepted` or
`queued`); its effect in Fabman and its mail come after the answer, so
nothing here reads an answer as "applied".

These scenarios play a deployment driven by its scheduler: it calls
`/cron/retry` (and the expiry sweep) itself, and only "results under
faults" also runs the bridge's own jobs (a deployment that kept its
scheduler after upgrading: both retry at once). The others set `JOBS=off`,
so their figures show what the scheduler's calls did. The two-instance
scenarios on PostgreSQL, which run the bridge's own jobs only, are in
:mod:`reliability.instances`.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bridge.adapters.fabman.wire import course_from_json
from bridge.domain import attempts, courses
from bridge.domain.calendar import today_in
from harness import CRON_TOKEN
from harness.wait import wait_until
from reliability.checks import (
    JobSpan,
    Json,
    PlannedResult,
    Tally,
    check_creations,
    check_expiry,
    check_job_overlaps,
    check_mails,
    check_results,
    created_records,
    expected_result_mails,
    expiry_plan,
)
from reliability.world import INSTANCE_NAMES, Delivery, World, owner_pid, utc_now
from sandbox.simulator import SimState, generated_state

RESULT_MAILS = ("granted", "failed", "out_of_attempts")
DEFAULT_ATTEMPTS = 3
MAX_RESULTS_PER_MEMBER = 20
FIRST_RESULT_ID = 90_000_001
FABMAN_DOWN_SECONDS = 10.0
# The hang scenario shortens the bridge's Fabman read timeout so a hang outlasts it.
HANG_READ_TIMEOUT = 2
SMTP_OUTAGE_SECONDS = 15.0
SMTP_RETRY_BASE_SECONDS = 1
SCHEDULER_ONLY = {"JOBS": "off"}
"""A deployment whose scheduler calls /cron/retry and the sweep; the bridge runs no jobs of its own."""


@dataclass(frozen=True)
class Sizes:
    """How big each scenario is."""

    results: int
    members: int
    down_results: int
    hang_results: int
    smtp_results: int
    kill_results: int
    expiry_members: int
    drain_seconds: float
    pair_results: int
    instance_results: int
    jobs_results: int
    settle_seconds: float
    lost_results: int
    secret_results: int
    secret_rounds: int
    race_results: int
    race_rounds: int


FULL = Sizes(
    results=2000,
    members=600,
    down_results=100,
    hang_results=30,
    smtp_results=100,
    kill_results=200,
    expiry_members=3000,
    drain_seconds=600,
    pair_results=400,
    instance_results=400,
    jobs_results=200,
    settle_seconds=300,
    lost_results=300,
    secret_results=200,
    secret_rounds=4,
    race_results=300,
    race_rounds=5,
)
QUICK = Sizes(
    results=200,
    members=150,
    down_results=20,
    hang_results=10,
    smtp_results=20,
    kill_results=60,
    expiry_members=1000,
    drain_seconds=180,
    pair_results=100,
    instance_results=120,
    jobs_results=60,
    settle_seconds=240,
    lost_results=60,
    secret_results=40,
    secret_rounds=3,
    race_results=80,
    race_rounds=4,
)


@dataclass(frozen=True)
class RunContext:
    """What every scenario gets: sizes, a folder for logs and SQLite files, the store URLs, a seed.

    `database_url` is the single-instance scenarios' store (a fresh SQLite
    file per scenario when None); `postgres_url` the database the run
    created for the two-instance scenarios (None when PostgreSQL is not
    reachable).
    """

    sizes: Sizes
    workdir: Path
    database_url: str | None
    seed: int
    postgres_url: str | None = None

    def world(self, state: SimState, name: str, **options: Any) -> World:
        """A fresh world for one scenario."""
        return World(state, self.workdir, name, database_url=self.database_url, **options)

    def cluster(self, state: SimState, name: str, **options: Any) -> World:
        """A fresh world of two instances sharing the run's PostgreSQL database."""
        assert self.postgres_url is not None, "the two-instance scenarios need PostgreSQL"
        return World(state, self.workdir, name, database_url=self.postgres_url, instances=2, **options)


@dataclass(frozen=True)
class Scenario:
    """A named scenario and the guarantee it checks; `postgres` when it needs the run's PostgreSQL database."""

    name: str
    title: str
    guarantee: str
    run: Callable[[RunContext], Tally]
    postgres: bool = False


def replayable(seed: int) -> random.Random:
    """The RNG of plans and faults: seeded, so a failing run can be replayed."""
    return random.Random(seed)  # noqa: S311 - replayability, not secrecy


# -- planning results ------------------------------------------------------------


def plan_results(state: SimState, count: int, rng: random.Random, first_id: int = FIRST_RESULT_ID) -> list[PlannedResult]:
    """`count` results over distinct (member, course) pairs: passes, single and double fails.

    Each pair gets either one pass or one or two fails, so the expected effect
    of every result does not depend on the order the bridge applies them in.
    Expectations use the member's attempts before the run.
    """
    online = [course_from_json(c) for c in state.courses()]
    online = [c for c in online if courses.is_online(c) and not courses.is_admin_only(c)]
    active = [member for member in state.members() if member["state"] == "active"]  # rule 4.10: no result counts for a locked one
    pairs = [(member, course) for member in active for course in online]
    rng.shuffle(pairs)
    planned: list[PlannedResult] = []
    per_member: Counter[int] = Counter()
    next_id = first_id
    for member, course in pairs:
        if len(planned) >= count:
            break
        if per_member[member["id"]] >= MAX_RESULTS_PER_MEMBER:
            continue
        allowed = courses.max_attempts(course, DEFAULT_ATTEMPTS)
        used = attempts.attempts_used(member["metadata"], course.id)
        roll = rng.random()
        if roll < 0.55:
            left = allowed - used
            outcomes = [(True, left > 0, "granted" if left > 0 else "out_of_attempts")]
        else:
            fails = 2 if roll > 0.9 and count - len(planned) >= 2 else 1
            outcomes = [(False, False, "failed" if allowed - used - i > 0 else "out_of_attempts") for i in range(1, fails + 1)]
        for passed, grants, mail in outcomes:
            planned.append(
                PlannedResult(str(next_id), member["id"], course.id, course.title, passed, member["emailAddress"], grants, mail)
            )
            per_member[member["id"]] += 1
            next_id += 1
    if len(planned) < count:
        raise ValueError(f"only {len(planned)} results fit the members and online courses; {count} asked")
    return planned


def snapshot(state: SimState, member_ids: Iterable[int]) -> dict[int, Json]:
    """Members with their training records, as the simulator holds them now."""
    return {member_id: state.member_view(member_id, {"trainings"}) for member_id in set(member_ids)}


def allowed_attempts(state: SimState) -> dict[int, int]:
    """Attempts allowed per course id."""
    return {c["id"]: courses.max_attempts(course_from_json(c), DEFAULT_ATTEMPTS) for c in state.courses()}


def verify_results(
    tally: Tally, world: World, planned: list[PlannedResult], before: dict[int, Json], *, log_shows_writes: bool = True
) -> None:
    """Count the results and their mail from Fabman's state and request log, the inbox and the SMTP server.

    `log_shows_writes`: no fault replaced the answer of an applied write, so
    Fabman's request log shows every record created.
    """
    after = snapshot(world.simulator.state, before)
    check_results(tally, planned, before, after, allowed_attempts(world.simulator.state), world.inbox())
    if log_shows_writes:
        check_creations(tally, planned, created_records(world.simulator.requests), after)
    check_mails(tally, expected_result_mails(planned), world.smtp.received(), RESULT_MAILS)
    note_resent(tally, world)


def note_resent(tally: Tally, world: World) -> None:
    """Say when SMTP accepted a message twice (same Message-ID: the member's mailbox shows it once)."""
    copies = world.smtp.resent()
    if copies:
        tally.notes.append(f"{copies} mail(s) re-sent under the same Message-ID after a worker died mid-send")


def bodies_of(world: World, planned: Iterable[PlannedResult]) -> list[bytes]:
    """Each result's body, once."""
    return [world.payload(r.result_id, r.member_id, r.course_id, r.passed) for r in planned]


def record_deliveries(tally: Tally, deliveries: list[Delivery], *, instances: int = 1) -> None:
    """Latency, the answers (per instance when there are several), and any delivery ClassMarker would have given up on."""
    tally.max_latency = max([tally.max_latency, *(d.seconds for d in deliveries)])
    failed = [d for d in deliveries if d.status != 200]
    if failed:
        tally.problem(f"{len(failed)} deliveries never got a 200 (last status {failed[0].status})")
    for index in range(instances):
        answers = Counter(str(d.body.get("status")) for d in deliveries if d.status == 200 and d.instance == index)
        who = f" of instance {INSTANCE_NAMES[index]}" if instances > 1 else ""
        tally.notes.append(f"webhook answers{who}: " + (", ".join(f"{k} {v}" for k, v in sorted(answers.items())) or "none"))


def _waited(drain: Any) -> str:
    return f" (waiting for {', '.join(sorted(drain.waited_for))})" if drain.waited_for else ""


def drain_and_note(tally: Tally, world: World, **options: Any) -> None:
    """Retry until nothing is due; note how long it took and what was left."""
    drain = world.drain(**options)
    tally.notes.append(f"/cron/retry called {drain.calls} times, {drain.seconds:.0f} s until nothing was due{_waited(drain)}")
    left = {k: v for k, v in drain.left.items() if v}
    if left:
        tally.problem(f"still due after {drain.seconds:.0f} s of retries: {left}")


def settle_and_note(tally: Tally, world: World, *, deadline: float) -> float:
    """Wait for the bridge's own jobs until nothing is due (no /cron/retry call); note and return how long it took."""
    drain = world.settle(deadline=deadline)
    tally.notes.append(f"{drain.seconds:.0f} s until the bridge's own jobs left nothing due{_waited(drain)}")
    left = {k: v for k, v in drain.left.items() if v}
    if left:
        tally.problem(f"still due after waiting {drain.seconds:.0f} s for the bridge's jobs: {left}")
    return drain.seconds


def check_jobs(tally: Tally, world: World) -> None:
    """No job ran in two processes at once; note who ran the in-process jobs.

    Runs started by /cron/retry or the CLI (owner `cron`, `cli`) take no
    lease: the scheduler's call runs whenever it is made, beside an
    in-process run if one is going on (events and mails have their own
    leases), so only in-process runs are held to the rule; how often a
    scheduler's run met an in-process one is noted.
    """
    runs = world.job_runs()
    spans = [JobSpan(r.name, r.owner, r.started_at, r.finished_at) for r in runs]
    in_process = [s for s in spans if owner_pid(s.owner) is not None]
    ended = {s.owner: moment for s in in_process if (moment := world.owner_ended(s.owner)) is not None}
    overlaps = check_job_overlaps(tally, in_process, ended, utc_now())
    per_job: dict[str, Counter[str]] = {}
    for span in in_process:
        instance = world.instance_of_owner(span.owner)
        per_job.setdefault(span.job, Counter())[instance.name if instance else "?"] += 1
    owners = len({s.owner for s in in_process})
    ran = "; ".join(
        f"{job} {sum(by.values())} runs ({', '.join(f'{name} {count}' for name, count in sorted(by.items()))})"
        for job, by in sorted(per_job.items())
    )
    tally.notes.append(
        f"in-process job runs: {ran or 'none'} by {owners} worker processes, {overlaps} overlapping (from job_runs)"
    )
    scheduled = [s for s in spans if owner_pid(s.owner) is None]
    if scheduled and in_process:
        met = sum(1 for s in scheduled if any(_during(s, other, ended) for other in in_process if other.job == s.job))
        tally.notes.append(f"{len(scheduled)} scheduler-started runs, {met} of them beside an in-process run of the same job")


def _during(first: JobSpan, second: JobSpan, ended: dict[str, dt.datetime]) -> bool:
    now = utc_now()
    first_end = first.finished or now
    second_end = second.finished or ended.get(second.owner, now)
    return first.started < second_end and second.started < first_end


# -- scenarios ---------------------------------------------------------------------


class Chaos:
    """Faults the simulator's own rates do not give: 429s, and writes whose answer is lost.

    They come per Fabman request seen (one 429 in every `throttle_every`
    requests, a lost answer to a POST, a PUT and a DELETE in every
    `lose_every`), never per second: when traffic thins out (the last
    retries) a timed fault would meet every request and no result could
    ever get through.
    """

    def __init__(self, world: World, *, throttle_every: int = 50, lose_every: int = 40) -> None:
        self.world = world
        self.throttle_every = throttle_every
        self.lose_every = lose_every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reliability-chaos", daemon=True)

    def __enter__(self) -> Chaos:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        simulator = self.world.simulator
        throttled = lost = 0
        while not self._stop.wait(0.05):
            seen = len(simulator.requests)
            if seen - throttled >= self.throttle_every:
                simulator.faults.fail_next(1, 429)
                throttled = seen
            if seen - lost >= self.lose_every:
                pending = {rule["method"] for rule in simulator.faults.snapshot()["fail_next"] if rule["after_apply"]}
                for method in {"POST", "PUT", "DELETE"} - pending:
                    simulator.faults.fail_next(1, 503, method=method, after_apply=True)
                lost = seen


RESULTS_JOBS_ENV = {"RETRY_EVERY_SECONDS": "5", "SWEEP_AT": "off", "DIGEST_WEEKDAY": "off"}
"""The results scenario runs the bridge's retry job beside the scheduler's calls (the sweep and the digest are off:
not under test here)."""


def results_under_faults(ctx: RunContext) -> Tally:
    """Many results, re-delivered and concurrent, while Fabman answers 503, 429, 409 and loses answers."""
    tally = Tally("results under faults")
    rng = replayable(ctx.seed)
    state = generated_state(ctx.sizes.members, seed=ctx.seed)
    planned = plan_results(state, ctx.sizes.results, rng)
    before = snapshot(state, (r.member_id for r in planned))
    with ctx.world(state, "results", env=RESULTS_JOBS_ENV) as world:
        sequence: list[bytes] = []
        later: list[bytes] = []
        for result in planned:
            body = world.payload(result.result_id, result.member_id, result.course_id, result.passed)
            if result.passed and rng.random() < 0.03:
                sequence.append(world.payload(result.result_id, result.member_id, result.course_id, True, grading=True))
            sequence.append(body)
            roll = rng.random()
            if roll < 0.1:
                sequence.append(body)  # re-delivered at once: both deliveries run concurrently
            elif roll < 0.2:
                later.append(body)  # re-delivered after everything else
        world.simulator.faults.update(error_rate=0.05, conflict_rate=0.1, seed=ctx.seed)
        with Chaos(world):
            deliveries = world.deliver_all(sequence + later, concurrency=12)
            tally.notes.append(f"{len(deliveries)} deliveries of {len(planned)} results")
            record_deliveries(tally, deliveries)
            drain_and_note(tally, world, parallel=3, deadline=ctx.sizes.drain_seconds)
        world.simulator.faults.reset()
        drain_and_note(tally, world)
        tally.faults = world.simulator.faults.faults_injected
        injected = Counter(r.status for r in world.simulator.requests if r.injected)
        tally.notes.append("Fabman faults by status: " + ", ".join(f"{k} {v}" for k, v in sorted(injected.items())))
        verify_results(tally, world, planned, before, log_shows_writes=False)
        check_jobs(tally, world)
        tally.requests = world.requests
    return tally


def fabman_down(ctx: RunContext) -> Tally:
    """Fabman answers nothing but 503 while results arrive, then comes back."""
    tally = Tally("Fabman down, then back")
    rng = replayable(ctx.seed + 1)
    state = generated_state(200, seed=ctx.seed + 1)
    planned = plan_results(state, ctx.sizes.down_results, rng)
    before = snapshot(state, (r.member_id for r in planned))
    with ctx.world(state, "down", env=SCHEDULER_ONLY) as world:
        window = FABMAN_DOWN_SECONDS
        world.simulator.faults.down = True
        started = time.monotonic()
        deliveries = world.deliver_all(bodies_of(world, planned), concurrency=4, pace=window / len(planned))
        time.sleep(max(0.0, window - (time.monotonic() - started)))
        tally.notes.append(f"Fabman down for {time.monotonic() - started:.1f} s")
        world.simulator.faults.down = False
        tally.faults = world.simulator.faults.faults_injected
        record_deliveries(tally, deliveries)
        drain_and_note(tally, world)
        verify_results(tally, world, planned, before)
        tally.requests = world.requests
    return tally


def fabman_hanging(ctx: RunContext) -> Tally:
    """Fabman accepts connections but answers only after the bridge's read timeout; the webhook does not wait for it."""
    tally = Tally("Fabman hanging")
    rng = replayable(ctx.seed + 2)
    state = generated_state(200, seed=ctx.seed + 2)
    planned = plan_results(state, ctx.sizes.hang_results, rng)
    before = snapshot(state, (r.member_id for r in planned))
    env = {**SCHEDULER_ONLY, "FABMAN_TIMEOUT_SECONDS": str(HANG_READ_TIMEOUT)}
    with ctx.world(state, "hang", env=env) as world:
        hang = HANG_READ_TIMEOUT + 1.5
        world.simulator.faults.hang_seconds = hang
        deliveries = world.deliver_all(bodies_of(world, planned), concurrency=min(10, len(planned)))
        time.sleep(2 * hang)  # the apply pool meets the hang: its reads time out, the results stay queued
        world.simulator.faults.hang_seconds = 0
        tally.faults = world.simulator.faults.faults_injected
        record_deliveries(tally, deliveries)
        tally.notes.append(
            f"Fabman hung {hang:g} s per request (read timeout FABMAN_TIMEOUT_SECONDS={HANG_READ_TIMEOUT}); "
            f"slowest webhook answer {tally.max_latency:.2f} s"
        )
        if tally.max_latency >= hang:
            tally.problem(f"a webhook answer took {tally.max_latency:.2f} s: it waited for Fabman's {hang:g} s hang")
        time.sleep(hang)  # let the requests Fabman still holds finish
        drain_and_note(tally, world)
        verify_results(tally, world, planned, before)
        tally.requests = world.requests
    return tally


def smtp_down(ctx: RunContext) -> Tally:
    """The SMTP server refuses every mail for a while, then accepts again.

    Mail backoff starts at 1 s here (RETRY_BASE_SECONDS=1): with 0, every
    flush retries every refused mail at once and the outbox gives up on it
    after its maximum attempts within seconds, which no deployment does.
    """
    tally = Tally("SMTP down, then back")
    rng = replayable(ctx.seed + 3)
    state = generated_state(200, seed=ctx.seed + 3)
    planned = plan_results(state, ctx.sizes.smtp_results, rng)
    before = snapshot(state, (r.member_id for r in planned))
    with ctx.world(state, "smtp", env={**SCHEDULER_ONLY, "RETRY_BASE_SECONDS": str(SMTP_RETRY_BASE_SECONDS)}) as world:
        world.smtp.refuse = True
        started = time.monotonic()
        deliveries = world.deliver_all(bodies_of(world, planned), concurrency=6)
        world.retry()
        time.sleep(max(0.0, SMTP_OUTAGE_SECONDS - (time.monotonic() - started)))
        waiting = world.outbox_statuses()
        tally.notes.append(f"SMTP refused for {time.monotonic() - started:.0f} s; outbox then: {_counts(waiting)}")
        if world.smtp.received():
            tally.problem("mail was accepted while the SMTP server refused everything")
        world.smtp.refuse = False
        tally.faults = world.smtp.refused
        record_deliveries(tally, deliveries)
        drain_and_note(tally, world, deadline=300)
        tally.notes.append(f"outbox at the end: {_counts(world.outbox_statuses())}")
        verify_results(tally, world, planned, before)
        tally.requests = world.requests
    return tally


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counts.items())) or "empty"


def worker_killed(ctx: RunContext) -> Tally:
    """gunicorn workers are SIGKILLed while they apply results; the master starts new ones."""
    tally = Tally("worker killed mid-request")
    rng = replayable(ctx.seed + 4)
    state = generated_state(300, seed=ctx.seed + 4)
    planned = plan_results(state, ctx.sizes.kill_results, rng)
    before = snapshot(state, (r.member_id for r in planned))
    with ctx.world(state, "kill", env={**SCHEDULER_ONLY, "LEASE_SECONDS": "2"}) as world:
        world.simulator.faults.latency_ms = 150
        kills: list[int] = []
        bodies = bodies_of(world, planned)

        def killer() -> None:
            for share in (0.25, 0.6):
                sent = len(bodies) * share
                wait_until(lambda sent=sent: world.requests >= sent, timeout=600, what=f"{sent:.0f} deliveries sent")
                victim = rng.choice(world.worker_pids())
                os.kill(victim, signal.SIGKILL)
                kills.append(victim)

        thread = threading.Thread(target=killer, name="reliability-killer", daemon=True)
        thread.start()
        deliveries = world.deliver_all(bodies, concurrency=12)
        thread.join()
        world.simulator.faults.latency_ms = 0
        tally.faults = len(kills)
        interrupted = sum(d.tries - 1 for d in deliveries)
        tally.notes.append(f"{len(kills)} workers killed; {interrupted} deliveries cut off and re-sent as ClassMarker would")
        record_deliveries(tally, deliveries)
        drain_and_note(tally, world, deadline=240)
        verify_results(tally, world, planned, before)
        tally.requests = world.requests
    return tally


def expiry_sweep(ctx: RunContext) -> Tally:
    """The expiry sweep over thousands of members while deletes fail, then run again twice."""
    tally = Tally("expiry sweep under faults")
    state = generated_state(ctx.sizes.expiry_members, seed=ctx.seed + 5)
    today = today_in(ZoneInfo("Europe/Prague"))
    before = [state.member_view(m["id"], {"trainings"}) for m in state.members()]
    in_use = {c["id"] for c in state.courses() if c.get("state") == "active"}
    expired, expected_mails = expiry_plan(before, today, 14, in_use)
    env = {**SCHEDULER_ONLY, "REMINDER_DAYS": "14", "TIMEZONE": "Europe/Prague"}
    with ctx.world(state, "expiry", env=env, timeout=900) as world:
        headers = {"CronjobToken": CRON_TOKEN}
        trainings = state.counts()["trainings"]
        probe = world.post("/cron/expire_trainings?dry_run=true", headers=headers, timeout=900)
        if probe.status_code == 404:
            tally.skipped = "POST /cron/expire_trainings does not exist yet"
            return tally
        if state.counts()["trainings"] != trainings or world.smtp.received():
            tally.problem("the dry run changed something")
        tally.notes.append(f"dry run: {_summary(probe)}")
        faults = world.simulator.faults
        faults.update(error_rate=0.05, seed=ctx.seed)
        faults.fail_next(40, 503, method="DELETE")
        faults.fail_next(15, 503, method="DELETE", after_apply=True)
        first = world.post("/cron/expire_trainings", headers=headers, timeout=900)
        tally.faults = faults.faults_injected
        faults.reset()
        tally.notes.append(f"run 1 with faults: {_summary(first)}")
        second = world.post("/cron/expire_trainings", headers=headers, timeout=900)
        tally.notes.append(f"run 2: {_summary(second)}")
        drain_and_note(tally, world)
        settled = (state.counts()["trainings"], len(world.smtp.received()))
        third = world.post("/cron/expire_trainings", headers=headers, timeout=900)
        drain_and_note(tally, world)
        tally.notes.append(f"run 3: {_summary(third)}")
        if (state.counts()["trainings"], len(world.smtp.received())) != settled:
            tally.problem("a third run still removed records or sent mail")
        for response in (first, second, third):
            if response.status_code != 200:
                tally.notes.append(f"a sweep answered {response.status_code}")
        after = {m["id"]: state.member_view(m["id"], {"trainings"}) for m in before}
        check_expiry(tally, before, after, expired)
        check_mails(tally, expected_mails, world.smtp.received(), ("expired", "reminder"))
        note_resent(tally, world)
        tally.requests = world.requests
    return tally


def _summary(response: Any) -> str:
    """The sweep's JSON summary without its error list, for the notes."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    shown = {k: (len(v) if isinstance(v, list) else v) for k, v in body.items()}
    return ", ".join(f"{k} {v}" for k, v in shown.items())


SCENARIOS = (
    Scenario(
        "results",
        "Results under Fabman faults",
        "One instance on SQLite (3 workers). Results (passes and fails over many members and courses; 20 % "
        "re-delivered, half of those at the same moment; a few first sent ungraded) while Fabman answers 5 % of "
        "requests with 503, 409 to 10 % of member updates, one request in 50 with 429, and in every 40 requests "
        "loses the answer (applied, answered 503) of a POST, a PUT and a DELETE (one of each pending at most). "
        "The bridge's own retry job runs every 5 s and the scheduler calls /cron/retry, three at once, until "
        "nothing is due. Every pass is exactly one training record naming the result; every fail is counted "
        "exactly once; every result is one mail; no in-process job runs in two workers at once.",
        results_under_faults,
    ),
    Scenario(
        "down",
        "Fabman down, then back",
        f"JOBS=off. Fabman answers 503 to everything for {FABMAN_DOWN_SECONDS:g} s while results arrive (each is "
        "accepted, tried by the apply pool at once, and stays queued); it comes back and /cron/retry applies every "
        "result, none twice.",
        fabman_down,
    ),
    Scenario(
        "hang",
        "Fabman hanging past the read timeout",
        f"JOBS=off. Fabman answers only after the bridge's read timeout (FABMAN_TIMEOUT_SECONDS={HANG_READ_TIMEOUT}) "
        "plus 1.5 s. The webhook's answers do not wait for Fabman (the slowest must be shorter than one hang and "
        "is reported); the apply pool's reads time out and the results stay queued. Then /cron/retry applies "
        "every result once.",
        fabman_hanging,
    ),
    Scenario(
        "smtp",
        "SMTP down, then back",
        "JOBS=off. The SMTP server refuses every mail (451) for 15 s while results are applied and /cron/retry "
        "runs; it comes back and /cron/retry delivers every mail exactly once (mail backoff starting at 1 s, "
        "RETRY_BASE_SECONDS=1).",
        smtp_down,
    ),
    Scenario(
        "kill",
        "A gunicorn worker killed mid-request",
        "JOBS=off. Fabman is slow (150 ms a request) so results are being applied; a worker is SIGKILLed twice, "
        "with the results its apply pool held. Deliveries cut off are re-sent as ClassMarker would; with "
        "LEASE_SECONDS=2, /cron/retry finishes what the dead workers held. Every result is applied once and "
        "mailed once.",
        worker_killed,
    ),
    Scenario(
        "expiry",
        "Expiry sweep under faults, rerun",
        "JOBS=off (the scheduler runs the sweep). POST /cron/expire_trainings over thousands of members while "
        "Fabman answers 5 % of requests with 503, fails 40 deletes and loses the answer of 15 applied deletes; "
        "then the sweep runs again without faults, and a third time. Every expired record is removed and mailed "
        "exactly once, no active record is removed, reminders go out once, and the third run changes nothing. "
        "(For this row the result columns count expired training records.)",
        expiry_sweep,
    ),
)
