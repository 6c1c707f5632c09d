"""Rule 4.4 and issue 20: the inbox is the queue, drained by each process's appliers, on SQLite and PostgreSQL.

The appliers here apply with a recorder in place of the use case (it marks
the event applied in the store, as the use case would, and notes who was in
flight), on the test's real store: results of one member are never applied at
the same time, different members' are, two instances racing for the same
inbox take each result once, a stopping process gives back what it holds,
and a killed one's leases end and another takes them.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence

import pytest

from bridge.adapters.fabman import RateGate
from bridge.adapters.store import InboxEvent, Store
from bridge.background import Applier
from bridge.clock import SettableClock
from bridge.domain.statuses import EventStatus
from harness.wait import wait_until

LEASE = 60


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    store = Store(database_url)
    store.migrate()
    yield store
    store.dispose()


def stored(store: Store, key: str, member_id: int) -> InboxEvent:
    event, created = store.inbox.receive(
        result_key=key, status=EventStatus.QUEUED, passed=False, test_name="Laser", payload="{}", member_id=member_id
    )
    assert created
    return event


class Recorder:
    """Applies by marking the event applied; notes which members were in flight together, and the most at once."""

    def __init__(self, store: Store, *, hold: Callable[[InboxEvent], None] = lambda event: None) -> None:
        self.store = store
        self.hold = hold
        self.lock = threading.Lock()
        self.in_flight: Counter[int] = Counter()
        self.overlaps: list[int] = []
        self.most_at_once = 0
        self.applied: Counter[int] = Counter()

    def __call__(self, event: InboxEvent) -> None:
        assert event.member_id is not None
        with self.lock:
            if self.in_flight[event.member_id]:
                self.overlaps.append(event.member_id)
            self.in_flight[event.member_id] += 1
            self.most_at_once = max(self.most_at_once, sum(self.in_flight.values()))
        try:
            self.hold(event)  # its "Fabman calls"
        finally:
            with self.lock:
                self.in_flight[event.member_id] -= 1
                self.applied[event.id] += 1
        self.store.inbox.mark_applied(event.id, "failed")  # as the use case: after its Fabman calls, the lease ends


def appliers(store: Store, apply: Callable[[InboxEvent], object], concurrency: int = 4) -> Applier:
    def claim(limit: int, *, fresh_only: bool, exclude: Sequence[int]) -> list[InboxEvent]:
        return store.inbox.claim_due(limit, LEASE, fresh_only=fresh_only, exclude=exclude)

    return Applier(concurrency, apply=apply, claim=claim, release=store.inbox.release, any_due=store.inbox.any_due)


def test_one_members_results_one_after_another_different_members_at_once(store: Store) -> None:
    both_started = threading.Barrier(2, timeout=10)

    def hold(event: InboxEvent) -> None:
        if event.result_key in {"m1-0", "m2-0"}:
            both_started.wait()  # two members' first results in flight together, or this times out

    recorder = Recorder(store, hold=hold)
    events = [stored(store, f"m{member}-{n}", member) for n in range(3) for member in (1, 2, 3)]
    pool = appliers(store, recorder)

    pool.wake(due=False)

    assert pool.wait_idle(30)
    assert recorder.overlaps == []
    assert recorder.most_at_once >= 2
    assert sorted(recorder.applied) == sorted(event.id for event in events)
    assert set(recorder.applied.values()) == {1}
    assert store.inbox.counts() == {"applied": 9}
    pool.shutdown(5)


def test_two_instances_draining_one_inbox_apply_each_result_once_and_never_one_member_twice_at_once(
    store: Store, database_url: str
) -> None:
    other = Store(database_url)  # a second instance: its own engine and connections
    try:
        events = [stored(store, f"r{member}-{n}", member) for n in range(4) for member in range(1, 7)]
        recorder = Recorder(store)
        first, second = appliers(store, recorder), appliers(other, recorder)

        first.wake()
        second.wake()

        wait_until(lambda: store.inbox.counts() == {"applied": len(events)}, timeout=60, what="every result applied")
        assert first.wait_idle(30) and second.wait_idle(30)
        assert recorder.overlaps == []
        assert set(recorder.applied.values()) == {1}
        first.shutdown(5)
        second.shutdown(5)
    finally:
        other.dispose()


def test_a_result_stored_while_its_member_is_in_flight_is_not_claimed_with_it(store: Store) -> None:
    first, _ = store.inbox.receive(
        result_key="a", status=EventStatus.QUEUED, passed=False, test_name="Laser", payload="{}", member_id=7, claim_seconds=LEASE
    )
    second, _ = store.inbox.receive(
        result_key="b", status=EventStatus.QUEUED, passed=False, test_name="Laser", payload="{}", member_id=7, claim_seconds=LEASE
    )
    other, _ = store.inbox.receive(
        result_key="c", status=EventStatus.QUEUED, passed=False, test_name="Laser", payload="{}", member_id=8, claim_seconds=LEASE
    )

    assert first.lease_until is not None and other.lease_until is not None
    assert second.lease_until is None  # stored queued: member 7 has a result in flight
    assert store.inbox.claim_due(10, LEASE) == []
    assert store.inbox.claim(second.id, LEASE) is None
    store.inbox.mark_applied(first.id, "failed")
    assert [event.id for event in store.inbox.claim_due(10, LEASE)] == [second.id]


def test_a_stopping_process_gives_back_what_it_holds_and_a_killed_ones_leases_end(store: Store, database_url: str) -> None:
    clock = SettableClock()
    mine = Store(database_url, clock=clock)
    try:
        release = threading.Event()
        recorder = Recorder(mine, hold=lambda event: release.wait(10) and None)
        events = [stored(mine, f"s{member}", member) for member in range(1, 5)]
        pool = appliers(mine, recorder, concurrency=1)
        held = mine.inbox.claim_due(3, LEASE)  # what this process claimed, as the webhook does, beyond the one running
        assert pool.reserve()
        pool.submit(held[0])
        wait_until(lambda: sum(recorder.in_flight.values()) == 1, timeout=10, what="the first result being applied")

        threading.Timer(0.2, release.set).start()
        pool.shutdown(timeout=10)  # SIGTERM

        assert recorder.applied == Counter({held[0].id: 1})
        left = {event.id: event for event in mine.inbox.events() if event.status == "queued"}
        assert sorted(left) == sorted(event.id for event in events if event.id != held[0].id)
        leased = [event.id for event in left.values() if event.lease_until is not None]
        assert sorted(leased) == sorted(event.id for event in held[1:])  # claimed by a "killed" process, never given back

        assert sorted(event.id for event in mine.inbox.claim_due(10, LEASE)) == [events[3].id]
        clock.advance(seconds=LEASE + 1)  # every lease ends: the killed process's, and that last claim's
        assert sorted(event.id for event in mine.inbox.claim_due(10, LEASE)) == sorted(
            event.id for event in [*held[1:], events[3]]
        )
    finally:
        mine.dispose()


class StandingTime:
    """Monotonic seconds the test moves; a wait on the appliers' condition is real (until notified or timed out)."""

    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        raise AssertionError("the appliers wait on their condition, never in a sleep")

    def wait(self, condition: threading.Condition, seconds: float) -> None:
        condition.wait(seconds)


def test_while_fabman_asks_to_wait_the_appliers_take_nothing_more(store: Store) -> None:
    time = StandingTime()
    gate = RateGate(time)
    recorder = Recorder(store)
    pool = Applier(
        2,
        apply=recorder,
        claim=lambda limit, *, fresh_only, exclude: store.inbox.claim_due(limit, LEASE, fresh_only=fresh_only, exclude=exclude),
        release=store.inbox.release,
        gate=gate,
    )
    stored(store, "p1", 1)
    gate.close_for(2.0)  # a 429 with no Retry-After

    assert pool.reserve() is False  # the webhook stores results queued meanwhile
    pool.wake()
    assert pool.wait_idle(0.3) is False and recorder.applied == Counter()
    time.now += 2.0
    with pool._changed:
        pool._changed.notify_all()
    assert pool.wait_idle(10)
    assert store.inbox.counts() == {"applied": 1}
    pool.shutdown(5)
