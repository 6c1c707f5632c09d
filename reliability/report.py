"""The run's table on the terminal, and RELIABILITY.md written from the same figures."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reliability.checks import Tally

PROBLEM_INDENT = "    "
COLUMNS = (
    "scenario",
    "requests",
    "faults injected",
    "results expected",
    "results applied",
    "duplicates",
    "mails expected",
    "mails delivered",
    "lost",
    "max webhook s",
    "verdict",
)

GUARANTEES = (
    "Every ClassMarker link result that reaches the webhook with a valid signature is stored before the answer, "
    "and the answer comes within the webhook's time budget (`WEBHOOK_BUDGET_SECONDS`, default 8 s) even when "
    "Fabman hangs or is down.",
    "A result has its effect in Fabman exactly once however often, and however concurrently, it is delivered: a "
    "pass is exactly one training record naming the result id (older records of the course removed), a fail is "
    "counted exactly once in the member's `failed_courses`.",
    "A result Fabman could not take (5xx, 429, timeout, down, lost answers) stays queued and is applied by "
    "`POST /cron/retry`; nothing is lost when Fabman fails and nothing is doubled when a write succeeded but its "
    "answer was lost.",
    "Every applied result is mailed to the member exactly once as their mailbox shows it; when SMTP refuses, the "
    "mail waits in the outbox and `/cron/retry` delivers it once SMTP is back. Sending itself is at least once: a "
    "worker killed after SMTP accepted a mail but before the outbox recorded it sends it again under the same "
    "Message-ID, which mail systems fold into one (such re-sends are listed in the notes).",
    "A gunicorn worker killed while applying a result loses nothing: its lease expires (`LEASE_SECONDS`) and "
    "`/cron/retry` finishes the work without doubling it.",
    "The expiry sweep announces every expired training before removing it, removes nothing active, and rerunning "
    "it (after faults or a crash) mails and removes nothing twice.",
)


@dataclass(frozen=True)
class RunInfo:
    """Where and how the figures were produced."""

    mode: str
    sizes: str
    command: str
    started: str
    seconds: float
    database: str
    commit: str
    python: str
    cpus: int


def _cells(tally: Tally) -> list[str]:
    if tally.skipped:
        return [tally.scenario, *["-"] * 9, "SKIPPED"]
    return [
        tally.scenario,
        str(tally.requests),
        str(tally.faults),
        str(tally.results_expected),
        str(tally.results_applied),
        str(tally.duplicates),
        str(tally.mails_expected),
        str(tally.mails_delivered),
        str(tally.lost),
        f"{tally.max_latency:.2f}" if tally.max_latency else "-",
        "PASS" if tally.ok else "FAIL",
    ]


def table(tallies: Iterable[Tally]) -> str:
    """A fixed-width table for the terminal."""
    rows = [list(COLUMNS), *(_cells(t) for t in tallies)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = []
    for index, row in enumerate(rows):
        cells = (cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
        lines.append("  ".join(cells))
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def details(tallies: Iterable[Tally]) -> list[str]:
    """Per scenario: time taken, notes, and every broken guarantee."""
    lines = []
    for tally in tallies:
        if tally.skipped:
            lines.append(f"{tally.scenario}: skipped ({tally.skipped})")
            continue
        lines.append(f"{tally.scenario} ({tally.seconds:.0f} s): " + "; ".join(tally.notes))
        lines.extend(f"{PROBLEM_INDENT}PROBLEM {problem}" for problem in tally.problems)
    return lines


def _bullet(line: str) -> str:
    if line.startswith(PROBLEM_INDENT):
        return f"  - {line.strip()}"
    return f"- {line}"


def markdown(tallies: Sequence[Tally], info: RunInfo, scenarios: Iterable[tuple[str, str]]) -> str:
    """RELIABILITY.md: guarantees, scenarios and the last figures, all from the run."""
    verdict = "all guarantees held" if all(t.ok for t in tallies) else "SOME GUARANTEES BROKE"
    out = [
        "# Reliability",
        "",
        "<!-- Written by `python -m reliability` (make reliability); edit reliability/, not this file. -->",
        "",
        "The bridge as deployed (gunicorn, 3 workers of 4 threads, `--worker-connections 4`) driven by "
        "`make reliability` through a hostile world: the Fabman simulator failing, hanging and going down, a "
        "real SMTP server refusing mail, workers killed mid-request. Every figure is counted afterwards from the "
        "world itself (training records and member metadata in the simulator, mail received by the SMTP server, "
        "rows in the bridge's store), never from the bridge's answers. The run exits non-zero when anything is "
        "lost or doubled.",
        "",
        "Full size: `make reliability` (writes this file). CI size: `make reliability-ci` "
        "(`python -m reliability --quick`). Against PostgreSQL: add `--database-url postgresql://...` "
        "(the run empties that database).",
        "",
        "## Guarantees",
        "",
        *(f"- {g}" for g in GUARANTEES),
        "",
        "## Scenarios",
        "",
        *(f"- **{title}.** {text}" for title, text in scenarios),
        "",
        "## Last figures",
        "",
        f"{info.mode} run of {info.started}, {info.seconds:.0f} s, store {info.database}, commit {info.commit}, "
        f"Python {info.python}, {info.cpus} CPUs: **{verdict}**.",
        "",
        f"Sizes: {info.sizes}.",
        "",
        "`duplicates` counts results applied more than once and mails (distinct Message-IDs) received more than "
        "once; `lost` counts results never applied and mails never received; "
        "`max webhook s` is the slowest answer of the webhook.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(COLUMNS) - 1)) + "|",
        *("| " + " | ".join(_cells(t)) + " |" for t in tallies),
        "",
        "Notes:",
        "",
        *(_bullet(line) for line in details(tallies)),
        "",
        f"Command: `{info.command}`",
        "",
    ]
    return "\n".join(out)
