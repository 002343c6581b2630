"""Steering tasks after they start: cancel and retry.

Cancel records the request on the task (cancelled = 1). An engine task's workers read the
flag with each outcome batch they write (an export's lease keeper with each renewal) and
stop; what they did not run is recorded as cancelled, and the task ends 4 (some items
succeeded) or 5 (none did) with a reason beginning "已取消" (cancelled). A task without a
chunk plan (created through the internal API) has no engine worker to notice, so it ends 5
at once.

Retry re-runs a finished task's failed and cancelled items only: their detail rows go
(pending is the absence of a row), their chunks become pending again, the task goes back
to submitted and the next claim counts run_count + 1. Items that succeeded are never run
twice, and the task's counters stay true: failed and cancelled start again from zero.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from chalicelib.adapters import chunk_repo, task_repo
from chalicelib.adapters.db import Database
from chalicelib.domain.task import (CANCELLED_REASON, RETRYABLE_STATUSES, Task, TaskStatus,
                                    check_transition)
from chalicelib import texts
from chalicelib.errors import Conflict, NotFound
from chalicelib.observability import logger
from chalicelib.service.engine import Engine
from chalicelib.service import lifecycle


@dataclass
class CancelReport:
    cancelled: list[int] = field(default_factory=list)          # now cancelled (or ending)
    already_final: list[int] = field(default_factory=list)      # had ended before the request


class TaskControl:
    def __init__(self, db: Database, engine: Engine):
        self.db = db
        self.engine = engine

    def cancel(self, station_id: str, *, task_ids: Sequence[int] = (),
               user_task_ids: Sequence[str] = ()) -> CancelReport:
        ids, user_ids = sorted(set(task_ids)), sorted(set(user_task_ids))

        def tx(cur: Any) -> CancelReport:
            tasks = task_repo.matching_for_update(cur, station_id, task_ids=ids,
                                                  user_task_ids=user_ids)
            found = {t.id for t in tasks} if ids else {t.user_task_id for t in tasks}
            if len(found) < len(ids or user_ids):
                raise NotFound(texts.TASKS_NOT_FOUND(count=len(ids or user_ids) - len(found)))
            report = CancelReport()
            for task in tasks:
                if task.is_final:
                    report.already_final.append(task.id)
                    continue
                report.cancelled.append(task.id)
                task_repo.update_fields(cur, task.id, {"cancelled": 1})
                if not chunk_repo.has_plan(cur, task.id):
                    lifecycle.finish(cur, task, TaskStatus.FAILED, reason=CANCELLED_REASON)
            return report
        report = self.db.run(tx)
        if report.cancelled:
            logger.info("tasks cancelled", extra={"station_id": station_id,
                                                  "task_ids": report.cancelled})
        return report

    def retry(self, station_id: str, task_id: int) -> Task:
        """Submit a finished task again over its failed and cancelled items."""

        def tx(cur: Any) -> tuple[Task, list[int]]:
            task = task_repo.get(cur, station_id, task_id, for_update=True)
            if task is None:
                raise NotFound(texts.TASK_NOT_FOUND())
            status = task.status
            if status not in RETRYABLE_STATUSES:
                raise Conflict(texts.RETRY_NOT_ENDED(status=int(status)))
            if not chunk_repo.has_plan(cur, task_id):
                raise Conflict(texts.RETRY_NO_ITEMS())
            check_transition(status, TaskStatus.SUBMITTED)
            failed, _, reopened = chunk_repo.reopen_unsucceeded(cur, task_id)
            if reopened == 0:
                raise Conflict(texts.RETRY_NOTHING_FAILED())
            lifecycle.resubmit(cur, task, reopened_failed=failed)
            return task_repo.get(cur, station_id, task_id), []
        task, _ = self.db.run(tx)
        self.engine.release(station_id)                 # within the station's bound
        logger.info("task retried", extra={"task_id": task_id})
        return task
