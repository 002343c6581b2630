"""A task's failed items, a page at a time, for the task center (GET /task/failures).

Scoped to the caller's station: another station's task is "not found", like every read.
The page is a keyset range of idx_task_outcome (task_id, outcome, seq) after the cursor's
seq, read in the same snapshot as the task (so `total`, the task's failed count, agrees
with the rows). After a retry the failed items of the earlier run are pending again: the
list shows the current run's failures, as the counts do.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymysql.cursors import DictCursor

from chalicelib.adapters import chunk_repo, task_repo
from chalicelib.adapters.db import Database
from chalicelib.domain.task import Task
from chalicelib import texts
from chalicelib.errors import NotFound


@dataclass(frozen=True)
class FailurePage:
    task: Task
    rows: list[dict[str, Any]]
    more: bool              # failures after the page's last


def failures_page(db: Database, station_id: str, task_id: int, *, after_seq: int | None,
                  limit: int) -> FailurePage:
    def tx(cur: DictCursor) -> FailurePage | None:
        task = task_repo.get(cur, station_id, task_id)
        if task is None:
            return None
        rows = list(chunk_repo.failed_details(cur, task_id, limit + 1, after_seq=after_seq))
        return FailurePage(task, rows[:limit], len(rows) > limit)
    page = db.run(tx)
    if page is None:
        raise NotFound(texts.TASK_NOT_FOUND())
    return page
