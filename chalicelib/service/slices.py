"""Time slices: a chunk run gives its worker up after SLICE_SECONDS when other work waits.

The engine asks `Slice.over()` each time it records a batch. Before the slice is used up
the answer is no at no cost; after it, the work queue's depth is read (at most every
CHECK_EVERY_S): the chunk yields only when messages wait that are not this task's own
queued chunks, i.e. another task is kept waiting by it, or when another
task of its station waits for one of the station's slots (scheduling.py). A yielding run
records what it did, releases its lease without counting an attempt, puts its chunk back
to pending and releases the station's slots, which re-queues it behind the waiting work
(engine.py, result SLICED). When nothing waits the
chunk runs on as before, so a lone task pays nothing for slices.
"""
from __future__ import annotations

import time
from typing import Callable

from chalicelib.adapters import schedule_repo
from chalicelib.adapters.aws import WorkQueue
from chalicelib.adapters.db import Database
from chalicelib.observability import logger

CHECK_EVERY_S = 0.5


class Slice:
    def __init__(self, seconds: float, others_waiting: Callable[[], bool],
                 clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self._others_waiting = others_waiting
        self._clock = clock
        self._started = clock()
        self._next_check = self._started + seconds

    def over(self) -> bool:
        if self.seconds <= 0:
            return False
        now = self._clock()
        if now < self._next_check:
            return False
        self._next_check = now + CHECK_EVERY_S
        try:
            return self._others_waiting()
        except Exception:          # can't tell: keep running (the slice is an optimisation)
            logger.exception("could not tell whether other work waits")
            return False


def others_waiting(db: Database, queue: WorkQueue, task_id: int,
                   sibling_starving: Callable[[], bool]) -> bool:
    """Messages wait in the work queue beyond this task's own queued chunks, or another
    task of the same station waits for one of the station's slots."""
    waiting = queue.waiting()
    if waiting and waiting > db.run(lambda cur: schedule_repo.queued_chunks(cur, task_id)):
        return True
    return sibling_starving()
