"""`make bench` at its smallest: the whole run, end to end, writes a report with every endpoint.

The figures themselves are never asserted (no timed assertions); what is
checked is what a reader of the report relies on: every endpoint measured
without errors, Fabman requests counted from the simulator's log, the sweep's
requests matching the expired records the bench counted itself, and worker
memory read at the start and the end.
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


@pytest.mark.e2e
@pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")), reason="the bench keeps its own SQLite store: one pass is enough")
def test_quick_bench_writes_every_figure(tmp_path: Path) -> None:
    output = tmp_path / "latest.json"
    args = "--quick --members 60 --sweep-members 60 --duration 0.4 --warmup 0.1 --levels 1,2 --concurrency 2 --latency-ms 5"
    finished = subprocess.run(
        [sys.executable, "-m", "bench.run", *args.split(), "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    report = json.loads(output.read_text())

    assert list(report["endpoints"]) == [endpoint.key for endpoint in ENDPOINTS]
    for key, figures in report["endpoints"].items():
        assert figures["alone"]["requests"] > 0 and figures["loaded"]["requests"] > 0, key
        assert figures["alone"]["errors"] == figures["loaded"]["errors"] == 0, (key, figures["loaded"]["statuses"])
        assert figures["fabman_requests"] > 0, key
    assert report["endpoints"]["absolved"]["fabman_by_method"] == {
        "GET": report["endpoints"]["absolved"]["alone"]["requests"] + report["endpoints"]["absolved"]["loaded"]["requests"]
    }
    assert report["endpoints"]["webhook_pass"]["fabman_by_method"]["POST"] > 0  # passes created training records

    assert [level["concurrency"] for level in report["scaling"]] == [1, 2]
    [sweep] = report["sweeps"]
    assert sweep["status"] == 200 and sweep["expected_deletes"] > 0
    assert (sweep["member_pages"], sweep["deletes"]) == (sweep["expected_member_pages"], sweep["expected_deletes"])
    assert report["memory"]["workers"] and all(w["end_rss_mib"] > 0 for w in report["memory"]["workers"])
    assert {target["verdict"] for target in report["targets"]} <= {"PASS", "MISS"}
    assert "Targets:" in finished.stdout
