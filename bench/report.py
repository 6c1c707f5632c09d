"""The benchmark's verdicts and its printed tables, from the report `bench.run` builds.

Targets (issue 20, 20 ms simulated Fabman latency, on each store): at 8
clients effects/s at least 95 % of answers/s and at least 110/s, every effect
within 2 s of the load stopping, effect p95 <= 500 ms; sequentially, answer
p50 <= 15 ms and a failing result's effect p50 <= 2 x round trip + 10 ms;
0 errors and 0 results applied twice. The profile endpoints make one Fabman
call and answer (p50) within 5 ms of one bare round trip. Older figures that
still mean something keep their targets: Fabman calls per result, the
sweep's requests, throughput scaling, worker memory.

Issue 10's answer targets (p50 <= 5 ms, >= 400 answers/s and p99 < 50 ms at
8 clients, effect <= unavoidable calls x latency, applied >= 80 % of the I/O
bound) are shown with the verdict `superseded`: issue 20 made the answer wait
for a free applier under load (so answers keep pace with effects) and set the
sequential answer target at 15 ms.
"""

from __future__ import annotations

from typing import Any

ANSWER_P50_MS = 5.0
ANSWERS_PER_SECOND = 400.0
ANSWER_P99_MS = 50.0
APPLIED_SHARE_OF_BOUND = 0.8
APPLIED_TARGET_CLIENTS = 8
MIN_SCALING_EFFICIENCY = 0.8
MAX_RSS_GROWTH = 0.10


def judge(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target beside the figure measured, PASS or MISS."""
    verdicts: list[dict[str, Any]] = []

    def add(name: str, figure: Any, goal: str, ok: bool, *, superseded: bool = False) -> None:
        verdict = "superseded" if superseded else "PASS" if ok else "MISS"
        verdicts.append({"target": name, "figure": figure, "goal": goal, "verdict": verdict})

    for store in report["stores"].values():
        if not store["measured"]:
            if not store["reason"].startswith("switched off"):
                add(f"{store['label']}: measured", "not measured", "measured", False)
            continue
        _judge_store(store, add)
    _judge_profile(report, add)
    for sweep in report["sweeps"]:
        if not sweep.get("available"):
            add(f"sweep {sweep['members']}: exists", "no endpoint", "POST /cron/expire_trainings", False)
            continue
        expected = f"{sweep['expected_member_pages']} pages + {sweep['expected_deletes']} deletes"
        got = f"{sweep['member_pages']} pages + {sweep['deletes']} deletes + {sweep['other_fabman']} other"
        ok = (
            sweep["status"] == 200
            and sweep["member_pages"] == sweep["expected_member_pages"]
            and sweep["deletes"] == sweep["expected_deletes"]
            and sweep["other_fabman"] == 0
        )
        add(f"sweep {sweep['members']} members: Fabman requests", got, expected, ok)
    return verdicts


EFFECTS_SHARE = 0.95
EFFECTS_PER_SECOND = 110.0
EFFECT_P95_MS = 500.0
SEQUENTIAL_ANSWER_P50_MS = 15.0
QUEUE_TARGET_CLIENTS = 8


def _judge_queue(store: dict[str, Any], add: Any) -> None:
    """Issue 20: nothing piles up at 8 clients; the sequential answer and effect; 0 errors, 0 doubles."""
    name = store["label"]
    for phase in store.get("load", []):
        clients = phase["clients"]
        add(f"{name}: load errors, {clients} clients", phase["errors"], "0", phase["errors"] == 0)
        add(f"{name}: results applied twice, {clients} clients", phase["doubles"], "0", phase["doubles"] == 0)
        if clients != QUEUE_TARGET_CLIENTS:
            continue
        share = phase["effects_share_of_answers"]
        ok = (share or 0) >= EFFECTS_SHARE
        add(f"{name}: effects/s share of answers/s, {clients} clients", share, f">= {EFFECTS_SHARE:g}", ok)
        waiting = phase["waiting_2s_after"]
        add(f"{name}: results waiting 2 s after the load, {clients} clients", waiting, "0", waiting == 0)
        p95 = phase["effect_p95_ms"]
        add(f"{name}: effect p95, {clients} clients (ms)", p95, f"<= {EFFECT_P95_MS:g}", p95 is not None and p95 <= EFFECT_P95_MS)
        rate = phase["effects_per_second"]
        add(f"{name}: effects/s, {clients} clients", rate, f">= {EFFECTS_PER_SECOND:g}", rate >= EFFECTS_PER_SECOND)
    alone = store["answers"][0]
    add(
        f"{name}: sequential answer p50 (ms)",
        alone["p50_ms"],
        f"<= {SEQUENTIAL_ANSWER_P50_MS:g}",
        alone["p50_ms"] <= SEQUENTIAL_ANSWER_P50_MS,
    )
    sequential = next((phase for phase in store["results"] if phase["clients"] == 1 and phase["kind"] == "fail"), None)
    if sequential is not None:
        goal = round(2 * store["round_trip"]["p50_ms"] + 10, 1)
        effect = sequential["effect_p50_ms"]
        add(
            f"{name}: sequential effect p50, failing result (ms)",
            effect,
            f"<= {goal:g} (2 x round trip + 10)",
            effect is not None and effect <= goal,
        )


def _load(report: dict[str, Any]) -> list[str]:
    rows = [
        [
            s["label"],
            phase["instances"],
            phase["clients"],
            phase["answers_per_second"],
            phase["effects_per_second"],
            phase["effects_share_of_answers"],
            phase["effect_p50_ms"],
            phase["effect_p95_ms"],
            phase["effect_p99_ms"],
            phase["waiting_at_stop"],
            phase["waiting_2s_after"],
            phase["errors"],
            phase["doubles"],
            _counts(phase["answers"]),
        ]
        for s in _measured(report)
        for phase in s.get("load", [])
    ]
    return [
        "Open load (issue 20): clients sending failing results back to back; effects from the simulator's log:",
        _table(
            [
                "store",
                "instances",
                "clients",
                "answers/s",
                "effects/s",
                "share",
                "effect p50",
                "p95",
                "p99",
                "waiting at stop",
                "2 s later",
                "errors",
                "doubles",
                "answers",
            ],
            rows,
        ),
    ]


def _judge_store(store: dict[str, Any], add: Any) -> None:
    _judge_queue(store, add)
    name = store["label"]
    alone, *loaded = store["answers"]
    add(
        f"{name}: webhook answer p50, 1 client (ms)",
        alone["p50_ms"],
        f"<= {ANSWER_P50_MS:g}",
        alone["p50_ms"] <= ANSWER_P50_MS,
        superseded=True,
    )
    for phase in loaded:
        clients = phase["concurrency"]
        rate = phase["requests_per_second"]
        add(
            f"{name}: webhook answers/s, {clients} clients",
            rate,
            f">= {ANSWERS_PER_SECOND:g}",
            rate >= ANSWERS_PER_SECOND,
            superseded=True,
        )
        add(
            f"{name}: webhook answer p99, {clients} clients (ms)",
            phase["p99_ms"],
            f"< {ANSWER_P99_MS:g}",
            phase["p99_ms"] < ANSWER_P99_MS,
            superseded=True,
        )
    errors = sum(phase["errors"] for phase in store["answers"])
    add(f"{name}: webhook answer errors", errors, "0", errors == 0)
    fabman = max(phase["fabman_max_per_answer"] or 0 for phase in store["answers"])
    add(f"{name}: Fabman calls in a webhook answer (max)", fabman, "0", fabman == 0)
    for phase in store["results"]:
        kind, clients = phase["kind"], phase["clients"]
        if clients == 1:
            goal = phase["effect_target_ms"]
            effect = phase["effect_p50_ms"]
            add(
                f"{name}: time to effect p50, {kind}ing result, 1 client (ms)",
                effect,
                f"<= {goal:g}",
                effect is not None and effect <= goal,
                superseded=True,
            )
            calls = phase["fabman_per_result"]
            add(
                f"{name}: Fabman calls per {kind}ing result",
                calls,
                f"<= {phase['target_calls']}",
                calls is not None and calls <= phase["target_calls"],
            )
        if clients == APPLIED_TARGET_CLIENTS:
            goal = APPLIED_SHARE_OF_BOUND * phase["io_bound_per_second"]
            rate = phase["applied_per_second"]
            add(
                f"{name}: applied results/s, {clients} clients",
                rate,
                f">= {goal:g}",
                rate is not None and rate >= goal,
                superseded=True,
            )
    sent = sum(phase["results"] for phase in store["results"])
    applied = sum(phase["applied"] for phase in store["results"])
    add(f"{name}: results applied (closed loop)", f"{applied} of {sent}", "all", applied == sent)
    growth = [(m["end_rss_mib"] - m["start_rss_mib"]) / m["start_rss_mib"] for m in store["memory"]]
    if growth:
        add(f"{name}: worker RSS growth", f"{max(growth):+.1%}", f"<= {MAX_RSS_GROWTH:.0%}", max(growth) <= MAX_RSS_GROWTH)


def _judge_profile(report: dict[str, Any], add: Any) -> None:
    for key, figures in report["endpoints"].items():
        limit = figures["target_calls"]
        add(
            f"{key}: Fabman requests per call",
            figures["fabman_per_request"],
            f"<= {limit}",
            figures["fabman_per_request"] <= limit,
        )
        goal = figures["p50_target_ms"]
        alone, loaded = figures["alone"], figures["loaded"]
        add(f"{key}: p50 latency, 1 client (ms)", alone["p50_ms"], f"<= {goal:g}", alone["p50_ms"] <= goal)
        add(f"{key}: errors", alone["errors"] + loaded["errors"], "0", alone["errors"] + loaded["errors"] == 0)
    below = [level for level in report["scaling"] if 1 < level["concurrency"] < 16]
    if below:
        worst = min(level["efficiency"] or 0.0 for level in below)
        add(
            "absolved: throughput scales below 16 clients (worst efficiency)",
            worst,
            f">= {MIN_SCALING_EFFICIENCY}",
            worst >= MIN_SCALING_EFFICIENCY,
        )


# -- printing -----------------------------------------------------------------------


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(h) for h in headers], *[["-" if v is None else str(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.rjust(widths[i]) if i else cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _counts(counts: dict[str, int]) -> str:
    return " ".join(f"{key}:{value}" for key, value in counts.items()) or "-"


def _measured(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [store for store in report["stores"].values() if store["measured"]]


def render(report: dict[str, Any]) -> str:
    """The report as plain-text tables."""
    settings = report["settings"]
    parts = [
        f"FabLab Bridge benchmark ({settings['mode']}): {settings['members']} members, Fabman latency "
        f"{settings['latency_ms']:g} ms, gunicorn {settings['workers']} workers x {settings['threads']} threads, "
        f"FABMAN_CONCURRENCY {settings.get('fabman_concurrency')}, {settings['cpus']} CPUs",
        *_store_lines(report),
        "",
        "Fabman round trip (1 client reading members straight from the simulator; the profile endpoints' yardstick), ms:",
        _table(
            ["store pass", "p50", "p95", "requests"],
            [
                [s["label"], s["round_trip"]["p50_ms"], s["round_trip"]["p95_ms"], s["round_trip"]["requests"]]
                for s in _measured(report)
            ],
        ),
        "",
        *_load(report),
        "",
        *_answers(report),
        "",
        *_results(report),
        "",
        *_profile(report),
        "",
        "Expiry sweep (POST /cron/expire_trainings, SQLite):",
        _table(
            ["members", "pages", "deletes", "expected", "other", "seconds", "s/1000 members", "deletes/s", "dry run s"],
            [
                [
                    s["members"],
                    s.get("member_pages"),
                    s.get("deletes"),
                    f"{s['expected_member_pages']} + {s['expected_deletes']}",
                    s.get("other_fabman"),
                    s.get("seconds"),
                    s.get("seconds_per_1000_members"),
                    s.get("deletes_per_second"),
                    (s.get("dry_run") or {}).get("seconds"),
                ]
                for s in report["sweeps"]
            ],
        ),
        "",
        "Gunicorn worker memory (MiB), from the first measured phase to the last:",
        _table(
            ["store pass", "worker", "RSS start", "RSS end", "peak"],
            [
                [s["label"], m["pid"], m["start_rss_mib"], m["end_rss_mib"], m["peak_mib"]]
                for s in _measured(report)
                for m in s["memory"]
            ],
        ),
        "",
        "Targets:",
        _table(
            ["target", "figure", "goal", "verdict"],
            [[v["target"], v["figure"], v["goal"], v["verdict"]] for v in report["targets"]],
        ),
        *_store_lines(report),
        "",
        f"Finished in {report['runtime_seconds']:.0f} s; JSON in {settings['output']}",
    ]
    return "\n".join(parts)


def _store_lines(report: dict[str, Any]) -> list[str]:
    return [f"{store['label']}: NOT MEASURED ({store['reason']})" for store in report["stores"].values() if not store["measured"]]


def _answers(report: dict[str, Any]) -> list[str]:
    settings = report["settings"]
    return [
        f"Webhook answers: clients sending failing results back to back, never waiting for the effect "
        f"(1 client {settings['duration'] / 2:g} s, {settings['concurrency']} clients {settings['duration']:g} s); "
        "`accepted` = stored and being applied by the answering process, `queued` = its apply pool was full, "
        "the retry job applies it; settled = seconds after the phase until every accepted result was applied:",
        _table(
            [
                "store",
                "clients",
                "answers/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "errors",
                "answered",
                "Fabman calls",
                "bridge cpu",
                "simulator cpu",
                "machine busy",
                "settled s",
            ],
            [
                [
                    store["label"],
                    phase["concurrency"],
                    phase["requests_per_second"],
                    phase["p50_ms"],
                    phase["p95_ms"],
                    phase["p99_ms"],
                    phase["errors"],
                    _counts(phase["answers"]),
                    phase["fabman_max_per_answer"],
                    _workers(phase),
                    phase["simulator_cpu_percent"],
                    phase["machine_busy_percent"],
                    phase["seconds_until_accepted_applied"],
                ]
                for store in _measured(report)
                for phase in store["answers"]
            ],
        ),
    ]


def _results(report: dict[str, Any]) -> list[str]:
    pause = next((phase["pause_ms"] for store in _measured(report) for phase in store["results"] if phase["pause_ms"]), 0)
    return [
        "Results applied: each client sends a result, waits until the store shows it applied, then sends the next "
        f"(1 client: after a pause of {pause:g} ms, so each result finds the bridge idle); "
        "effect = from sending to the end of the result's last Fabman write (simulator log); applied/s = results "
        "applied / time from the first send to the last write; bound = clients / (2 calls x latency); cpu ms/result = "
        "bridge + simulator + load generator; cpu bound = the results a second the bridge could apply at its CPU cost "
        "with all cores to itself:",
        _table(
            [
                "store",
                "result",
                "clients",
                "results",
                "applied",
                "answer p50",
                "effect p50",
                "p95",
                "p99",
                "goal",
                "applied/s",
                "bound",
                "share",
                "cpu bound",
                "fabman/result",
                "writes",
                "cpu ms/result",
                "bridge cpu",
                "machine busy",
            ],
            [
                [
                    store["label"],
                    phase["kind"],
                    phase["clients"],
                    phase["results"],
                    phase["applied"],
                    phase["answer_p50_ms"],
                    phase["effect_p50_ms"],
                    phase["effect_p95_ms"],
                    phase["effect_p99_ms"],
                    phase["effect_target_ms"] if phase["clients"] == 1 else None,
                    phase["applied_per_second"],
                    phase["io_bound_per_second"],
                    phase["share_of_bound"],
                    phase["cpu_bound_per_second"],
                    phase["fabman_per_result"],
                    phase["fabman_writes"],
                    f"{phase['bridge_cpu_ms_each']}+{phase['simulator_cpu_ms_each']}+{phase['generator_cpu_ms_each']}",
                    _workers(phase),
                    phase["machine_busy_percent"],
                ]
                for store in _measured(report)
                for phase in store["results"]
            ],
        ),
        "",
        "Where the time to effect goes (p50 of each stage, ms): until the bridge's first Fabman call reaches the "
        "simulator (answer, hand-over to the apply pool, preparing the call), inside the simulator (latency and its "
        "own work, every call), and in the bridge between its calls:",
        _table(
            ["store", "result", "clients", "effect p50", "until 1st call", "in Fabman", "between calls"],
            [
                [
                    store["label"],
                    phase["kind"],
                    phase["clients"],
                    phase["effect_p50_ms"],
                    *(phase["effect_stages_p50_ms"] or {}).values(),
                ]
                for store in _measured(report)
                for phase in store["results"]
            ],
        ),
    ]


def _workers(phase: dict[str, Any]) -> str | None:
    """The bridge's CPU (% of one core) as a total and per worker, e.g. "105 (60+45)"."""
    if phase["bridge_cpu_percent"] is None:
        return None
    return f"{phase['bridge_cpu_percent']:g} ({'+'.join(f'{share:g}' for share in phase['worker_cpu_percent'])})"


def _profile(report: dict[str, Any]) -> list[str]:
    settings = report["settings"]
    concurrency = settings["concurrency"]
    return [
        f"Profile endpoints (measured once, on the first store: they never touch it): 1 client "
        f"({settings['duration'] / 2:g} s), then {concurrency} clients ({settings['duration']:g} s); "
        "goal = round trip p50 + 5 ms; own = time not spent waiting for Fabman:",
        _table(
            [
                "endpoint",
                "p50 goal",
                "p50 @1",
                "p95 @1",
                "own p50 @1",
                f"req/s @{concurrency}",
                f"p50 @{concurrency}",
                f"p99 @{concurrency}",
                "fabman/req",
                "goal",
                "requests",
                "errors",
            ],
            [
                [
                    key,
                    f["p50_target_ms"],
                    f["alone"]["p50_ms"],
                    f["alone"]["p95_ms"],
                    f["alone"]["own_p50_ms"],
                    f["loaded"]["requests_per_second"],
                    f["loaded"]["p50_ms"],
                    f["loaded"]["p99_ms"],
                    f["fabman_per_request"],
                    f["target_calls"],
                    f["alone"]["requests"] + f["loaded"]["requests"],
                    f["alone"]["errors"] + f["loaded"]["errors"],
                ]
                for key, f in report["endpoints"].items()
            ],
        ),
        "",
        f"Throughput of absolved by concurrency ({settings['duration']:g} s each; CPU % of one core, "
        f"machine busy % of all {settings['cpus']} cores, other work on the machine included):",
        _table(
            [
                "clients",
                "req/s",
                "p50 ms",
                "p95 ms",
                "efficiency",
                "bridge cpu",
                "simulator cpu",
                "generator cpu",
                "machine busy",
            ],
            [
                [
                    s["concurrency"],
                    s["requests_per_second"],
                    s["p50_ms"],
                    s["p95_ms"],
                    s["efficiency"],
                    s["bridge_cpu_percent"],
                    s["simulator_cpu_percent"],
                    s["generator_cpu_percent"],
                    s["machine_busy_percent"],
                ]
                for s in report["scaling"]
            ],
        ),
    ]
