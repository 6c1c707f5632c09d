"""A small threaded load generator: N clients, each on its own keep-alive connection.

`http.client` rather than a full HTTP library keeps the generator's own CPU
cost low, since it shares the machine with the bridge and the simulator.
Each answer's `Server-Timing` header (TRACK_TIME=true) tells how many Fabman
calls the bridge made for it and how long they took.
"""

from __future__ import annotations

import http.client
import itertools
import json
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Call:
    """One request to send to the bridge."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None = None


@dataclass(frozen=True)
class Lane:
    """One simulated client: its random draws and its share of the members.

    Client `index` of `count` acts for members index+1, index+1+count, ...,
    so two clients never write the same member at once, as two members'
    quiz sessions would not.
    """

    rng: random.Random
    index: int = 0
    count: int = 1

    def member(self, members: int) -> int:
        """A random member id of this client's share (1-based)."""
        return self.rng.randrange(self.index % members, members, self.count) + 1

    def members_in_turn(self, members: int) -> Iterator[int]:
        """This client's members one after another from a random start, round and round (1-based)."""
        share = range(self.index % members, members, self.count)
        start = self.rng.randrange(len(share))
        return itertools.cycle([member + 1 for member in (*share[start:], *share[:start])])


CallFactory = Callable[[Lane], Call]


@dataclass(frozen=True)
class Sample:
    """What one request cost, as the client saw it and as the bridge reported it."""

    seconds: float
    status: int
    fabman_calls: int | None = None
    upstream_seconds: float | None = None
    answer: str | None = None


@dataclass
class Phase:
    """The samples of one measured phase at a fixed concurrency."""

    concurrency: int
    wall_seconds: float
    samples: list[Sample] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Requests answered (any status)."""
        return len(self.samples)

    @property
    def statuses(self) -> dict[str, int]:
        """How many answers had each status (0: the connection failed)."""
        return {str(status): n for status, n in sorted(Counter(s.status for s in self.samples).items())}

    @property
    def errors(self) -> int:
        """Answers that were not 2xx."""
        return sum(1 for s in self.samples if not 200 <= s.status < 300)

    @property
    def answers(self) -> dict[str, int]:
        """How many answers said each `status` in their JSON body (when the phase read them)."""
        return dict(sorted(Counter(s.answer for s in self.samples if s.answer is not None).items()))

    @property
    def requests_per_second(self) -> float:
        """Throughput over the whole phase."""
        return self.count / self.wall_seconds if self.wall_seconds else 0.0

    def latency_ms(self, percent: float) -> float:
        """A latency percentile (nearest rank) in milliseconds."""
        return percentile([s.seconds for s in self.samples], percent) * 1000

    def own_ms(self, percent: float) -> float | None:
        """A percentile of the time the bridge spent besides waiting for Fabman, in ms."""
        own = [s.seconds - s.upstream_seconds for s in self.samples if s.upstream_seconds is not None]
        return percentile(own, percent) * 1000 if own else None

    def max_fabman_calls(self) -> int | None:
        """The most Fabman calls any single request made (from Server-Timing)."""
        counts = [s.fabman_calls for s in self.samples if s.fabman_calls is not None]
        return max(counts) if counts else None


def percentile(values: list[float], percent: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def parse_server_timing(header: str | None) -> tuple[int, float] | None:
    """(Fabman calls, their total seconds) from the bridge's `Server-Timing` header."""
    if not header:
        return None
    calls, seconds = 0, 0.0
    for entry in header.split(","):
        name, *params = (part.strip() for part in entry.split(";"))
        if not name.startswith("fabman"):
            continue
        calls += 1
        for param in params:
            if param.startswith("dur="):
                seconds += float(param[4:]) / 1000
    return calls, seconds


def answer_status(body: bytes) -> str | None:
    """The `status` of a JSON answer such as the webhook's receipt; None for anything else."""
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    return str(answer.get("status")) if isinstance(answer, dict) else None


def run_phase(
    host: str,
    port: int,
    make_call: CallFactory,
    *,
    concurrency: int,
    duration: float,
    seed: int = 0,
    read_answers: bool = False,
) -> Phase:
    """Keep `concurrency` clients busy for `duration` seconds, each sending back to back.

    With `read_answers` each sample keeps the `status` of its JSON answer.
    """
    samples: list[list[Sample]] = [[] for _ in range(concurrency)]
    ready = threading.Barrier(concurrency + 1)
    deadline = [0.0]

    def client(index: int) -> None:
        lane = Lane(random.Random(seed * 1000 + index), index, concurrency)
        mine = samples[index]
        connection = http.client.HTTPConnection(host, port, timeout=120)
        ready.wait()
        while time.perf_counter() < deadline[0]:
            call = make_call(lane)
            started = time.perf_counter()
            try:
                connection.request(call.method, call.path, body=call.body, headers=call.headers)
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=120)
                mine.append(Sample(time.perf_counter() - started, 0))
                continue
            elapsed = time.perf_counter() - started
            timing = parse_server_timing(response.getheader("Server-Timing"))
            answer = answer_status(body) if read_answers else None
            mine.append(Sample(elapsed, response.status, *(timing or (None, None)), answer=answer))
        connection.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    deadline[0] = started + duration
    ready.wait()
    for thread in threads:
        thread.join()
    phase = Phase(concurrency, time.perf_counter() - started)
    for mine in samples:
        phase.samples.extend(mine)
    return phase
