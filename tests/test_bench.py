"""`make bench` at its smallest: the whole run, end to end, writes a report with every figure.

The figures themselves are never judged here (no timed assertions); what is
checked is what a reader of the report relies on: every phase measured
without errors, every result sent applied and its Fabman writes found in the
simulator's log (so its time to effect cannot be shorter than its two calls'
latency), the webhook's answers free of Fabman calls, the sweep's requests
matching the expired records the bench counted itself, worker memory read at
the start and the end, and PostgreSQL measured when there is one, or said to
be missing when there is none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.scenarios import ENDPOINTS

ROOT = Path(__file__).resolve().parent.parent
LATENCY_MS = 5
NOBODY_THERE = "postgresql://postgres@127.0.0.1:1/bench"


@pytest.mark.e2e
def test_quick_bench_writes_every_figure(tmp_path: Path) -> None:
    postgres_url = os.environ.get("TEST_DATABASE_URL") or NOBODY_THERE
    output = tmp_path / "latest.json"
    args = "--quick --members 60 --sweep-members 60 --duration 0.4 --warmup 0.1 --levels 1,2 --concurrency 2 --result-levels 2"
    args += " --load-levels 2,4"
    finished = subprocess.run(
        [sys.executable, "-m", "bench.run", *args.split(), "--latency-ms", str(LATENCY_MS)]
        + ["--postgres-url", postgres_url, "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    report = json.loads(output.read_text())

    stores = report["stores"]
    if postgres_url == NOBODY_THERE:
        assert not stores["postgresql"]["measured"] and "does not answer" in stores["postgresql"]["reason"]
        assert "SQLite ONLY" in finished.stderr and "PostgreSQL: NOT MEASURED" in finished.stdout
    measured = [store for store in stores.values() if store["measured"]]
    assert [store["label"] for store in measured] == ["SQLite"] + (["PostgreSQL"] if postgres_url != NOBODY_THERE else [])
    for store in measured:
        label = store["label"]
        instances = 2 if label == "PostgreSQL" else 1
        assert [(phase["kind"], phase["clients"]) for phase in store["results"]] == [("fail", 1), ("pass", 1), ("fail", 2)]
        for phase in store["results"]:
            assert phase["results"] > 0 and phase["applied"] == phase["results"], (label, phase["final_statuses"])
            assert phase["errors"] == 0 and set(phase["answers"]) <= {"accepted", "queued"}, (label, phase["answers"])
            assert phase["effect_p50_ms"] >= 2 * LATENCY_MS, (label, phase["kind"])
            assert phase["fabman_per_result"] >= 2
        fail_alone, _, fail_together = store["results"]
        assert fail_alone["fabman_writes"] == fail_alone["applied"]  # one metadata write per failing result
        assert fail_together["applied_per_second"] > 0 and fail_together["io_bound_per_second"] == 2 / (2 * LATENCY_MS / 1000)
        for phase in store["answers"]:
            assert phase["requests"] > 0 and phase["errors"] == 0, (label, phase["statuses"])
            assert set(phase["answers"]) <= {"accepted", "queued"} and phase["fabman_max_per_answer"] == 0, label
        assert [(phase["clients"], phase["instances"]) for phase in store["load"]] == [(2, instances), (4, instances)]
        for phase in store["load"]:  # issue 20's open load: every stored result's effect found once in Fabman
            assert phase["results"] > 0 and phase["errors"] == 0 and phase["doubles"] == 0, (label, phase["answers"])
            assert phase["effects"] == phase["results"] and phase["never_applied"] == 0, (label, phase["final_statuses"])
            assert phase["effect_p50_ms"] >= LATENCY_MS, label
        assert store["memory"] and all(worker["end_rss_mib"] > 0 for worker in store["memory"])
        assert store["round_trip"]["p50_ms"] >= LATENCY_MS

    assert list(report["endpoints"]) == [endpoint.key for endpoint in ENDPOINTS]
    for key, figures in report["endpoints"].items():
        assert figures["alone"]["requests"] > 0 and figures["loaded"]["requests"] > 0, key
        assert figures["alone"]["errors"] == figures["loaded"]["errors"] == 0, (key, figures["loaded"]["statuses"])
    absolved = report["endpoints"]["absolved"]
    assert absolved["fabman_by_method"] == {"GET": absolved["alone"]["requests"] + absolved["loaded"]["requests"]}
    assert [level["concurrency"] for level in report["scaling"]] == [1, 2]

    [sweep] = report["sweeps"]
    assert sweep["status"] == 200 and sweep["expected_deletes"] > 0
    assert (sweep["member_pages"], sweep["deletes"]) == (sweep["expected_member_pages"], sweep["expected_deletes"])
    assert {target["verdict"] for target in report["targets"]} <= {"PASS", "MISS", "superseded"}
    superseded = {target["target"] for target in report["targets"] if target["verdict"] == "superseded"}
    assert "SQLite: webhook answer p50, 1 client (ms)" in superseded
    assert not any("effects/s" in name or "sequential" in name for name in superseded)
    assert "Targets:" in finished.stdout
