"""What a benchmark reads about the processes it drives: CPU time and memory, from /proc.

The simulator and the bridge each run in their own process (launched by
`harness.launch`), as in production, so neither shares a GIL with the load
generator and their costs can be told apart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores, from /proc/stat."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = ticks[3] + ticks[4]  # idle + iowait; guest time is already in user
    return (sum(ticks) - idle) / _CLOCK_TICKS, sum(ticks) / _CLOCK_TICKS


@dataclass(frozen=True)
class Memory:
    """A process's resident memory now and at its peak, in MiB."""

    rss_mib: float
    peak_mib: float


def memory(pid: int) -> Memory:
    """VmRSS and VmHWM from /proc/<pid>/status."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return Memory(values["VmRSS"], values["VmHWM"])


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds used so far by some processes, and by the whole machine (busy, total)."""

    processes: dict[int, float]
    machine: tuple[float, float]

    @classmethod
    def take(cls, pids: list[int]) -> CpuSnapshot:
        """Read them now."""
        return cls({pid: cpu_seconds(pid) for pid in pids}, machine_cpu())

    def seconds_since(self, earlier: CpuSnapshot) -> dict[int, float]:
        """CPU seconds each process used since `earlier`."""
        return {pid: used - earlier.processes[pid] for pid, used in self.processes.items() if pid in earlier.processes}

    def machine_busy_since(self, earlier: CpuSnapshot) -> float | None:
        """The share of all cores the machine was busy since `earlier` (other work included)."""
        busy, total = self.machine[0] - earlier.machine[0], self.machine[1] - earlier.machine[1]
        return busy / total if total else None
