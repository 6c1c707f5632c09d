"""`flask expire-trainings`: the sweep for a crontab, JSON on stdout, progress on stderr."""

from __future__ import annotations

import json

from flask.testing import FlaskCliRunner

from harness.launch import SmtpSink
from sandbox.simulator import FabmanSimulator
from tests.expiry.conftest import MEMBERS, PAGE, all_records, expired_in, expiry_mails, prague_today


def test_dry_run_then_run(runner: FlaskCliRunner, simulator: FabmanSimulator, smtp: SmtpSink) -> None:
    before = all_records(simulator)
    expired = expired_in(before, prague_today())
    total = sum(len(ids) for ids in expired.values())

    dry = runner.invoke(args=["expire-trainings", "--dry-run"])

    assert dry.exit_code == 0, dry.output
    summary = json.loads(dry.stdout)
    assert (summary["dry_run"], summary["members_scanned"], summary["expired_found"]) == (True, MEMBERS, total)
    # Not a terminal: one plain progress line per page of members, on stderr.
    lines = dry.stderr.splitlines()
    assert [line.split(" members scanned")[0] for line in lines] == [
        str(min(MEMBERS, PAGE * n)) for n in range(1, len(lines) + 1)
    ]
    assert lines[-1].startswith(f"{MEMBERS} members scanned, {total} expired")
    assert all_records(simulator) == before and smtp.messages == []

    run = runner.invoke(args=["expire-trainings"])

    assert run.exit_code == 0, run.output
    summary = json.loads(run.stdout)
    assert (summary["dry_run"], summary["removed"], summary["errors"]) == (False, total, [])
    assert expired_in(all_records(simulator), prague_today()) == {}
    assert len(expiry_mails(smtp.messages, 1)) == 1


def test_a_failed_member_makes_the_exit_code_1(runner: FlaskCliRunner, simulator: FabmanSimulator) -> None:
    [record_id] = expired_in(all_records(simulator), prague_today())[1]
    simulator.faults.fail_next(3, 503, "DELETE", f"/members/1/trainings/{record_id}")

    run = runner.invoke(args=["expire-trainings"])

    assert run.exit_code == 1
    assert [(e["member_id"], e["record_id"]) for e in json.loads(run.stdout)["errors"]] == [(1, record_id)]
    assert record_id in {r["id"] for r in simulator.state.trainings_of(1)}


def test_fabman_down_stops_with_one_line_and_changes_nothing(
    runner: FlaskCliRunner, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    before = all_records(simulator)
    simulator.faults.down = True

    run = runner.invoke(args=["expire-trainings"])

    simulator.faults.down = False
    assert run.exit_code == 1
    assert run.stderr.startswith("Error: the sweep stopped, rerun it later: Fabman answered 503")
    assert "Traceback" not in run.output
    assert all_records(simulator) == before and smtp.messages == []
