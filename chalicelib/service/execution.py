"""Running a claimed chunk's work, by the shape of its kind's processor.

- ItemProcessor: the items run on the instance's thread pool (one downstream call each);
  this thread writes their outcomes in batches under the lease (service/chunk_run.ChunkRun
  is the state the two sides share).
- BatchProcessor: one transaction per batch holds the processor's writes, the outcomes and
  the task's counters.
- StreamProcessor: one item, one long piece of work on this thread, while a LeaseKeeper
  (service/lease.py) renews the lease; its outcome and result are recorded at the end.

Each returns what the run came to (domain/run.RunResult); the engine acts on it.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from chalicelib.adapters import task_repo
from chalicelib.adapters.db import Database
from chalicelib.config import Settings
from chalicelib.domain.chunk import DetailOutcome
from chalicelib.domain.run import RunResult
from chalicelib.errors import Unavailable
from chalicelib.observability import logger
from chalicelib.service.chunk_run import ChunkRun
from chalicelib.service.lease import DeadlineReached, LeaseKeeper, LeaseLost, TaskCancelled
from chalicelib.service.outcomes import item_metrics, record
from chalicelib.service.processors import (BatchProcessor, ItemProcessor, StreamDone,
                                           StreamProcessor, WorkItem)
from chalicelib.service.slices import Slice

Processor = ItemProcessor | BatchProcessor | StreamProcessor


@dataclass(frozen=True)
class Claim:
    processor: Processor | None
    work: list[WorkItem]
    attempts: int
    cancelled: bool = False


class _LeaseLost(Exception):
    """Raised inside a batch transaction to roll it back: another worker owns the chunk."""


class ChunkExecutor:
    def __init__(self, db: Database, settings: Settings):
        self.db = db
        self.settings = settings
        self._pool: ThreadPoolExecutor | None = None

    def run(self, task_id: int, seq: int, token: str, claim: Claim,
            remaining_ms: Callable[[], int], slice_: Callable[[], Slice]) -> RunResult:
        """COMPLETE, DEADLINE (stopped near the Lambda deadline), SLICED (gave the worker
        up after SLICE_SECONDS: other work waits), UNAVAILABLE (some items could not reach
        the downstream), CANCELLED (the task was cancelled: stopped at the next batch) or
        LEASE_LOST."""
        if not claim.work:
            return RunResult.COMPLETE
        if hasattr(claim.processor, "process_batch"):
            return self._batches(task_id, seq, token, claim, remaining_ms, slice_())
        if remaining_ms() < self.settings.deadline_margin_ms:
            return RunResult.DEADLINE   # no time for one worst-case item: hand it on
        if hasattr(claim.processor, "stream"):
            return self._stream(task_id, seq, token, claim, remaining_ms)
        return self._items(task_id, seq, token, claim, remaining_ms, slice_())

    # -- an ItemProcessor: items on the pool ------------------------------------------------
    def _items(self, task_id: int, seq: int, token: str, claim: Claim,
               remaining_ms: Callable[[], int], slice_: Slice) -> RunResult:
        settings = self.settings
        run = ChunkRun(iter(claim.work), max(1, min(settings.chunk_threads, len(claim.work))),
                       settings.outcome_batch_size)
        process = claim.processor.process

        def runner() -> None:
            try:
                item = run.take()
                while item is not None:
                    try:
                        outcome = process(task_id, item)
                    except Exception:
                        logger.exception("item failed unexpectedly", extra={"seq": item.seq})
                        outcome = None
                    item = run.put_and_take(outcome)    # one lock hand-off per item
            finally:
                run.runner_done()

        pool = self._thread_pool()
        for _ in range(run.running):
            pool.submit(runner)
        flush_every = settings.outcome_flush_ms / 1000
        stopped_by: RunResult | None = None      # LEASE_LOST or CANCELLED
        sliced = False
        try:
            while True:
                # This thread wakes per batch (or flush interval), not per item.
                batch, running = run.wait_batch(flush_every)
                if not run.stopped and remaining_ms() < settings.deadline_margin_ms:
                    run.stop()
                if not run.stopped and slice_.over():
                    sliced = True
                    run.stop()
                if batch and stopped_by is not RunResult.LEASE_LOST:
                    flushed = self._flush(task_id, seq, token, batch)
                    if flushed is not None:
                        stopped_by = flushed
                        run.stop()
                if not running:
                    break
        except BaseException:
            # A flush failed: no item thread may outlive this invocation (in Lambda it would
            # resume in the next one, calling the downstream for outcomes nobody records).
            run.stop()
            run.wait_runners()
            raise
        if stopped_by:
            return stopped_by
        if run.handled + run.left_pending < len(claim.work):
            return RunResult.SLICED if sliced else RunResult.DEADLINE
        return RunResult.UNAVAILABLE if run.left_pending else RunResult.COMPLETE

    def _flush(self, task_id: int, seq: int, token: str, batch: list[DetailOutcome]
               ) -> RunResult | None:
        """Record a batch: None (recorded), CANCELLED (recorded; the task was cancelled
        meanwhile) or LEASE_LOST (nothing recorded: another worker owns the chunk)."""
        counts = self.db.run(lambda cur: record(cur, task_id, seq, token,
                                                self.settings.lease_seconds, batch))
        if counts is None:
            _lease_lost(task_id, seq)
            return RunResult.LEASE_LOST
        item_metrics(batch)
        return RunResult.CANCELLED if counts["cancelled"] else None

    def _thread_pool(self) -> ThreadPoolExecutor:
        # One pool per warm instance, sized once; chunks reuse its threads.
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.settings.chunk_threads,
                                            thread_name_prefix="item")
        return self._pool

    # -- a BatchProcessor: one transaction per batch --------------------------------------
    def _batches(self, task_id: int, seq: int, token: str, claim: Claim,
                 remaining_ms: Callable[[], int], slice_: Slice) -> RunResult:
        """One transaction per batch of OUTCOME_BATCH_SIZE items, holding the processor's
        writes, the outcomes and the task's counters (all rolled back if the lease is
        lost)."""
        size = self.settings.outcome_batch_size
        for start in range(0, len(claim.work), size):
            if remaining_ms() < self.settings.deadline_margin_ms:
                return RunResult.DEADLINE
            if start and slice_.over():
                return RunResult.SLICED
            items = claim.work[start:start + size]

            def tx(cur: Any) -> tuple[dict[str, Any], list[DetailOutcome]]:
                outcomes = claim.processor.process_batch(cur, task_id, items)
                counts = record(cur, task_id, seq, token, self.settings.lease_seconds, outcomes)
                if counts is None:
                    raise _LeaseLost()
                return counts, outcomes
            try:
                counts, outcomes = self.db.run(tx)
            except _LeaseLost:
                _lease_lost(task_id, seq)
                return RunResult.LEASE_LOST
            item_metrics(outcomes)
            if counts["cancelled"]:
                return RunResult.CANCELLED
        return RunResult.COMPLETE

    # -- a StreamProcessor: one long item under a kept lease ------------------------------
    def _stream(self, task_id: int, seq: int, token: str, claim: Claim,
                remaining_ms: Callable[[], int]) -> RunResult:
        """Not sliced (a stream cannot resume where it stopped); a deadline the processor
        does not turn into its outcome, or the database going away (Unavailable), re-queues
        the chunk (UNAVAILABLE counts an attempt and backs off)."""
        s = self.settings
        [item] = claim.work             # a stream's chunk is one item
        keeper = LeaseKeeper(self.db, task_id, seq, token, lease_s=s.lease_seconds,
                             every_s=s.export_heartbeat_s, remaining_ms=remaining_ms,
                             margin_ms=s.deadline_margin_ms)
        try:
            with keeper:
                done = claim.processor.stream(task_id, item, keeper)
                keeper.check()          # cancelled or taken over at the very end
        except LeaseLost:
            _lease_lost(task_id, seq)
            return RunResult.LEASE_LOST
        except TaskCancelled:
            return RunResult.CANCELLED
        except DeadlineReached:
            return RunResult.DEADLINE
        except Unavailable:     # the database went away mid-stream: run it again, later
            logger.warning("stream interrupted; the chunk is re-queued", exc_info=True,
                           extra={"task_id": task_id, "chunk": seq})
            return RunResult.UNAVAILABLE
        return self._record_stream(task_id, seq, token, done)

    def _record_stream(self, task_id: int, seq: int, token: str, done: StreamDone) -> RunResult:
        def tx(cur: Any) -> dict[str, Any] | None:
            counts = record(cur, task_id, seq, token, self.settings.lease_seconds,
                            [done.outcome])
            if counts is not None and done.result:
                task_repo.update_fields(cur, task_id, {"result": done.result})
            return counts
        counts = self.db.run(tx)
        if counts is None:
            _lease_lost(task_id, seq)
            return RunResult.LEASE_LOST
        item_metrics([done.outcome])
        return RunResult.COMPLETE


def _lease_lost(task_id: int, seq: int) -> None:
    logger.warning("lease lost; another worker owns the chunk",
                   extra={"task_id": task_id, "chunk": seq})
