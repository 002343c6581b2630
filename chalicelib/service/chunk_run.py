"""The shared state of one chunk's run: the runner threads take items and put outcomes,
the recording thread waits for a batch (or the flush interval, or a runner's exit) and
writes it. One condition variable; the recording thread wakes per batch, not per item."""
from __future__ import annotations

import threading
from typing import Iterator

from chalicelib.domain.chunk import DetailOutcome
from chalicelib.service.processors import WorkItem


class ChunkRun:
    """Shared state of one chunk's runner threads and the thread that records outcomes."""

    def __init__(self, items: Iterator[WorkItem], threads: int, batch_size: int):
        self._items = items
        self._cond = threading.Condition()
        self._batch: list[DetailOutcome] = []
        self._batch_size = batch_size
        self.running = threads
        self._seen_running = threads
        self.handled = 0
        self.left_pending = 0      # items the downstream could not take this time
        self.stopped = False

    def take(self) -> WorkItem | None:
        with self._cond:
            return self._next()

    def put(self, outcome: DetailOutcome | None) -> None:
        with self._cond:
            self._put(outcome)

    def put_and_take(self, outcome: DetailOutcome | None) -> WorkItem | None:
        """put() then take() under one lock: a runner's one hand-off per item."""
        with self._cond:
            self._put(outcome)
            return self._next()

    def _next(self) -> WorkItem | None:
        return None if self.stopped else next(self._items, None)

    def _put(self, outcome: DetailOutcome | None) -> None:
        if outcome is None:
            self.left_pending += 1
            return
        self._batch.append(outcome)
        self.handled += 1
        if len(self._batch) >= self._batch_size:
            self._cond.notify()

    def runner_done(self) -> None:
        with self._cond:
            self.running -= 1
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self.stopped = True

    def wait_runners(self) -> None:
        """Block until every runner thread has exited (each finishes its call in flight)."""
        with self._cond:
            self._cond.wait_for(lambda: self.running == 0)

    def wait_batch(self, timeout_s: float) -> tuple[list[DetailOutcome], int]:
        """Wait for a full batch, the flush interval or a runner's exit; take the batch."""
        with self._cond:
            self._cond.wait_for(lambda: len(self._batch) >= self._batch_size
                                or self.running < self._seen_running, timeout_s)
            batch, self._batch = self._batch, []
            self._seen_running = self.running
            return batch, self.running
