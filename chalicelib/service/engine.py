"""The chunked execution engine: claim a chunk, run its items, record, hand on, finalize.

One SQS message names one chunk. A worker claims the chunk with a lease (a duplicate
delivery finds it claimed or done and is acknowledged without work), runs the chunk's
pending items on a bounded thread pool, writes outcomes in batches under its lease,
queues the task's next pending chunk when done, and the worker that finishes the last
chunk finalizes the task. Near the Lambda deadline it stops taking items, saves what it
did and re-queues the rest. Kinds of task plug in a processor (service/processors.py);
service/execution.py runs a claimed chunk's work by the processor's shape.
"""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, Callable, Sequence

from chalicelib import warm
from chalicelib.adapters import chunk_repo, schedule_repo, task_repo
from chalicelib.adapters.aws import FileStore, WorkQueue
from chalicelib.domain.chunk import Outcome
from chalicelib.adapters.db import Database
from chalicelib.config import Settings
from chalicelib.domain.chunking import plan_chunks
from chalicelib.domain.run import RunResult
from chalicelib.domain.task import CANCELLED_REASON
from chalicelib.observability import logger, metrics
from chalicelib.service.finalize import finalize_task
from chalicelib.service.execution import Claim, ChunkExecutor, Processor
from chalicelib.service.outcomes import settle_rest
from chalicelib.service.messages import MalformedMessage
from chalicelib.service import lifecycle
from chalicelib.service.scheduling import StationScheduler
from chalicelib.service.slices import Slice, others_waiting
from chalicelib.service.tasks import Created, NewTask, OnCreated, TaskService


def chunk_message(task_id: int, seq: int) -> dict[str, Any]:
    return {"kind": "chunk", "task_id": task_id, "chunk": seq}


class Engine:
    def __init__(self, db: Database, work_queue: WorkQueue, files: FileStore, settings: Settings,
                 processors: dict[str, Processor]):
        self.db = db
        self.queue = work_queue
        self.files = files
        self.settings = settings
        self.processors = processors
        self.executor = ChunkExecutor(db, settings)
        self.stations = StationScheduler(db, settings.station_bound, settings.chunk_window)

    # -- creation --------------------------------------------------------------------
    def create_task(self, tasks: TaskService, new: NewTask, item_ids: Sequence[int],
                    on_created: OnCreated | None = None) -> Created:
        """Store task + chunk plan (+ whatever `on_created` writes) in one transaction,
        then queue what the station's bound lets through (scheduling.py) and send it."""
        plan = plan_chunks(item_ids, self.settings.chunk_size)

        def store_plan(cur: Any, task_id: int) -> None:
            chunk_repo.insert_plan(cur, task_id, plan, 0)      # all pending
            if on_created is not None:
                on_created(cur, task_id)
        created = tasks.create(new, on_created=store_plan)
        if created.created:
            self.release(new.station_id)
        return created

    def release(self, station_id: str, yielding: int | None = None) -> None:
        """Queue the station's pending chunks that fit its bound and send their messages.
        If the release fails the sweeper repeats it (stalled tasks)."""
        try:
            released = self.stations.release(station_id, yielding)
        except Exception:
            logger.exception("could not release the station's chunks",
                             extra={"station_id": station_id})
            return
        self._send_released(station_id, released)

    def _send_released(self, station_id: str | None, released: Sequence[tuple[int, int]],
                       keep_for: int | None = None) -> int | None:
        """Send the messages of chunks a release queued, but one of task `keep_for`'s:
        its seq is returned unsent, for the caller to run in place."""
        kept = next((seq for task_id, seq in released if task_id == keep_for), None)
        by_task: dict[int, list[int]] = {}
        for task_id, seq in released:
            if (task_id, seq) != (keep_for, kept):
                by_task.setdefault(task_id, []).append(seq)
        for task_id, seqs in by_task.items():
            self._send(task_id, seqs, station_id=station_id)
        return kept

    def release_for_task(self, task_id: int) -> int:
        """The sweeper's repair of a task with pending chunks and none queued: release its
        station (within the bound). Returns how many chunks were queued."""
        station_id = self.stations.station(task_id)
        if station_id is None:
            return 0
        released = self.stations.release(station_id)
        by_task: dict[int, list[int]] = {}
        for t, seq in released:
            by_task.setdefault(t, []).append(seq)
        for t, seqs in by_task.items():
            self.queue.send([chunk_message(t, s) for s in seqs], group_id=station_id)
        return len(released)

    def resend(self, task_id: int, seqs: Sequence[int]) -> None:
        """Send messages for chunks already marked queued (raises if SQS refuses)."""
        if seqs:
            self.queue.send([chunk_message(task_id, s) for s in seqs],
                            group_id=self.stations.station(task_id))

    def resend_or_leave(self, task_id: int, seqs: Sequence[int]) -> None:
        """Send messages for chunks just marked queued; if SQS refuses, the sweeper will."""
        self._send(task_id, seqs)

    def _send(self, task_id: int, seqs: Sequence[int], delay_s: int = 0,
              station_id: str | None = None) -> None:
        if not seqs:
            return
        try:
            self.queue.send([chunk_message(task_id, s) for s in seqs], delay_s=delay_s,
                            group_id=station_id or self.stations.station(task_id))
        except Exception:
            # The chunks stay queued in MySQL; the sweeper re-sends what has no message.
            logger.exception("could not enqueue chunks", extra={"task_id": task_id})

    def fail_chunk(self, task_id: int, seq: int, reason: Callable[[dict[str, Any]], str]) -> bool:
        """End a chunk nobody can finish: its items without an outcome fail with
        `reason(chunk)`, then the task moves on (next chunk) or is finalized.

        The chunk is first claimed under a fresh lease, so of two callers (two sweepers, or a
        sweeper and a late worker) exactly one writes; a chunk done, or leased by a live
        worker, is left alone (returns False).
        """
        token = uuid.uuid4().hex
        lease_s = self.settings.lease_seconds

        def tx(cur: Any) -> int | None:
            chunk = chunk_repo.claim(cur, task_id, seq, token, lease_s)
            if chunk is None:
                return None
            settle_rest(cur, task_id, seq, token, lease_s, Outcome.FAILED, reason(chunk))
            chunk_repo.mark_failed(cur, task_id, seq, token)
            return chunk_repo.unfinished_count(cur, task_id)
        unfinished = self.db.run(tx)
        if unfinished is None:
            return False
        logger.warning("chunk failed", extra={"task_id": task_id, "chunk": seq})
        if unfinished == 0:
            finalize_task(self.db, self.files, task_id)
        self.release_for_task(task_id)          # its slot goes to the station's next chunk
        return True

    # -- one message -----------------------------------------------------------------
    def handle_message(self, msg: dict[str, Any], remaining_ms: Callable[[], int]) -> RunResult:
        """The "chunk" message handler: {"kind": "chunk", "task_id": …, "chunk": …}."""
        try:
            task_id, seq = int(msg["task_id"]), int(msg["chunk"])
        except (KeyError, TypeError, ValueError):
            raise MalformedMessage(f"chunk message without ids: {msg!r}") from None
        return self.run_chunk(task_id, seq, remaining_ms)

    def run_chunk(self, task_id: int, seq: int, remaining_ms: Callable[[], int]) -> RunResult:
        """Run a chunk, and the task's next ones while nothing else waits in the queue.

        Returns what happened to the last chunk run (for logs and tests).
        """
        state, next_seq = self._run_one(task_id, seq, remaining_ms)
        while next_seq is not None:
            state, next_seq = self._run_one(task_id, next_seq, remaining_ms)
        warm.settle()       # this instance's warm state now exists: out of the GC's walks
        return state

    def _run_one(self, task_id: int, seq: int, remaining_ms: Callable[[], int]
                 ) -> tuple[RunResult, int | None]:
        token = uuid.uuid4().hex
        claim = self.db.run(lambda cur: self._claim(cur, task_id, seq, token))
        if claim is None:
            return RunResult.SKIPPED, None
        if claim.cancelled:
            state = RunResult.CANCELLED
        elif claim.attempts > self.settings.max_chunk_attempts:
            self._settle(task_id, seq, token, Outcome.FAILED,
                         f"重试 {claim.attempts - 1} 次后放弃：下游系统或数据库不可用"
                         f" (gave up after {claim.attempts - 1} attempts)")
            return self._complete(task_id, seq, token, remaining_ms)
        else:
            started = time.monotonic()
            state = self.executor.run(task_id, seq, token, claim, remaining_ms,
                                      lambda: self._slice(task_id))
            metrics.add_metric(name="ChunkSeconds", unit="Seconds",
                               value=time.monotonic() - started)
        if state is RunResult.CANCELLED:
            # Items this chunk did not run are recorded as cancelled; the task ends 4/5.
            self._settle(task_id, seq, token, Outcome.CANCELLED, CANCELLED_REASON)
            state = RunResult.COMPLETE
        if state is RunResult.COMPLETE:
            return self._complete(task_id, seq, token, remaining_ms)
        if state is RunResult.SLICED:
            # No attempt counted; the slot goes to the station's waiting work, this chunk
            # is queued again behind it.
            if self.db.run(lambda cur: schedule_repo.yield_chunk(cur, task_id, seq, token)):
                station_id = self.stations.station(task_id)
                if station_id is not None:
                    self.release(station_id, yielding=task_id)
            return state, None
        if state.requeues:
            # The deadline counts no attempt: the chunk goes behind waiting work.
            counted = state.counts_attempt
            if self.db.run(lambda cur: chunk_repo.release(cur, task_id, seq, token,
                                                          count_attempt=counted)):
                backoff = min(60, 2 ** claim.attempts) if counted else 0
                self._send(task_id, [seq], delay_s=backoff)
        return state, None

    def _claim(self, cur: Any, task_id: int, seq: int, token: str) -> Claim | None:
        chunk = chunk_repo.claim(cur, task_id, seq, token, self.settings.lease_seconds)
        if chunk is None:
            return None
        task = task_repo.get_any_station(cur, task_id, for_update=True)
        if task is None:
            return Claim(None, [], chunk["attempts"])   # nothing to do: just complete it
        if not task.is_final:
            lifecycle.start(cur, task)
        if task.cancelled or task.is_final:
            # Nothing runs; the items get the cancelled outcome (never none: a retry re-runs
            # the items that did not succeed, and the counts add up to the total).
            return Claim(None, [], chunk["attempts"], cancelled=True)
        first = chunk["first_item"]
        done = chunk_repo.finished_seqs(cur, task_id, first, chunk["item_count"])
        pending = [(first + i, item_id) for i, item_id in enumerate(chunk["item_ids"])
                   if first + i not in done]
        processor = self.processors[task.name]
        task_input = json.loads(task_repo.get_input(cur, task_id))
        return Claim(processor, processor.prepare(cur, task, task_input, pending),
                     chunk["attempts"])

    def _settle(self, task_id: int, seq: int, token: str, outcome: Outcome, reason: str) -> None:
        """Every item of the chunk still without an outcome gets `outcome` (one transaction)."""
        n = self.db.run(lambda cur: settle_rest(cur, task_id, seq, token,
                                                self.settings.lease_seconds, outcome, reason))
        if n:
            logger.info("chunk items settled", extra={"task_id": task_id, "chunk": seq,
                                                      "items": n, "outcome": outcome.name})

    def _complete(self, task_id: int, seq: int, token: str, remaining_ms: Callable[[], int]
                  ) -> tuple[RunResult, int | None]:
        """Mark the chunk done, give its slot to the station's next chunk (this task's or
        another's) in the same transaction, and finalize the task after its last chunk.

        The next chunk is run right here, without a trip through SQS, when the queue has
        nothing waiting (so no other task is kept waiting by it) and this instance has
        time for a whole chunk; otherwise its message is sent for any worker to take.
        """
        station_id = self.stations.station(task_id)

        def tx(cur: Any) -> tuple[int, list[tuple[int, int]]] | None:
            if not chunk_repo.complete(cur, task_id, seq, token):
                return None
            released = [] if station_id is None else self.stations.release_in(cur, station_id)
            return chunk_repo.unfinished_count(cur, task_id), released
        done = self.db.run(tx)
        if done is None:
            return RunResult.LEASE_LOST, None
        unfinished, released = done
        if unfinished == 0:
            finalize_task(self.db, self.files, task_id)
        chain = unfinished > 0 and self._may_continue_here(remaining_ms)
        kept = self._send_released(station_id, released, keep_for=task_id if chain else None)
        return RunResult.COMPLETE, kept

    def _may_continue_here(self, remaining_ms: Callable[[], int]) -> bool:
        if not self.settings.chain_chunks or remaining_ms() < 3 * self.settings.deadline_margin_ms:
            return False
        try:
            return self.queue.waiting() == 0
        except Exception:       # can't tell: take the fair path
            logger.exception("could not read the queue depth")
            return False

    def _slice(self, task_id: int) -> Slice:
        station_id = self.stations.station(task_id)
        return Slice(self.settings.slice_seconds, lambda: others_waiting(
            self.db, self.queue, task_id,
            lambda: station_id is not None and self.stations.sibling_starving(station_id, task_id)))
