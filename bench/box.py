"""How much of the box other work took while a figure was measured (bench/run.py).

The dev machine has 2 cores and is shared: another checkout's test run, a leftover server
or a browser can take one core or both for part of a run. The plain urllib3 bare loop
spends about 135 µs of CPU per request (http_pool.py's note), so it is CPU-bound on this
box and suffers from such load more than the engine on its lean transport: in one run the
bare ceiling fell to 3,366 items/s (8,786 in the run before) while the engine's figure
moved far less, and the ratio of that pair said nothing about the engine. Each paired run
therefore records `others`: the share of the box's CPU (both cores) that processes outside
this bench's process tree used meanwhile, from /proc/stat and /proc/<pid>/stat. A pair
whose `others` is high is a disturbed pair; medians of several pairs, the ratio taken
within each pair, stay the figure, and the shares are written beside them to judge it.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

_CPUS = os.cpu_count() or 1
_TICK = os.sysconf("SC_CLK_TCK")


def _busy_ticks() -> int:
    """Busy CPU ticks of the whole box so far (user, nice, system, irq, softirq, steal)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]


def _tree_ticks(root: int) -> int:
    """CPU ticks of `root` and its live descendants, reaped children included (cutime)."""
    parent: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:             # it ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        parent[int(entry.name)] = int(fields[1])
        ticks[int(entry.name)] = sum(int(v) for v in fields[11:15])  # u, s, cu, cs time

    def ours(pid: int) -> bool:
        for _ in range(64):
            if pid == root:
                return True
            if pid <= 1:
                return False
            pid = parent.get(pid, 0)
        return False
    return sum(t for pid, t in ticks.items() if ours(pid))


class OthersWatch:
    """`with OthersWatch() as w: ...`; then w.share: other processes' CPU / the box's CPU."""

    def __enter__(self) -> "OthersWatch":
        self._root = os.getpid()
        self._wall = time.monotonic()
        self._busy, self._ours = _busy_ticks(), _tree_ticks(self._root)
        self.share = 0.0
        return self

    def __exit__(self, *exc: Any) -> None:
        wall = time.monotonic() - self._wall
        others = (_busy_ticks() - self._busy) - (_tree_ticks(self._root) - self._ours)
        self.share = max(0.0, others / _TICK / (wall * _CPUS)) if wall > 0 else 0.0
