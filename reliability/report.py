"""The run's table on the terminal, and docs/reliability.md written from the same figures."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reliability.checks import Tally

PROBLEM_INDENT = "    "
COLUMNS = (
    "scenario",
    "store",
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
    "and the answer waits for nothing else: not for Fabman (hanging or down), not for SMTP. Its status says what "
    "happened: `accepted` (stored and being applied by this process), `queued` (stored; the retry job applies "
    "it), `duplicate`, `ignored`, `rejected`. The effect in Fabman and the mail come after the answer, so every "
    "figure below is counted once the world shows nothing left to do.",
    "A result has its effect in Fabman exactly once however often, and however concurrently, it is delivered, to "
    "one instance or to several at once: a pass is exactly one training record naming the result id (older "
    "records of the course removed; Fabman's request log shows one record created per pass), a fail is counted "
    "exactly once in the member's `failed_courses`.",
    "A result Fabman could not take (5xx, 429, timeout, down, lost answers) stays queued and is applied later, by "
    "`POST /cron/retry` or by the bridge's own retry job (`RETRY_EVERY_SECONDS`) with no scheduler at all; "
    "nothing is lost when Fabman fails and nothing is doubled when a write succeeded but its answer was lost.",
    "Every applied result is mailed to the member exactly once as their mailbox shows it; when SMTP refuses, the "
    "mail waits in the outbox and is delivered once SMTP is back. Sending itself is at least once: a process "
    "killed after SMTP accepted a mail but before the outbox recorded it sends it again under the same "
    "Message-ID, which mail systems fold into one (such re-sends are listed in the notes).",
    "A gunicorn worker, or a whole instance (master and workers), killed while applying results loses nothing: "
    "the leases of what it held end (`LEASE_SECONDS`) and another worker or instance finishes the work without "
    "doubling it.",
    "On SIGTERM a worker stops taking work, finishes or gives back every result it accepted, and leaves nothing "
    "leased to a process that is gone; started again, the bridge finishes the rest.",
    "Several workers and several instances sharing one PostgreSQL database never run one job at the same time "
    "(counted from the store's record of every job run).",
    "The expiry sweep announces every expired training before removing it, removes nothing active, and rerunning "
    "it (after faults or a crash) mails and removes nothing twice.",
    "A result whose webhook never arrives (lost, refused for a wrong secret, sent while the bridge was down) is "
    "found by reconciliation with ClassMarker's results API and applied exactly once, whichever of webhook and "
    "poll comes first, on one instance or two; staff hear of the webhook gap once a day.",
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
        return [tally.scenario, tally.store, *["-"] * 9, "SKIPPED"]
    return [
        tally.scenario,
        tally.store,
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
    """docs/reliability.md: guarantees, scenarios and the last figures, all from the run."""
    verdict = "all guarantees held" if all(t.ok for t in tallies) else "SOME GUARANTEES BROKE"
    out = [
        "# Reliability",
        "",
        "<!-- Written by `python -m reliability` (make reliability); edit reliability/, not this file. -->",
        "",
        "The bridge as deployed (gunicorn, 3 workers of 4 threads, `--worker-connections 4`) driven by "
        "`make reliability` through a hostile world: the Fabman simulator failing, hanging and going down, a "
        "real SMTP server refusing mail, workers and whole instances killed or stopped mid-run, ClassMarker's "
        "webhooks lost or refused while its results API (simulated too) still lists every result. One instance "
        "runs on SQLite, driven by a scheduler's `/cron/retry`; two instances (two gunicorn masters) share one "
        "PostgreSQL database behind a round-robin of deliveries and run their own jobs only. Every figure is "
        "counted afterwards from the world itself (training records, member metadata and the request log in the "
        "simulator, mail received by the SMTP server, rows in the bridge's store), never from the bridge's "
        "answers. The run exits non-zero when anything is lost or doubled.",
        "",
        "Full size: `make reliability` (writes this file). CI size: `make reliability-ci` "
        "(`python -m reliability --quick`). The two-instance scenarios create a database of their own "
        "(`reliability_<pid>`) on the PostgreSQL server given by `--postgres` (default "
        "`postgresql://postgres@127.0.0.1:5432/postgres`) and drop it at the end; without a reachable server they "
        "are skipped (under CI they fail). `--database-url postgresql://...` runs the single-instance scenarios "
        "on PostgreSQL too (the run empties that database).",
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
        f"{info.mode} run of {info.started}, {info.seconds:.0f} s, stores {info.database}, commit {info.commit}, "
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
