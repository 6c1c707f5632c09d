"""`python -m bench.console`: how fast the staff console answers at real sizes.

Usage: `python -m bench.console [--results 100000] [--ledger 20000] [--mail 100000]
[--repeat 30] [--database-url URL]`.

Fills a fresh store (SQLite in a temporary folder unless `--database-url`)
with `--results` ClassMarker results spread over 90 days, `--ledger` ledger
rows and `--mail` outbox rows, then signs a staff member in and times the
console's pages through the app (the Fabman simulator answers the course list,
cached after the first call), each `--repeat` times after a warm-up. The
target (issue 11) is under 50 ms for the overview and the result list; the
median and the 95th percentile of each page are printed, judged on the median.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from cryptography.fernet import Fernet
from sqlalchemy import insert

from bridge import create_app
from bridge.adapters.store.models import InboxEvent, LedgerEntry, OutboxMessage
from bridge.application import bridge_of
from bridge.config import load_settings
from bridge.domain.calendar import today_in
from sandbox.simulator import FabmanSimulator
from sandbox.simulator.seed import demo_state

TARGET_MS = 50.0
STATUSES = ["applied"] * 90 + ["rejected"] * 3 + ["error"] * 2 + ["dead"] * 2 + ["queued"] * 2 + ["awaiting_grading"]
BATCH = 5000


def _payload(number: int, member_id: int, rng: random.Random) -> str:
    return json.dumps(
        {
            "payload_type": "single_user_test_results_link",
            "payload_status": "live",
            "test": {"test_id": 2044187, "test_name": "Laser cutter - safety"},
            "link": {"link_id": 1288001, "link_name": "Laser", "link_url_id": "q7b2d9e1f0a3c4"},
            "result": {
                "link_result_id": number,
                "first": f"Member{member_id}",
                "last": "Example",
                "percentage": rng.randint(40, 100),
                "passed": True,
                "cm_user_id": "gAAAAA" + "x" * 92,
            },
        }
    )


def fill(url: str, results: int, ledger: int, mail: int, now: dt.datetime) -> None:
    """Bulk-load the store (one statement per batch; the bridge's own writes go one by one)."""
    from bridge.adapters.store import Store

    store = Store(url)
    store.migrate()
    rng = random.Random(11)
    span = dt.timedelta(days=90).total_seconds()
    with store.database.engine.begin() as connection:
        for start in range(0, results, BATCH):
            rows = []
            for number in range(start, min(results, start + BATCH)):
                received = now - dt.timedelta(seconds=span * (1 - number / results))
                member_id = rng.randint(1, 3000)
                rows.append(
                    {
                        "result_key": str(90_000_000 + number),
                        "status": rng.choice(STATUSES),
                        "outcome": "granted",
                        "member_id": member_id,
                        "course_id": rng.randint(1, 12),
                        "passed": True,
                        "test_name": "Laser cutter - safety",
                        "attempts": 1,
                        "payload": _payload(number, member_id, rng),
                        "received_at": received,
                        "updated_at": received,
                    }
                )
            connection.execute(insert(InboxEvent.__table__), rows)
        for start in range(0, ledger, BATCH):
            connection.execute(
                insert(LedgerEntry.__table__),
                [
                    {
                        "result_id": str(90_000_000 + number),
                        "member_id": rng.randint(1, 3000),
                        "course_id": rng.randint(1, 12),
                        "course_title": "Laserová řezačka",
                        "fabman_record_id": number,
                        "quiz_name": "Laser cutter - safety",
                        "percentage": 90.0,
                        "training_date": "2026-01-01",
                        "evidence": {"result_id": str(number)},
                        "granted_at": now - dt.timedelta(seconds=span * (1 - number / ledger)),
                    }
                    for number in range(start, min(ledger, start + BATCH))
                ],
            )
        for start in range(0, mail, BATCH):
            connection.execute(
                insert(OutboxMessage.__table__),
                [
                    {
                        "dedupe_key": f"bench:{number}",
                        "channel": "mail",
                        "recipient": "member@example.org",
                        "subject": "Školení splněno / Training completed",
                        "body_text": "x" * 400,
                        "status": "sent" if number % 200 else rng.choice(["pending", "dead"]),
                        "attempts": 1,
                        "event_id": number + 1 if number < results else None,
                        "member_id": rng.randint(1, 3000),
                        "created_at": now - dt.timedelta(seconds=span * (1 - number / mail)),
                    }
                    for number in range(start, min(mail, start + BATCH))
                ],
            )
    store.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--ledger", type=int, default=20_000)
    parser.add_argument("--mail", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--database-url")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="bench-console-"))
    url = args.database_url or f"sqlite:///{folder / 'bridge.sqlite3'}"
    now = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    fill(url, args.results, args.ledger, args.mail, now)
    took = time.perf_counter() - started
    sys.stdout.write(f"store filled in {took:.1f} s: {args.results} results, {args.ledger} ledger rows, {args.mail} mails\n")

    with FabmanSimulator(demo_state(today_in(ZoneInfo("Europe/Prague")))) as simulator:
        settings = load_settings(
            {
                "FABMAN_API_KEY": simulator.api_key,
                "FABMAN_API_URL": simulator.base_url,
                "FERNET_KEY": Fernet.generate_key().decode("ascii"),
                "SECRET_KEY": "bench-secret-key",
                "DATABASE_URL": url,
                "MAIL_SUPPRESS_SEND": "true",
                "JOBS": "off",
                "STAFF_EMAILS": "bench@fablab.example",
            }
        )
        app = create_app(settings)
        bridge = bridge_of(app)
        client = app.test_client()
        token = bridge.staff_access.issue_link("bench@fablab.example")
        assert client.get(f"/staff/link?token={token}").status_code == 303
        pages = {
            "overview": "/staff/",
            "result list": "/staff/results",
            "result list, status dead": "/staff/results?status=dead",
            "result list, one member": "/staff/results?member=1234",
            "result list, one course, a week": f"/staff/results?course=2&from={(now - dt.timedelta(days=7)).date()}",
            "result list, page 100": "/staff/results?page=100",
            "evidence": "/staff/evidence",
            "evidence, one member": "/staff/evidence?member=1234",
        }
        missed = False
        sys.stdout.write(f"\n{'page':<36}{'median ms':>10}{'p95 ms':>10}  target\n")
        for name, path in pages.items():
            assert client.get(path).status_code == 200, path
            timings = []
            for _ in range(args.repeat):
                begun = time.perf_counter()
                answer = client.get(path)
                timings.append((time.perf_counter() - begun) * 1000)
                assert answer.status_code == 200
            median = statistics.median(timings)
            p95 = statistics.quantiles(timings, n=20)[-1]
            judged = name in ("overview", "result list")
            verdict = ("PASS" if median < TARGET_MS else "MISS") if judged else ""
            missed |= judged and median >= TARGET_MS
            sys.stdout.write(f"{name:<36}{median:>10.1f}{p95:>10.1f}  {verdict}\n")
        bridge.close()
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
