"""Finalizing an engine task: status 3/4/5, reason, result with counts and error report.

Safe to run any number of times, from any worker or the sweeper: the report's S3 key is
fixed per task run, and the final UPDATE only applies while the task is still in the run
(status, run count, counters) its counts were read from.
"""
from __future__ import annotations

import csv
import io
from typing import Any

from chalicelib.adapters import chunk_repo, task_repo
from chalicelib.adapters.aws import FileStore
from chalicelib.adapters.spreadsheet_guard import guard_cell
from chalicelib.adapters.db import Database
from chalicelib.domain.task import Task, outcome_reason, outcome_status
from chalicelib.errors import Conflict
from chalicelib.observability import logger
from chalicelib.service import lifecycle


def error_report_csv(rows: Any) -> bytes:
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(["seq", "item_id", "reason"])
    for row in rows:
        out.writerow([row["seq"], row["item_id"], guard_cell(row["reason"])])
    # BOM so that spreadsheet programs open the Chinese reasons as UTF-8.
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def report_key(task: Task) -> str:
    # run_count is 0 for a task that ended without ever being claimed (a dead letter)
    return f"reports/{task.station_id}/{task.id}/errors-run{max(1, task.run_count)}.csv"


def _run_state(task: Task) -> tuple[Any, ...]:
    """What a finalizer's counts depend on: equal tuples, the same run at the same point."""
    return (task.status, task.run_count, task.cancelled, task.total_items,
            task.succeeded_items, task.failed_items, task.cancelled_items)


def finalize_task(db: Database, files: FileStore, task_id: int) -> bool:
    """Finalize if every chunk is done; returns True when this call finalized the task.

    The counts are read in one transaction (the error report is written from them, outside
    any transaction) and the final status is written in a second one only if, under the
    task's lock, nothing they depend on changed and every chunk is still done."""
    def check(cur: Any) -> Task | None:
        task = task_repo.get_any_station(cur, task_id)
        if task is None or task.is_final:
            return None
        if chunk_repo.unfinished_count(cur, task_id):
            return None
        return task
    task = db.run(check)
    if task is None:
        return False

    counts = (task.total_items, task.succeeded_items, task.failed_items,
              task.cancelled_items)
    # what the run recorded beside its outcomes (a stream's file: processors.StreamDone)
    result: dict[str, Any] = dict(task.result) if isinstance(task.result, dict) else {}
    result.update(total=counts[0], succeeded=counts[1], failed=counts[2])
    if task.cancelled:
        result.update(cancelled=True, not_run=counts[3])
    status, reason = outcome_status(*counts), outcome_reason(*counts)
    if task.failed_items:
        rows = list(db.run(lambda cur: chunk_repo.failed_details(cur, task_id)))
        key = report_key(task)
        files.put_bytes(key, error_report_csv(rows), "text/csv; charset=utf-8")
        result["error_report_key"] = key
        if task.total_items == 1 and rows:
            reason = rows[0]["reason"]      # a task of one item: that item's own reason

    def finish(cur: Any) -> bool:
        # Under the task's lock, the row must still be the one the counts came from: a
        # retry (or a new run) in between makes them stale, and a stale final write would
        # end a task whose reopened chunks then run for nothing.
        locked = task_repo.get_any_station(cur, task_id, for_update=True)
        if locked is None or locked.is_final or _run_state(locked) != _run_state(task):
            return False
        if chunk_repo.unfinished_count(cur, task_id):
            return False
        try:
            lifecycle.finish(cur, locked, status, result=result, reason=reason)
        except Conflict:
            return False
        task_repo.set_progress(cur, task_id, 100)
        return True
    done = db.run(finish)
    if done:
        logger.info("task finalized", extra={"task_id": task_id, "status": int(status), **result})
    return done
