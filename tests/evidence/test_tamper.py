"""Tampering with the store as an attacker with write access would, in raw SQL: each edit is caught.

Four results are recorded an hour apart, each followed by a signed checkpoint
(as a busy FabLab's daily checkpoints would be). Then the attacker edits the
database directly, and `flask evidence verify` must exit 1 naming the first
index that no longer holds. Runs on SQLite and (with TEST_DATABASE_URL) on
PostgreSQL.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask.testing import FlaskCliRunner

from bridge.answers import to_json
from bridge.application import Bridge
from bridge.clock import SettableClock
from bridge.domain import merkle
from bridge.domain.evidence import canonical
from tests.evidence.conftest import EVA, MARTIN, SAFETY, SOLDERING

Sql = Callable[..., Any]


@pytest.fixture
def history(bridge: Bridge, send: Callable[..., Any], clock: SettableClock) -> list[dict[str, Any]]:
    """Leaves 0-3: three passes and a counted fail, each an hour apart and each followed by a checkpoint."""
    made = []
    for member_id, course_id, result_id, passed in (
        (MARTIN, SOLDERING, 7001, True),
        (MARTIN, SAFETY, 7002, True),
        (EVA, SOLDERING, 7003, True),
        (EVA, SAFETY, 7004, False),
    ):
        clock.advance(hours=1)
        send(member_id, course_id, result_id, passed=passed, percentage=90 if passed else 30)
        made.append(to_json(bridge.evidence.checkpoint()))
    assert [leaf.event for leaf in bridge.store.evidence.leaves()] == ["granted", "granted", "granted", "failed"]
    return made


def verify(runner: FlaskCliRunner) -> tuple[int, str]:
    result = runner.invoke(args=["evidence", "verify"])
    return result.exit_code, result.output


def assert_broken_at(runner: FlaskCliRunner, index: int) -> str:
    code, output = verify(runner)
    assert code == 1, output
    assert f"evidence index {index} does not hold" in output, output
    return output


def test_the_untouched_log_verifies(runner: FlaskCliRunner, history: list[dict[str, Any]]) -> None:
    code, output = verify(runner)
    assert (code, output.strip()) == (0, "evidence log holds: 4 leaves, 4 checkpoints verified")


def test_a_changed_score_is_caught(runner: FlaskCliRunner, history: list[dict[str, Any]], sql: Sql) -> None:
    assert sql("UPDATE training_ledger SET percentage = 100 WHERE result_id = '7002'") == 1
    assert "in score" in assert_broken_at(runner, 1)


def test_a_backdated_pass_is_caught(runner: FlaskCliRunner, history: list[dict[str, Any]], sql: Sql) -> None:
    sql(
        "UPDATE training_ledger SET granted_at = (SELECT granted_at FROM training_ledger WHERE result_id = '7001'), "
        "time_finished = (SELECT time_started FROM training_ledger WHERE result_id = '7001') WHERE result_id = '7003'"
    )
    assert "recorded_at" in assert_broken_at(runner, 2)


def test_a_deleted_leaf_is_caught(runner: FlaskCliRunner, history: list[dict[str, Any]], sql: Sql) -> None:
    assert sql("DELETE FROM evidence_leaves WHERE leaf_index = 1") == 1
    assert "leaf 1 is missing" in assert_broken_at(runner, 1)


def test_a_deleted_ledger_row_is_caught(runner: FlaskCliRunner, history: list[dict[str, Any]], sql: Sql) -> None:
    assert sql("DELETE FROM training_ledger WHERE result_id = '7002'") == 1
    assert "no ledger row" in assert_broken_at(runner, 1)


def test_an_inserted_ledger_row_is_caught(runner: FlaskCliRunner, history: list[dict[str, Any]], sql: Sql) -> None:
    sql(
        "INSERT INTO training_ledger (result_id, member_id, course_id, percentage, granted_at) "
        "SELECT '9999', member_id, course_id, percentage, granted_at FROM training_ledger WHERE result_id = '7001'"
    )
    assert "has no leaf" in assert_broken_at(runner, 4)


def test_an_inserted_backdated_leaf_is_caught(runner: FlaskCliRunner, history: list[dict[str, Any]], sql: Sql) -> None:
    """A forged leaf after the last checkpoint that claims an old time (a copy of leaf 0)."""
    sql(
        "INSERT INTO evidence_leaves "
        "(leaf_index, event_key, event, member_id, course_id, result_id, leaf, leaf_hash, recorded_at) "
        "SELECT 4, 'forged', event, member_id, course_id, result_id, leaf, leaf_hash, recorded_at "
        "FROM evidence_leaves WHERE leaf_index = 0"
    )
    assert_broken_at(runner, 4)


def test_leaves_rewritten_with_a_recomputed_tree_are_caught_by_the_signed_checkpoint(
    runner: FlaskCliRunner, history: list[dict[str, Any]], sql: Sql
) -> None:
    """The attacker rewrites leaf 2's score, its hash and the ledger so they agree: only the signature is left."""
    [(leaf,)] = sql("SELECT leaf FROM evidence_leaves WHERE leaf_index = 2")
    forged = json.dumps({**json.loads(bytes(leaf)), "score": "100"}, sort_keys=True, separators=(",", ":")).encode()
    sql(
        "UPDATE evidence_leaves SET leaf = :leaf, leaf_hash = :hash WHERE leaf_index = 2",
        leaf=forged,
        hash=merkle.leaf_hash(forged).hex(),
    )
    sql("UPDATE training_ledger SET percentage = 100 WHERE result_id = '7003'")
    output = assert_broken_at(runner, 2)
    assert "do not give the root signed" in output


def test_a_checkpoint_signed_with_another_key_is_caught(
    runner: FlaskCliRunner, bridge: Bridge, history: list[dict[str, Any]], sql: Sql
) -> None:
    other = Ed25519PrivateKey.generate()
    document = {**history[-1]["checkpoint"], "time": "2030-01-01T00:00:00Z"}
    sql(
        "INSERT INTO evidence_checkpoints (size, root, time, origin, signature, public_key, created_at) "
        "SELECT size, root, :time, origin, :signature, public_key, created_at FROM evidence_checkpoints WHERE size = 4",
        time=document["time"],
        signature=base64.b64encode(other.sign(canonical(document))).decode(),
    )
    assert "signature does not verify" in assert_broken_at(runner, 4)


def test_an_old_checkpoint_is_not_consistent_with_a_rewritten_history(
    bridge: Bridge, history: list[dict[str, Any]], sql: Sql, client: Any, api_headers: dict[str, str]
) -> None:
    old = history[1]["checkpoint"]  # what a witness kept: size 2
    honest = client.get("/admin/evidence/consistency?first=2&second=4", headers=api_headers).json
    assert merkle.verify_consistency(
        2,
        4,
        bytes.fromhex(old["root"]),
        bytes.fromhex(history[3]["checkpoint"]["root"]),
        [bytes.fromhex(h) for h in honest["proof"]],
    )
    forged = b'{"event":"granted","v":1}'
    sql(
        "UPDATE evidence_leaves SET leaf = :leaf, leaf_hash = :hash WHERE leaf_index = 0",
        leaf=forged,
        hash=merkle.leaf_hash(forged).hex(),
    )
    new = to_json(bridge.evidence.checkpoint())["checkpoint"]  # the bridge signs whatever the store now holds
    proof = client.get("/admin/evidence/consistency?first=2&second=4", headers=api_headers).json["proof"]
    assert not merkle.verify_consistency(
        2, 4, bytes.fromhex(old["root"]), bytes.fromhex(new["root"]), [bytes.fromhex(h) for h in proof]
    )
