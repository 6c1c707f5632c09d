"""Two bridge instances on one PostgreSQL database: the scenarios of a deployment with several hosts.

Each scenario starts two gunicorn masters (instances A and B, three workers
each) on a fresh schema of the database the run created, behind a
round-robin of deliveries (a re-delivery goes to the next instance), and
runs the bridge's own jobs only: nobody calls /cron/retry
(RETRY_EVERY_SECONDS=2, backoff from RETRY_BASE_SECONDS=1, the expiry sweep
and the digest off). Everything is counted from the world as in :mod:`reliability.scenarios`,
and every scenario checks from the store's `job_runs` that no job ran in two
processes at once.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bridge.domain.statuses import EventStatus, MessageStatus
from harness.wait import WaitTimedOut, wait_until
from reliability.checks import Tally
from reliability.scenarios import (
    RunContext,
    Scenario,
    bodies_of,
    check_jobs,
    plan_results,
    record_deliveries,
    replayable,
    settle_and_note,
    snapshot,
    verify_results,
)
from reliability.world import INSTANCE_NAMES, Delivery, World, owner_pid, utc_now
from sandbox.simulator import generated_state

STORE = "postgresql"
CLUSTER_ENV = {
    "JOBS": "on",
    "RETRY_EVERY_SECONDS": "2",
    "RETRY_BASE_SECONDS": "1",
    "SWEEP_AT": "off",
    "DIGEST_WEEKDAY": "off",
    "FABMAN_CONCURRENCY": "4",
}
"""The bridge's own retry job, run often (the sweep and the digest are off: not under test here); a smaller apply pool
keeps six workers within PostgreSQL's connections."""
DEPLOYED_GRACEFUL_SECONDS = 20
"""gunicorn.conf.py's graceful_timeout: how long a stopping worker may finish its work."""
KILL_LEASE_SECONDS = 4
TERM_LEASE_SECONDS = 30
SLOW_FABMAN_MS = 150
BURST_PER_SECOND = 40
"""How fast the SIGTERM scenario's burst arrives: faster than six one-thread apply pools take it at Fabman's slow pace."""
TERM_FABMAN_MS = 300
LONG_RUN_AHEAD = 40
"""Results a retry run must still have ahead when SIGTERM comes: at 300 ms a Fabman call (two or three calls each),
well over the 15 s a stopping worker gives a running job."""
OUTAGE_SECONDS = 8.0
FLAKY_SECONDS = 8.0
# While both instances restart, ClassMarker keeps re-delivering (it retries for hours; 2 minutes are enough here).
RESTART_REDELIVERIES = 240
STORED = ("accepted", "queued")
WRITES = ("POST", "PUT", "DELETE")
VICTIM = 1
SURVIVOR = 0


def stored_once(tally: Tally, deliveries: list[Delivery]) -> None:
    """Each result was stored by exactly one delivery, whichever instance took it; the others answered `duplicate`."""
    stored: Counter[int] = Counter()
    for delivery in deliveries:
        event_id = delivery.body.get("event_id")
        if delivery.status == 200 and isinstance(event_id, int) and delivery.body.get("status") in STORED:
            stored[event_id] += 1
    twice = {event_id: count for event_id, count in stored.items() if count > 1}
    if twice:
        tally.problem(f"{len(twice)} results answered as newly stored by more than one delivery, e.g. event {min(twice)}")
    by_instance = Counter(INSTANCE_NAMES[d.instance] for d in deliveries if d.status == 200 and d.body.get("status") in STORED)
    shares = ", ".join(f"by {name} {count}" for name, count in sorted(by_instance.items()))
    tally.notes.append(f"{len(stored)} results stored, each by one delivery ({shares})")


def same_result_on_both(ctx: RunContext) -> Tally:
    """Every result delivered to both instances at the same moment, some again later, while Fabman misbehaves."""
    tally = Tally("same result to both instances", store=STORE)
    rng = replayable(ctx.seed + 10)
    state = generated_state(ctx.sizes.members, seed=ctx.seed + 10)
    planned = plan_results(state, ctx.sizes.pair_results, rng)
    before = snapshot(state, (r.member_id for r in planned))
    with ctx.cluster(state, "pairs", env=CLUSTER_ENV, graceful_timeout=DEPLOYED_GRACEFUL_SECONDS) as world:
        world.simulator.faults.update(latency_ms=20, error_rate=0.05, conflict_rate=0.1, seed=ctx.seed)
        bodies = bodies_of(world, planned)
        again = [body for body in bodies if rng.random() < 0.2]
        deliveries = world.deliver_all(bodies + again, concurrency=6, everywhere=True)
        tally.notes.append(
            f"{len(deliveries)} deliveries of {len(planned)} results, each to A and B at the same moment, "
            f"{len(again)} of them to both again afterwards; Fabman 20 ms a request, 5 % 503, 10 % of member updates 409"
        )
        record_deliveries(tally, deliveries, instances=2)
        stored_once(tally, deliveries)
        settle_and_note(tally, world, deadline=ctx.sizes.settle_seconds)
        tally.faults = world.simulator.faults.faults_injected
        world.simulator.faults.reset()
        verify_results(tally, world, planned, before)
        check_jobs(tally, world)
        tally.requests = world.requests
    return tally


def instance_killed(ctx: RunContext) -> Tally:
    """Instance B (master and workers) is SIGKILLed mid-run; A takes the deliveries and, once their leases end, B's work."""
    tally = Tally("instance killed (SIGKILL)", store=STORE)
    rng = replayable(ctx.seed + 11)
    state = generated_state(300, seed=ctx.seed + 11)
    planned = plan_results(state, ctx.sizes.instance_results, rng)
    before = snapshot(state, (r.member_id for r in planned))
    env = {**CLUSTER_ENV, "LEASE_SECONDS": str(KILL_LEASE_SECONDS)}
    with ctx.cluster(state, "sigkill", env=env, graceful_timeout=DEPLOYED_GRACEFUL_SECONDS) as world:
        world.simulator.faults.latency_ms = SLOW_FABMAN_MS
        bodies = bodies_of(world, planned)
        kill: dict[str, Any] = {}

        def killer() -> None:
            share = len(bodies) * 0.4
            wait_until(lambda: world.requests >= share, timeout=600, what=f"{share:.0f} deliveries sent")
            victim = world.instances[VICTIM]
            workers = len(victim.worker_pids())
            kill["at"] = victim.kill()
            kill["sent"] = world.requests
            kill["workers"] = workers
            accepted = [world.store.inbox.get(event_id) for event_id in list(world.accepted[VICTIM])]
            kill["held"] = [event.id for event in accepted if event is not None and event.status == EventStatus.QUEUED]

        thread = threading.Thread(target=killer, name="reliability-instance-killer", daemon=True)
        thread.start()
        deliveries = world.deliver_all(bodies, concurrency=12)
        thread.join()
        world.simulator.faults.latency_ms = 20
        tally.faults = 1
        re_sent = sum(d.tries - 1 for d in deliveries)
        tally.notes.append(
            f"Fabman {SLOW_FABMAN_MS} ms a request; instance B (master and {kill['workers']} workers) SIGKILLed after "
            f"{kill['sent']} deliveries; {re_sent} deliveries refused or cut off and re-sent to A as ClassMarker would"
        )
        record_deliveries(tally, deliveries, instances=2)
        settle_and_note(tally, world, deadline=ctx.sizes.settle_seconds)
        _note_orphans(tally, world, kill["held"], kill["at"])
        _note_retry_after(tally, world, kill["at"])
        verify_results(tally, world, planned, before)
        check_jobs(tally, world)
        tally.requests = world.requests
    return tally


def _note_orphans(tally: Tally, world: World, held: list[int], killed_at: dt.datetime) -> None:
    """The results B had accepted and not applied when it died: each must be applied by A after its lease ended."""
    events = [world.store.inbox.get(event_id) for event_id in held]
    applied = [e for e in events if e is not None and e.status == EventStatus.APPLIED]
    if len(applied) != len(held):
        tally.problem(f"{len(held) - len(applied)} of the {len(held)} results B held when it died were never applied")
    if applied:
        after = sorted((e.updated_at - killed_at).total_seconds() for e in applied)
        tally.notes.append(
            f"{len(held)} results B had accepted and not yet applied when it died: applied by A "
            f"{after[0]:.1f} to {after[-1]:.1f} s after the kill (LEASE_SECONDS={KILL_LEASE_SECONDS}, retry every 2 s)"
        )
    else:
        tally.notes.append("B held no accepted result unapplied when it died")


def _note_retry_after(tally: Tally, world: World, killed_at: dt.datetime) -> None:
    """When the survivor's retry job first ran after the kill, and what B's last retry run was doing when it died."""
    runs = [r for r in world.job_runs() if r.name == "retry" and owner_pid(r.owner) is not None]
    victim, survivor = world.instances[VICTIM].pids(), world.instances[SURVIVOR].pids()
    after = [r.started_at for r in runs if r.started_at > killed_at and owner_pid(r.owner) in survivor]
    first = f"{(min(after) - killed_at).total_seconds():.1f} s after the kill" if after else "never"
    last = max((r for r in runs if owner_pid(r.owner) in victim), key=lambda r: r.started_at, default=None)
    if last is None:
        doing = "B never ran it"
    elif last.finished_at is None:
        doing = f"B's last run started {(killed_at - last.started_at).total_seconds():.1f} s before the kill and never finished"
    else:
        doing = f"B's last run ended {(killed_at - last.finished_at).total_seconds():.1f} s before the kill"
    tally.notes.append(f"A's retry job first ran {first} ({doing}; job lease max(120 s, LEASE_SECONDS))")


def jobs_only(ctx: RunContext) -> Tally:
    """No scheduler at all: Fabman is down, then failing, then well while results arrive; the bridge's jobs finish."""
    tally = Tally("jobs only, Fabman fails and recovers", store=STORE)
    rng = replayable(ctx.seed + 12)
    state = generated_state(200, seed=ctx.seed + 12)
    planned = plan_results(state, ctx.sizes.jobs_results, rng)
    before = snapshot(state, (r.member_id for r in planned))
    with ctx.cluster(state, "jobs", env=CLUSTER_ENV, graceful_timeout=DEPLOYED_GRACEFUL_SECONDS) as world:
        faults = world.simulator.faults
        bodies = bodies_of(world, planned)
        third = len(bodies) // 3
        faults.update(latency_ms=20, down=True)
        deliveries = _deliver_over(world, bodies[:third], OUTAGE_SECONDS)
        faults.update(down=False, error_rate=0.3, conflict_rate=0.1, seed=ctx.seed)
        faults.fail_next(20, 429)
        deliveries += _deliver_over(world, bodies[third : 2 * third], FLAKY_SECONDS)
        faults.update(error_rate=0.0, conflict_rate=0.0)
        recovered = utc_now()
        deliveries += world.deliver_all(bodies[2 * third :], concurrency=4)
        tally.faults = faults.faults_injected
        tally.notes.append(
            f"Fabman down {OUTAGE_SECONDS:g} s, then 30 % 503, 10 % 409 and 20 429s for {FLAKY_SECONDS:g} s, then well; "
            "a third of the results arrived in each phase"
        )
        record_deliveries(tally, deliveries, instances=2)
        settle_and_note(tally, world, deadline=ctx.sizes.settle_seconds)
        troubled = {r.result_id for r in planned[: 2 * third]}
        done = [e.updated_at for e in world.store.inbox.events(limit=1_000_000) if e.result_key in troubled]
        if done:
            tally.notes.append(
                f"the last result received while Fabman failed was applied {(max(done) - recovered).total_seconds():.1f} s "
                "after Fabman recovered"
            )
        if world.cron_calls:
            tally.problem(f"the scenario called /cron/retry {world.cron_calls} times; it must call it never")
        tally.notes.append("/cron/retry called 0 times")
        _note_admin_jobs(tally, world)
        verify_results(tally, world, planned, before)
        check_jobs(tally, world)
        tally.requests = world.requests
    return tally


def _deliver_over(world: World, bodies: list[bytes], seconds: float) -> list[Delivery]:
    """Deliver `bodies` spread over `seconds`, and let at least that long pass."""
    started = time.monotonic()
    deliveries = world.deliver_all(bodies, concurrency=4, pace=seconds / max(1, len(bodies)))
    time.sleep(max(0.0, seconds - (time.monotonic() - started)))
    return deliveries


def _note_admin_jobs(tally: Tally, world: World) -> None:
    """What GET /admin/jobs of each instance says about the retry job (staff's view of the same records)."""
    seen = []
    for index, instance in enumerate(world.instances):
        retry = next(job for job in world.admin_jobs(index) if job["name"] == "retry")
        last = retry.get("last_run") or {}
        by = world.instance_of_owner(str(last.get("by", "")))
        seen.append(f"{instance.name} says enabled {retry['enabled']}, last run by instance {by.name if by else '?'}")
        if not retry["enabled"]:
            tally.problem(f"GET /admin/jobs on {instance.name} says the retry job is not enabled")
    tally.notes.append("GET /admin/jobs: " + "; ".join(seen))


def sigterm_burst(ctx: RunContext) -> Tally:
    """Both instances get SIGTERM mid-burst (a deploy) while the retry job works off a backlog; nothing is lost or left held.

    The burst comes faster than the apply pools (one thread per worker) take
    it at Fabman's slow pace, so most results are answered `queued`, and the
    retry job takes them in long runs. SIGTERM comes when a run still has a
    long list ahead of it, so the stop meets it mid-run as well as busy apply
    pools and requests in flight.
    """
    tally = Tally("SIGTERM during a burst", store=STORE)
    rng = replayable(ctx.seed + 13)
    state = generated_state(300, seed=ctx.seed + 13)
    planned = plan_results(state, ctx.sizes.instance_results, rng)
    before = snapshot(state, (r.member_id for r in planned))
    env = {**CLUSTER_ENV, "LEASE_SECONDS": str(TERM_LEASE_SECONDS), "FABMAN_CONCURRENCY": "1"}
    options: dict[str, Any] = {"graceful_timeout": DEPLOYED_GRACEFUL_SECONDS, "redeliveries": RESTART_REDELIVERIES}
    with ctx.cluster(state, "sigterm", env=env, **options) as world:
        world.simulator.faults.latency_ms = TERM_FABMAN_MS
        bodies = bodies_of(world, planned)
        restart: dict[str, Any] = {}

        def deploy() -> None:
            restart["ahead"] = _long_retry_run(world)
            restart["sent"] = world.requests
            restart["backlog"] = world.backlog()["queued events"]
            with ThreadPoolExecutor(max_workers=len(world.instances)) as pool:
                restart["seconds"] = list(pool.map(lambda instance: instance.terminate(60), world.instances))
            restart["stopped"] = _after_stop(world)
            started = time.monotonic()
            world.start_instances(range(len(world.instances)))
            restart["start_seconds"] = time.monotonic() - started

        thread = threading.Thread(target=deploy, name="reliability-deploy", daemon=True)
        thread.start()
        deliveries = world.deliver_all(bodies, concurrency=8, pace=1 / BURST_PER_SECOND)
        thread.join()
        world.simulator.faults.latency_ms = 20
        tally.faults = len(world.instances)
        stopped = restart["stopped"]
        ahead = restart["ahead"]
        tally.notes.append(
            f"Fabman {TERM_FABMAN_MS} ms a request, FABMAN_CONCURRENCY=1, {BURST_PER_SECOND} results a second; SIGTERM to both "
            f"masters after {restart['sent']} deliveries ({restart['backlog']} results queued or being applied; "
            + (f"a retry run in progress with about {ahead} results still ahead of it" if ahead else "no long retry run seen")
            + "); "
            f"they stopped in {', '.join(f'{s:.1f}' for s in restart['seconds'])} s and were started again in "
            f"{restart['start_seconds']:.1f} s"
        )
        tally.notes.append(
            f"once both had stopped: {stopped['applied']} results applied, {stopped['waiting']} queued and free "
            f"(given back or never taken), {stopped['held']} still leased, {stopped['mails_held']} mails still leased, "
            f"{stopped['unfinished']} job runs unfinished"
        )
        for what in ("held", "mails_held", "unfinished"):
            if stopped[what]:
                tally.problem(f"after a graceful stop, {stopped[what]} {what.replace('_', ' ')}: a worker kept what it held")
        record_deliveries(tally, deliveries, instances=2)
        settle_and_note(tally, world, deadline=ctx.sizes.settle_seconds)
        verify_results(tally, world, planned, before)
        check_jobs(tally, world)
        tally.requests = world.requests
    return tally


def _long_retry_run(world: World) -> int:
    """Wait until a retry run has a long list still ahead of it; about how many results (0 when none came).

    A run takes the queued, unleased results due when it starts, in id
    order; those it has not reached yet are still queued and unleased.
    """

    def ahead() -> int:
        runs = [r for r in world.job_runs() if r.name == "retry" and r.finished_at is None]
        if not runs:
            return 0
        started = min(r.started_at for r in runs)
        now = utc_now()
        free = [e for e in world.queued_events() if e.lease_until is None or e.lease_until <= now]
        waiting = [e for e in free if e.received_at < started]
        return len(waiting) if len(waiting) >= LONG_RUN_AHEAD else 0

    try:
        return wait_until(ahead, timeout=60, what="a retry run with a long list ahead", interval=0.2)
    except WaitTimedOut:
        return 0


def _after_stop(world: World) -> dict[str, int]:
    """What the store holds once every process has exited: nothing may still be leased to a process that is gone."""
    now = utc_now()
    queued = world.queued_events()
    held = [e for e in queued if e.lease_until is not None and e.lease_until > now]
    mails = world.store.outbox.messages(status=MessageStatus.PENDING, limit=1_000_000)
    return {
        "applied": world.store.inbox.counts().get(EventStatus.APPLIED.value, 0),
        "waiting": len(queued) - len(held),
        "held": len(held),
        "mails_held": sum(1 for m in mails if m.lease_until is not None and m.lease_until > now),
        "unfinished": sum(1 for r in world.job_runs() if r.finished_at is None),
    }


SCENARIOS = (
    Scenario(
        "pairs",
        "Same result to both instances at once",
        "Two instances (A and B, 3 workers each) on one PostgreSQL, the bridge's own jobs only (no /cron/retry). "
        "Every result is delivered to A and B at the same moment, a fifth of them to both again afterwards, while "
        "Fabman takes 20 ms a request, answers 5 % with 503 and 10 % of member updates with 409. Each result is "
        "stored by one delivery (the other answers `duplicate`), applied once and mailed once.",
        same_result_on_both,
        postgres=True,
    ),
    Scenario(
        "sigkill",
        "A whole instance killed (SIGKILL)",
        f"Two instances on one PostgreSQL, jobs only, LEASE_SECONDS={KILL_LEASE_SECONDS}, Fabman slow ({SLOW_FABMAN_MS} ms a "
        "request) so both apply pools are busy. After 40 % of the deliveries, instance B's master and workers are "
        "SIGKILLed together; deliveries go on round-robin (those to B are refused and re-sent to A, as ClassMarker "
        "would). A applies the results B had accepted once their leases end. Nothing lost, nothing doubled, every "
        "mail once.",
        instance_killed,
        postgres=True,
    ),
    Scenario(
        "jobs",
        "Jobs only while Fabman fails and recovers",
        f"Two instances on one PostgreSQL and no scheduler: nobody calls /cron/retry. Fabman is down for "
        f"{OUTAGE_SECONDS:g} s, then answers 30 % of requests with 503, 10 % of member updates with 409 and 20 "
        f"requests with 429 for {FLAKY_SECONDS:g} s, then recovers; results arrive throughout. The retry job "
        "(RETRY_EVERY_SECONDS=2, backoff from 1 s), run by whichever worker wins its lease, applies every result once "
        "and sends every mail once; GET /admin/jobs shows it enabled and who ran it last.",
        jobs_only,
        postgres=True,
    ),
    Scenario(
        "sigterm",
        "SIGTERM to both instances during a burst",
        f"Two instances on one PostgreSQL, jobs only, Fabman {TERM_FABMAN_MS} ms a request, "
        f"LEASE_SECONDS={TERM_LEASE_SECONDS}, gunicorn's graceful timeout {DEPLOYED_GRACEFUL_SECONDS} s as deployed. "
        f"A burst of {BURST_PER_SECOND} results a second comes faster than the apply pools (FABMAN_CONCURRENCY=1) take it, so "
        "most are answered `queued` and the retry job works them off in long runs. When a retry run still has "
        f"{LONG_RUN_AHEAD} or more results ahead of it, both masters get SIGTERM (a deploy); ClassMarker's deliveries are "
        "refused meanwhile and re-sent. Once both have exited, the store must show nothing still leased to a "
        "stopped process (every accepted result applied or given back, no job run left open); then both start "
        "again, finish the rest, and nothing is lost or doubled.",
        sigterm_burst,
        postgres=True,
    ),
)
