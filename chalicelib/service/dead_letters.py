"""The dead-letter queue: a message SQS gave up on (maxReceiveCount receives, never deleted).

Two jobs:

* `settle()` (the sweeper calls it every minute) gives the task of each dead-lettered
  message an end, so nothing hangs in "running": a chunk message's chunk fails its
  remaining items with a reason naming the DLQ, and the task moves on or is finalized
  (4 or 5, with an error report); a message of another kind with a task id fails its task
  (status 5) with that reason. A message nobody can route (not JSON, no ids) is counted
  and logged. The messages stay in the DLQ: it is the operator's inbox (an alarm fires
  while it is not empty). Each message is settled once: its MessageId goes into
  tbl_dead_letter before it is acted on, so seeing it again changes nothing, even after a
  station user's /task/retry reopened its chunk (that retry is not undone by the next sweep).
* `redrive()` moves messages back to the work queue after a fix. A chunk that was settled
  is done, so its redriven message is acknowledged without work; re-run its failed items
  with /task/retry. A message of a kind the old code could not route is processed now.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from chalicelib.adapters import task_repo
from chalicelib.adapters.aws import QueueMessage, WorkQueue
from chalicelib.adapters.db import Database
from chalicelib.domain.task import TaskStatus
from chalicelib.observability import logger, metrics
from chalicelib.service.engine import Engine
from chalicelib.service import lifecycle

MAX_RECEIVES_PER_SETTLE = 10     # x 10 messages each
LEDGER_KEEP_DAYS = 15            # longer than a message can stay in the DLQ (14 days)


@dataclass
class DeadLetterReport:
    seen: int = 0
    chunks_failed: int = 0
    tasks_failed: int = 0
    unroutable: int = 0


@dataclass
class RedriveReport:
    moved: int = 0
    left: int = 0
    errors: list[str] = field(default_factory=list)


# (The message's receive count is not quoted: looking at the DLQ counts as receiving.)
DEAD_LETTER_REASON = ("任务消息多次投递均失败，已转入死信队列；运维修复后可重新投递并重试任务"
                      " (dead-lettered)")


class DeadLetters:
    def __init__(self, db: Database, dlq: WorkQueue, work_queue: WorkQueue, engine: Engine):
        self.db = db
        self.dlq = dlq
        self.work_queue = work_queue
        self.engine = engine

    def depth(self) -> int:
        return self.dlq.waiting()

    def settle(self) -> DeadLetterReport:
        """Look at what waits in the DLQ (without taking it) and end the tasks involved."""
        report = DeadLetterReport()
        seen: set[str] = set()
        for _ in range(MAX_RECEIVES_PER_SETTLE):
            # Visibility 0: the messages stay visible, so a redrive is never blocked by us.
            batch = [m for m in self.dlq.receive(10, visibility_s=0) if m.body not in seen]
            if not batch:
                break
            for message in batch:
                seen.add(message.body)
                report.seen += 1
                self._settle_one(message, report)
        self.prune()
        if report.seen:
            metrics.add_metric(name="DeadLetters", unit="Count", value=report.seen)
            logger.warning("dead-lettered messages", extra=report.__dict__)
        return report

    def _settle_one(self, message: QueueMessage, report: DeadLetterReport) -> None:
        msg = _parse(message.body)
        task_id = _int(msg.get("task_id")) if msg else None
        if task_id is None:
            report.unroutable += 1
            logger.error("dead letter names no task", extra={"body": message.body[:500]})
            return
        if not self._first_sight(message, task_id):
            return          # settled by an earlier sweep: never again (a retry may follow)
        reason = DEAD_LETTER_REASON
        if msg.get("kind") == "chunk" and _int(msg.get("chunk")) is not None:
            if self.engine.fail_chunk(task_id, int(msg["chunk"]), lambda _chunk: reason):
                report.chunks_failed += 1
        elif self._fail_task(task_id, reason):
            report.tasks_failed += 1

    def _first_sight(self, message: QueueMessage, task_id: int) -> bool:
        """Record the message as settled; False if it already was (by us or a concurrent
        sweeper). Recorded before acting: a crash in between leaves the chunk queued without
        a message, which the stale-queued repair re-sends."""
        message_id = message.message_id or "sha256:" + hashlib.sha256(
            f"{message.sent_at_ms}:{message.body}".encode()).hexdigest()

        def tx(cur: Any) -> bool:
            cur.execute("INSERT IGNORE INTO tbl_dead_letter (message_id, task_id, settled_at)"
                        " VALUES (%s, %s, UTC_TIMESTAMP(3))", (message_id, task_id))
            return cur.rowcount == 1
        return self.db.run(tx)

    def prune(self) -> int:
        """Forget settled messages older than any message the DLQ can still hold."""
        return self.db.run(lambda cur: cur.execute(
            "DELETE FROM tbl_dead_letter WHERE settled_at < UTC_TIMESTAMP(3) - INTERVAL %s DAY"
            " LIMIT 10000", (LEDGER_KEEP_DAYS,)))

    def _fail_task(self, task_id: int, reason: str) -> bool:
        def tx(cur: Any) -> bool:
            task = task_repo.get_any_station(cur, task_id, for_update=True)
            if task is None or task.is_final:
                return False
            lifecycle.finish(cur, task, TaskStatus.FAILED, reason=reason)
            return True
        return self.db.run(tx)

    def redrive(self, limit: int | None = None) -> RedriveReport:
        """Move up to `limit` messages (all, by default) back to the work queue, each sent
        before it is deleted from the DLQ (a crash in between duplicates, never loses),
        with its body and MessageGroupId as they were."""
        report = RedriveReport()
        while limit is None or report.moved < limit:
            want = 10 if limit is None else min(10, limit - report.moved)
            batch = self.dlq.receive(want, visibility_s=60)
            if not batch:
                break
            for message in batch:
                try:
                    self.work_queue.send_raw(message.body, message.group_id)
                    self.dlq.delete(message.receipt)
                    report.moved += 1
                except Exception as exc:
                    report.errors.append(f"{exc.__class__.__name__}: {exc}")
                    return report
        report.left = self.depth()
        logger.info("dead letters redriven", extra={"moved": report.moved, "left": report.left})
        return report


def _parse(body: str) -> dict[str, Any] | None:
    try:
        msg = json.loads(body)
    except ValueError:
        return None
    return msg if isinstance(msg, dict) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
