"""The evidence log (contract section 16): one leaf per event, written with the row it records."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete

from bridge.adapters.store import Store
from bridge.adapters.store.evidence import EvidenceHead
from bridge.application import Bridge
from bridge.domain import merkle
from bridge.domain.evidence import EvidenceEvent, LeafFields
from harness.classmarker import quiz_of
from tests.evidence.conftest import EVA, MARTIN, SAFETY, SOLDERING


def leaves(bridge: Bridge) -> list[dict[str, Any]]:
    return [json.loads(leaf.leaf) for leaf in bridge.store.evidence.leaves()]


def test_a_pass_and_a_fail_each_append_one_leaf_with_the_contract_fields(bridge: Bridge, send: Callable[..., Any]) -> None:
    send(MARTIN, SOLDERING, 7001, percentage="92.5")
    send(EVA, SAFETY, 7002, passed=False, percentage=40)

    granted, failed = leaves(bridge)
    ledger = bridge.store.ledger.entries(member_id=MARTIN)[0]
    body = next(event.payload for event in bridge.store.inbox.events() if event.result_key == "7001").encode()
    assert set(granted) == {
        "v", "event", "member_id", "course_id", "result_id", "quiz", "score", "passmark", "finished_at", "recorded_at",
        "fabman_record_id", "payload_sha256", "subject",
    }  # fmt: skip
    assert granted["v"] == 1 and granted["event"] == "granted"
    assert (granted["member_id"], granted["course_id"], granted["result_id"]) == (MARTIN, SOLDERING, "7001")
    assert (granted["quiz"], granted["score"], granted["passmark"]) == (quiz_of(SOLDERING), "92.5", "80")
    assert granted["finished_at"] == "2025-11-21T08:07:00Z"
    assert granted["fabman_record_id"] == ledger.fabman_record_id is not None
    assert granted["payload_sha256"] == hashlib.sha256(body).hexdigest()
    assert failed["event"] == "failed" and failed["score"] == "40" and failed["fabman_record_id"] is None
    assert [leaf.index for leaf in bridge.store.evidence.leaves()] == [0, 1]


def test_no_name_email_or_ip_is_in_a_leaf_and_the_subject_is_a_salted_hmac(bridge: Bridge, send: Callable[..., Any]) -> None:
    send(MARTIN, SOLDERING, 7001)

    raw = bridge.store.evidence.leaves()[0].leaf
    for personal in (b"petra", b"Petra", b"Dvorakova", b"203.0.113.7", b"@"):
        assert personal not in raw
    subject = json.loads(raw)["subject"]
    assert subject != hashlib.sha256(b"petra@example.org").hexdigest()
    with bridge.store.database.read() as session:  # the salt is the store's: recompute the subject from it
        salt = bytes.fromhex(session.execute(__import__("sqlalchemy").text("SELECT salt FROM evidence_salts")).scalar_one())
    assert subject == hmac.new(salt, b"petra@example.org", hashlib.sha256).hexdigest()


def test_a_replayed_or_repeated_result_is_logged_once(bridge: Bridge, send: Callable[..., Any]) -> None:
    send(MARTIN, SOLDERING, 7001)
    send(MARTIN, SOLDERING, 7001)
    send(EVA, SAFETY, 7002, passed=False)
    event = bridge.store.inbox.events()[0]
    bridge.store.inbox.mark_applied(event.id, "failed")

    assert [leaf["event"] for leaf in leaves(bridge)] == ["granted", "failed"]


def test_leaves_stay_gapless_and_unique_when_two_instances_append_at_once(bridge: Bridge) -> None:
    store = bridge.store
    other_instance = Store(store.database.url)
    errors: list[BaseException] = []

    def append(worker: int) -> None:
        instance = store if worker % 2 else other_instance
        try:
            for n in range(10):
                instance.evidence.record(f"test:{worker}:{n}", LeafFields(EvidenceEvent.REMOVED, member_id=worker, course_id=n))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=append, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    other_instance.dispose()
    assert not errors
    stored = store.evidence.leaves()
    assert [leaf.index for leaf in stored] == list(range(80))
    assert len({(leaf.member_id, leaf.course_id) for leaf in stored}) == 80
    assert all(leaf.leaf_hash == merkle.leaf_hash(leaf.leaf).hex() for leaf in stored)


def test_a_key_logged_already_takes_no_index_and_the_next_leaf_follows_on(bridge: Bridge) -> None:
    store = bridge.store
    first = LeafFields(EvidenceEvent.REMOVED, member_id=1, course_id=1)

    assert store.evidence.record("test:once", first) == 0
    assert store.evidence.record("test:once", LeafFields(EvidenceEvent.REMOVED, member_id=2, course_id=2)) is None
    assert store.evidence.record("test:next", LeafFields(EvidenceEvent.REMOVED, member_id=3, course_id=3)) == 1

    assert [(leaf.index, leaf.event_key, leaf.member_id) for leaf in store.evidence.leaves()] == [
        (0, "test:once", 1),
        (1, "test:next", 3),
    ]


def test_a_store_without_the_counter_row_makes_it_on_the_first_append(bridge: Bridge) -> None:
    store = bridge.store
    with store.database.write() as session:
        session.execute(delete(EvidenceHead))

    assert store.evidence.record("test:first", LeafFields(EvidenceEvent.REMOVED, member_id=1, course_id=1)) == 0
    assert store.evidence.record("test:second", LeafFields(EvidenceEvent.REMOVED, member_id=2, course_id=2)) == 1
    assert [leaf.index for leaf in store.evidence.leaves()] == [0, 1]


def test_leaf_bytes_are_served_as_hashed(bridge: Bridge, send: Callable[..., Any]) -> None:
    send(MARTIN, SOLDERING, 7001)
    stored = bridge.store.evidence.leaves()[0]
    assert base64.b64decode(base64.b64encode(stored.leaf)) == stored.leaf
    assert stored.leaf.decode("utf-8").startswith("{") and b" " not in stored.leaf
