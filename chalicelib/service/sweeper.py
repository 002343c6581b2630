"""The sweeper: a pure function of "now" that repairs what crashes and lost messages leave.

Runs every minute (EventBridge). Each repair is its own transaction and is claimed with
FOR UPDATE SKIP LOCKED, so two sweepers running at once split the work instead of
doing it twice; a duplicate message they might still cause is absorbed by the chunk
claim. One task's failure to repair is logged and does not stop the others.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from chalicelib.adapters import chunk_repo, task_repo
from chalicelib.adapters.aws import FileStore
from chalicelib.adapters.db import Database
from chalicelib.observability import logger, metrics
from chalicelib.service.dead_letters import DeadLetters
from chalicelib.service.engine import Engine
from chalicelib.service.finalize import finalize_task

BATCH = 200


@dataclass
class SweepReport:
    expired_leases: int = 0
    stale_queued: int = 0
    stalled_tasks: int = 0
    finalized: int = 0
    failed_chunks: int = 0
    dead_letters: int = 0
    # what each other repair reported: {"notifications": {"resent": 1, "failed": 0}}
    other: dict[str, dict[str, int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


class Sweeper:
    def __init__(self, db: Database, files: FileStore, engine: Engine, *,
                 max_chunk_attempts: int, stale_queued_s: int = 900,
                 dead_letters: DeadLetters | None = None,
                 repairs: dict[str, Callable[[], dict[str, int]]] | None = None):
        """repairs: work outside the engine that keeps its own state (completion
        notifications), each a function that repairs what it owns and returns counts."""
        self.db, self.files, self.engine = db, files, engine
        self.max_chunk_attempts = max_chunk_attempts
        self.stale_queued_s = stale_queued_s
        self.dead_letters = dead_letters
        self.repairs = repairs or {}

    def sweep(self) -> SweepReport:
        report = SweepReport()
        db, max_attempts = self.db, self.max_chunk_attempts
        for task_id, seq in db.run(lambda cur: chunk_repo.expired_past_attempts(
                cur, max_attempts, BATCH)):
            failed: list[bool] = []
            if self._guard(report, task_id, lambda: failed.append(
                    self._fail_chunk(task_id, seq))) and failed and failed[0]:
                report.failed_chunks += 1
        expired = db.run(lambda cur: chunk_repo.requeue_expired_leases(cur, BATCH, max_attempts))
        stale = db.run(lambda cur: chunk_repo.requeue_stale_queued(cur, self.stale_queued_s, BATCH))
        for task_id, seq in expired + stale:
            self._guard(report, task_id, lambda: self.engine.resend(task_id, [seq]))
        report.expired_leases, report.stale_queued = len(expired), len(stale)

        for task_id in db.run(lambda cur: chunk_repo.stalled_tasks(cur, BATCH)):
            released: list[int] = []
            # Within the station's bound: a task waiting for its station's slots stays so.
            if self._guard(report, task_id, lambda: released.append(
                    self.engine.release_for_task(task_id))) and released and released[0]:
                report.stalled_tasks += 1

        for task_id in db.run(lambda cur: task_repo.running_ids_with_all_chunks_done(cur, BATCH)):
            ok: list[bool] = []
            if self._guard(report, task_id, lambda: ok.append(
                    finalize_task(db, self.files, task_id))) and ok and ok[0]:
                report.finalized += 1
        if self.dead_letters is not None:
            seen: list[int] = []
            if self._guard(report, 0, lambda: seen.append(self.dead_letters.settle().seen)):
                report.dead_letters = seen[0]
        self._guard(report, 0, db.prune_markers)     # commit markers older than an hour
        for name, repair in self.repairs.items():
            self._guard(report, 0, lambda name=name, repair=repair: report.other.__setitem__(
                name, repair()))
        repairs = {"SweepExpiredLeases": report.expired_leases,
                   "SweepStaleQueued": report.stale_queued, "SweepStalledTasks": report.stalled_tasks,
                   "SweepFinalized": report.finalized, "SweepFailedChunks": report.failed_chunks,
                   "SweepErrors": len(report.errors)}
        for name, value in repairs.items():
            metrics.add_metric(name=name, unit="Count", value=value)
        if any(repairs.values()) or any(v for counts in report.other.values()
                                         for v in counts.values()):
            logger.info("sweep repaired", extra=report.__dict__)
        return report

    def _fail_chunk(self, task_id: int, seq: int) -> bool:
        """A chunk whose lease expired on its last attempt (a poison chunk)."""
        return self.engine.fail_chunk(task_id, seq, lambda chunk: (
            f"重试 {chunk['attempts'] - 1} 次后放弃：每次执行都中断（崩溃或超时）"
            f" (gave up after {chunk['attempts'] - 1} attempts)"))

    @staticmethod
    def _guard(report: SweepReport, task_id: int, repair: Any) -> bool:
        try:
            repair()
            return True
        except Exception as exc:  # isolate one task's failure from the rest
            logger.exception("sweep repair failed", extra={"task_id": task_id})
            report.errors.append(f"task {task_id}: {exc.__class__.__name__}")
            return False
