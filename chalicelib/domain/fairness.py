"""Station fairness: which of a station's tasks get its free chunk slots (pure).

A station has at most STATION_MAX_CHUNKS chunks queued or running at once, and each task
at most CHUNK_WINDOW. When slots free up (a chunk of the station ends, a task of the
station is created or retried), they go one by one to the station's task with the fewest
active chunks, the oldest first among equals: big tasks of one station share its slots
evenly, and a small task created behind them gets the next slot that frees, not the end of
the big ones. A chunk that yields at the end of its time slice gives its slot back too
(it goes back to pending), so a slot frees at least every SLICE_SECONDS per running chunk.

`starving`: tasks of the station with pending chunks and none queued or running; while
there are any, the station's running chunks yield at the end of their slices.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskChunks:
    task_id: int
    active: int         # chunks queued or running
    pending: int        # chunks not yet queued


def pick(tasks: list[TaskChunks], bound: int, window: int, yielding: int | None = None
         ) -> dict[int, int]:
    """How many pending chunks of each task to queue now: {task_id: n}. `yielding`: a
    task whose chunk just gave its slot up (a time slice) comes last among equals."""
    active = {t.task_id: t.active for t in tasks}
    pending = {t.task_id: t.pending for t in tasks}
    free = bound - sum(active.values())
    chosen: dict[int, int] = {}
    while free > 0:
        open_ = [t for t in active if pending[t] > 0 and active[t] < window]
        if not open_:
            break
        task_id = min(open_, key=lambda t: (active[t], t == yielding, t))
        active[task_id] += 1
        pending[task_id] -= 1
        chosen[task_id] = chosen.get(task_id, 0) + 1
        free -= 1
    return chosen


def starving(tasks: list[TaskChunks], besides: int) -> bool:
    """Another task of the station waits with nothing queued or running."""
    return any(t.task_id != besides and t.pending > 0 and t.active == 0 for t in tasks)
