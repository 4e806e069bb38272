"""The memory of a served process and of every process it started (`serve --workers N` forks
workers; a pool of worker processes would be children too), read from /proc.

RSS counts a page shared by a parent and its forked children once per process; PSS shares it
out among them, so a tree's PSS is what the tree holds. Both are summed over the tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MIB = 2**20


@dataclass(frozen=True)
class Memory:
    """What a process tree holds: summed RSS and PSS in bytes, its processes and threads."""

    rss: int
    pss: int
    processes: int
    threads: int

    def line(self) -> str:
        return (
            f"RSS {self.rss / MIB:.0f} MiB, PSS {self.pss / MIB:.0f} MiB "
            f"({self.processes} process{'es' if self.processes != 1 else ''}, "
            f"{self.threads} threads)"
        )


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (children, their children...), still running."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            after_name = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        children.setdefault(int(after_name[1]), []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        queue.extend(children.get(current, []))
    return found


def _status_field(status: str, name: str) -> int:
    return int(status.split(f"{name}:", 1)[1].split()[0]) if f"{name}:" in status else 0


def process_memory(pid: int) -> Memory:
    """One process: VmRSS and Threads from /proc/PID/status, Pss from smaps_rollup."""
    status = Path(f"/proc/{pid}/status").read_text()
    rollup = Path(f"/proc/{pid}/smaps_rollup")
    try:
        pss = _status_field(rollup.read_text(), "Pss") * 1024
    except OSError:  # an older kernel: RSS stands in
        pss = _status_field(status, "VmRSS") * 1024
    return Memory(
        rss=_status_field(status, "VmRSS") * 1024,
        pss=pss,
        processes=1,
        threads=_status_field(status, "Threads"),
    )


def tree_memory(pid: int) -> Memory:
    """`pid` and its descendants, summed (a process that ends while read is left out)."""
    total = Memory(0, 0, 0, 0)
    for member in descendants(pid):
        try:
            one = process_memory(member)
        except (OSError, IndexError):
            continue
        total = Memory(
            total.rss + one.rss,
            total.pss + one.pss,
            total.processes + 1,
            total.threads + one.threads,
        )
    return total
